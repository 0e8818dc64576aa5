//! The supervisor's life: detach, drop privileges, start bwrap, serve clients until the sandbox
//! ends, and leave the final state behind for the engine.

use berth_core::clock::now_ms;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use super::enter::Start;
use super::protocol::{
    BOOTSTRAP_TARGET, Frame, Launch, READ_ONLY_ROOT, Reply, Request, SOCKET_NAME, STARTED,
    STATE_NAME, SupervisorState, WritableRoot, exit_payload, read_frame, write_frame,
};

/// The directory shells and commands start in.
const WORKDIR: &str = "/home/work";

pub(super) fn run_from_stdin() -> i32 {
    // One line; stdin stays open after it for the engine's `STARTED` (see `await_started`).
    let mut input = String::new();
    if let Err(e) = io::stdin().read_line(&mut input) {
        println!("error cannot read the launch description: {e}");
        return 1;
    }
    let launch: Launch = match serde_json::from_str(&input) {
        Ok(launch) => launch,
        Err(e) => {
            println!("error bad launch description: {e}");
            return 1;
        }
    };
    // Detach: the engine waits for this first process, the supervisor lives on in the child,
    // in its own session so a terminal's Ctrl-C or hangup never reaches it.
    // SAFETY: no threads exist yet.
    match unsafe { libc::fork() } {
        -1 => {
            println!("error cannot fork: {}", io::Error::last_os_error());
            return 1;
        }
        0 => {}
        _ => return 0,
    }
    // SAFETY: plain syscalls without pointers.
    unsafe { libc::setsid() };
    let mut launch = launch;
    let needs_root = launch.private_tun
        || !launch.inherited_fds.is_empty()
        || !launch.staged_dirs.is_empty()
        || launch.writable_root.is_some();
    let mut read_only_root = None;
    let prepared = match (launch.run_as.is_some(), needs_root) {
        (true, true) => prepare_as_root(&mut launch, &mut read_only_root),
        // Not root: an overlay needs user and mount namespaces of the supervisor's own.
        // Should the namespace come without its uid map, bwrap's own refusal says so.
        (false, _) if launch.writable_root.is_some() => {
            read_only_root = own_user_namespace()
                .err()
                .map(|e| format!("no user namespace for the overlay: {e}"))
                .or_else(|| use_writable_root(&mut launch, true));
            Ok(())
        }
        _ => Ok(()),
    };
    if let Err(e) = prepared
        .and_then(|()| drop_privileges(launch.run_as))
        .and_then(|()| pin_cpus(launch.cpus.as_deref()))
    {
        println!("error {e}");
        return 1;
    }
    let supervisor = match Supervisor::start(launch) {
        Ok(s) => s,
        Err(e) => {
            println!("error {e}");
            return 1;
        }
    };
    println!("ready {}", supervisor.shared.sandbox_pid);
    if let Some(why) = read_only_root {
        // Said in the session's log too, where a user looks first.
        eprintln!("[berth] the system directories are read-only in this session: {why}");
        println!("{READ_ONLY_ROOT} {why}");
    }
    let _ = io::stdout().flush();
    // The engine reads until EOF; nothing else may hold its pipe.
    redirect_stdout_to_null();
    if !await_started() {
        eprintln!(
            "[berth] the engine stopped waiting for this session to start; ending its sandbox"
        );
        supervisor.abandon();
        return 1;
    }
    supervisor.serve()
}

/// Whether the engine, having read `ready` in time, recorded the session (it writes
/// `STARTED`). Its stdin ends without that when it gave up waiting or died meanwhile.
fn await_started() -> bool {
    let mut answer = String::new();
    io::stdin().read_line(&mut answer).is_ok() && answer.trim_end() == STARTED
}

/// What only root can do for a session that runs as `nobody`, done before dropping to it, in
/// a mount namespace of the supervisor's own (so the host sees none of it, and it all goes
/// with the supervisor):
/// - each folder, opened by the engine, is bound under the runtime directory: bwrap resolves
///   a `--bind-fd` source back to its path, which `nobody` may not be able to walk (a data
///   directory under `/root` is 0700);
/// - a `/dev/net/tun` the session user may open, when the host's is root-only;
/// - the environment's writable overlay; `read_only_root` says why not when the kernel refuses.
fn prepare_as_root(launch: &mut Launch, read_only_root: &mut Option<String>) -> io::Result<()> {
    let fail = |what: &str| {
        let e = io::Error::last_os_error();
        io::Error::new(
            e.kind(),
            format!("cannot prepare the sandbox ({what}): {e}"),
        )
    };
    // SAFETY: a plain syscall; single-threaded here.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(fail("unshare"));
    }
    private_mounts().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot prepare the sandbox (private mounts): {e}"),
        )
    })?;
    *read_only_root = use_writable_root(launch, false);
    stage_folders(launch)?;
    stage_dirs(launch)?;
    if launch.private_tun {
        private_tun()?;
    }
    Ok(())
}

/// Enters user and mount namespaces of this process's own, keeping its uid and gid (each mapped
/// to itself): there it may mount the overlay, which only its children see, and bwrap, started
/// from here, maps the session user to the same host user as it would without it. Must run
/// while the process has one thread.
fn own_user_namespace() -> io::Result<()> {
    // SAFETY: getuid and getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    // SAFETY: a plain syscall; single-threaded here (after the fork, before any thread).
    if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) } != 0 {
        return Err(io::Error::last_os_error());
    }
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
    // Required before an unprivileged gid map; bwrap denies it in its own namespace anyway.
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1"))?;
    private_mounts()
}

