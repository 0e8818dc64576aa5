//! Sessions in bubblewrap sandboxes (Linux only): preparing a launch (the supervisor, the
//! runtime directory, folders opened without following links, the user's files), starting it,
//! and reading back how a sandbox's session is doing from its supervisor.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_core::{Error, MountPlan, NetworkMode, Result, Session, SessionStatus, SessionType};

use super::{GIB, Root, etc, io_error, now_ms, ownership, sandbox, session_identity, shell_env};
use crate::LocalEngine;
use crate::environments::SystemRoot;
use crate::supervisor::client::SupervisorClient;
use crate::supervisor::protocol::{
    BOOTSTRAP_TARGET, Launch, PlacedFile, READ_ONLY_ROOT, STARTED, STATE_NAME, SupervisorState,
    WritableRoot,
};

impl LocalEngine {
    /// Prepares and starts `session` in a sandbox; returns once it is up.
    pub(super) async fn start_sandbox(
        &self,
        session: &Session,
        system: &SystemRoot,
        plan: &MountPlan,
        sources: &[PathBuf],
    ) -> Result<Root> {
        let prepared = self.prepare_launch(session, system, plan, sources)?;
        tokio::task::spawn_blocking(move || prepared.start())
            .await
            .map_err(|e| Error::internal(format!("Starting the session stopped: {e}")))?
    }

    /// The `berth-supervisor` binary: `BERTH_SUPERVISOR`, set by [`LocalEngine::set_supervisor`],
    /// or installed next to the running program (also when that is a test in `deps/`).
    fn supervisor_program(&self) -> Result<PathBuf> {
        if let Some(path) = self.supervisor_override() {
            return Ok(path);
        }
        if let Some(path) = std::env::var_os("BERTH_SUPERVISOR") {
            return Ok(PathBuf::from(path));
        }
        let exe = std::env::current_exe().map_err(|e| {
            Error::engine_unavailable(format!("Cannot locate Berth's program: {e}"))
        })?;
        let dir = exe.parent().unwrap_or(Path::new("/"));
        let candidates = [
            dir.join("berth-supervisor"),
            dir.parent().unwrap_or(dir).join("berth-supervisor"),
        ];
        candidates
            .iter()
            .find(|c| c.is_file())
            .cloned()
            .ok_or_else(|| {
                Error::engine_unavailable(format!(
                    "berth-supervisor is missing next to {}: local sessions cannot start. \
                     Reinstall Berth (or `cargo build` in a checkout).",
                    exe.display()
                ))
            })
    }

