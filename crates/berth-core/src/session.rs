//! Compute sessions: short-lived sandboxes with folders mounted into them. The types every engine
//! fills and the launcher, the sessions page and the CLI show.

use serde::{Deserialize, Serialize};

use crate::{
    EnvVar, Error, MountRequest, PlannedMount, Result, SessionLimits, environ::validate_environ,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum SessionType {
    /// A shell the user attaches terminals to; lives until destroyed.
    Interactive,
    /// Runs a startup command and ends with its exit status.
    Batch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Preparing,
    Running,
    Terminating,
    /// Destroyed by the user, or a batch command that finished (see `exit_code`).
    Terminated,
    /// It could not start, or it ended without being asked to (`status_detail` says why).
    Error,
}

impl SessionStatus {
    /// Whether the session can still do anything.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Preparing | Self::Running | Self::Terminating)
    }
}

/// Which sandbox technology runs a local session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum SessionRuntime {
    /// bubblewrap on Linux: namespaces, ~10 ms to start.
    Bwrap,
    /// A Docker Engine API (Docker Desktop, Podman): macOS, Windows, or by choice.
    Docker,
}

/// What the session may reach on the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// The outside world (package indexes, git remotes) through user-mode networking in the
    /// session's own network namespace; the host's loopback services stay out of reach.
    #[default]
    Outbound,
    /// Its own empty network namespace: loopback only.
    None,
    /// The host's network, including services listening on the host's loopback. Explicit only.
    Host,
}

/// What a running session is using now, sampled by its engine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SessionStats {
    /// CPU time used over the sampling interval, in percent of one core: 100 is one core
    /// busy, 200 two.
    pub cpu_percent: f64,
    /// Memory its processes hold (resident).
    pub memory_bytes: u64,
    /// Bytes its processes read from and wrote to storage, since they started.
    pub read_bytes: u64,
    pub write_bytes: u64,
    /// When the sample was taken, in milliseconds since the Unix epoch.
    pub sampled_at_ms: i64,
    /// GPU use in percent of one device, and its memory, where the engine reports GPUs (a
    /// cluster's CUDA agents); `None` elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory_bytes: Option<u64>,
}

/// What the user asked for; `None` means the engine's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ResourceRequest {
    pub cpus: Option<u32>,
    pub memory_bytes: Option<u64>,
    /// Size of the scratch `/home/work`.
    pub scratch_bytes: Option<u64>,
}

/// What the launcher sends to start a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct NewSession {
    /// `None` lets the engine pick a readable name.
    pub name: Option<String>,
    pub session_type: SessionType,
    /// An environment id from the engine's list.
    pub environment: String,
    pub mounts: Vec<MountRequest>,
    /// The startup command of a batch session (run with `bash -lc`).
    pub command: Option<String>,
    /// `None` is the engine's default runtime.
    pub runtime: Option<SessionRuntime>,
    #[serde(default)]
    pub network: NetworkMode,
    #[serde(default)]
    pub resources: ResourceRequest,
    /// Environment variables for every process of the session — its startup command, the
    /// terminals and execs that join it — in the order given (see [`validate_environ`]).
    #[serde(default)]
    pub environ: Vec<EnvVar>,
    /// The cluster project the session belongs to (and is charged to); `None` lets the
    /// engine choose. Only cluster engines have projects.
    #[serde(default)]
    pub project: Option<String>,
    /// The resource group (Backend.AI's scaling group) whose agents run the session; `None`
    /// lets the engine choose among those the project may use. Only cluster engines have them.
    #[serde(default)]
    pub resource_group: Option<String>,
    /// When it ends on its own (idle timeout, lifetime); none by default.
    #[serde(default)]
    pub limits: SessionLimits,
    /// Ports of servers the user will start in the session, to open on this computer later. A
    /// cluster tunnels only these and its image's apps (Backend.AI's "preopen" ports); a local
    /// session can forward any port, so there they only show up as the session's apps.
    #[serde(default)]
    pub ports: Vec<u16>,
}

impl NewSession {
    /// An interactive session in `environment` with these folders picked.
    pub fn interactive(environment: impl Into<String>, mounts: Vec<MountRequest>) -> Self {
        Self {
            name: None,
            session_type: SessionType::Interactive,
            environment: environment.into(),
            mounts,
            command: None,
            runtime: None,
            network: NetworkMode::Outbound,
            resources: ResourceRequest::default(),
            environ: Vec::new(),
            project: None,
            resource_group: None,
            limits: SessionLimits::default(),
            ports: Vec::new(),
        }
    }

