//! The local engine through its public `Engine` API: real SQLite, real directories.

// Helpers here are test code too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod docker;
mod environments;
mod files;
mod folders;
mod network;
mod personal;
mod sessions;
mod transfers;

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
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    // Private like a home directory under /root: a root-run engine's sessions run as nobody,
    // who cannot walk into it, and must work all the same.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let run = tempfile::tempdir().unwrap();
    std::fs::set_permissions(run.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dirs = DataDirs {
        config: root.path().join("config"),
        data: root.path().join("data"),
        logs: root.path().join("logs"),
        runtime: run.path().join("sessions"),
    };
    let engine = LocalEngine::open(dirs).unwrap();
    engine.set_supervisor(env!("CARGO_BIN_EXE_berth-supervisor").into());
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