/// Makes every mount in this namespace private, so nothing mounted here propagates back.
fn private_mounts() -> io::Result<()> {
    // SAFETY: constant, NUL-terminated strings.
    let done = unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mounts the launch's [`WritableRoot`], if it asks for one, in this process's mount namespace
/// (which must be private to it) and switches the sandbox's arguments to it; the read-only
/// root then needs no staging. Returns why not when the kernel refuses, and leaves the
/// arguments as they were: the session runs with a read-only system, as it would without.
fn use_writable_root(launch: &mut Launch, in_user_namespace: bool) -> Option<String> {
    let root = launch.writable_root.take()?;
    // In a user namespace, overlayfs cannot write its `trusted.` attributes (which hold, for
    // one, that a directory deleted and made again hides the lower one's entries); `userxattr`
    // keeps them as `user.` attributes, which tmpfs holds from Linux 6.6. Older kernels refuse
    // the option, and get an overlay without those features rather than none.
    let attempts: &[bool] = match in_user_namespace {
        true => &[true, false],
        false => &[false],
    };
    let mut failure = String::new();
    for &user_xattr in attempts {
        match mount_overlay(&root, user_xattr) {
            Ok(()) => {
                launch.sandbox_args = root.sandbox_args;
                launch.staged_dirs.clear();
                return None;
            }
            Err(e) => failure = e.to_string(),
        }
    }
    Some(failure)
}

/// A size-bounded tmpfs at `root.dir` holding the overlay's upper and work directories, and the
/// overlay of `root.lower` at [`WritableRoot::merged`]. Undone on failure.
fn mount_overlay(root: &WritableRoot, user_xattr: bool) -> io::Result<()> {
    let dir = &root.dir;
    std::fs::create_dir_all(dir)?;
    let tmpfs_options = format!("size={},mode=0755", root.size_bytes);
    mount_fs(
        c"berth-root",
        dir,
        c"tmpfs",
        &tmpfs_options,
        "a tmpfs for the overlay",
    )?;
    let (upper, work, merged) = (
        dir.join("upper"),
        dir.join("work"),
        WritableRoot::merged(dir),
    );
    let made = [&upper, &work, &merged].into_iter().try_for_each(|d| {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o755).create(d)?;
        // The merged root takes the upper directory's owner and mode; a umask may not narrow it.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
    });
    let mut options = format!(
        "lowerdir={},upperdir={},workdir={}",
        overlay_path(&root.lower),
        overlay_path(&upper),
        overlay_path(&work)
    );
    if user_xattr {
        options.push_str(",userxattr");
    }
    let mounted =
        made.and_then(|()| mount_fs(c"overlay", &merged, c"overlay", &options, "the overlay"));
    if mounted.is_err() {
        let place = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes());
        if let Ok(place) = place {
            // SAFETY: a NUL-terminated string.
            unsafe { libc::umount2(place.as_ptr(), libc::MNT_DETACH) };
        }
    }
    mounted
}

/// A path as overlayfs's options take it: `,` separates options and `:` lower layers, so
/// those (and the escape itself) are escaped with a backslash.
fn overlay_path(path: &std::path::Path) -> String {
    let mut escaped = String::new();
    for c in path.to_string_lossy().chars() {
        if matches!(c, '\\' | ',' | ':') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Mounts a new `fstype` file system at `target`, without set-user-id programs or devices.
fn mount_fs(
    source: &std::ffi::CStr,
    target: &std::path::Path,
    fstype: &std::ffi::CStr,
    options: &str,
    what: &str,
) -> io::Result<()> {
    let place = std::ffi::CString::new(target.as_os_str().as_encoded_bytes())?;
    let data = std::ffi::CString::new(options)?;
    // SAFETY: NUL-terminated strings that outlive the call.
    let mounted = unsafe {
        libc::mount(
            source.as_ptr(),
            place.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            data.as_ptr().cast(),
        )
    };
    if mounted != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("mounting {what}: {e}")));
    }
    Ok(())
}

/// Binds each folder descriptor under `<runtime>/folders/N` and points bwrap at that path.
fn stage_folders(launch: &mut Launch) -> io::Result<()> {
    let staging = launch.runtime_dir.join("folders");
    for (index, &fd) in launch.inherited_fds.iter().enumerate() {
        let target = staging.join(index.to_string());
        // A descriptor's mount belongs to the namespace it was opened in, and the kernel will
        // not bind across namespaces; so the folder is bound by its path in this copy of that
        // namespace, and then checked to be the very directory the engine opened.
        let path_of_fd = std::fs::read_link(format!("/proc/self/fd/{fd}"))?;
        bind(&path_of_fd, &target)?;
        let opened = std::fs::metadata(format!("/proc/self/fd/{fd}"))?;
        let staged = std::fs::metadata(&target)?;
        if (opened.dev(), opened.ino()) != (staged.dev(), staged.ino()) {
            return Err(io::Error::other(format!(
                "folder {} changed while the session started; try again",
                path_of_fd.display()
            )));
        }
        let fd_text = fd.to_string();
        let mut args = launch.sandbox_args.iter_mut().peekable();
        while let Some(arg) = args.next() {
            let replacement = match arg.as_str() {
                "--bind-fd" => "--bind",
                "--ro-bind-fd" => "--ro-bind",
                _ => continue,
            };
            if args.peek().is_some_and(|next| **next == fd_text) {
                *arg = replacement.to_owned();
                if let Some(next) = args.next() {
                    *next = target.to_string_lossy().into_owned();
                }
            }
        }
    }
    Ok(())
}

