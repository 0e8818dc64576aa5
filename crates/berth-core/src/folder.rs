//! Storage folders: the data that outlives sessions. These are the fields every engine reports,
//! shaped after Backend.AI's vfolders so both engines fill the same table.

use serde::{Deserialize, Serialize};

/// What a folder is for; shown in the folders table and used to filter the launcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum UsageMode {
    General,
    Model,
    Data,
}

/// What the owner may do with the folder's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum FolderPermission {
    /// Read-only: mounted read-only, no uploads.
    Ro,
    /// Read-write.
    Rw,
    /// Read-write-delete.
    Wd,
}

/// Where the folder is in its life: usable, or in the trash waiting to be restored or purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum FolderStatus {
    Ready,
    Trashed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Folder {
    pub id: String,
    pub name: String,
    /// The storage host it lives on, e.g. `local:default`.
    pub host: String,
    pub usage_mode: UsageMode,
    pub permission: FolderPermission,
    pub cloneable: bool,
    pub status: FolderStatus,
    /// Milliseconds since the Unix epoch, so the UI can hand it to `new Date()` unchanged.
    pub created_at_ms: i64,
    /// Mounted into every session without being picked (see [`is_automount_name`]).
    pub automount: bool,
}

/// Folders whose name starts with `.` are mounted into every session (`.local`, `.linuxbrew`),
/// which is how `pip install --user` and Homebrew installs persist across sessions.
pub fn is_automount_name(name: &str) -> bool {
    name.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_folders_are_automount_and_others_are_not() {
        assert!(is_automount_name(".local"));
        assert!(is_automount_name(".linuxbrew"));
        assert!(!is_automount_name("user1-ml-test"));
        assert!(!is_automount_name("data.v2"));
    }
}
