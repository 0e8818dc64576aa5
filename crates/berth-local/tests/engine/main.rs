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
mod writes_while_running;

use berth_core::Engine;
use berth_local::supervisor::client::{ExecOutput, finish_exec};
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
    // No Docker engine but the one a test starts itself: this machine's own Podman service
    // (the Backend.AI peer's real agent runs one) must not add its images to the lists.
    engine.set_docker_socket(run.path().join("no-docker-engine.sock"));
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

/// Destroys the session when dropped, so a failing assertion leaves no sandbox behind.
pub struct Running<'a> {
    pub fixture: &'a Fixture,
    pub id: String,
}

impl Running<'_> {
    pub fn exec(&self, script: &str) -> ExecOutput {
        let (_, client) = self.fixture.engine.session_client(&self.id).unwrap();
        let stream = client
            .exec(vec!["/bin/bash".into(), "-c".into(), script.into()])
            .unwrap();
        finish_exec(stream, b"").unwrap()
    }

    /// Runs `script` and returns its stdout, failing the test when it fails.
    pub fn ok(&self, script: &str) -> String {
        let out = self.exec(script);
        assert_eq!(
            out.code,
            0,
            "{script}: {}{}",
            out.stdout_text(),
            out.stderr_text()
        );
        out.stdout_text()
    }

    pub fn destroy(self) -> berth_core::Session {
        let rt = runtime();
        let session = rt
            .block_on(self.fixture.engine.destroy_session(&self.id))
            .unwrap();
        std::mem::forget(self);
        session
    }
}

impl std::ops::Deref for Running<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.id
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = runtime().block_on(self.fixture.engine.destroy_session(&self.id));
    }
}

/// Runs `script` with bash in session `id`.
pub fn sh(fixture: &Fixture, id: &str, script: &str) -> ExecOutput {
    let (_, client) = fixture.engine.session_client(id).unwrap();
    let stream = client
        .exec(vec!["/bin/bash".into(), "-c".into(), script.into()])
        .unwrap();
    finish_exec(stream, b"").unwrap()
}