/// Binds `path` onto `target` (an empty directory, made here) as root.
fn bind(path: &std::path::Path, target: &std::path::Path) -> io::Result<()> {
    std::fs::create_dir_all(target)?;
    let source = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    let place = std::ffi::CString::new(target.as_os_str().as_encoded_bytes())?;
    // SAFETY: NUL-terminated strings.
    let bound = unsafe {
        libc::mount(
            source.as_ptr(),
            place.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        )
    };
    if bound != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("cannot stage {}: {e}", path.display()),
        ));
    }
    Ok(())
}

/// Binds each of [`Launch::staged_dirs`] under `<runtime>/dirs/N` and rewrites the arguments
/// that name paths beneath it.
fn stage_dirs(launch: &mut Launch) -> io::Result<()> {
    for (index, dir) in launch.staged_dirs.clone().iter().enumerate() {
        let target = launch.runtime_dir.join("dirs").join(index.to_string());
        bind(dir, &target)?;
        let prefix = dir.to_string_lossy().into_owned();
        for arg in &mut launch.sandbox_args {
            let beneath = arg
                .strip_prefix(&prefix)
                .filter(|rest| rest.is_empty() || rest.starts_with('/'));
            if let Some(rest) = beneath {
                *arg = format!("{}{rest}", target.display());
            }
        }
    }
    Ok(())
}

/// A `/dev/net/tun` the session user may open, seen only by this supervisor and its children:
/// the host's node is sometimes root-only (0600), and slirp4netns runs as the session user.
fn private_tun() -> io::Result<()> {
    let fail = |what: &str| {
        let e = io::Error::last_os_error();
        io::Error::new(
            e.kind(),
            format!("cannot prepare /dev/net/tun ({what}): {e}"),
        )
    };
    // SAFETY: plain syscalls on constant, NUL-terminated strings; single-threaded here.
    unsafe {
        if libc::mount(
            c"tmpfs".as_ptr(),
            c"/dev/net".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"mode=0755".as_ptr().cast(),
        ) != 0
        {
            return Err(fail("tmpfs"));
        }
        let tun = c"/dev/net/tun".as_ptr();
        if libc::mknod(tun, libc::S_IFCHR | 0o666, libc::makedev(10, 200)) != 0
            || libc::chmod(tun, 0o666) != 0
        {
            return Err(fail("mknod"));
        }
    }
    Ok(())
}

