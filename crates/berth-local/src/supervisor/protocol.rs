//! The wire protocol between a session's supervisor and its clients (the app, the CLI): the
//! client sends one JSON request line and reads one JSON reply line; a terminal or an exec then
//! continues with binary frames both ways. Frames are `[kind u8][length u32 LE][payload]`, each
//! written with a single `write` so a keystroke costs one syscall per hop.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The supervisor's socket inside its runtime directory.
pub const SOCKET_NAME: &str = "control.sock";
/// The supervisor's last word about its sandbox, for the engine to read after it is gone.
pub const STATE_NAME: &str = "state.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Status,
    /// A login shell on a new PTY of this size.
    Terminal {
        cols: u16,
        rows: u16,
    },
    /// A command without a PTY: stdout, stderr and the exit status come back as frames.
    Exec {
        argv: Vec<String>,
    },
    /// Kill the sandbox; the reply comes once it is gone.
    Destroy,
    /// A TCP connection to `127.0.0.1:port` inside the session (a port forward's): after the
    /// reply, one line from the relay (`ok`, or `error …`), then the connection's bytes.
    Connect {
        port: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_pid: Option<u32>,
}

impl Reply {
    pub fn ok(sandbox_pid: u32) -> Self {
        Self {
            ok: true,
            error: None,
            sandbox_pid: Some(sandbox_pid),
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(message.into()),
            sandbox_pid: None,
        }
    }
}

// The frame codec is shared with the other engines' terminal bridges.
pub use berth_core::frames::{
    Frame, MAX_FRAME, exit_payload, parse_exit, read_frame, resize_payload, write_frame,
};

/// Everything the supervisor needs to start a sandbox, sent by the engine on its stdin. The
/// engine decides everything (mounts, limits, identity); the supervisor only carries it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    pub session_id: String,
    /// Where the socket and state file live; owned by `run_as` when set.
    pub runtime_dir: PathBuf,
    pub bwrap: PathBuf,
    /// bwrap's options, up to (not including) the command.
    pub sandbox_args: Vec<String>,
    /// The sandbox's main process: a batch command, or a process that only keeps it alive.
    pub command: Vec<String>,
    /// A terminal's program inside the sandbox, e.g. `["/bin/bash", "-l"]`.
    pub shell: Vec<String>,
    /// The environment of terminals and execs inside the sandbox.
    pub shell_env: Vec<(String, String)>,
    /// Descriptors the sandbox needs only while it starts (folders opened by the engine).
    pub inherited_fds: Vec<i32>,
    /// Drop to this uid and gid before anything else (when the engine runs as root).
    pub run_as: Option<(u32, u32)>,
    /// Pin the session to these CPUs.
    pub cpus: Option<Vec<usize>>,
    /// Outbound networking with this user-mode network tool (slirp4netns), set up in the
    /// sandbox's network namespace before its command runs.
    #[serde(default)]
    pub slirp4netns: Option<PathBuf>,
    /// Give the supervisor a private `/dev/net/tun` everyone may open, in a mount namespace of
    /// its own, before dropping to `run_as` (the host's node may be root-only).
    #[serde(default)]
    pub private_tun: bool,
    /// Files copied into the sandbox before its command runs: dotfiles, the bootstrap script.
    #[serde(default)]
    pub files: Vec<PlacedFile>,
    /// Run [`BOOTSTRAP_TARGET`] once before the command and report its status.
    #[serde(default)]
    pub bootstrap: bool,
    /// Host directories the sandbox arguments name (an environment's root file system) that
    /// the session user may not be able to walk to; when dropping from root, they are bound
    /// under the runtime directory first and the arguments rewritten to that place.
    #[serde(default)]
    pub staged_dirs: Vec<PathBuf>,
    /// A throwaway writable copy of the environment's root file system, when it has one (not
    /// the host's). `sandbox_args` then bind the root read-only, as they must where the kernel
    /// refuses the overlay; where it mounts, [`WritableRoot::sandbox_args`] replace them.
    #[serde(default)]
    pub writable_root: Option<WritableRoot>,
}

/// An overlay of an environment's root file system, mounted in the supervisor's own mount
/// namespace: the environment is the read-only lower layer; the upper and work directories are
/// in a size-bounded tmpfs at `dir`, so the session's changes to its system live only as long
/// as the supervisor's namespace does, and never reach the environment on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritableRoot {
    /// The environment's root file system.
    pub lower: PathBuf,
    /// An empty directory under the runtime directory; the merged view is [`Self::merged`].
    pub dir: PathBuf,
    /// The tmpfs's size: what the session may add to or change in its system.
    pub size_bytes: u64,
    /// bwrap's options, with the system bound writable from the merged view.
    pub sandbox_args: Vec<String>,
}

impl WritableRoot {
    /// Where the overlay's merged view is mounted, under `dir`.
    pub fn merged(dir: &std::path::Path) -> PathBuf {
        dir.join("merged")
    }
}

/// What the engine writes on the supervisor's stdin once it has read `ready` in time: the
/// session is recorded as running. A supervisor whose stdin ends without it (the engine gave up
/// waiting, or died while starting the session) ends its sandbox, which nobody would list.
pub const STARTED: &str = "started";

/// The line the supervisor prints after `ready PID` when a [`WritableRoot`] was asked for but
/// could not be mounted, followed by why: the session runs with its system read-only.
pub const READ_ONLY_ROOT: &str = "read-only-root";

/// Where the bootstrap script is placed inside the sandbox (a tmpfs, gone with the session).
pub const BOOTSTRAP_TARGET: &str = "/run/berth-bootstrap.sh";

/// A file the engine wrote (readable by the session user) and where it goes in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedFile {
    pub source: PathBuf,
    /// Absolute path inside the sandbox.
    pub target: String,
    pub mode: u32,
}

/// What the supervisor leaves in [`STATE_NAME`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorState {
    pub supervisor_pid: u32,
    pub sandbox_pid: u32,
    pub running: bool,
    /// How the main process ended: its status, or 128 + signal.
    pub exit_code: Option<i32>,
    /// Ended because a client asked (destroy), not on its own.
    pub destroyed: bool,
    pub ended_at_ms: Option<i64>,
    /// How the bootstrap script ended, once it has.
    #[serde(default)]
    pub bootstrap_exit: Option<i32>,
    /// Why the supervisor ended the session itself: a limit was reached (see [`LIMITS_NAME`]).
    #[serde(default)]
    pub ended_by: Option<String>,
}

/// The session's limits, in its runtime directory: written by the engine at the start and
/// again when the session is extended, read by the supervisor, which ends the session at its
/// limit whether or not the app runs.
pub const LIMITS_NAME: &str = "limits.json";
/// Touched by the app and the CLI when someone types into the session or runs a command in it:
/// its modified time starts the idle clock again.
pub const INPUT_MARK_NAME: &str = "last-input";

/// What [`LIMITS_NAME`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsFile {
    pub limits: berth_core::SessionLimits,
    pub lifetime_ends_at_ms: Option<i64>,
}