    /// Checks what can be checked without the engine: the name, the environment variables,
    /// the limits, the ports to open and the batch command.
    pub fn validate(&self) -> Result<()> {
        if let Some(name) = &self.name {
            validate_session_name(name)?;
        }
        validate_environ(&self.environ)?;
        self.limits.validate()?;
        validate_ports(&self.ports)?;
        match (self.session_type, self.command.as_deref().map(str::trim)) {
            (SessionType::Batch, None | Some("")) => Err(Error::invalid_input(
                "A batch session needs a startup command: it runs it and ends with its exit status.",
            )),
            (SessionType::Interactive, Some(cmd)) if !cmd.is_empty() => Err(Error::invalid_input(
                "Only batch sessions take a startup command; an interactive one opens terminals.",
            )),
            _ => Ok(()),
        }
    }
}

/// Ports Backend.AI's kernels keep for themselves (the code runner's sockets).
const RESERVED_PORTS: [u16; 4] = [2000, 2001, 2002, 2003];

/// The most ports one session opens: each is a published port on the cluster's agent.
pub const MAX_SESSION_PORTS: usize = 16;

/// Ports to open: each once, none reserved, above 1023 (a session's servers run unprivileged).
pub fn validate_ports(ports: &[u16]) -> Result<()> {
    if ports.len() > MAX_SESSION_PORTS {
        return Err(Error::invalid_input(format!(
            "A session opens at most {MAX_SESSION_PORTS} ports; {} were asked for.",
            ports.len()
        )));
    }
    for (i, port) in ports.iter().enumerate() {
        if *port < 1024 {
            return Err(Error::invalid_input(format!(
                "Port {port} cannot be opened: pick one from 1024 to 65535 (servers in a \
                 session run without the rights lower ports need)."
            )));
        }
        if RESERVED_PORTS.contains(port) {
            return Err(Error::invalid_input(format!(
                "Port {port} cannot be opened: ports 2000-2003 are kept for the session's own use."
            )));
        }
        if ports[..i].contains(port) {
            return Err(Error::invalid_input(format!(
                "Port {port} is listed twice."
            )));
        }
    }
    Ok(())
}

/// The longest session name Backend.AI accepts.
pub const MAX_SESSION_NAME: usize = 64;

/// Session names as Backend.AI accepts them: 1–64 ASCII letters, digits, `-`, `_` and `.`,
/// starting and ending with a letter or digit (they become host names).
pub fn validate_session_name(name: &str) -> Result<()> {
    let refuse = |rule: &str| {
        Err(Error::invalid_input(format!(
            "Session name \"{}\" {rule}.",
            name.escape_debug()
        )))
    };
    if name.is_empty() {
        return Err(Error::invalid_input("A session name cannot be empty."));
    }
    if name.len() > MAX_SESSION_NAME {
        return refuse(&format!("is longer than {MAX_SESSION_NAME} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return refuse(&format!(
            "contains {c:?}; use letters, digits, '-', '_' and '.'"
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return refuse("must start and end with a letter or digit");
    }
    Ok(())
}

/// Where an environment's system files come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentKind {
    /// This computer's own `/usr`, read-only.
    Host,
    /// A root file system directory the user registered.
    Rootfs,
    /// An image imported from a `docker save` or OCI archive (or a cluster's image).
    Image,
}

/// A place a session runs from: its `/usr` and the rest of its root file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Environment {
    /// `host`, or an engine-specific id.
    pub id: String,
    pub name: String,
    pub kind: EnvironmentKind,
    /// One line for the launcher: what is in it.
    pub description: String,
}

/// What a limit really does on this machine, so the launcher can say "advisory" honestly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum LimitEnforcement {
    /// The kernel holds the session to it.
    Enforced,
    /// Recorded and shown, but nothing stops the session from using more.
    Advisory,
}

/// The resources this engine can give a session, for the launcher's sliders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ResourceLimits {
    pub max_cpus: u32,
    pub cpus: LimitEnforcement,
    pub max_memory_bytes: u64,
    pub memory: LimitEnforcement,
    pub default_scratch_bytes: u64,
    pub max_scratch_bytes: u64,
    pub scratch: LimitEnforcement,
    /// Why a limit is advisory, in a sentence, when one is.
    pub note: Option<String>,
    /// Sizes the cluster's administrator set up, picked with one click in the launcher. Empty
    /// for engines without presets (the local engine).
    #[serde(default)]
    pub presets: Vec<ResourcePreset>,
}

