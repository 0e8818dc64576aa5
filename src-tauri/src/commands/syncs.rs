//! Syncs in the window: set up, paused, resumed and removed here or with `berth sync`, run by
//! the app for this computer's engine from the start and for a cluster profile once it is
//! logged in (the same runner as `berth sync run`, so never both on one sync).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use berth_core::{Engine, Error, FolderPath};
use berth_sync::book::{SyncBook, SyncDirection, SyncRecord};
use berth_sync::live::SyncState;
use berth_sync::push::{IgnoreRules, SyncPair};
use berth_sync::runner::{SyncEvents, run_syncs};
use berth_transfer::Queue;
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_specta::Event;

use crate::ActiveEngine;

/// Every sync set up (any profile), sent whenever one's state changes.
#[derive(Debug, Clone, serde::Serialize, specta::Type, tauri_specta::Event)]
pub struct SyncsChanged {
    pub syncs: Vec<SyncRecord>,
}

/// The list of syncs and the profiles whose syncs this app runs.
pub struct Syncs {
    book: Arc<SyncBook>,
    running: Mutex<HashMap<String, tokio::sync::watch::Sender<bool>>>,
}

impl Syncs {
    pub fn in_dir(data_dir: PathBuf) -> Self {
        Self {
            book: Arc::new(SyncBook::in_dir(&data_dir)),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Starts running `profile`'s syncs on `engine` unless this app already does.
    pub fn run_profile<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        profile: &str,
        engine: Arc<dyn Engine>,
        queue: Queue,
    ) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.contains_key(profile) {
            return;
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        running.insert(profile.to_string(), stop);
        let (book, profile) = (self.book.clone(), profile.to_string());
        let events = Arc::new(WindowEvents(app.clone()));
        tauri::async_runtime::spawn(async move {
            if let Err(error) =
                run_syncs(book, profile.clone(), engine, queue, events, stopped).await
            {
                tracing::error!(%error, profile, "the syncs stopped");
            }
        });
    }

    /// Unpaused syncs of the profiles this app runs: what quitting would stop.
    pub fn active(&self) -> u32 {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let count = self
            .book
            .list()
            .unwrap_or_default()
            .iter()
            .filter(|r| !r.paused && running.contains_key(&r.profile))
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }
}

struct WindowEvents<R: Runtime>(AppHandle<R>);

impl<R: Runtime> WindowEvents<R> {
    fn tell(&self) {
        let syncs = self.0.state::<Syncs>().book.list().unwrap_or_default();
        if let Err(error) = (SyncsChanged { syncs }).emit(&self.0) {
            tracing::warn!(%error, "cannot tell the window about a sync");
        }
    }
}

impl<R: Runtime> SyncEvents for WindowEvents<R> {
    fn state(&self, record: &SyncRecord, state: &SyncState) {
        tracing::debug!(id = %record.id, ?state, "sync state");
        self.tell();
    }

    fn refused(&self, record: &SyncRecord, why: &Error) {
        tracing::warn!(id = %record.id, %why, "a sync cannot run here");
    }
}

fn profile_of(state: &ActiveEngine) -> String {
    state
        .cluster()
        .map_or_else(|| "local".to_string(), |c| c.profile().to_string())
}

/// Every sync set up, with its last state.
#[tauri::command]
#[specta::specta]
pub fn list_syncs(syncs: State<'_, Syncs>) -> Result<Vec<SyncRecord>, Error> {
    syncs.book.list()
}

/// A sync as the window's form sets it up.
#[derive(Debug, serde::Deserialize, specta::Type)]
pub struct NewSync {
    /// The directory on this computer (a full path).
    local: String,
    folder: String,
    /// The path in the folder ("" for its top).
    path: String,
    direction: SyncDirection,
    /// Deletions are mirrored too.
    delete_missing: bool,
    /// Patterns to leave alone, gitignore syntax.
    ignore: Vec<String>,
}

/// Sets up a sync with a folder of the engine the window works with.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, syncs), err)]
pub async fn add_sync(
    state: State<'_, ActiveEngine>,
    syncs: State<'_, Syncs>,
    sync: NewSync,
) -> Result<SyncRecord, Error> {
    let NewSync {
        local,
        folder,
        path,
        direction,
        delete_missing,
        ignore,
    } = sync;
    let target = match path.trim_matches('/') {
        "" => folder.clone(),
        path => format!("{folder}:{path}"),
    };
    if !std::path::Path::new(&local).is_absolute() {
        return Err(Error::invalid_input(format!(
            "\"{local}\" is not a full path: give the directory's whole path (or Browse…)."
        )));
    }
    let pair = SyncPair::parse(std::path::Path::new(&local), &target)?;
    let ignore: Vec<String> = ignore
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .collect();
    IgnoreRules::new(&ignore, true)?;
    state.get()?.folder(&pair.folder).await?;
    let local = std::fs::canonicalize(&pair.local)
        .map_err(|e| Error::invalid_input(format!("Cannot sync {local}: {e}")))?;
    let record = syncs.book.add(SyncRecord {
        id: String::new(),
        profile: profile_of(&state),
        local,
        folder: pair.folder,
        path: FolderPath::parse(pair.path.as_str())?.as_str().to_string(),
        direction,
        delete: delete_missing,
        ignore,
        default_ignores: true,
        paused: false,
        state: SyncState::Stopped,
    })?;
    Ok(record)
}

/// Pauses (`paused`) or resumes sync `id`.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(syncs), err)]
pub fn pause_sync(syncs: State<'_, Syncs>, id: String, paused: bool) -> Result<SyncRecord, Error> {
    syncs.book.update(&id, |r| r.paused = paused)
}

/// Forgets sync `id`; both sides stay as they are.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(syncs), err)]
pub fn remove_sync(syncs: State<'_, Syncs>, id: String) -> Result<(), Error> {
    syncs.book.remove(&id).map(drop)
}

/// The native folder picker, for the directory to sync.
#[tauri::command]
#[specta::specta]
pub async fn pick_sync_directory(app: AppHandle) -> Option<String> {
    crate::commands::picker::pick_folder(&app, "Directory to keep in step with the folder")
}
