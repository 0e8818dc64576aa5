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

/// An entry's name and kind only: what a directory read gives without a `stat` per entry, so a
/// 100,000-entry directory can be shown at once and the rest filled in for the visible rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct FileName {
    pub name: String,
    pub kind: FileKind,
}

/// Sorts entries in the explorer's default order: directories first, then names as people
/// read them — case-insensitive, runs of digits compared as numbers (`f2` before `f10`).
/// Each name's sort key is computed once, so 100,000 names sort in a few milliseconds.
pub fn sort_for_explorer(entries: &mut [FileName]) {
    entries.sort_by_cached_key(|e| {
        (
            e.kind != FileKind::Directory,
            natural_key(&e.name),
            e.name.clone(),
        )
    });
}

/// `natural_key(a) < natural_key(b)` when `a` comes first in natural order; names differing
/// only in case or leading zeros get equal keys (callers break the tie by the name).
pub fn natural_key(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 4);
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut digits = String::from(c);
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                digits.push(d);
            }
            let value = digits.trim_start_matches('0');
            // A digit run sorts by its length first, then its digits: 9 < 10 < 100.
            key.push(0x01);
            key.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
            key.extend_from_slice(value.as_bytes());
        } else {
            for lower in c.to_lowercase() {
                let mut buffer = [0u8; 4];
                key.extend_from_slice(lower.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    key
}

/// Natural order of two names, total (ties broken by the names' bytes).
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    natural_key(a).cmp(&natural_key(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(names: &[(&str, FileKind)]) -> Vec<String> {
        let mut entries: Vec<FileName> = names
            .iter()
            .map(|(n, k)| FileName {
                name: n.to_string(),
                kind: *k,
            })
            .collect();
        sort_for_explorer(&mut entries);
        entries.into_iter().map(|e| e.name).collect()
    }

    #[test]
    fn directories_come_first_then_names_in_natural_order() {
        let f = FileKind::File;
        let d = FileKind::Directory;
        assert_eq!(
            sorted(&[
                ("f10", f),
                ("F2", f),
                ("zdir", d),
                ("f1", f),
                ("adir", d),
                ("b", FileKind::Symlink)
            ]),
            ["adir", "zdir", "b", "f1", "F2", "f10"]
        );
    }

    #[test]
    fn numbers_compare_by_value_and_ties_are_broken_stably() {
        use std::cmp::Ordering;
        assert_eq!(natural_cmp("run-9", "run-10"), Ordering::Less);
        assert_eq!(
            natural_cmp("v007", "v7"),
            Ordering::Less,
            "same value: byte order decides"
        );
        assert_eq!(natural_cmp("a", "A"), "a".cmp("A"));
        assert_eq!(natural_cmp("데이터2", "데이터10"), Ordering::Less);
    }
}

/// The most one [`FileRange`] read returns: a preview reads a screen at a time.
pub const LARGEST_RANGE: u32 = 4 << 20;

/// Part of a file, as a preview reads it: `bytes` from `offset` (fewer than asked at the end of
/// the file, none past it), and the whole file's size then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct FileRange {
    pub offset: u64,
    pub bytes: Vec<u8>,
    pub size: u64,
}

/// The largest file the window edits in place: one read, held whole in a text box.
pub const LARGEST_EDIT: u64 = LARGEST_RANGE as u64;

/// The largest file opened in the user's own editor on a copy: held whole while it is saved
/// back.
pub const LARGEST_EDIT_COPY: u64 = 256 << 20;

/// What a file was when it was read, by what both engines can tell cheaply: a save compares it
/// with what the folder holds at the moment of writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct FileVersion {
    pub size: u64,
    /// Milliseconds since the Unix epoch, as [`FileEntry::modified_ms`].
    pub modified_ms: Option<i64>,
}

impl From<&FileEntry> for FileVersion {
    fn from(entry: &FileEntry) -> Self {
        Self {
            size: entry.size,
            modified_ms: entry.modified_ms,
        }
    }
}

/// A whole file read for editing, and the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct EditableFile {
    pub bytes: Vec<u8>,
    pub version: FileVersion,
}

/// How a save treats what is at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SaveMode {
    /// Replace the file only if it is still `read`; otherwise `file_changed` and nothing written.
    IfUnchanged { read: FileVersion },
    /// Replace whatever is there (the user chose to overwrite a changed file).
    Overwrite,
    /// Write a new file; `already_exists` when something is at the path.
    CreateNew,
}

/// The `file_changed` error for a save of `path` in `folder` that expected `read` and found
/// `now` (`None`: the file is gone).
fn changed_since_read(folder: &str, path: &str, now: Option<&FileEntry>) -> crate::Error {
    let what = match now {
        None => "was deleted".to_string(),
        Some(entry) if entry.kind != FileKind::File => "is no longer a file".to_string(),
        Some(entry) => format!("changed (now {} bytes)", entry.size),
    };
    crate::Error::new(
        crate::ErrorCode::FileChanged,
        format!(
            "\"{path}\" in folder \"{folder}\" {what} since you opened it; nothing was saved. Overwrite it, reload it, or save your edit as a copy."
        ),
    )
}

/// Whether `now` is still the file that was read as `read`.
fn is_unchanged(now: Option<&FileEntry>, read: &FileVersion) -> bool {
    now.is_some_and(|entry| entry.kind == FileKind::File && FileVersion::from(entry) == *read)
}

/// Whether a save by `mode` may write over `found`, what is at `path` in `folder` now: the
/// same rules on both engines.
pub fn check_save(
    folder: &str,
    path: &str,
    found: Option<&FileEntry>,
    mode: SaveMode,
) -> crate::Result<()> {
    match (mode, found) {
        (SaveMode::IfUnchanged { read }, now) if !is_unchanged(now, &read) => {
            Err(changed_since_read(folder, path, now))
        }
        (SaveMode::CreateNew, Some(_)) => Err(crate::Error::new(
            crate::ErrorCode::AlreadyExists,
            format!("\"{path}\" already exists in folder \"{folder}\"; choose another name."),
        )),
        (_, Some(entry)) if entry.kind != FileKind::File => {
            Err(crate::Error::invalid_input(format!(
                "\"{path}\" in folder \"{folder}\" is a {}; only a file is replaced by a save.",
                match entry.kind {
                    FileKind::Symlink => "link",
                    FileKind::Directory => "directory",
                    _ => "special file",
                }
            )))
        }
        _ => Ok(()),
    }
}
