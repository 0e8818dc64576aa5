//! The apps a local session offers to open on this computer: its SSH (Berth's own server, so
//! every session has one; see `ssh`), and any port by number through a forward.

use berth_core::Result;
use berth_forward::{AppKind, SessionApp};

use crate::LocalEngine;
use crate::ssh::SSH_APP;

impl LocalEngine {
    /// The apps running session `key` offers. Errors: the session's (unknown, not running).
    pub async fn session_apps(&self, key: &str) -> Result<Vec<SessionApp>> {
        self.session_client(key)?;
        Ok(vec![SessionApp {
            name: SSH_APP.into(),
            port: 22,
            kind: AppKind::Ssh,
        }])
    }
}
