//! Local sessions: the engine's side of starting, listing and ending sandboxes. Each session has
//! a row in the catalog (the truth the UI lists), a runtime directory where its supervisor keeps
//! its socket and final state, and a log file in the data directory. Bubblewrap sandboxes are
//! Linux's ([`bubblewrap`]); the Docker-API runtime ([`docker`]) runs everywhere.

#[cfg(target_os = "linux")]
mod bubblewrap;
pub mod docker;
#[cfg(target_os = "linux")]
mod etc;
#[cfg(unix)]
mod ownership;
#[cfg(target_os = "linux")]
pub(crate) mod process_usage;
#[cfg(target_os = "linux")]
pub mod sandbox;
pub(crate) mod usage;

use berth_core::clock::now_ms;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use berth_core::{
    Dotfile, Error, ErrorCode, LimitEnforcement, MountPlan, NewSession, ResourceLimits, Result,
    Session, SessionRuntime, SessionStatus, SessionType, plan_mounts,
    session::validate_session_name,
};

use crate::LocalEngine;
use crate::docker_host::{self, DockerHost, Surroundings, System};
use crate::supervisor::client::SupervisorClient;

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

/// Who sessions run as: `None` means "as this process", `Some` is the identity root drops to
/// (only a Unix root does).
pub fn session_identity() -> Option<(u32, u32)> {
    #[cfg(unix)]
    // SAFETY: geteuid cannot fail.
    return (unsafe { libc::geteuid() } == 0).then_some(ROOT_SESSION_IDENTITY);
    #[cfg(not(unix))]
    None
}

/// Whether bubblewrap sandboxes (and so this computer's own system, root file systems and
/// imported images) can run sessions here: Linux only.
pub const fn sandboxes_run_here() -> bool {
    cfg!(target_os = "linux")
}

/// The runtime a session gets when none is asked for: bubblewrap where Linux has it, else the
/// Docker API.
pub fn default_runtime() -> SessionRuntime {
    if sandboxes_run_here() {
        SessionRuntime::Bwrap
    } else {
        SessionRuntime::Docker
    }
}