/// A named size of session a cluster offers (Backend.AI's resource presets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ResourcePreset {
    pub name: String,
    pub cpus: f64,
    pub memory_bytes: u64,
    /// Whether the chosen resource group can give a session this size now.
    pub allocatable: bool,
}

// `f64` has no `Eq`; preset sizes are never NaN (the engine drops what does not parse).
impl Eq for ResourcePreset {}

/// Where a new session goes on a cluster: the same two choices [`NewSession`] carries. `None`
/// lets the engine choose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct SessionPlacement {
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub resource_group: Option<String>,
}

/// A resource group a project may use, with what it could give a new session now: the least
/// of what the group, the project and the user's keypair have left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ResourceGroupFree {
    pub name: String,
    pub free_cpus: u32,
    pub free_memory_bytes: u64,
}

/// One project the user belongs to and the resource groups it may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ProjectPlacements {
    pub project: String,
    pub resource_groups: Vec<ResourceGroupFree>,
}

/// Every place a new session can go, for the launcher's project and resource group pickers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Placements {
    /// Empty for engines without projects (the local engine): the launcher shows no picker.
    pub projects: Vec<ProjectPlacements>,
    /// What the engine picks when the user does not.
    pub default: SessionPlacement,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Session {
    pub id: String,
    pub name: String,
    pub session_type: SessionType,
    pub status: SessionStatus,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub environment: String,
    pub runtime: SessionRuntime,
    pub network: NetworkMode,
    pub resources: ResourceRequest,
    /// Every folder in the session, automounts included, where it is mounted.
    pub mounts: Vec<PlannedMount>,
    pub command: Option<String>,
    /// A batch command's exit status.
    pub exit_code: Option<i32>,
    /// Why it is in `error`, or how it ended.
    pub status_detail: Option<String>,
    /// Whether the system directories (`/usr`, `/opt`, `/var`, ...) can be written: a throwaway
    /// copy of the environment that ends with the session. Never for the host environment,
    /// whose `/usr` is the host's own.
    #[serde(default)]
    pub writable_root: bool,
    /// Why the system directories are read-only although the environment could have had a
    /// writable copy (the kernel refused it), in a sentence for the session's details.
    #[serde(default)]
    pub root_note: Option<String>,
    /// The environment variables the user gave at creation (not the engine's own), for the
    /// session's details. Empty for a cluster session this computer did not start.
    #[serde(default)]
    pub environ: Vec<EnvVar>,
    /// The limits it was launched with.
    #[serde(default)]
    pub limits: SessionLimits,
    /// When its lifetime runs out, extensions included; `None` without a lifetime. (An idle
    /// timeout's end moves with use, so it is not recorded: see the engine's vitals.)
    #[serde(default)]
    pub lifetime_ends_at_ms: Option<i64>,
    /// The limits the server keeps on it (a cluster's idle checks), as last read; empty on
    /// the local engine, whose limits are `limits`.
    #[serde(default)]
    pub server_checks: Vec<crate::limits::ServerCheck>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_follow_backend_ai() {
        for ok in ["s", "my-session", "train_2.v1", "A1"] {
            assert_eq!(validate_session_name(ok), Ok(()), "{ok}");
        }
        for (bad, rule) in [
            ("", "empty"),
            ("-lead", "start and end"),
            ("trail.", "start and end"),
            ("has space", "' '"),
            ("slash/x", "'/'"),
            ("한글", "'한'"),
        ] {
            let error = validate_session_name(bad).unwrap_err();
            assert!(error.message.contains(rule), "{bad}: {}", error.message);
        }
        assert!(validate_session_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn batch_needs_a_command_and_interactive_takes_none() {
        let mut spec = NewSession::interactive("host", vec![]);
        assert_eq!(spec.validate(), Ok(()));
        spec.command = Some("python train.py".into());
        assert!(spec.validate().unwrap_err().message.contains("Only batch"));
        spec.session_type = SessionType::Batch;
        assert_eq!(spec.validate(), Ok(()));
        spec.command = Some("  ".into());
        assert!(
            spec.validate()
                .unwrap_err()
                .message
                .contains("startup command")
        );
    }

    #[test]
    fn variables_are_checked_and_old_json_without_them_still_parses() {
        let mut spec = NewSession::interactive("host", vec![]);
        spec.environ = vec![EnvVar::new("HOME", "/root")];
        assert!(spec.validate().unwrap_err().message.contains("\"HOME\""));
        let old = r#"{"name":null,"session_type":"interactive","environment":"host",
            "mounts":[],"command":null,"runtime":null}"#;
        let parsed: NewSession = serde_json::from_str(old).unwrap();
        assert!(parsed.environ.is_empty());
    }
}