    fn prepare_launch(
        &self,
        session: &Session,
        system: &SystemRoot,
        plan: &MountPlan,
        sources: &[PathBuf],
    ) -> Result<PreparedLaunch> {
        let bwrap = find_program("bwrap").ok_or_else(|| {
            Error::engine_unavailable(
                "bubblewrap (bwrap) is not installed: local sessions need it. Install it with \
                 `sudo apt-get install bubblewrap` (or your system's package manager).",
            )
        })?;
        let supervisor = self.supervisor_program()?;
        let identity = session_identity();
        let slirp4netns = match session.network {
            NetworkMode::Outbound => Some(find_program("slirp4netns").ok_or_else(|| {
                Error::engine_unavailable(
                    "slirp4netns is not installed: sessions with network need it. Install it \
                     with `sudo apt-get install slirp4netns`, or start the session with no network.",
                )
            })?),
            _ => None,
        };
        if slirp4netns.is_some() && identity.is_none() && !tun_open_to_all() {
            return Err(Error::engine_unavailable(
                "/dev/net/tun cannot be opened by your user, so sessions cannot have a network. \
                 Most systems make it 0666 (udev); ask an administrator to, or start the session \
                 with no network.",
            ));
        }
        let runtime_dir = self.session_runtime_dir(&session.id);
        create_runtime_dir(&self.dirs().runtime, &runtime_dir, identity)?;
        // Before the supervisor starts, so it keeps the limits from its first check.
        self.write_limits(session)?;
        let (etc_source, selection) = match system {
            SystemRoot::Host => (PathBuf::from("/etc"), etc::Selection::Host),
            SystemRoot::Directory(root) => (root.join("etc"), etc::Selection::Everything),
        };
        let shared_etc = etc::curated(
            &self.dirs().runtime,
            &etc_source,
            selection,
            sandbox::SESSION_UID,
        )
        .map_err(|e| io_error("Cannot prepare the sessions' /etc", e))?;
        etc::prune(&self.dirs().runtime, &shared_etc);
        let etc_dir = runtime_dir.join("etc");
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&etc_dir)
            .map_err(|e| io_error("Cannot prepare the session's /etc", e))?;
        for (file, content) in sandbox::GENERATED_ETC
            .iter()
            .zip(sandbox::generated_etc(&session.name))
        {
            let path = etc_dir.join(file);
            std::fs::write(&path, content)
                .map_err(|e| io_error("Cannot write the session's /etc", e))?;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644));
        }

        let mut folder_fds = Vec::new();
        for (mount, source) in plan.mounts.iter().zip(sources) {
            if let Some(identity) = identity {
                ownership::hand_over_folder(mount, source, identity)?;
            }
            folder_fds.push(open_folder(source).map_err(|e| {
                Error::internal(format!(
                    "Cannot open folder \"{}\" ({}): {e}",
                    mount.folder_name,
                    source.display()
                ))
            })?);
        }
        let log_path = self.session_log_path(&session.id);
        if let Some(parent) = log_path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| io_error("Cannot create the session log", e))?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| io_error("Cannot create the session log", e))?;

        let placed = self.place_user_files(&runtime_dir, plan, &log)?;
        let env = shell_env(session, plan);
        let mounts: Vec<_> = folder_fds
            .iter()
            .map(|fd| fd.as_raw_fd())
            .zip(plan.mounts.iter())
            .collect();
        let scratch_bytes = session.resources.scratch_bytes.unwrap_or(2 * GIB);
        let sandbox_spec = sandbox::SandboxSpec {
            hostname: &session.name,
            system,
            writable_root: None,
            shared_etc: &shared_etc,
            etc_dir: &etc_dir,
            scratch_bytes,
            network: session.network,
            mounts: &mounts,
            env: &env,
        };
        let sandbox_args = sandbox::arguments(&sandbox_spec);
        // An environment's system gets a writable overlay where the kernel allows it; the
        // supervisor falls back to `sandbox_args` where it does not.
        let writable_root = match system {
            SystemRoot::Directory(root) => {
                let dir = runtime_dir.join("overlay");
                let merged = WritableRoot::merged(&dir);
                Some(WritableRoot {
                    lower: root.clone(),
                    sandbox_args: sandbox::arguments(&sandbox::SandboxSpec {
                        writable_root: Some(&merged),
                        ..sandbox_spec
                    }),
                    dir,
                    size_bytes: scratch_bytes,
                })
            }
            SystemRoot::Host => None,
        };
        let command = match (session.session_type, &session.command) {
            (SessionType::Batch, Some(command)) => {
                vec!["/bin/bash".to_owned(), "-lc".to_owned(), command.clone()]
            }
            // Keeps the sandbox alive; terminals join it.
            _ if *system == SystemRoot::Host => vec!["sleep".to_owned(), "infinity".to_owned()],
            // Not every image's sleep knows "infinity" (busybox's may not).
            _ => ["/bin/sh", "-c", "while :; do sleep 86400; done"]
                .map(str::to_owned)
                .to_vec(),
        };
        let bash = match system {
            SystemRoot::Host => true,
            SystemRoot::Directory(root) => ["bin/bash", "usr/bin/bash"]
                .iter()
                .any(|p| std::fs::symlink_metadata(root.join(p)).is_ok()),
        };
        let shell = if bash {
            vec!["/bin/bash".to_owned(), "-l".to_owned()]
        } else {
            vec!["/bin/sh".to_owned(), "-l".to_owned()]
        };
        let cpus = session
            .resources
            .cpus
            .map(|n| (0..n as usize).collect::<Vec<_>>());
        let launch = Launch {
            session_id: session.id.clone(),
            runtime_dir,
            bwrap,
            sandbox_args,
            command,
            shell,
            shell_env: env,
            inherited_fds: folder_fds.iter().map(|fd| fd.as_raw_fd()).collect(),
            run_as: identity,
            cpus,
            private_tun: slirp4netns.is_some() && identity.is_some() && !tun_open_to_all(),
            slirp4netns,
            bootstrap: placed.iter().any(|f| f.target == BOOTSTRAP_TARGET),
            files: placed,
            staged_dirs: match system {
                SystemRoot::Directory(root) => vec![root.clone()],
                SystemRoot::Host => Vec::new(),
            },
            writable_root,
        };
        Ok(PreparedLaunch {
            supervisor,
            launch,
            folder_fds,
            log: log.into(),
            timeout: self.start_timeout(),
        })
    }

    /// Writes [`LocalEngine::user_files`] where the session user can read them, for the
    /// supervisor to copy into the sandbox with bwrap's `--file`.
    fn place_user_files(
        &self,
        runtime_dir: &Path,
        plan: &MountPlan,
        mut log: &std::fs::File,
    ) -> Result<Vec<PlacedFile>> {
        let files = self.user_files(plan)?;
        for line in &files.skipped {
            let _ = writeln!(log, "{line}");
        }
        let dir = runtime_dir.join("files");
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&dir)
            .map_err(|e| io_error("Cannot prepare the session's dotfiles", e))?;
        let write = |name: String, content: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, content)
                .and_then(|()| {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                })
                .map_err(|e| io_error("Cannot prepare the session's dotfiles", e))?;
            Ok(path)
        };
        let mut placed = Vec::new();
        for (i, dotfile) in files.dotfiles.into_iter().enumerate() {
            placed.push(PlacedFile {
                source: write(format!("dotfile-{i}"), &dotfile.content)?,
                target: format!("/home/work/{}", dotfile.path),
                mode: dotfile.mode,
            });
        }
        if let Some(script) = files.bootstrap {
            placed.push(PlacedFile {
                source: write("bootstrap.sh".to_owned(), &script)?,
                target: BOOTSTRAP_TARGET.to_owned(),
                mode: 0o755,
            });
        }
        Ok(placed)
    }

    /// Brings a live sandbox session's row up to date with its supervisor: ended on its own,
    /// destroyed, or gone without a word (then its sandbox went with it: `--die-with-parent`).
    pub(super) fn reconcile_sandbox(&self, mut session: Session) -> Session {
        let dir = self.session_runtime_dir(&session.id);
        let read_state = || -> Option<SupervisorState> {
            std::fs::read(dir.join(STATE_NAME))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
        };
        let mut state = read_state();
        let mut answering = false;
        if state.as_ref().is_some_and(|s| s.running) {
            answering = SupervisorClient::new(&dir).answers();
            // A supervisor writes its final state before it removes its socket: one that
            // stopped answering since the state was read has left the final state by now (a
            // batch command that ends as its session starts hits exactly that moment).
            if !answering {
                state = read_state();
            }
        }
        match state {
            Some(state) if state.running && answering => {
                if let (Some(code @ 1..), None) = (state.bootstrap_exit, &session.status_detail) {
                    session.status_detail = Some(format!(
                        "The bootstrap script failed with status {code}; its output is in the session's logs."
                    ));
                    let _ = self.catalog().save_session(&session);
                }
                return session;
            }
            None if session.status == SessionStatus::Preparing
                && now_ms() - session.created_at_ms < self.start_timeout().as_millis() as i64 =>
            {
                return session;
            }
            Some(state) if !state.running => {
                session.ended_at_ms = state.ended_at_ms.or(Some(now_ms()));
                session.exit_code = state.exit_code;
                if let Some(reason) = state.ended_by {
                    session.status = SessionStatus::Terminated;
                    session.status_detail = Some(reason);
                } else if state.destroyed {
                    session.status = SessionStatus::Terminated;
                    session.status_detail = Some("Destroyed.".to_owned());
                } else if session.session_type == SessionType::Batch {
                    session.status = SessionStatus::Terminated;
                    session.status_detail = Some(match state.exit_code {
                        Some(0) => "The command finished successfully.".to_owned(),
                        Some(code) => format!("The command failed with exit status {code}."),
                        None => "The command ended.".to_owned(),
                    });
                } else {
                    session.status = SessionStatus::Error;
                    session.status_detail = Some(format!(
                        "The sandbox ended on its own (status {}).",
                        state.exit_code.unwrap_or(-1)
                    ));
                }
            }
            _ => {
                session.status = SessionStatus::Error;
                session.ended_at_ms = Some(now_ms());
                session.status_detail = Some(
                    "Its supervisor stopped unexpectedly, and the sandbox ended with it. Files \
                     in mounted folders are kept."
                        .to_owned(),
                );
            }
        }
        // Another reader (the CLI's destroy, the app's sampler) may have recorded the end
        // first and cleaned the runtime directory this one then found empty: its record,
        // made while the final state was still there, stands. Without this a destroyed
        // session was overwritten as "stopped unexpectedly".
        match self.catalog().record_end(&session) {
            Ok(true) => {}
            Ok(false) => {
                if let Ok(recorded) = self.catalog().session(&session.id) {
                    return recorded;
                }
            }
            Err(error) => {
                tracing::warn!(%error, id = %session.id, "could not record the end of a session");
            }
        }
        // The scratch tmpfs went with the sandbox, and a writable root's overlay with the
        // supervisor's mount namespace; only the runtime directory is left to clean.
        let _ = std::fs::remove_dir_all(&dir);
        tracing::info!(id = %session.id, status = ?session.status, "session ended");
        session
    }

    pub(super) async fn end_sandbox(&self, session: &Session) -> Result<Session> {
        let client = SupervisorClient::new(&self.session_runtime_dir(&session.id));
        let _ = tokio::task::spawn_blocking(move || client.destroy()).await;
        let ended = self.find_session(&session.id)?;
        if ended.status.is_live() {
            return Err(Error::internal(format!(
                "Session \"{}\" did not end when asked; try again.",
                ended.name
            )));
        }
        Ok(ended)
    }
}

