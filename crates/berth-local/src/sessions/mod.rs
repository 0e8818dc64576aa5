//! Local sessions: the engine's side of starting, listing and ending sandboxes. Each session has
//! a row in the catalog (the truth the UI lists), a runtime directory where its supervisor keeps
//! its socket and final state, and a log file in the data directory.

pub mod docker;
mod etc;
mod ownership;
pub mod sandbox;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_core::{
    Dotfile, Error, ErrorCode, LimitEnforcement, MountPlan, NetworkMode, NewSession,
    ResourceLimits, Result, Session, SessionRuntime, SessionStatus, SessionType, plan_mounts,
    session::validate_session_name,
};

use crate::LocalEngine;
use crate::environments::SystemRoot;
use crate::supervisor::client::SupervisorClient;
use crate::supervisor::protocol::{
    BOOTSTRAP_TARGET, Launch, PlacedFile, READ_ONLY_ROOT, STARTED, STATE_NAME, SupervisorState,
    WritableRoot,
};

/// The uid and gid sessions run as when Berth itself runs as root: a session must never hold
/// host root (`local-sandbox.md`), and `nobody` exists on every Linux system.
pub const ROOT_SESSION_IDENTITY: (u32, u32) = (65534, 65534);

const GIB: u64 = 1 << 30;

/// How long a supervisor may take to report its sandbox up before the launch counts as failed,
/// unless the engine was told otherwise ([`LocalEngine::set_start_timeout`]).
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The dotfiles and bootstrap script a new session gets, and the dotfiles left out.
#[derive(Default)]
pub struct UserFiles {
    pub dotfiles: Vec<Dotfile>,
    pub bootstrap: Option<String>,
    pub skipped: Vec<String>,
}

/// The `.profile` of sessions whose user has none (Debian's `/etc/skel/.profile`, in short).
const DEFAULT_PROFILE: &str = "# Berth's default profile: login shells read .bashrc too.\n\
if [ -n \"$BASH_VERSION\" ] && [ -f \"$HOME/.bashrc\" ]; then . \"$HOME/.bashrc\"; fi\n";

/// Who sessions run as: `None` means "as this process", `Some` is the identity root drops to.
pub fn session_identity() -> Option<(u32, u32)> {
    // SAFETY: geteuid cannot fail.
    (unsafe { libc::geteuid() } == 0).then_some(ROOT_SESSION_IDENTITY)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn total_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(4 * GIB)
}

/// Whether every user may open the TUN device slirp4netns needs (udev's usual 0666).
fn tun_open_to_all() -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata("/dev/net/tun")
        .map(|m| m.permissions().mode() & 0o006 == 0o006)
        .unwrap_or(false)
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::internal(format!("{what}: {e}"))
}

impl LocalEngine {
    /// Where session `id`'s supervisor keeps its socket and state.
    pub fn session_runtime_dir(&self, id: &str) -> PathBuf {
        self.dirs().runtime.join(id)
    }

