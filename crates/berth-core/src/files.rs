//! What an explorer shows of a folder's contents.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    File,
    Directory,
    /// Listed as a link, never followed: a session may have pointed it anywhere.
    Symlink,
    /// Sockets, pipes, devices.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct FileEntry {
    pub name: String,
    pub kind: FileKind,
    /// Bytes for files; 0 for directories.
    pub size: u64,
    /// Milliseconds since the Unix epoch; `None` where the file system does not say.
    pub modified_ms: Option<i64>,
    /// For a symlink, what it points to, as written (not resolved).
    pub link_target: Option<String>,
}
