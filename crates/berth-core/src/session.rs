//! Compute sessions: short-lived sandboxes with folders mounted into them.

use serde::{Deserialize, Serialize};

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
    Terminated,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Session {
    pub id: String,
    pub name: String,
    pub session_type: SessionType,
    pub status: SessionStatus,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}