/// bwrap brings up the sandbox's loopback itself, over netlink, while the sandbox is held on
/// `--block-fd`; slirp4netns configuring the same namespace at the same moment made that fail
/// now and then ("loopback: Failed RTM_NEWADDR"). So slirp4netns starts once 127.0.0.1 exists.
fn wait_for_loopback(pid: u32) -> io::Result<()> {
    let table = format!("/proc/{pid}/net/fib_trie");
    for _ in 0..10_000 {
        if std::fs::read_to_string(&table).is_ok_and(|t| t.contains("127.0.0.1")) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    Err(io::Error::other(
        "the sandbox's loopback did not come up within 2 seconds",
    ))
}

/// `_IO(0xb7, 0x1)` from `linux/nsfs.h`: the user namespace owning a namespace.
const NS_GET_USERNS: libc::c_ulong = 0xb701;

/// Starts slirp4netns for the sandbox whose first process is `pid`, and returns once its
/// network is configured. slirp4netns joins the user namespace that *owns* the network
/// namespace: with `--disable-userns` the sandbox itself sits one user namespace deeper, where
/// joining the network namespace is refused (`session-network.md`). It stops when the returned
/// descriptor closes, which includes this process dying: no orphan outlives the session.
fn start_network(tool: &std::path::Path, pid: u32) -> io::Result<(Child, OwnedFd)> {
    wait_for_loopback(pid)?;
    let net = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    // SAFETY: the ioctl takes no argument and returns a new descriptor or -1.
    let owner = unsafe { libc::ioctl(net.as_raw_fd(), NS_GET_USERNS) };
    if owner < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we own from here on.
    let owner = unsafe { OwnedFd::from_raw_fd(owner) };
    let (ready_read, ready_write) = pipe()?;
    let (exit_read, exit_write) = pipe()?;
    let passed = [
        owner.as_raw_fd(),
        ready_write.as_raw_fd(),
        exit_read.as_raw_fd(),
    ];
    let mut command = Command::new(tool);
    command
        .args([
            "--configure".to_owned(),
            "--mtu=65520".to_owned(),
            // The host's own loopback services (Berth's included) stay out of reach.
            "--disable-host-loopback".to_owned(),
            format!("--userns-path=/proc/self/fd/{}", passed[0]),
            format!("--ready-fd={}", passed[1]),
            format!("--exit-fd={}", passed[2]),
            pid.to_string(),
            "tap0".to_owned(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // Its chatter ("sent tapfd=6 for tap0") is noise in the user's session log.
        .stderr(Stdio::null());
    // SAFETY: fcntl is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            for fd in passed {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {}: {e}", tool.display())))?;
    drop((ready_write, exit_read, owner));
    let mut ready = [0u8; 1];
    if std::fs::File::from(ready_read).read(&mut ready)? != 1 {
        return Err(io::Error::other(
            "slirp4netns could not set up the session's network; `berth doctor` checks what it needs",
        ));
    }
    Ok((child, exit_write))
}

fn drop_privileges(run_as: Option<(u32, u32)>) -> io::Result<()> {
    let Some((uid, gid)) = run_as else {
        return Ok(());
    };
    // SAFETY: plain syscalls; order matters (groups and gid while still root).
    let failed = unsafe {
        libc::setgroups(0, std::ptr::null()) != 0
            || libc::setresgid(gid, gid, gid) != 0
            || libc::setresuid(uid, uid, uid) != 0
    };
    if failed {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("cannot switch to uid {uid}: {e}"),
        ));
    }
    if unsafe { libc::geteuid() } == 0 {
        return Err(io::Error::other("still root after dropping privileges"));
    }
    Ok(())
}

fn pin_cpus(cpus: Option<&[usize]>) -> io::Result<()> {
    let Some(cpus) = cpus else { return Ok(()) };
    // SAFETY: cpu_set_t is plain data; CPU_SET only writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn redirect_stdout_to_null() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: both descriptors are valid.
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
}

struct Shared {
    sandbox_pid: u32,
    bwrap_pid: u32,
    shell: Vec<String>,
    shell_env: Vec<(String, String)>,
    destroyed: Mutex<bool>,
    /// Why the supervisor ended the session itself (a limit), if it did.
    ended_by: Mutex<Option<String>>,
    /// How the bootstrap script ended, once it has.
    bootstrap_exit: Mutex<Option<i32>>,
    /// A shell already inside the sandbox, held before it starts, for the next terminal.
    spare: Mutex<Option<Shell>>,
    /// Set once the sandbox is gone, so a destroy can answer after the fact.
    ended: Mutex<Option<SupervisorState>>,
    ended_signal: Condvar,
}

struct Supervisor {
    shared: Arc<Shared>,
    bwrap: Child,
    /// slirp4netns and the descriptor whose closing stops it.
    network: Option<(Child, OwnedFd)>,
    /// Where the sandbox reports the bootstrap script's status.
    bootstrap_status: Option<OwnedFd>,
    listener: UnixListener,
    runtime_dir: std::path::PathBuf,
}

impl Supervisor {
    fn start(launch: Launch) -> io::Result<Self> {
        let (info_read, info_write) = pipe()?;
        let info_fd = info_write.as_raw_fd();
        // bwrap reports its child's pid before that child has set up the mounts; the command
        // itself says when it runs, by writing one byte to a descriptor it then closes. The
        // shell's `>&N` only takes one digit, so N is a free descriptor below 10.
        let (ready_read, ready_write) = pipe()?;
        let ready_source = ready_write.as_raw_fd();
        // With networking, bwrap waits on this until the network is configured.
        let block = match launch.slirp4netns {
            Some(_) => Some(pipe()?),
            None => None,
        };
        let block_fd = block
            .as_ref()
            .map(|(read, _)| read.as_raw_fd())
            .unwrap_or(-1);
        // Dotfiles and the bootstrap script, each handed to bwrap's --file by descriptor.
        let mut placed = Vec::new();
        let mut file_args: Vec<String> = Vec::new();
        for file in &launch.files {
            let opened: OwnedFd = std::fs::File::open(&file.source)?.into();
            let target = std::path::Path::new(&file.target);
            let mut parents: Vec<&std::path::Path> = target
                .ancestors()
                .skip(1)
                .take_while(|p| !["/", "/home/work", "/run"].contains(&p.to_str().unwrap_or("/")))
                .collect();
            parents.reverse();
            for parent in parents {
                file_args.extend(["--dir".to_owned(), parent.to_string_lossy().into_owned()]);
            }
            file_args.extend([
                "--perms".to_owned(),
                format!("{:04o}", file.mode),
                "--file".to_owned(),
                opened.as_raw_fd().to_string(),
                file.target.clone(),
            ]);
            placed.push(opened);
        }
        let placed_fds: Vec<RawFd> = placed.iter().map(|fd| fd.as_raw_fd()).collect();
        let bootstrap = match launch.bootstrap {
            true => Some(pipe()?),
            false => None,
        };
        let taken = |n: &RawFd| {
            *n == info_fd
                || *n == block_fd
                || launch.inherited_fds.contains(n)
                || placed_fds.contains(n)
        };
        // The shell's `>&N` only takes one digit, so these are free descriptors below 10.
        let mut free = (3..10).filter(|n| !taken(n));
        let ready_fd = free
            .next()
            .ok_or_else(|| io::Error::other("no descriptor below 10 is free"))?;
        let status_fd = match &bootstrap {
            Some(_) => free
                .next()
                .ok_or_else(|| io::Error::other("no descriptor below 10 is free"))?,
            None => -1,
        };
        let status_source = bootstrap.as_ref().map(|(_, w)| w.as_raw_fd()).unwrap_or(-1);
        let script = match &bootstrap {
            // The bootstrap runs once, after the sandbox reports it is up (terminals may open
            // meanwhile) and before the command; its output goes to the session log, and its
            // status to the supervisor, which reports a failure.
            Some(_) => format!(
                "printf . >&{ready_fd}; exec {ready_fd}>&-; \
                 if command -v bash >/dev/null 2>&1; then bash -l {BOOTSTRAP_TARGET} {status_fd}>&-; \
                 else sh {BOOTSTRAP_TARGET} {status_fd}>&-; fi; status=$?; \
                 echo \"[berth] bootstrap script finished with status $status\"; \
                 echo $status >&{status_fd}; exec {status_fd}>&-; exec \"$@\""
            ),
            None => format!("printf . >&{ready_fd}; exec {ready_fd}>&-; exec \"$@\""),
        };
        let mut wrapped = vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            script,
            "sh".to_owned(),
        ];
        wrapped.extend(launch.command.iter().cloned());
        // bwrap writes to stderr too; both land in the session log the engine gave us.
        let log = dup(2)?;
        let mut command = Command::new(&launch.bwrap);
        command
            .args(&launch.sandbox_args)
            .arg("--info-fd")
            .arg(info_fd.to_string())
            .args(match block_fd {
                -1 => Vec::new(),
                fd => vec!["--block-fd".to_owned(), fd.to_string()],
            })
            .args(&file_args)
            .args(&wrapped)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log));
        // SAFETY: fcntl and dup2 are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if libc::fcntl(info_fd, libc::F_SETFD, 0) != 0
                    || (block_fd >= 0 && libc::fcntl(block_fd, libc::F_SETFD, 0) != 0)
                    || libc::dup2(ready_source, ready_fd) < 0
                    || (status_fd >= 0 && libc::dup2(status_source, status_fd) < 0)
                {
                    return Err(io::Error::last_os_error());
                }
                for &fd in &placed_fds {
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut bwrap = command.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run {}: {e}", launch.bwrap.display()),
            )
        })?;
        drop(info_write);
        drop(ready_write);
        drop(placed);
        let bootstrap_status = bootstrap.map(|(read, write)| {
            drop(write);
            read
        });
        let mut info = String::new();
        std::fs::File::from(info_read).read_to_string(&mut info)?;
        let mut network = None;
        if let (Some((block_read, block_write)), Some(tool)) = (block, &launch.slirp4netns) {
            drop(block_read);
            let pid = serde_json::from_str::<serde_json::Value>(&info)
                .ok()
                .and_then(|v| v.get("child-pid").and_then(|p| p.as_u64()));
            if let Some(pid) = pid {
                match start_network(tool, pid as u32) {
                    Ok(started) => network = Some(started),
                    Err(e) => {
                        let _ = bwrap.kill();
                        let _ = bwrap.wait();
                        return Err(e);
                    }
                }
            }
            // One byte releases the sandbox's command.
            std::fs::File::from(block_write).write_all(b"1")?;
        }
        let mut ready = [0u8; 1];
        let started = std::fs::File::from(ready_read).read(&mut ready)? == 1;
        // The folders are bound now; the sandbox must not keep the engine's descriptors.
        for &fd in &launch.inherited_fds {
            // SAFETY: these descriptors were handed to us for this purpose only.
            unsafe { libc::close(fd as RawFd) };
        }
        let sandbox_pid = serde_json::from_str::<serde_json::Value>(&info)
            .ok()
            .and_then(|v| v.get("child-pid").and_then(|p| p.as_u64()))
            .map(|p| p as u32);
        let (Some(sandbox_pid), true) = (sandbox_pid, started) else {
            let status = bwrap.wait()?;
            return Err(io::Error::other(format!(
                "bubblewrap could not set up the sandbox ({status}); the session log says why"
            )));
        };
        let shared = Arc::new(Shared {
            sandbox_pid,
            bwrap_pid: bwrap.id(),
            shell: launch.shell,
            shell_env: launch.shell_env,
            destroyed: Mutex::new(false),
            ended_by: Mutex::new(None),
            bootstrap_exit: Mutex::new(None),
            spare: Mutex::new(None),
            ended: Mutex::new(None),
            ended_signal: Condvar::new(),
        });
        // The first terminal's shell joins the sandbox while the socket and state are made and
        // the engine hears the sandbox is up.
        prepare_spare(&shared);
        let socket = launch.runtime_dir.join(SOCKET_NAME);
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
        let supervisor = Self {
            shared,
            bwrap,
            network,
            bootstrap_status,
            listener,
            runtime_dir: launch.runtime_dir,
        };
        supervisor.write_state(&SupervisorState {
            supervisor_pid: std::process::id(),
            sandbox_pid,
            running: true,
            exit_code: None,
            destroyed: false,
            ended_at_ms: None,
            bootstrap_exit: None,
            ended_by: None,
        })?;
        Ok(supervisor)
    }

    fn write_state(&self, state: &SupervisorState) -> io::Result<()> {
        let path = self.runtime_dir.join(STATE_NAME);
        let temporary = self.runtime_dir.join(format!("{STATE_NAME}.tmp"));
        std::fs::write(&temporary, serde_json::to_vec(state)?)?;
        std::fs::rename(temporary, path)
    }

    /// Waits for the bootstrap script's status and records it in the state file.
    fn watch_bootstrap(&mut self) {
        let Some(status) = self.bootstrap_status.take() else {
            return;
        };
        let shared = self.shared.clone();
        let runtime_dir = self.runtime_dir.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::fs::File::from(status).read_to_string(&mut text);
            let Ok(code) = text.trim().parse::<i32>() else {
                return;
            };
            *lock(&shared.bootstrap_exit) = Some(code);
            // The final state, written when the sandbox ends, carries it too.
            let path = runtime_dir.join(STATE_NAME);
            let Ok(bytes) = std::fs::read(&path) else {
                return;
            };
            let Ok(mut state) = serde_json::from_slice::<SupervisorState>(&bytes) else {
                return;
            };
            if state.running {
                state.bootstrap_exit = Some(code);
                let temporary = runtime_dir.join(format!("{STATE_NAME}.bootstrap"));
                if let Ok(bytes) = serde_json::to_vec(&state)
                    && std::fs::write(&temporary, bytes).is_ok()
                {
                    let _ = std::fs::rename(temporary, path);
                }
            }
        });
    }

    /// Ends the sandbox of a session the engine never recorded.
    fn abandon(mut self) {
        let _ = self.bwrap.kill();
        let _ = self.bwrap.wait();
        let _ = std::fs::remove_file(self.runtime_dir.join(SOCKET_NAME));
        if let Some((mut tool, stop)) = self.network.take() {
            drop(stop);
            let _ = tool.wait();
        }
    }

    fn serve(mut self) -> i32 {
        self.watch_bootstrap();
        let listener = match self.listener.try_clone() {
            Ok(l) => l,
            Err(_) => return 1,
        };
        let shared = self.shared.clone();
        std::thread::spawn(move || {
            for connection in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = handle(connection, &shared);
                });
            }
        });
        let keeper = self.shared.clone();
        let runtime_dir = self.runtime_dir.clone();
        std::thread::spawn(move || {
            super::limits::keep(runtime_dir, keeper.sandbox_pid, |reason| {
                *lock(&keeper.ended_by) = Some(reason);
                // The same end as a destroy: bwrap's --die-with-parent chain and the PID
                // namespace take every process along.
                // SAFETY: signalling our own child.
                unsafe { libc::kill(keeper.bwrap_pid as libc::pid_t, libc::SIGKILL) };
            });
        });
        let status = self.bwrap.wait();
        let exit_code = status.ok().map(|s| {
            s.code()
                .unwrap_or_else(|| 128 + s.signal().unwrap_or_default())
        });
        let destroyed = *lock(&self.shared.destroyed);
        let state = SupervisorState {
            supervisor_pid: std::process::id(),
            sandbox_pid: self.shared.sandbox_pid,
            running: false,
            exit_code,
            destroyed,
            ended_at_ms: Some(now_ms()),
            bootstrap_exit: *lock(&self.shared.bootstrap_exit),
            ended_by: lock(&self.shared.ended_by).clone(),
        };
        let _ = self.write_state(&state);
        let _ = std::fs::remove_file(self.runtime_dir.join(SOCKET_NAME));
        if let Some((mut tool, stop)) = self.network.take() {
            drop(stop);
            let _ = tool.wait();
        }
        *lock(&self.shared.ended) = Some(state);
        self.shared.ended_signal.notify_all();
        if destroyed {
            // Let the destroy request's answer go out before the process ends.
            std::thread::sleep(Duration::from_millis(100));
        }
        0
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these descriptors to us.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor or -1.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we own from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Reads the request line byte by byte, so no frame that follows is swallowed into a buffer.
fn read_request(connection: &mut UnixStream) -> io::Result<Request> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if connection.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
        if line.len() > 64 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request too long",
            ));
        }
    }
    serde_json::from_slice(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn reply(connection: &mut UnixStream, reply: &Reply) -> io::Result<()> {
    let mut line = serde_json::to_vec(reply)?;
    line.push(b'\n');
    connection.write_all(&line)
}

fn handle(mut connection: UnixStream, shared: &Arc<Shared>) -> io::Result<()> {
    let request = match read_request(&mut connection) {
        Ok(r) => r,
        Err(e) => return reply(&mut connection, &Reply::error(format!("bad request: {e}"))),
    };
    match request {
        Request::Status => reply(&mut connection, &Reply::ok(shared.sandbox_pid)),
        Request::Destroy => {
            *lock(&shared.destroyed) = true;
            // bwrap's --die-with-parent chain and the PID namespace take every process along.
            // SAFETY: signalling our own child.
            unsafe { libc::kill(shared.bwrap_pid as libc::pid_t, libc::SIGKILL) };
            let mut ended = lock(&shared.ended);
            while ended.is_none() {
                ended = shared
                    .ended_signal
                    .wait(ended)
                    .unwrap_or_else(|p| p.into_inner());
            }
            reply(&mut connection, &Reply::ok(shared.sandbox_pid))
        }
        Request::Terminal { cols, rows } => terminal(connection, shared, cols, rows),
        Request::Exec { argv } => exec(connection, shared, argv),
        Request::Connect { port } => connect(connection, shared, port),
    }
}

/// Hands `connection` to a relay process joined to the sandbox's network (see `relay`), which
/// connects to `port` there and passes the connected socket back over it.
fn connect(mut connection: UnixStream, shared: &Shared, port: u16) -> io::Result<()> {
    reply(&mut connection, &Reply::ok(shared.sandbox_pid))?;
    // Whatever went wrong, the relay has said so to the client: its status adds nothing.
    Command::new(SELF)
        .args(["relay", &shared.sandbox_pid.to_string(), &port.to_string()])
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::from(OwnedFd::from(connection)))
        .stderr(Stdio::null())
        .status()
        .map(drop)
}