    fn session_log_path(&self, id: &str) -> PathBuf {
        self.dirs().data.join("sessions").join(format!("{id}.log"))
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

    pub(crate) fn limits(&self) -> ResourceLimits {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let memory = total_memory_bytes();
        let max_scratch = (memory / 2).max(GIB);
        ResourceLimits {
            max_cpus: cpus,
            cpus: LimitEnforcement::Enforced,
            max_memory_bytes: memory,
            memory: LimitEnforcement::Advisory,
            default_scratch_bytes: (2 * GIB).min(max_scratch),
            max_scratch_bytes: max_scratch,
            scratch: LimitEnforcement::Enforced,
            note: Some(
                "Memory is advisory: limiting it needs a delegated cgroup v2 subtree, which \
                 bubblewrap sessions do not get here. CPUs are pinned; scratch is a size-bounded \
                 tmpfs (it uses memory)."
                    .to_owned(),
            ),
            presets: Vec::new(),
        }
    }

    pub(crate) async fn start_session(&self, spec: NewSession) -> Result<Session> {
        spec.validate()?;
        if let Some(asked) = spec.project.as_ref().or(spec.resource_group.as_ref()) {
            return Err(Error::invalid_input(format!(
                "The local engine has no projects or resource groups (\"{}\" was asked for): \
                 sessions run on this computer. Pick a cluster profile to place a session there.",
                asked.escape_debug()
            )));
        }
        let runtime = spec.runtime.unwrap_or(SessionRuntime::Bwrap);
        let (environment, system) = self.environment(&spec.environment)?;
        let docker_image = environment.id.strip_prefix(docker::IMAGE_PREFIX);
        match (runtime, docker_image) {
            (SessionRuntime::Docker, None) => {
                return Err(Error::invalid_input(format!(
                    "The Docker runtime runs Docker images; \"{}\" is not one. Pick a docker:… environment from `berth env list`.",
                    environment.name
                )));
            }
            (SessionRuntime::Bwrap, Some(_)) => {
                return Err(Error::invalid_input(format!(
                    "\"{}\" is a Docker image: run it with the Docker runtime (--runtime docker).",
                    environment.name
                )));
            }
            _ => {}
        }
        let docker_socket = match runtime {
            SessionRuntime::Docker => Some(self.docker_socket()?),
            SessionRuntime::Bwrap => None,
        };
        let limits = self.limits();
        let cpus = spec.resources.cpus;
        if let Some(n) = cpus
            && (n == 0 || n > limits.max_cpus)
        {
            return Err(Error::invalid_input(format!(
                "{n} CPUs asked; this computer can give 1 to {}.",
                limits.max_cpus
            )));
        }
        let scratch = spec
            .resources
            .scratch_bytes
            .unwrap_or(limits.default_scratch_bytes);
        if scratch < (16 << 20) || scratch > limits.max_scratch_bytes {
            return Err(Error::invalid_input(format!(
                "Scratch space must be between 16 MiB and {} GiB.",
                limits.max_scratch_bytes / GIB
            )));
        }
        let folders = self.catalog().folders()?;
        let plan = plan_mounts(&spec.mounts, &folders)?;

        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let name = match &spec.name {
            Some(name) => name.clone(),
            None => format!("session-{}", &id[..6]),
        };
        validate_session_name(&name)?;
        let live = self.list_reconciled()?;
        if live.iter().any(|s| s.name == name && s.status.is_live()) {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("A running session is already called \"{name}\"; pick another name."),
            ));
        }
        let mut session = Session {
            id: id.clone(),
            name,
            session_type: spec.session_type,
            status: SessionStatus::Preparing,
            created_at_ms: now_ms(),
            ended_at_ms: None,
            environment: environment.id.clone(),
            runtime,
            network: spec.network,
            resources: berth_core::ResourceRequest {
                cpus,
                memory_bytes: spec.resources.memory_bytes,
                scratch_bytes: Some(scratch),
            },
            mounts: plan.mounts.clone(),
            command: spec.command.clone(),
            exit_code: None,
            status_detail: None,
            writable_root: false,
            root_note: None,
            environ: spec.environ.clone(),
        };
        self.catalog().save_session(&session)?;
        let sources: Vec<PathBuf> = plan
            .mounts
            .iter()
            .map(|m| {
                let folder = folders.iter().find(|f| f.id == m.folder_id);
                folder.map(|f| self.folder_path(f)).unwrap_or_default()
            })
            .collect();
        let started = if let (Some(socket), Some(image)) = (&docker_socket, docker_image) {
            // A container's root is its own writable layer, removed with it.
            self.start_container(&session, socket, image, &plan, &sources)
                .await
                .map(|()| Root {
                    writable: true,
                    note: None,
                })
        } else {
            let engine_session = session.clone();
            let prepared = self.prepare_launch(&engine_session, &system, &plan, &sources);
            match prepared {
                Ok(prepared) => tokio::task::spawn_blocking(move || prepared.start())
                    .await
                    .map_err(|e| Error::internal(format!("Starting the session stopped: {e}")))
                    .and_then(|r| r),
                Err(e) => Err(e),
            }
        };
        match started {
            Ok(root) => {
                session.writable_root = root.writable;
                session.root_note = root.note;
                session.status = SessionStatus::Running;
                self.catalog().save_session(&session)?;
                tracing::info!(id = %session.id, name = %session.name, "session started");
                Ok(session)
            }
            Err(error) => {
                let log = self.read_log(&session.id).unwrap_or_default();
                session.status = SessionStatus::Error;
                session.ended_at_ms = Some(now_ms());
                session.status_detail = Some(error.message.clone());
                self.catalog().save_session(&session)?;
                let _ = std::fs::remove_dir_all(self.session_runtime_dir(&session.id));
                let tail: String = log
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                Err(Error::new(
                    error.code,
                    if tail.is_empty() {
                        format!("The session could not start: {}", error.message)
                    } else {
                        format!("The session could not start: {}\n{tail}", error.message)
                    },
                ))
            }
        }
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
            if let Some((uid, gid)) = identity
                && !mount.read_only
            {
                ownership::hand_over(source, uid, gid).map_err(|e| {
                    io_error(
                        &format!(
                            "Cannot give folder \"{}\" to the session user",
                            mount.folder_name
                        ),
                        e,
                    )
                })?;
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

    /// What goes into a new session's home: the user's dotfiles (plus a default `.profile`)
    /// and bootstrap script, each with its place in the sandbox. A dotfile never covers a
    /// mounted folder: one that would is left out, and `skipped` says why, for the session log.
    fn user_files(&self, plan: &MountPlan) -> Result<UserFiles> {
        let mut dotfiles = self.catalog().dotfiles()?;
        // Terminals run login shells, which read a profile but not .bashrc. Without a profile
        // of the user's own, Berth gives the one a Debian desktop has, which reads .bashrc: a
        // PYTHONPATH set there must hold in every terminal (DESIGN.md rule 7).
        let has_profile = dotfiles
            .iter()
            .any(|d| [".bash_profile", ".bash_login", ".profile"].contains(&d.path.as_str()));
        if !has_profile {
            dotfiles.push(Dotfile {
                path: ".profile".to_owned(),
                content: DEFAULT_PROFILE.to_owned(),
                mode: 0o644,
            });
        }
        let mut files = UserFiles::default();
        for dotfile in dotfiles {
            let target = format!("/home/work/{}", dotfile.path);
            let covered = plan.mounts.iter().find(|m| {
                m.target == target
                    || target.starts_with(&format!("{}/", m.target))
                    || m.target.starts_with(&format!("{target}/"))
            });
            match covered {
                Some(mount) => files.skipped.push(format!(
                    "[berth] dotfile {} was not placed: folder \"{}\" is mounted at {}",
                    dotfile.path, mount.folder_name, mount.target
                )),
                None => files.dotfiles.push(dotfile),
            }
        }
        files.bootstrap = self.catalog().setting(crate::engine::BOOTSTRAP_KEY)?;
        Ok(files)
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

    /// Every session with its final status filled in for those that ended since last asked.
    pub(crate) fn list_reconciled(&self) -> Result<Vec<Session>> {
        let sessions = self.catalog().sessions()?;
        Ok(sessions.into_iter().map(|s| self.reconcile(s)).collect())
    }

    pub(crate) fn find_session(&self, key: &str) -> Result<Session> {
        let session = self.catalog().session(key)?;
        Ok(self.reconcile(session))
    }

    /// Brings a live session's row up to date with its supervisor: ended on its own, destroyed,
    /// or gone without a word (then its sandbox went with it: `--die-with-parent`).
    fn reconcile(&self, mut session: Session) -> Session {
        if !session.status.is_live() {
            return session;
        }
        if session.runtime == SessionRuntime::Docker {
            return self.reconcile_container(session);
        }
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
                if state.destroyed {
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
        // The scratch tmpfs went with the sandbox, and a writable root's overlay with the
        // supervisor's mount namespace; only the runtime directory is left to clean.
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(error) = self.catalog().save_session(&session) {
            tracing::warn!(%error, id = %session.id, "could not record the end of a session");
        }
        tracing::info!(id = %session.id, status = ?session.status, "session ended");
        session
    }

    pub(crate) async fn end_session(&self, key: &str) -> Result<Session> {
        let mut session = self.find_session(key)?;
        if !session.status.is_live() {
            return Ok(session);
        }
        if session.runtime == SessionRuntime::Docker {
            let socket = self.docker_socket()?;
            let name = docker::container_name(&session.id);
            docker::remove(&docker::connect(&socket)?, &name).await?;
            session.status = SessionStatus::Terminated;
            session.ended_at_ms = Some(now_ms());
            session.status_detail = Some("Destroyed.".to_owned());
            self.catalog().save_session(&session)?;
            return Ok(session);
        }
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

    /// A Docker session's container says how it is; an unreachable engine changes nothing
    /// (the session may well be running: we just cannot tell now).
    fn reconcile_container(&self, mut session: Session) -> Session {
        let Ok(socket) = self.docker_socket() else {
            return session;
        };
        let name = docker::container_name(&session.id);
        let state = docker::run_apart(docker::state(&socket, &name));
        match state {
            Ok(docker::ContainerState::Running) | Err(_) => return session,
            Ok(docker::ContainerState::Exited(code)) => {
                session.exit_code = Some(code);
                if session.session_type == SessionType::Batch {
                    session.status = SessionStatus::Terminated;
                    session.status_detail = Some(if code == 0 {
                        "The command finished successfully.".to_owned()
                    } else {
                        format!("The command failed with exit status {code}.")
                    });
                } else {
                    session.status = SessionStatus::Error;
                    session.status_detail =
                        Some(format!("The container ended on its own (status {code})."));
                }
            }
            Ok(docker::ContainerState::Missing) => {
                session.status = SessionStatus::Error;
                session.status_detail = Some(
                    "Its container was removed outside Berth. Files in mounted folders are kept."
                        .to_owned(),
                );
            }
        }
        session.ended_at_ms = Some(now_ms());
        let _ = self.catalog().save_session(&session);
        session
    }

    /// The Docker-API socket: set with `set_docker_socket`, else `DOCKER_HOST` or where Docker,
    /// Podman, Colima and Rancher Desktop put theirs.
    pub(crate) fn docker_socket(&self) -> Result<PathBuf> {
        if let Some(socket) = self.docker_override() {
            return Ok(socket);
        }
        crate::doctor::docker::find_socket().ok_or_else(|| {
            Error::engine_unavailable(
                "No Docker or Podman API socket was found, so the Docker runtime cannot run. \
                     Start Docker Desktop or Podman (on Linux: `sudo apt-get install podman` and \
                     `systemctl --user enable --now podman.socket`), or set DOCKER_HOST.",
            )
        })
    }

    async fn start_container(
        &self,
        session: &Session,
        socket: &Path,
        image: &str,
        plan: &MountPlan,
        sources: &[PathBuf],
    ) -> Result<()> {
        let user = docker_user();
        if let Some((uid, gid)) = session_identity() {
            for (mount, source) in plan.mounts.iter().zip(sources) {
                if !mount.read_only {
                    ownership::hand_over(source, uid, gid).map_err(|e| {
                        io_error(
                            &format!(
                                "Cannot give folder \"{}\" to the session user",
                                mount.folder_name
                            ),
                            e,
                        )
                    })?;
                }
            }
        }
        let env = shell_env(session, plan);
        let command = match (session.session_type, &session.command) {
            (SessionType::Batch, Some(command)) => {
                vec!["/bin/sh".to_owned(), "-lc".to_owned(), command.clone()]
            }
            _ => ["/bin/sh", "-c", "while :; do sleep 86400; done"]
                .map(str::to_owned)
                .to_vec(),
        };
        let files = self.user_files(plan)?;
        let engine = docker::connect(socket)?;
        docker::start(
            &engine,
            socket,
            docker::ContainerSpec {
                session,
                image,
                mounts: plan.mounts.iter().zip(sources.iter().cloned()).collect(),
                env: &env,
                user,
                command,
                scratch_bytes: session.resources.scratch_bytes.unwrap_or(2 * GIB),
                files,
            },
        )
        .await
    }

    pub(crate) fn read_log(&self, id: &str) -> Result<String> {
        const MAX: u64 = 1 << 20;
        let path = self.session_log_path(id);
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
            Err(e) => return Err(io_error("Cannot read the session log", e)),
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len > MAX {
            use std::io::Seek;
            let _ = file.seek(std::io::SeekFrom::Start(len - MAX));
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| io_error("Cannot read the session log", e))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A connection to a running session's supervisor, for terminals and execs.
    /// `invalid_input` when the session has ended.
    pub fn session_client(&self, key: &str) -> Result<(Session, SupervisorClient)> {
        let session = self.find_session(key)?;
        if session.status != SessionStatus::Running {
            return Err(Error::invalid_input(format!(
                "Session \"{}\" is not running ({}).",
                session.name,
                session
                    .status_detail
                    .clone()
                    .unwrap_or_else(|| format!("{:?}", session.status).to_lowercase())
            )));
        }
        let client = match session.runtime {
            SessionRuntime::Docker => SupervisorClient::docker(docker::ExecTarget {
                socket: self.docker_socket()?,
                container: docker::container_name(&session.id),
                user: docker_user(),
                env: shell_env(&session, &session_plan(&session)),
                shell: [
                    "/bin/sh",
                    "-c",
                    "if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi",
                ]
                .map(str::to_owned)
                .to_vec(),
            }),
            SessionRuntime::Bwrap => SupervisorClient::new(&self.session_runtime_dir(&session.id)),
        };
        Ok((session, client))
    }
}

/// Who a Docker session runs as: root's sessions as `nobody` (like bubblewrap's), a user's
/// as that user, so files written into folders belong to them.
fn docker_user() -> Option<String> {
    if let Some((uid, gid)) = session_identity() {
        return Some(format!("{uid}:{gid}"));
    }
    if cfg!(target_os = "linux") {
        // SAFETY: getuid and getgid cannot fail.
        return Some(unsafe { format!("{}:{}", libc::getuid(), libc::getgid()) });
    }
    None
}

/// The mount plan a session was started with, rebuilt from its record.
fn session_plan(session: &Session) -> MountPlan {
    MountPlan {
        mounts: session.mounts.clone(),
    }
}

/// The environment of the sandbox's processes and of every shell in it: the engine's, then the
/// user's variables from the session record, which replace a default of the same name (`LANG`,
/// `SHELL`, ...; the names the session relies on were refused at creation). One list for the
/// startup command, terminals and execs, on both runtimes.
fn shell_env(session: &Session, plan: &MountPlan) -> Vec<(String, String)> {
    let mut env = engine_env(session, plan);
    for var in &session.environ {
        match env.iter_mut().find(|(name, _)| *name == var.name) {
            Some(entry) => entry.1.clone_from(&var.value),
            None => env.push((var.name.clone(), var.value.clone())),
        }
    }
    env
}

/// What the engine itself sets for every session.
fn engine_env(session: &Session, plan: &MountPlan) -> Vec<(String, String)> {
    let brew = plan
        .mounts
        .iter()
        .any(|m| m.target == berth_core::mount::LINUXBREW_TARGET);
    let mut path =
        "/home/work/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            .to_owned();
    if brew {
        path = format!("/home/linuxbrew/.linuxbrew/bin:/home/linuxbrew/.linuxbrew/sbin:{path}");
    }
    [
        ("HOME", "/home/work"),
        ("USER", "work"),
        ("LOGNAME", "work"),
        ("SHELL", "/bin/bash"),
        ("TERM", "xterm-256color"),
        ("LANG", "C.UTF-8"),
        ("PATH", path.as_str()),
        // The system's packages are read-only in a session anyway; `pip install --user` goes
        // to the `.local` folder, which is the point, so Debian's PEP 668 guard only gets in
        // the way.
        ("PIP_BREAK_SYSTEM_PACKAGES", "1"),
        ("BERTH_SESSION_ID", session.id.as_str()),
        ("BERTH_SESSION_NAME", session.name.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
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

/// How a session's system directories turned out.
struct Root {
    writable: bool,
    /// Why they are read-only when a writable copy was asked for.
    note: Option<String>,
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
