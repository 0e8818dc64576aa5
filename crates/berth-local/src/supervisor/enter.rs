//! Joining a running sandbox from the host: how a second terminal, or a `berth session exec`,
//! reaches the same processes, `/home/work` and mounts as the first. The supervisor runs its own
//! binary in `enter` mode with a PTY or pipes as stdio; this joins the sandbox's namespaces,
//! forks (a PID namespace only applies to children), and waits for the child.
//!
//! bwrap's `--disable-userns` leaves the sandbox one user namespace deeper than the mount, PID,
//! IPC, UTS and network namespaces it set up, which belong to the outer one. So the order is:
//! outer user namespace (we own it, so we hold its capabilities), then the others, then the
//! inner user namespace, which keeps user namespaces disabled for whatever runs next.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

/// `_IO(0xb7, 0x2)` from `linux/nsfs.h`: the user namespace that owns this one.
const NS_GET_PARENT: libc::c_ulong = 0xb702;

/// When the command starts once the sandbox is joined.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Start {
    Now,
    /// Stop (SIGSTOP) after joining and start the command only when continued (SIGCONT). The
    /// supervisor keeps one such process ready for the next terminal: joining the namespaces is
    /// paid ahead, but the login shell starts, and reads `.bashrc` and `.profile`, only when a
    /// tab asks for it — so a tab sees the dotfiles as they are when it opens.
    WhenContinued,
}

/// Runs `argv` inside the sandbox whose processes include `pid`, in `cwd`, and returns its exit
/// status (128 + signal when killed). Must be called while the process has one thread: the
/// kernel refuses to move a multi-threaded process into a user namespace.
pub fn enter(pid: u32, cwd: &str, argv: &[OsString], start: Start) -> i32 {
    let held = |()| {
        if start == Start::WhenContinued {
            // SAFETY: raise with a constant signal; SIGSTOP cannot be caught or lost, so the
            // supervisor can tell from /proc that this process is waiting for its SIGCONT.
            unsafe { libc::raise(libc::SIGSTOP) };
        }
        Ok(())
    };
    match join(pid, cwd).and_then(held).and_then(|()| run(argv)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("berth: cannot enter the session (sandbox pid {pid}): {error}");
            127
        }
    }
}

fn namespace(pid: u32, kind: &str) -> io::Result<File> {
    File::open(format!("/proc/{pid}/ns/{kind}"))
        .map_err(|e| io::Error::new(e.kind(), format!("/proc/{pid}/ns/{kind}: {e}")))
}

fn set_namespace(file: &impl AsRawFd, kind: libc::c_int, what: &str) -> io::Result<()> {
    // SAFETY: setns only reads the descriptor, which is open for the duration of the call.
    if unsafe { libc::setns(file.as_raw_fd(), kind) } == 0 {
        Ok(())
    } else {
        let e = io::Error::last_os_error();
        Err(io::Error::new(
            e.kind(),
            format!("joining its {what} namespace: {e}"),
        ))
    }
}