fn enter_args(shared: &Shared, start: Start) -> Vec<String> {
    let mode = match start {
        Start::Now => "enter",
        Start::WhenContinued => "enter-held",
    };
    vec![
        mode.to_owned(),
        shared.sandbox_pid.to_string(),
        WORKDIR.to_owned(),
        "--".to_owned(),
    ]
}

/// Our own binary, reached without a path walk: when started by root and dropped to an
/// unprivileged uid, the directory it was installed in may not be searchable by that uid.
const SELF: &str = "/proc/self/exe";

/// Where a shell's output goes: kept until a client attaches (what a shell printed between its
/// start and the attach), then to the client that claimed it.
enum Sink {
    Buffer(Vec<u8>),
    Client(UnixStream),
    Gone,
}

/// A login shell on a PTY inside the sandbox, with a thread forwarding its output.
struct Shell {
    master: Box<dyn portable_pty::MasterPty + Send>,
    killer: Box<dyn portable_pty::ChildKiller + Send + Sync>,
    sink: Arc<Mutex<Sink>>,
    /// The `enter-held` process waiting for its SIGCONT, until [`Shell::start`] sends it.
    held: Option<u32>,
}

/// What a shell that nobody has claimed yet may print before it is cut short.
const SPARE_BUFFER: usize = 256 * 1024;

