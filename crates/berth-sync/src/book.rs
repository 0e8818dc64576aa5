//! The syncs a user set up (`berth sync add`), kept in one small JSON file in the data
//! directory that the app and the CLI both read, with each sync's last known state. Changes
//! go through a lock file and a rename, so two processes never lose each other's edits; a
//! sync being run holds a lock of its own, so the app and the CLI never run the same one at
//! once.

use std::fs::File;
use std::path::{Path, PathBuf};

use berth_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};

use crate::live::SyncState;

/// Which way a sync sends files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum SyncDirection {
    /// This computer → the folder.
    Push,
    /// The folder → this computer.
    Pull,
    /// Both ways; a file changed on both sides is kept twice (a conflict).
    Both,
}

/// One sync as set up, and how it last stood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct SyncRecord {
    pub id: String,
    /// `local` for this computer's engine, else the Backend.AI profile's name.
    pub profile: String,
    #[specta(type = String)]
    pub local: PathBuf,
    pub folder: String,
    /// The path in the folder ("" for its top).
    pub path: String,
    pub direction: SyncDirection,
    pub delete: bool,
    pub ignore: Vec<String>,
    pub default_ignores: bool,
    pub paused: bool,
    pub state: SyncState,
}

impl SyncRecord {
    /// Whether this sync is `profile`'s, between `local` (as canonicalized) and `path` of
    /// `folder`: a pair set up once, and run by one process at a time.
    pub fn is_pair(&self, profile: &str, local: &Path, folder: &str, path: &str) -> bool {
        self.profile == profile && self.local == local && self.folder == folder && self.path == path
    }

    /// `FOLDER` or `FOLDER:PATH`, as the user wrote it.
    pub fn target(&self) -> String {
        match self.path.is_empty() {
            true => self.folder.clone(),
            false => format!("{}:{}", self.folder, self.path),
        }
    }
}

/// The file of syncs in a data directory.
pub struct SyncBook {
    dir: PathBuf,
}

/// Held while a sync runs; dropping it lets another process run it.
pub struct RunningLock {
    _file: File,
}

impl SyncBook {
    pub fn in_dir(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.to_path_buf(),
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("syncs.json")
    }

    pub fn list(&self) -> Result<Vec<SyncRecord>> {
        let text = match std::fs::read_to_string(self.file()) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.broken(e)),
        };
        serde_json::from_str(&text).map_err(|e| self.broken(e))
    }

    /// Adds `record` under a new id; `already_exists` when the same directory already syncs
    /// with the same folder path.
    pub fn add(&self, mut record: SyncRecord) -> Result<SyncRecord> {
        self.change(|records| {
            if let Some(same) = records
                .iter()
                .find(|r| r.is_pair(&record.profile, &record.local, &record.folder, &record.path))
            {
                return Err(Error::new(
                    ErrorCode::AlreadyExists,
                    format!(
                        "{} already syncs with {} (sync {}).",
                        same.local.display(),
                        same.target(),
                        same.id
                    ),
                ));
            }
            record.id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
            records.push(record.clone());
            Ok(record)
        })
    }

    /// Changes sync `id` (or the one its unique prefix names) by `edit`.
    pub fn update(&self, id: &str, edit: impl FnOnce(&mut SyncRecord)) -> Result<SyncRecord> {
        self.change(|records| {
            let at = find(records, id)?;
            edit(&mut records[at]);
            Ok(records[at].clone())
        })
    }

    /// Forgets sync `id` and its journal.
    pub fn remove(&self, id: &str) -> Result<SyncRecord> {
        let record = self.change(|records| {
            let at = find(records, id)?;
            Ok(records.remove(at))
        })?;
        let _ = std::fs::remove_file(self.journal_path(&record.id));
        Ok(record)
    }

    /// Where sync `id` keeps its journal (a pull or two-way sync's memory of what both sides
    /// agreed on).
    pub fn journal_path(&self, id: &str) -> PathBuf {
        self.dir.join("syncs").join(format!("{id}.journal.json"))
    }

    /// The journal of `berth sync once` for a pair that is not set up as a sync, so the
    /// next run of the same command remembers what this one saw.
    pub fn once_journal_path(&self, profile: &str, local: &Path, target: &str) -> PathBuf {
        // FNV-1a: the same name for the same pair on every run and every build.
        let key = format!("{profile}\0{}\0{target}", local.display());
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        self.dir
            .join("syncs")
            .join(format!("once-{hash:016x}.journal.json"))
    }

    /// Takes sync `id`'s running lock; `already_exists` when another process runs it.
    pub fn lock_running(&self, id: &str) -> Result<RunningLock> {
        let dir = self.dir.join("syncs");
        std::fs::create_dir_all(&dir).map_err(|e| self.broken(e))?;
        let file = File::create(dir.join(format!("{id}.lock"))).map_err(|e| self.broken(e))?;
        match file.try_lock() {
            Ok(()) => Ok(RunningLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("Sync {id} is running in another Berth (the app, or `berth sync run`)."),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(self.broken(e)),
        }
    }

    /// Reads, changes and writes the file under the book's lock.
    fn change<T>(&self, edit: impl FnOnce(&mut Vec<SyncRecord>) -> Result<T>) -> Result<T> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.broken(e))?;
        let lock = File::create(self.dir.join("syncs.lock")).map_err(|e| self.broken(e))?;
        lock.lock().map_err(|e| self.broken(e))?;
        let mut records = self.list()?;
        let result = edit(&mut records)?;
        let text = serde_json::to_string_pretty(&records).map_err(|e| self.broken(e))?;
        let fresh = self.dir.join("syncs.json.new");
        std::fs::write(&fresh, text)
            .and_then(|()| std::fs::rename(&fresh, self.file()))
            .map_err(|e| self.broken(e))?;
        Ok(result)
    }

    fn broken(&self, e: impl std::fmt::Display) -> Error {
        Error::engine_unavailable(format!(
            "Cannot use the list of syncs at {}: {e}",
            self.file().display()
        ))
    }
}

/// Where sync `id` (or a unique prefix of it) is in `records`.
fn find(records: &[SyncRecord], id: &str) -> Result<usize> {
    let matching: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].id.starts_with(id) && !id.is_empty())
        .collect();
    match matching.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::new(
            ErrorCode::NotFound,
            format!("There is no sync {id}; `berth sync list` shows them."),
        )),
        _ => Err(Error::invalid_input(format!(
            "\"{id}\" names {} syncs; give more of the id.",
            matching.len()
        ))),
    }
}