fn join(pid: u32, cwd: &str) -> io::Result<()> {
    let inner_user = namespace(pid, "user")?;
    // Opened before joining anything: once in the mount namespace, /proc is the sandbox's.
    let others = [
        (namespace(pid, "ipc")?, libc::CLONE_NEWIPC, "IPC"),
        (namespace(pid, "uts")?, libc::CLONE_NEWUTS, "UTS"),
        (namespace(pid, "net")?, libc::CLONE_NEWNET, "network"),
        (namespace(pid, "pid")?, libc::CLONE_NEWPID, "PID"),
        (namespace(pid, "mnt")?, libc::CLONE_NEWNS, "mount"),
    ];
    let own_user = File::open("/proc/self/ns/user")?.metadata()?.ino();
    // SAFETY: the ioctl takes no argument and returns a new descriptor or -1.
    let outer = unsafe { libc::ioctl(inner_user.as_raw_fd(), NS_GET_PARENT) };
    let outer = (outer >= 0).then(|| unsafe { OwnedFd::from_raw_fd(outer) });
    let nested = match &outer {
        Some(outer) => File::from(outer.try_clone()?).metadata()?.ino() != own_user,
        None => false,
    };
    if let (true, Some(outer)) = (nested, &outer) {
        set_namespace(outer, libc::CLONE_NEWUSER, "outer user")?;
    } else {
        set_namespace(&inner_user, libc::CLONE_NEWUSER, "user")?;
    }
    for (file, kind, what) in &others {
        // A namespace the sandbox shares with the host (its network, on the host's network) is
        // ours already; joining it would need a capability over the host's, which we lack.
        if same_as_ours(file, *kind)? {
            continue;
        }
        set_namespace(file, *kind, what)?;
    }
    if nested {
        set_namespace(&inner_user, libc::CLONE_NEWUSER, "user")?;
    }
    std::env::set_current_dir(cwd)?;
    // What bwrap does for the sandbox's own processes: no setuid binary gains anything inside.
    // SAFETY: plain prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `file` is the namespace of `kind` this process is in already.
fn same_as_ours(file: &File, kind: libc::c_int) -> io::Result<bool> {
    let name = match kind {
        libc::CLONE_NEWNET => "net",
        libc::CLONE_NEWIPC => "ipc",
        libc::CLONE_NEWUTS => "uts",
        libc::CLONE_NEWPID => "pid",
        libc::CLONE_NEWNS => "mnt",
        _ => return Ok(false),
    };
    let own = File::open(format!("/proc/self/ns/{name}"))?
        .metadata()?
        .ino();
    Ok(file.metadata()?.ino() == own)
}

/// Joins only the network namespace of the sandbox whose processes include `pid` (through the
/// outer user namespace, which owns it), for a port forward's relay: the relay keeps the host's
/// file system and needs nothing else of the sandbox. A sandbox on the host's network shares
/// this process's namespace already, and nothing is joined.
pub fn join_network(pid: u32) -> io::Result<()> {
    let network = namespace(pid, "net")?;
    let own_network = File::open("/proc/self/ns/net")?.metadata()?.ino();
    if network.metadata()?.ino() == own_network {
        return Ok(());
    }
    let inner_user = namespace(pid, "user")?;
    let own_user = File::open("/proc/self/ns/user")?.metadata()?.ino();
    // SAFETY: the ioctl takes no argument and returns a new descriptor or -1.
    let outer = unsafe { libc::ioctl(inner_user.as_raw_fd(), NS_GET_PARENT) };
    let outer = (outer >= 0).then(|| unsafe { OwnedFd::from_raw_fd(outer) });
    match &outer {
        Some(outer) if File::from(outer.try_clone()?).metadata()?.ino() != own_user => {
            set_namespace(outer, libc::CLONE_NEWUSER, "outer user")?;
        }
        _ => set_namespace(&inner_user, libc::CLONE_NEWUSER, "user")?,
    }
    set_namespace(&network, libc::CLONE_NEWNET, "network")?;
    // SAFETY: plain prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn run(argv: &[OsString]) -> io::Result<i32> {
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a command argument"))?;
    let Some(program) = args.first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no command given",
        ));
    };
    let mut pointers: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    pointers.push(std::ptr::null());
    // SAFETY: single-threaded (see `enter`), so fork is sound; the child only calls
    // async-signal-safe functions before exec.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => unsafe {
            // Dies with this process, so killing an exec from the host never leaves it behind.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            libc::execvp(program.as_ptr(), pointers.as_ptr());
            let msg = b"berth: cannot run the command in the session\n";
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(127)
        },
        child => {
            // Ctrl-C reaches the child through its terminal; this process only waits.
            unsafe {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                libc::signal(libc::SIGQUIT, libc::SIG_IGN);
            }
            wait(child)
        }
    }
}

/// Waits for `pid` and turns its end into a shell-style exit status.
pub fn wait(pid: libc::pid_t) -> io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(exit_code(status))
}

pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        -1
    }
}