/// Whether every user may open the TUN device slirp4netns needs (udev's usual 0666).
fn tun_open_to_all() -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata("/dev/net/tun")
        .map(|m| m.permissions().mode() & 0o006 == 0o006)
        .unwrap_or(false)
}

/// Creates the session's runtime directory, private to whoever the session runs as.
fn create_runtime_dir(base: &Path, dir: &Path, identity: Option<(u32, u32)>) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::engine_unavailable(format!(
            "Cannot create the session runtime directory {}: {e}. Set BERTH_RUNTIME_DIR to a \
             writable directory.",
            dir.display()
        ))
    };
    std::fs::create_dir_all(base).map_err(fail)?;
    if identity.is_some() {
        // The session user must reach its own directory below; listing stays root's.
        let _ = std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o711));
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(fail)?;
    if let Some((uid, gid)) = identity {
        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(fail)?;
    }
    Ok(())
}

/// Opens a folder for binding without following a link at its last component: bwrap then
/// mounts exactly this directory, whatever happens to the path later.
fn open_folder(path: &Path) -> std::io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    Ok(file.into())
}

/// Everything opened and decided; [`PreparedLaunch::start`] blocks until the sandbox is up.
struct PreparedLaunch {
    supervisor: PathBuf,
    launch: Launch,
    folder_fds: Vec<OwnedFd>,
    log: OwnedFd,
    /// How long the supervisor may take to answer.
    timeout: Duration,
}

