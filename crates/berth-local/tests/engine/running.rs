//! A running session for a test: commands run in it, and it is destroyed when the test ends.

use berth_core::Engine;
use berth_local::supervisor::client::{ExecOutput, finish_exec};

use crate::{Fixture, runtime};

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
