//! The local engine through its public `Engine` API: real SQLite, real directories.

// Helpers here are test code too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

// Sessions (bubblewrap sandboxes, and the Docker runtime's tests on this machine's Podman),
// root file systems and networks are Linux's; folders, files and transfers run everywhere.
#[cfg(target_os = "linux")]
mod code_server;
#[cfg(target_os = "linux")]
mod docker;
#[cfg(target_os = "linux")]
mod docker_ports;
mod edit;
#[cfg(target_os = "linux")]
mod environments;
mod files;
mod folders;
#[cfg(target_os = "linux")]
mod forward;
#[cfg(target_os = "linux")]
mod jupyter;
#[cfg(target_os = "linux")]
mod limits;
#[cfg(target_os = "linux")]
mod network;
#[cfg(target_os = "linux")]
mod personal;
#[cfg(target_os = "linux")]
mod sessions;
#[cfg(target_os = "linux")]
mod ssh;
mod transfers;
#[cfg(target_os = "linux")]
mod writes_while_running;

// Running sessions for the tests that need one (Linux, as above).
#[cfg(target_os = "linux")]
mod running;
#[cfg(target_os = "linux")]
pub use running::{Running, sh};

use std::path::Path;

use berth_local::{DataDirs, LocalEngine};

pub struct Fixture {
    pub root: tempfile::TempDir,
    /// Session sockets: apart from the data dir, as in production, because a root-run engine's
    /// sessions run as `nobody`, who must reach their own runtime directory.
    pub run: tempfile::TempDir,
    pub engine: LocalEngine,
}

/// A local engine on a fresh temporary data directory.
pub fn engine() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let run = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Private like a home directory under /root: a root-run engine's sessions run as
        // nobody, who cannot walk into it, and must work all the same.
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(run.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let dirs = DataDirs {
        config: root.path().join("config"),
        data: root.path().join("data"),
        logs: root.path().join("logs"),
        runtime: run.path().join("sessions"),
    };
    let engine = LocalEngine::open(dirs).unwrap();
    engine.set_supervisor(env!("CARGO_BIN_EXE_berth-supervisor").into());
    // No Docker engine but the one a test starts itself: this machine's own Podman service
    // (the Backend.AI peer's real agent runs one) must not add its images to the lists.
    engine.set_docker_host(berth_local::docker_host::DockerHost::Unix(
        run.path().join("no-docker-engine.sock"),
    ));
    Fixture { root, run, engine }
}

/// The entries of the folder store on disk, sorted: what a bug would leave behind.
pub fn store_entries(fixture: &Fixture) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture.root.path().join("data/folders"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A runtime for driving the async engine API from a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A symbolic link at `link` to `target`, as the OS makes them (Windows names the kind: a
/// directory link for a directory, else a file link).
pub fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) -> std::io::Result<()> {
    #[cfg(unix)]
    return std::os::unix::fs::symlink(target, link);
    #[cfg(windows)]
    if target.as_ref().is_dir() {
        std::os::windows::fs::symlink_dir(target, link)
    } else {
        std::os::windows::fs::symlink_file(target, link)
    }
}