impl Shell {
    fn spawn(shared: &Shared, cols: u16, rows: u16, start: Start) -> io::Result<Self> {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: rows.max(1),
                cols: cols.max(1),
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut command = CommandBuilder::new(SELF);
        command.args(enter_args(shared, start));
        command.args(&shared.shell);
        command.env_clear();
        for (key, value) in &shared.shell_env {
            command.env(key, value);
        }
        command.cwd("/");
        let mut child = pair
            .slave
            .spawn_command(command)
            .map_err(|e| io::Error::other(e.to_string()))?;
        drop(pair.slave);
        let mut output = pair
            .master
            .try_clone_reader()
            .map_err(|e| io::Error::other(e.to_string()))?;
        let sink = Arc::new(Mutex::new(Sink::Buffer(Vec::new())));
        let forward = sink.clone();
        let killer = child.clone_killer();
        let held = match start {
            Start::WhenContinued => child.process_id(),
            Start::Now => None,
        };
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = output.read(&mut buf) {
                let mut sink = lock(&forward);
                let client_left = match &mut *sink {
                    Sink::Buffer(kept) => {
                        if kept.len() < SPARE_BUFFER {
                            kept.extend_from_slice(&buf[..n]);
                        }
                        false
                    }
                    Sink::Client(client) => write_frame(client, Frame::Output, &buf[..n]).is_err(),
                    Sink::Gone => false,
                };
                if client_left {
                    *sink = Sink::Gone;
                }
            }
            let code = child.wait().map(|s| s.exit_code() as i32).unwrap_or(-1);
            let mut sink = lock(&forward);
            if let Sink::Client(client) = &mut *sink {
                let _ = write_frame(client, Frame::Exit, &exit_payload(code));
                let _ = client.shutdown(std::net::Shutdown::Both);
            }
            *sink = Sink::Gone;
        });
        Ok(Self {
            master: pair.master,
            killer,
            sink,
            held,
        })
    }

    /// Lets a held shell start: waits until it has joined the sandbox and stopped itself (a
    /// SIGCONT sent before that would be lost and leave it stopped for good), then continues it.
    fn start(&mut self) -> io::Result<()> {
        let Some(pid) = self.held.take() else {
            return Ok(());
        };
        let deadline = std::time::Instant::now() + HELD_START_WAIT;
        loop {
            match process_state(pid) {
                Some('T') => break,
                // Gone (or a zombie): the caller starts a new shell instead.
                None | Some('Z' | 'X') => return Err(io::Error::other("the held shell ended")),
                Some(_) if std::time::Instant::now() >= deadline => {
                    return Err(io::Error::other("the held shell did not reach its stop"));
                }
                Some(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        // SAFETY: signalling our own child, which has not been reaped (its state was just read).
        if unsafe { libc::kill(pid as libc::pid_t, libc::SIGCONT) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn alive(&self) -> bool {
        !matches!(*lock(&self.sink), Sink::Gone)
    }

    /// Sends what the shell printed so far to `client`, and everything after as it comes.
    fn attach(&self, mut client: UnixStream) -> io::Result<()> {
        let mut sink = lock(&self.sink);
        if let Sink::Buffer(kept) = &*sink
            && !kept.is_empty()
        {
            write_frame(&mut client, Frame::Output, kept)?;
        }
        *sink = Sink::Client(client);
        Ok(())
    }

    fn resize(&self, cols: u16, rows: u16) {
        let _ = self.master.resize(PtySize {
            rows: rows.max(1),
            cols: cols.max(1),
            pixel_width: 0,
            pixel_height: 0,
        });
    }
}

/// How long a claimed spare may take to reach its stop before a new shell is started instead.
const HELD_START_WAIT: Duration = Duration::from_secs(2);

/// The one-letter state in `/proc/PID/stat` (`T` stopped, `Z` zombie...), `None` when gone.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may hold anything; the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Prepares the shell the next terminal will get, joined to the sandbox but held before it
/// starts: opening a terminal skips starting a process and joining five namespaces, yet the
/// login shell reads the dotfiles when the tab opens, not when the previous one did.
fn prepare_spare(shared: &Arc<Shared>) {
    let shared = shared.clone();
    std::thread::spawn(move || {
        if let Ok(shell) = Shell::spawn(&shared, 80, 24, Start::WhenContinued) {
            *lock(&shared.spare) = Some(shell);
        }
    });
}

fn terminal(
    mut connection: UnixStream,
    shared: &Arc<Shared>,
    cols: u16,
    rows: u16,
) -> io::Result<()> {
    let spare = lock(&shared.spare).take().filter(Shell::alive);
    // Sized before it starts, so the shell's first prompt already fits the tab.
    let started = spare.and_then(|mut shell| {
        shell.resize(cols, rows);
        match shell.start() {
            Ok(()) => Some(shell),
            Err(_) => {
                let mut killer = shell.killer;
                let _ = killer.kill();
                None
            }
        }
    });
    let shell = match started {
        Some(shell) => shell,
        None => match Shell::spawn(shared, cols, rows, Start::Now) {
            Ok(shell) => shell,
            Err(e) => {
                let message = format!("cannot open a terminal: {e}");
                return reply(&mut connection, &Reply::error(message));
            }
        },
    };
    prepare_spare(shared);
    let mut input = match shell.master.take_writer() {
        Ok(w) => w,
        Err(_) => return reply(&mut connection, &Reply::error("cannot open a terminal")),
    };
    reply(&mut connection, &Reply::ok(shared.sandbox_pid))?;
    shell.attach(connection.try_clone()?)?;
    let mut payload = Vec::new();
    while let Ok(Some(frame)) = read_frame(&mut connection, &mut payload) {
        match frame {
            Frame::Input if input.write_all(&payload).is_err() => break,
            Frame::Resize if payload.len() == 4 => {
                let cols = u16::from_le_bytes([payload[0], payload[1]]);
                let rows = u16::from_le_bytes([payload[2], payload[3]]);
                shell.resize(cols, rows);
            }
            _ => {}
        }
    }
    // The client left (tab closed, app quit): the shell goes with its terminal.
    let mut killer = shell.killer;
    let _ = killer.kill();
    Ok(())
}

fn exec(mut connection: UnixStream, shared: &Shared, argv: Vec<String>) -> io::Result<()> {
    if argv.is_empty() {
        return reply(&mut connection, &Reply::error("no command given"));
    }
    let spawned = Command::new(SELF)
        .args(enter_args(shared, Start::Now))
        .args(&argv)
        .env_clear()
        .envs(shared.shell_env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return reply(&mut connection, &Reply::error(format!("cannot run: {e}"))),
    };
    reply(&mut connection, &Reply::ok(shared.sandbox_pid))?;
    let writer = Arc::new(Mutex::new(connection.try_clone()?));
    let pump = |mut from: Box<dyn Read + Send>, kind: Frame| {
        let writer = writer.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || write_frame(&mut *lock(&writer), kind, &buf[..n]).is_err() {
                    break;
                }
            }
        })
    };
    let stdout = child
        .stdout
        .take()
        .map(|s| pump(Box::new(s), Frame::Output));
    let stderr = child
        .stderr
        .take()
        .map(|s| pump(Box::new(s), Frame::Stderr));
    let mut stdin = child.stdin.take();
    let child_pid = child.id();
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let finished_seen = finished.clone();
    let mut reader = connection.try_clone()?;
    let input = std::thread::spawn(move || {
        let mut payload = Vec::new();
        loop {
            match read_frame(&mut reader, &mut payload) {
                Ok(Some(Frame::Input)) => {
                    if let Some(s) = stdin.as_mut() {
                        let _ = s.write_all(&payload);
                    }
                }
                Ok(Some(Frame::InputEnd)) => stdin = None,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    // The client is gone: nobody reads the output, so stop the command —
                    // unless it already ended and was reaped (its pid may be reused by now).
                    if !finished_seen.load(std::sync::atomic::Ordering::SeqCst) {
                        // SAFETY: signalling our own child, not yet reaped.
                        unsafe { libc::kill(child_pid as libc::pid_t, libc::SIGKILL) };
                    }
                    break;
                }
            }
        }
    });
    for thread in [stdout, stderr].into_iter().flatten() {
        let _ = thread.join();
    }
    // Set before reaping: from here on the input side must not signal the pid.
    finished.store(true, std::sync::atomic::Ordering::SeqCst);
    let code = child
        .wait()
        .map(|s| {
            s.code()
                .unwrap_or_else(|| 128 + s.signal().unwrap_or_default())
        })
        .unwrap_or(-1);
    write_frame(&mut *lock(&writer), Frame::Exit, &exit_payload(code))?;
    drop(input);
    Ok(())
}
