//! The one API every screen, the CLI and the tests use, implemented by the local engine
//! (`berth-local`) and the Backend.AI engine (`berth-backendai`).

use serde::{Deserialize, Serialize};

use crate::{Folder, Result, Session};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// Folders on this computer's disk, sessions in sandboxes on this computer.
    Local,
    /// A Backend.AI cluster reached over its manager API and storage proxy.
    BackendAi,
}

/// What the status bar says about the engine the app is talking to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct EngineInfo {
    pub kind: EngineKind,
    /// Short human name, e.g. "Local engine".
    pub label: String,
    /// Where the engine keeps its data: a directory for the local engine, an endpoint URL for a
    /// cluster.
    pub location: String,
}

#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    fn info(&self) -> EngineInfo;

    /// Every folder the user can see that is not in the trash, oldest first.
    async fn list_folders(&self) -> Result<Vec<Folder>>;

    /// Every session the engine knows of that has not been cleaned up, newest first.
    async fn list_sessions(&self) -> Result<Vec<Session>>;
}
