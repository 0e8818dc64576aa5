//! What a pull or two-way sync last saw both sides agree on, file by file: the size and
//! modified time each side had when they last held the same bytes. A side whose file no
//! longer matches its journal entry changed since; a file changed on both sides is a
//! conflict, never overwritten. Kept in the data directory beside the list of syncs, so it
//! survives restarts; a journal that is missing or unreadable is an empty one, which only
//! makes the next pass more careful (no deletes, differences kept as conflicts).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use berth_core::{Error, FileEntry, Result};
use serde::{Deserialize, Serialize};

/// A file's size and modified time on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub size: u64,
    pub modified_ms: Option<i64>,
}

impl Signature {
    pub fn of_entry(entry: &FileEntry) -> Self {
        Self {
            size: entry.size,
            modified_ms: entry.modified_ms,
        }
    }

    pub fn of_metadata(metadata: &std::fs::Metadata) -> Self {
        Self {
            size: metadata.len(),
            modified_ms: metadata
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_millis()).ok()),
        }
    }
}

/// Both sides' signatures when they last agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreed {
    pub local: Signature,
    pub remote: Signature,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// By path relative to the pair (slash-separated).
    pub files: BTreeMap<String, Agreed>,
    /// Directories both sides had.
    pub dirs: BTreeSet<String>,
    /// Conflict copies made on this computer and still there, for the window to show.
    pub conflicts: BTreeSet<String>,
}

impl Journal {
    /// The journal at `path`; an empty one when there is none or it cannot be read.
    pub fn load(path: &Path) -> Self {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                tracing::warn!(%error, path = %path.display(), "sync journal unreadable; starting afresh");
                Self::default()
            }),
            Err(_) => Self::default(),
        }
    }

    /// Writes the journal to `path` whole (a scratch file renamed over it).
    pub fn save(&self, path: &Path) -> Result<()> {
        let broken = |e: &dyn std::fmt::Display| {
            Error::engine_unavailable(format!(
                "Cannot keep the sync's journal at {}: {e}",
                path.display()
            ))
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| broken(&e))?;
        }
        let bytes = serde_json::to_vec(self).map_err(|e| broken(&e))?;
        let scratch = PathBuf::from(format!("{}.new", path.display()));
        std::fs::write(&scratch, bytes)
            .and_then(|()| std::fs::rename(&scratch, path))
            .map_err(|e| broken(&e))
    }

    /// Forgets `path` and, for a directory, everything below it.
    pub fn forget(&mut self, path: &str) {
        let below = |p: &String| p == path || crate::push::is_below(p, path);
        self.files.retain(|p, _| !below(p));
        self.dirs.retain(|p| !below(p));
    }
}
