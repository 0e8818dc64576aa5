//! "Edit in my editor": a file of a folder copied to this computer, opened in the user's own
//! editor, and written back to the folder each time the editor saves it — with the window
//! editor's check that the folder's file is still the version the copy came from. A file
//! someone else changed meanwhile is never overwritten: the copy waits in conflict until the
//! user overwrites, reloads, or saves it as a copy beside the file.
//!
//! Editors save in many ways (in place, or a new file renamed over the old one), so the copy's
//! directory is watched, not the file, and a save is recognised by the file's size and time
//! changing; a burst of events (one save is often several) is taken as one.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use berth_core::engine::split_file_path;
use berth_core::{
    Engine, Error, ErrorCode, FileVersion, FolderPath, LARGEST_EDIT_COPY, Result, SaveMode,
};
use notify::Watcher;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Events closer together than this are one save.
const SETTLE: Duration = Duration::from_millis(150);
/// Names tried for "save as a copy": `name (1).ext` to `name (50).ext`.
const MOST_COPIES: u32 = 50;

/// Where a copy stands with the folder's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EditCopyStatus {
    /// The folder holds the copy's latest save (`uploaded_ms`: when it was last written back;
    /// `None` while nothing was saved yet).
    InStep { uploaded_ms: Option<i64> },
    /// A save is being written back.
    Uploading,
    /// The folder's file changed since the copy was made (or last saved back): the copy's
    /// latest save is not in the folder until the user chooses.
    Conflict { message: String },
    /// Writing back failed (the reason); the next save, or Retry, tries again.
    Failed { message: String },
}

/// A copy open in the user's editor, as the window lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct EditCopyView {
    pub id: String,
    /// The engine the folder belongs to (its label), since the window may show another one.
    pub engine: String,
    pub folder: String,
    pub path: String,
    /// The copy on this computer, where the editor has it.
    pub local_path: String,
    pub status: EditCopyStatus,
    /// Saves written back so far.
    pub uploads: u32,
}

/// What the user chose for a copy in conflict (or one whose upload failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Write the copy over the folder's file whatever it now is.
    Overwrite,
    /// Replace the copy with the folder's file as it now is (the editor may offer to reload).
    Reload,
    /// Write the copy beside the file as `name (n).ext`, and go on with that one.
    SaveAsCopy,
    /// Try writing back again, with the same check.
    Retry,
}

/// Every copy open in an editor; one per app.
pub struct EditCopies {
    root: PathBuf,
    copies: Mutex<Vec<Arc<Copy>>>,
    changed: Arc<dyn Fn() + Send + Sync>,
}

struct Copy {
    id: String,
    engine: Arc<dyn Engine>,
    engine_label: String,
    folder: String,
    local: PathBuf,
    state: Mutex<State>,
    /// One write-back at a time, whether a save or the user's choice started it.
    writing: tokio::sync::Mutex<()>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    changed: Arc<dyn Fn() + Send + Sync>,
}

struct State {
    /// Moves to the new name after "save as a copy".
    path: FolderPath,
    /// The folder's file as the copy last matched it.
    remote: FileVersion,
    /// The local file's size and time when it last matched the folder's (or was last tried).
    seen: Option<Stamp>,
    status: EditCopyStatus,
    uploads: u32,
}

type Stamp = (u64, Option<SystemTime>);