/// Refuses bubblewrap off Linux, in words.
fn no_sandboxes_here() -> Error {
    Error::invalid_input(
        "Bubblewrap sandboxes run only on Linux; on this computer sessions run in Docker \
         (Docker Desktop, Podman Desktop, Colima or Rancher Desktop): use --runtime docker and a \
         docker:… environment.",
    )
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
        let runtime = spec.runtime.unwrap_or_else(default_runtime);
        // Before anything is looked up or saved: no session row for what cannot start here.
        if runtime == SessionRuntime::Bwrap && !sandboxes_run_here() {
            return Err(no_sandboxes_here());
        }
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
        let docker_host = match runtime {
            SessionRuntime::Docker => Some(self.docker_host()?),
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
        let created_at_ms = now_ms();
        let mut session = Session {
            id: id.clone(),
            name,
            session_type: spec.session_type,
            status: SessionStatus::Preparing,
            created_at_ms,
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
            limits: spec.limits,
            lifetime_ends_at_ms: spec
                .limits
                .lifetime_secs
                .map(|secs| created_at_ms.saturating_add(secs.saturating_mul(1000) as i64)),
            server_checks: Vec::new(),
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
        let started = if let (Some(engine), Some(image)) = (&docker_host, docker_image) {
            // A container's root is its own writable layer, removed with it.
            self.start_container(&session, engine, image, &plan, &sources)
                .await
                .map(|()| Root {
                    writable: true,
                    note: None,
                })
        } else {
            #[cfg(target_os = "linux")]
            {
                self.start_sandbox(&session, &system, &plan, &sources).await
            }
            #[cfg(not(target_os = "linux"))]
            {
                let _ = system;
                Err(no_sandboxes_here())
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
    fn reconcile(&self, session: Session) -> Session {
        if !session.status.is_live() {
            return session;
        }
        match session.runtime {
            SessionRuntime::Docker => self.reconcile_container(session),
            #[cfg(target_os = "linux")]
            SessionRuntime::Bwrap => self.reconcile_sandbox(session),
            // None can have started here.
            #[cfg(not(target_os = "linux"))]
            SessionRuntime::Bwrap => session,
        }
    }

    pub(crate) async fn end_session(&self, key: &str) -> Result<Session> {
        let mut session = self.find_session(key)?;
        if !session.status.is_live() {
            return Ok(session);
        }
        if session.runtime == SessionRuntime::Docker {
            let engine = self.docker_host()?;
            let name = docker::container_name(&session.id);
            docker::remove(&docker::connect(&engine)?, &name).await?;
            session.status = SessionStatus::Terminated;
            session.ended_at_ms = Some(now_ms());
            session.status_detail = Some("Destroyed.".to_owned());
            self.catalog().save_session(&session)?;
            return Ok(session);
        }
        #[cfg(target_os = "linux")]
        return self.end_sandbox(&session).await;
        #[cfg(not(target_os = "linux"))]
        Err(no_sandboxes_here())
    }

    /// Ends session `key` as a limit ends it: like a destroy, its folders intact, with
    /// `reason` recorded as how it ended.
    pub(crate) async fn end_for_limit(&self, key: &str, reason: String) -> Result<Session> {
        let mut ended = self.end_session(key).await?;
        ended.status_detail = Some(reason);
        self.catalog().save_session(&ended)?;
        Ok(ended)
    }

    /// Gives running session `key` more time: `by_secs` more lifetime from now or from its
    /// current end, whichever is later, and a fresh start for its idle clock.
    pub(crate) fn extend(&self, key: &str, by_secs: u64) -> Result<Session> {
        let mut session = self.find_session(key)?;
        if session.status != SessionStatus::Running {
            return Err(Error::invalid_input(format!(
                "Session \"{}\" is not running, so it cannot be extended.",
                session.name
            )));
        }
        if session.limits.is_empty() {
            return Err(Error::invalid_input(format!(
                "Session \"{}\" has no idle timeout or lifetime to extend.",
                session.name
            )));
        }
        berth_core::SessionLimits {
            lifetime_secs: Some(by_secs),
            ..Default::default()
        }
        .validate()
        .map_err(|e| Error::invalid_input(e.message.replace("Lifetime", "An extension")))?;
        if let Some(ends) = session.lifetime_ends_at_ms {
            session.lifetime_ends_at_ms = Some(
                ends.max(now_ms())
                    .saturating_add(by_secs.saturating_mul(1000) as i64),
            );
            self.catalog().save_session(&session)?;
            if session.runtime == SessionRuntime::Bwrap {
                self.write_limits(&session)?;
            }
        }
        crate::vitals::mark_input(&self.input_mark(&session.id));
        Ok(session)
    }

    /// The file whose modified time says when someone last typed into session `id` (a
    /// terminal's keys, an exec): the idle clock's start, shared by the app, the CLI and the
    /// session's supervisor.
    pub fn input_mark(&self, id: &str) -> PathBuf {
        self.session_runtime_dir(id)
            .join(crate::supervisor::protocol::INPUT_MARK_NAME)
    }

    /// Writes `session`'s limits where its supervisor reads them (nothing without limits).
    /// Written aside and renamed, so the supervisor never reads half a file.
    pub(crate) fn write_limits(&self, session: &Session) -> Result<()> {
        use crate::supervisor::protocol::{LIMITS_NAME, LimitsFile};
        if session.limits.is_empty() {
            return Ok(());
        }
        let dir = self.session_runtime_dir(&session.id);
        let file = LimitsFile {
            limits: session.limits,
            lifetime_ends_at_ms: session.lifetime_ends_at_ms,
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| Error::internal(e.to_string()))?;
        let aside = dir.join(format!("{LIMITS_NAME}.new"));
        std::fs::write(&aside, bytes)
            .and_then(|()| std::fs::rename(&aside, dir.join(LIMITS_NAME)))
            .map_err(|e| io_error("Cannot write the session's limits", e))
    }

    /// A Docker session's container says how it is; an unreachable engine changes nothing
    /// (the session may well be running: we just cannot tell now).
    fn reconcile_container(&self, mut session: Session) -> Session {
        let Ok(engine) = self.docker_host() else {
            return session;
        };
        let name = docker::container_name(&session.id);
        let state = docker::run_apart(docker::state(&engine, &name));
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

    /// The Docker-API engine: set with `set_docker_host`, else found as its users expect
    /// (`DOCKER_HOST`, the docker context in use, the usual sockets and pipes).
    pub(crate) fn docker_host(&self) -> Result<DockerHost> {
        if let Some(host) = self.docker_override() {
            return Ok(host);
        }
        let found = docker_host::find(&Surroundings::of_this_process(), System::THIS)?;
        found.map(|(host, _)| host).ok_or_else(|| {
            Error::engine_unavailable(format!(
                "No Docker or Podman engine was found, so the Docker runtime cannot run. {}",
                crate::doctor::docker::install_hint()
            ))
        })
    }

    async fn start_container(
        &self,
        session: &Session,
        engine_host: &DockerHost,
        image: &str,
        plan: &MountPlan,
        sources: &[PathBuf],
    ) -> Result<()> {
        let user = docker_user();
        // Only a Unix root hands folders over (`session_identity`).
        #[cfg(unix)]
        if let Some(identity) = session_identity() {
            for (mount, source) in plan.mounts.iter().zip(sources) {
                ownership::hand_over_folder(mount, source, identity)?;
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
        let engine = docker::connect(engine_host)?;
        docker::start(
            &engine,
            engine_host,
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

    /// What running session `key` uses now (see `Engine::session_stats`): two readings
    /// [`usage::INTERVAL`] apart.
    pub(crate) async fn usage(&self, key: &str) -> Result<berth_core::SessionStats> {
        let before = self.usage_reading(key).await?;
        tokio::time::sleep(usage::INTERVAL).await;
        let after = self.usage_reading(key).await?;
        Ok(after.since(&before))
    }

    /// One reading of what running session `key` has used so far.
    pub(crate) async fn usage_reading(&self, key: &str) -> Result<usage::Reading> {
        let session = self.find_session(key)?;
        if session.status != SessionStatus::Running {
            return Err(Error::invalid_input(format!(
                "Session \"{}\" is not running, so it uses nothing.",
                session.name
            )));
        }
        if session.runtime == SessionRuntime::Docker {
            let engine = self.docker_host()?;
            let name = docker::container_name(&session.id);
            return docker::usage_reading(&engine, &name).await;
        }
        #[cfg(target_os = "linux")]
        return self.sandbox_reading(&session);
        #[cfg(not(target_os = "linux"))]
        Err(no_sandboxes_here())
    }

    /// One reading of each of `sessions` (running ones, as just listed), in their order: the
    /// bubblewrap ones from a single pass over `/proc` with their sandboxes' pids from the
    /// supervisors' state files, the Docker ones from the Docker API side by side.
    pub(crate) async fn usage_readings(&self, sessions: &[Session]) -> Vec<Result<usage::Reading>> {
        let mut readings: Vec<Option<Result<usage::Reading>>> = Vec::new();
        readings.resize_with(sessions.len(), || None);
        #[cfg(target_os = "linux")]
        {
            let sandboxes: Vec<(usize, u32)> = sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| s.runtime == SessionRuntime::Bwrap)
                .filter_map(|(i, s)| Some((i, self.sandbox_pid(&s.id)?)))
                .collect();
            let roots: Vec<u32> = sandboxes.iter().map(|&(_, pid)| pid).collect();
            match process_usage::read_trees(&roots) {
                Ok(trees) => {
                    for ((i, _), tree) in sandboxes.iter().zip(trees) {
                        readings[*i] = Some(tree.map_err(|e| {
                            Error::invalid_input(format!(
                                "Cannot read what session \"{}\" uses: {e}.",
                                sessions[*i].name
                            ))
                        }));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list the processes"),
            }
        }
        let containers = sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.runtime == SessionRuntime::Docker)
            .map(|(i, s)| async move { (i, self.usage_reading(&s.id).await) });
        for (i, reading) in futures_util::future::join_all(containers).await {
            readings[i] = Some(reading);
        }
        readings
            .into_iter()
            .zip(sessions)
            .map(|(reading, session)| {
                reading.unwrap_or_else(|| {
                    Err(Error::invalid_input(format!(
                        "Cannot read what session \"{}\" uses: its sandbox is gone.",
                        session.name
                    )))
                })
            })
            .collect()
    }

    /// A running sandbox's first process as the host sees it, from its supervisor's state.
    #[cfg(target_os = "linux")]
    fn sandbox_pid(&self, id: &str) -> Option<u32> {
        let state = std::fs::read(
            self.session_runtime_dir(id)
                .join(crate::supervisor::protocol::STATE_NAME),
        )
        .ok()?;
        serde_json::from_slice::<crate::supervisor::protocol::SupervisorState>(&state)
            .ok()
            .filter(|s| s.running)
            .map(|s| s.sandbox_pid)
    }

    /// A bubblewrap session's use, from `/proc` of its sandbox's process tree.
    #[cfg(target_os = "linux")]
    fn sandbox_reading(&self, session: &Session) -> Result<usage::Reading> {
        // `usage_reading` has read the session and checked it runs: its supervisor is all
        // that is left.
        let client = SupervisorClient::new(&self.session_runtime_dir(&session.id));
        let gone = |e: std::io::Error| {
            Error::invalid_input(format!(
                "Cannot read what session \"{}\" uses: {e}.",
                session.name
            ))
        };
        let root = client.status().map_err(gone)?;
        process_usage::read_tree(root).map_err(gone)
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
                engine: self.docker_host()?,
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
            #[cfg(target_os = "linux")]
            SessionRuntime::Bwrap => SupervisorClient::new(&self.session_runtime_dir(&session.id)),
            #[cfg(not(target_os = "linux"))]
            SessionRuntime::Bwrap => return Err(no_sandboxes_here()),
        };
        let client = client.marking_input(self.input_mark(&session.id));
        Ok((session, client))
    }
}

/// Who a Docker session runs as: root's sessions as `nobody` (like bubblewrap's), a user's
/// as that user, so files written into folders belong to them.
fn docker_user() -> Option<String> {
    if let Some((uid, gid)) = session_identity() {
        return Some(format!("{uid}:{gid}"));
    }
    // On Linux the container's uid is this user's on the host's disk; Docker Desktop's VMs map
    // ownership themselves, so elsewhere the image's user is kept.
    #[cfg(target_os = "linux")]
    // SAFETY: getuid and getgid cannot fail.
    return Some(unsafe { format!("{}:{}", libc::getuid(), libc::getgid()) });
    #[cfg(not(target_os = "linux"))]
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

/// How a session's system directories turned out.
struct Root {
    writable: bool,
    /// Why they are read-only when a writable copy was asked for.
    note: Option<String>,
}
