//! The local engine through its public `Engine` API: real SQLite, real directories.

// Helpers here are test code too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod files;
mod folders;
mod transfers;

use berth_local::{DataDirs, LocalEngine};

pub struct Fixture {
    pub root: tempfile::TempDir,
    pub engine: LocalEngine,
}

/// A local engine on a fresh temporary data directory.
pub fn engine() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let dirs = DataDirs {
        config: root.path().join("config"),
        data: root.path().join("data"),
        logs: root.path().join("logs"),
    };
    let engine = LocalEngine::open(dirs).unwrap();
    Fixture { root, engine }
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
