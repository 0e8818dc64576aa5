//! Storage folders: the data that outlives sessions. These are the fields every engine reports,
//! shaped after Backend.AI's vfolders so both engines fill the same table.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

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
    /// The project that owns it, shared with the project's members; `None` for the user's own.
    /// Only cluster engines have projects.
    #[serde(default)]
    pub project: Option<String>,
}

/// Backend.AI's longest folder name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Names Backend.AI reserves (`RESERVED_VFOLDERS`) that the '/' rule does not already refuse:
/// files a session's own tools keep in `/home/work`, which a folder must not shadow.
const RESERVED_NAMES: &[&str] = &[".terminfo", ".jupyter", ".tmux.conf", ".ssh"];

/// Checks a folder name against Backend.AI's rules, so a name the local engine accepts is one a
/// cluster accepts too. The error names the folder and the rule it broke.
pub fn validate_name(name: &str) -> Result<()> {
    let refuse = |rule: &str| {
        Err(Error::invalid_input(format!(
            "Folder name \"{}\" {rule}.",
            name.escape_debug()
        )))
    };
    if name.is_empty() {
        return Err(Error::invalid_input("A folder needs a name."));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return refuse(&format!("is longer than {MAX_NAME_CHARS} characters"));
    }
    if name.contains('/') {
        return refuse("contains '/': a folder name is one path component");
    }
    if name.contains('\\') {
        return refuse("contains '\\', which Windows reads as a path separator");
    }
    if name.chars().any(char::is_control) {
        return refuse("contains a control character");
    }
    if name.trim() != name {
        return refuse("starts or ends with a space");
    }
    if name == "." || name == ".." {
        return refuse("is a reserved directory name");
    }
    if RESERVED_NAMES.contains(&name) || is_reserved_dotfile(name) {
        return refuse("is reserved: sessions use that name for their own files");
    }
    Ok(())
}

/// `.bashrc`, `.zshrc`, `.bash_profile` and the like: dotfiles a session's shell reads from
/// `/home/work`, which a folder must not shadow (Backend.AI's `^\.[a-z0-9]+rc$` and
/// `^\.[a-z0-9]+_profile$`).
pub(crate) fn is_reserved_dotfile(name: &str) -> bool {
    let Some(stem) = name.strip_prefix('.') else {
        return false;
    };
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    stem.strip_suffix("rc").is_some_and(word) || stem.strip_suffix("_profile").is_some_and(word)
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
    fn ordinary_names_in_any_script_are_accepted() {
        for name in [
            "user1-ml-test",
            "user2-vfolder",
            "my data",
            "데이터",
            "データ_2026",
            ".local",
            ".linuxbrew",
            "a",
        ] {
            assert_eq!(validate_name(name), Ok(()), "{name}");
        }
        assert_eq!(validate_name(&"x".repeat(64)), Ok(()));
        assert_eq!(
            validate_name(&"é".repeat(64)),
            Ok(()),
            "the limit counts characters, not bytes"
        );
    }

    #[test]
    fn each_broken_rule_is_named_in_the_error() {
        let cases = [
            ("", "needs a name"),
            ("a/b", "contains '/'"),
            ("a\\b", "Windows"),
            ("tab\there", "control character"),
            (" padded", "space"),
            ("..", "reserved directory name"),
            (".ssh", "reserved"),
            (".bashrc", "reserved"),
            (".bash_profile", "reserved"),
            ("/etc", "contains '/'"),
        ];
        for (name, rule) in cases {
            let error = validate_name(name).expect_err(name);
            assert_eq!(error.code, crate::ErrorCode::InvalidInput, "{name}");
            assert!(error.message.contains(rule), "{name:?}: {}", error.message);
        }
        let long = validate_name(&"x".repeat(65)).unwrap_err();
        assert!(
            long.message.contains("longer than 64 characters"),
            "{}",
            long.message
        );
    }

    #[test]
    fn dotfile_patterns_only_reserve_lowercase_words() {
        assert!(is_reserved_dotfile(".vimrc"));
        assert!(is_reserved_dotfile(".zsh_profile"));
        assert!(!is_reserved_dotfile(".rc"));
        assert!(!is_reserved_dotfile(".my-rc"));
        assert!(!is_reserved_dotfile(".Xrc"));
    }

    #[test]
    fn dot_folders_are_automount_and_others_are_not() {
        assert!(is_automount_name(".local"));
        assert!(is_automount_name(".linuxbrew"));
        assert!(!is_automount_name("user1-ml-test"));
        assert!(!is_automount_name("data.v2"));
    }
}

/// What the user asks for when creating a folder; the engine fills in the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct NewFolder {
    pub name: String,
    /// A storage host id; `None` means the engine's default host.
    pub host: Option<String>,
    pub usage_mode: UsageMode,
    pub permission: FolderPermission,
    pub cloneable: bool,
    /// Create it for this project (by name) rather than for oneself; engines without projects
    /// refuse it.
    #[serde(default)]
    pub project: Option<String>,
}

impl NewFolder {
    /// A general-purpose, read-write folder on the default host: what '+' proposes.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            host: None,
            usage_mode: UsageMode::General,
            permission: FolderPermission::Rw,
            cloneable: false,
            project: None,
        }
    }
}

/// How much a folder holds, counted without following links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct FolderUsage {
    /// Bytes in regular files.
    pub bytes: u64,
    pub files: u64,
    pub directories: u64,
}

/// A place folders live: a directory on some disk for the local engine, a storage volume for
/// Backend.AI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct StorageHost {
    /// `local:default`, `local:volume1`, ...
    pub id: String,
    /// Where it is, for people: a directory or a volume name.
    pub location: String,
    pub is_default: bool,
    /// Capacity of the disk or volume; `None` where the engine cannot tell.
    pub total_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
    /// How full it is (0–100) where only that is reported (a cluster's volumes: the manager
    /// gives a percentage, not bytes); `None` where the bytes above tell, or nothing does.
    pub used_percent: Option<u8>,
}