impl EditCopies {
    /// Copies live in directories under `root`; `changed` is called whenever a copy's state
    /// changes (the window refreshes its list).
    pub fn new(root: PathBuf, changed: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            root,
            copies: Mutex::new(Vec::new()),
            changed: Arc::new(changed),
        }
    }

    /// A copy of `path` of `folder` on `engine` (labelled `engine_label`), watched for saves;
    /// the one already open when there is one. The caller opens `local_path` in the editor.
    pub async fn open(
        &self,
        engine: Arc<dyn Engine>,
        engine_label: &str,
        folder: &str,
        path: &FolderPath,
    ) -> Result<EditCopyView> {
        if let Some(open) = self.lock().iter().find(|c| {
            c.engine_label == engine_label && c.folder == folder && c.state().path == *path
        }) {
            return Ok(open.view());
        }
        let (_, name) = split_file_path(path)?;
        let file = engine
            .read_for_edit(folder, path, LARGEST_EDIT_COPY)
            .await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = self.root.join(&id);
        let local = dir.join(&name);
        let written =
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&local, &file.bytes));
        written.map_err(|e| {
            Error::internal(format!(
                "Cannot make a copy of \"{path}\" at {} to edit: {e}",
                local.display()
            ))
        })?;
        let copy = Arc::new(Copy {
            id,
            engine,
            engine_label: engine_label.to_string(),
            folder: folder.to_string(),
            state: Mutex::new(State {
                path: path.clone(),
                remote: file.version,
                seen: stamp(&local),
                status: EditCopyStatus::InStep { uploaded_ms: None },
                uploads: 0,
            }),
            local,
            writing: tokio::sync::Mutex::new(()),
            watcher: Mutex::new(None),
            task: Mutex::new(None),
            changed: self.changed.clone(),
        });
        copy.watch(&dir)?;
        self.lock().push(copy.clone());
        (self.changed)();
        tracing::info!(id = %copy.id, folder, %path, "copy open in an editor");
        Ok(copy.view())
    }

    pub fn views(&self) -> Vec<EditCopyView> {
        self.lock().iter().map(|c| c.view()).collect()
    }

    /// Copies whose latest save is not in the folder: what quitting would leave behind.
    pub fn not_written_back(&self) -> u32 {
        let count = self
            .lock()
            .iter()
            .filter(|c| !matches!(c.state().status, EditCopyStatus::InStep { .. }))
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// Carries out the user's choice for copy `id`.
    pub async fn resolve(&self, id: &str, resolution: Resolution) -> Result<EditCopyView> {
        let copy = self.find(id)?;
        copy.resolve(resolution).await;
        Ok(copy.view())
    }

    /// Stops watching copy `id` and deletes it from this computer (what was not written back
    /// is lost: the window asks first).
    pub fn close(&self, id: &str) -> Result<()> {
        let copy = self.find(id)?;
        self.lock().retain(|c| c.id != id);
        copy.stop();
        if let Some(dir) = copy.local.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
        (self.changed)();
        Ok(())
    }

    fn find(&self, id: &str) -> Result<Arc<Copy>> {
        self.lock()
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    "That file is no longer open in an editor.",
                )
            })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Copy>>> {
        self.copies.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for EditCopies {
    fn drop(&mut self) {
        for copy in self.lock().iter() {
            copy.stop();
        }
    }
}

impl Copy {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn view(&self) -> EditCopyView {
        let state = self.state();
        EditCopyView {
            id: self.id.clone(),
            engine: self.engine_label.clone(),
            folder: self.folder.clone(),
            path: state.path.as_str().to_string(),
            local_path: self.local.display().to_string(),
            status: state.status.clone(),
            uploads: state.uploads,
        }
    }

    fn set_status(&self, status: EditCopyStatus) {
        self.state().status = status;
        (self.changed)();
    }

    /// Watches the copy's directory; each settled burst of events about the file is a save.
    fn watch(self: &Arc<Self>, dir: &Path) -> Result<()> {
        let (saves, mut saved) = mpsc::unbounded_channel::<()>();
        // By name: macOS reports the directory by its real path (/private/var/… for /var/…).
        let file = self.local.file_name().map(ToOwned::to_owned);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && event.paths.iter().any(|p| p.file_name() == file.as_deref())
            {
                let _ = saves.send(());
            }
        })
        .and_then(|mut w| {
            w.watch(dir, notify::RecursiveMode::NonRecursive)
                .map(|()| w)
        })
        .map_err(|e| Error::internal(format!("Cannot watch {} for saves: {e}", dir.display())))?;
        *self.watcher.lock().unwrap_or_else(PoisonError::into_inner) = Some(watcher);
        let copy = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            while saved.recv().await.is_some() {
                while let Ok(Some(())) = tokio::time::timeout(SETTLE, saved.recv()).await {}
                let Some(copy) = copy.upgrade() else { return };
                copy.write_back(false).await;
            }
        });
        *self.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        Ok(())
    }

    fn stop(&self) {
        self.watcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }

    /// Writes the local file back if it changed since it last matched the folder (`again`:
    /// whether or not it changed), over the version the copy came from only.
    async fn write_back(&self, again: bool) {
        let _writing = self.writing.lock().await;
        let Some(now) = stamp(&self.local) else {
            // Between an editor's delete and its rename: the rename's event comes next.
            return;
        };
        let (path, remote) = {
            let state = self.state();
            let waiting = matches!(state.status, EditCopyStatus::Conflict { .. });
            // Unchanged, or in conflict (nothing is written until the user chooses; the
            // choice takes the copy as it is then).
            if !again && (state.seen == Some(now) || waiting) {
                return;
            }
            (state.path.clone(), state.remote)
        };
        self.upload(&path, now, SaveMode::IfUnchanged { read: remote })
            .await;
    }

    /// Sends the local file to `path` by `mode` and records the outcome.
    async fn upload(&self, path: &FolderPath, before: Stamp, mode: SaveMode) -> bool {
        let bytes = match std::fs::read(&self.local) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.set_status(EditCopyStatus::Failed {
                    message: format!("Cannot read the copy at {}: {e}", self.local.display()),
                });
                return false;
            }
        };
        self.set_status(EditCopyStatus::Uploading);
        let written = self
            .engine
            .write_file(&self.folder, path, bytes, mode)
            .await;
        let mut state = self.state();
        state.seen = Some(before);
        let done = match written {
            Ok(version) => {
                state.remote = version;
                state.path = path.clone();
                state.uploads += 1;
                state.status = EditCopyStatus::InStep {
                    uploaded_ms: Some(crate::now_ms()),
                };
                tracing::info!(id = %self.id, %path, size = version.size, "editor's save written back");
                true
            }
            Err(error) if error.code == ErrorCode::FileChanged => {
                state.status = EditCopyStatus::Conflict {
                    message: error.message,
                };
                false
            }
            Err(error) => {
                tracing::warn!(id = %self.id, %path, %error, "editor's save not written back");
                state.status = EditCopyStatus::Failed {
                    message: error.message,
                };
                false
            }
        };
        drop(state);
        (self.changed)();
        done
    }

    async fn resolve(&self, resolution: Resolution) {
        match resolution {
            Resolution::Retry => self.write_back(true).await,
            Resolution::Overwrite => {
                let _writing = self.writing.lock().await;
                let path = self.state().path.clone();
                if let Some(now) = stamp(&self.local) {
                    self.upload(&path, now, SaveMode::Overwrite).await;
                }
            }
            Resolution::SaveAsCopy => {
                let _writing = self.writing.lock().await;
                let path = self.state().path.clone();
                let Some(now) = stamp(&self.local) else {
                    return;
                };
                match self.free_name(&path).await {
                    Ok(beside) => {
                        self.upload(&beside, now, SaveMode::CreateNew).await;
                    }
                    Err(error) => self.set_status(EditCopyStatus::Failed {
                        message: error.message,
                    }),
                }
            }
            Resolution::Reload => {
                let _writing = self.writing.lock().await;
                if let Err(error) = self.reload().await {
                    self.set_status(EditCopyStatus::Failed {
                        message: error.message,
                    });
                }
            }
        }
    }

    /// The folder's file as it is now, over the copy (through a new file renamed into place,
    /// as editors save, so an editor that watches its file offers to reload it).
    async fn reload(&self) -> Result<()> {
        let path = self.state().path.clone();
        let file = self
            .engine
            .read_for_edit(&self.folder, &path, LARGEST_EDIT_COPY)
            .await?;
        let fresh = self.local.with_extension("berth-reload");
        std::fs::write(&fresh, &file.bytes)
            .and_then(|()| std::fs::rename(&fresh, &self.local))
            .map_err(|e| {
                let _ = std::fs::remove_file(&fresh);
                Error::internal(format!(
                    "Cannot replace the copy at {}: {e}",
                    self.local.display()
                ))
            })?;
        let mut state = self.state();
        state.remote = file.version;
        state.seen = stamp(&self.local);
        state.status = EditCopyStatus::InStep { uploaded_ms: None };
        drop(state);
        (self.changed)();
        Ok(())
    }

    /// The first `name (n).ext` beside `path` that the folder does not hold.
    async fn free_name(&self, path: &FolderPath) -> Result<FolderPath> {
        let (parent, name) = split_file_path(path)?;
        let candidates: Vec<String> = (1..=MOST_COPIES)
            .map(|n| berth_transfer::names::numbered(&name, n))
            .collect();
        let taken: HashSet<String> = self
            .engine
            .stat_files(&self.folder, &parent, candidates.clone())
            .await?
            .into_iter()
            .map(|e| e.name)
            .collect();
        let free = candidates
            .into_iter()
            .find(|c| !taken.contains(c))
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::AlreadyExists,
                    format!("\"{name}\" has {MOST_COPIES} numbered copies already; save this one under a name of your own."),
                )
            })?;
        parent.join(&free)
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    let metadata = std::fs::metadata(path).ok()?;
    metadata
        .is_file()
        .then(|| (metadata.len(), metadata.modified().ok()))
}