/// Everything `out` says until it closes, or None when that takes past `deadline`.
fn read_all_within(mut out: std::process::ChildStdout, deadline: Instant) -> Option<String> {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let mut poll = libc::pollfd {
            fd: out.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
        // SAFETY: one valid pollfd, for the length given.
        if unsafe { libc::poll(&mut poll, 1, ms) } <= 0 {
            // Nothing yet (or a signal): the deadline is checked again.
            continue;
        }
        match out.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    Some(String::from_utf8_lossy(&answer).into_owned())
}

impl PreparedLaunch {
    fn start(self) -> Result<Root> {
        let description = serde_json::to_vec(&self.launch)
            .map_err(|e| Error::internal(format!("Cannot describe the session: {e}")))?;
        let inherited: Vec<i32> = self.folder_fds.iter().map(|fd| fd.as_raw_fd()).collect();
        let mut command = Command::new(&self.supervisor);
        command
            .arg("run")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(self.log));
        // SAFETY: fcntl is async-signal-safe; the descriptors stay open in this process.
        unsafe {
            command.pre_exec(move || {
                for &fd in &inherited {
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|e| {
            Error::engine_unavailable(format!("Cannot run {}: {e}", self.supervisor.display()))
        })?;
        // The description is one line; the pipe stays open after it, for the answer to `ready`.
        let mut stdin = child.stdin.take();
        if let Some(stdin) = stdin.as_mut() {
            stdin
                .write_all(&description)
                .and_then(|()| stdin.write_all(b"\n"))
                .map_err(|e| io_error("Cannot hand the session to its supervisor", e))?;
        }
        let answer = child
            .stdout
            .take()
            .and_then(|out| read_all_within(out, Instant::now() + self.timeout));
        let Some(answer) = answer else {
            // Too slow. Closing the supervisor's stdin without `STARTED` tells it that nobody
            // will list this session, so it ends the sandbox rather than run on unseen.
            drop(stdin);
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::internal(format!(
                "The sandbox did not come up within {} s.",
                self.timeout.as_secs_f64()
            )));
        };
        let _ = child.wait();
        drop(self.folder_fds);
        if answer.starts_with("ready ")
            && let Some(stdin) = stdin.as_mut()
        {
            let _ = stdin.write_all(format!("{STARTED}\n").as_bytes());
        }
        drop(stdin);
        let mut lines = answer.lines();
        let line = lines.next().unwrap_or_default();
        match line.split_once(' ') {
            Some(("ready", _)) => {
                let asked = self.launch.writable_root.is_some();
                let note = lines
                    .find_map(|l| l.strip_prefix(READ_ONLY_ROOT))
                    .map(|why| {
                        format!(
                            "The system directories are read-only in this session: the kernel \
                             refused a writable copy ({}).",
                            why.trim()
                        )
                    })
                    .filter(|_| asked);
                Ok(Root {
                    writable: asked && note.is_none(),
                    note,
                })
            }
            Some(("error", message)) => Err(Error::internal(message.to_owned())),
            _ => Err(Error::internal(format!(
                "The session's supervisor ended without starting it{}.",
                if line.is_empty() {
                    String::new()
                } else {
                    format!(": {line}")
                }
            ))),
        }
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
