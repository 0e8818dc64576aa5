//! Uploads, downloads and the transfer panel. Paths picked in native dialogs or dropped from
//! the file manager are planned and copied in Rust; bytes never pass through the webview.

use std::path::PathBuf;

use berth_core::{Error, FolderPath};
use berth_transfer::{ConflictPolicy, Job, JobId, QueueEvent, TransferSpec};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, State};
use tauri_plugin_dialog::DialogExt;

use crate::ActiveEngine;
use crate::settings::Settings;

/// What queuing a batch did: how many files were queued, or, when destinations exist and no
/// policy was given, which ones (nothing is queued then; the UI asks and calls again).
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct TransferBatch {
    pub queued: u32,
    pub conflicts: Vec<String>,
}

fn batch_id(kind: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{kind}-{}", now.as_nanos())
}

async fn queue_batch(
    state: &ActiveEngine,
    specs: Vec<TransferSpec>,
    conflict: Option<ConflictPolicy>,
) -> Result<TransferBatch, Error> {
    let conflicts = match conflict {
        Some(_) => Vec::new(),
        None => state.planner()?.existing_destinations(&specs).await?,
    };
    if !conflicts.is_empty() {
        return Ok(TransferBatch {
            queued: 0,
            conflicts,
        });
    }
    let queued = state.transfers()?.enqueue(specs)?.len() as u32;
    Ok(TransferBatch {
        queued,
        conflicts: Vec::new(),
    })
}

/// Uploads files and directory trees from this computer into directory `to` of `folder`.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn upload_paths(
    state: State<'_, ActiveEngine>,
    folder: String,
    to: String,
    paths: Vec<String>,
    conflict: Option<ConflictPolicy>,
) -> Result<TransferBatch, Error> {
    let sources: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
    let to = FolderPath::parse(&to)?;
    let (policy, batch) = (conflict.unwrap_or(ConflictPolicy::Fail), batch_id("upload"));
    let specs = state
        .planner()?
        .plan_upload(&folder, &sources, &to, policy, &batch)
        .await?;
    queue_batch(&state, specs, conflict).await
}

/// Downloads files and trees of `folder` into directory `to` on this computer.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn download_paths(
    state: State<'_, ActiveEngine>,
    folder: String,
    paths: Vec<String>,
    to: String,
    conflict: Option<ConflictPolicy>,
) -> Result<TransferBatch, Error> {
    let paths = FolderPath::parse_all(&paths)?;
    let to = PathBuf::from(to);
    let (policy, batch) = (
        conflict.unwrap_or(ConflictPolicy::Fail),
        batch_id("download"),
    );
    let specs = state
        .planner()?
        .plan_download(&folder, &paths, &to, policy, &batch)
        .await?;
    queue_batch(&state, specs, conflict).await
}

/// The native picker for files (or, with `directories`, folders) to upload; empty when the
/// user cancels.
#[tauri::command]
#[specta::specta]
pub async fn pick_upload_sources(app: AppHandle, directories: bool) -> Result<Vec<String>, Error> {
    let dialog = app.dialog().file().set_title(if directories {
        "Upload folders"
    } else {
        "Upload files"
    });
    let picked = if directories {
        dialog.blocking_pick_folders()
    } else {
        dialog.blocking_pick_files()
    };
    Ok(picked
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.into_path().ok())
        .map(|p| p.display().to_string())
        .collect())
}

/// The native folder picker for where downloads go; `None` when the user cancels.
#[tauri::command]
#[specta::specta]
pub async fn pick_download_directory(app: AppHandle) -> Result<Option<String>, Error> {
    Ok(super::picker::pick_folder(&app, "Download to"))
}

#[tauri::command]
#[specta::specta]
pub fn list_transfers(state: State<'_, ActiveEngine>) -> Result<Vec<Job>, Error> {
    Ok(state.transfers()?.jobs())
}

/// Streams the queue's events to the transfer panel until the window closes the channel.
#[tauri::command]
#[specta::specta]
pub fn watch_transfers(
    state: State<'_, ActiveEngine>,
    events: Channel<QueueEvent>,
) -> Result<(), Error> {
    let mut receiver = state.transfers()?.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match receiver.recv().await {
                Ok(event) => {
                    if events.send(event).is_err() {
                        return;
                    }
                }
                // A slow webview missed events; the panel re-reads the list on the next one.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Ok(())
}

/// What a transfer control button asks for.
#[derive(Debug, Clone, Copy, serde::Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum TransferAction {
    Pause,
    Resume,
    Cancel,
    Retry,
}

/// Pauses, resumes, cancels or retries one transfer, or every one when `id` is null.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn control_transfer(
    state: State<'_, ActiveEngine>,
    id: Option<JobId>,
    action: TransferAction,
) -> Result<(), Error> {
    let queue = state.transfers()?;
    match (id, action) {
        (Some(id), TransferAction::Pause) => queue.pause(id),
        (Some(id), TransferAction::Resume) => queue.resume(id),
        (Some(id), TransferAction::Cancel) => queue.cancel(id).await,
        (Some(id), TransferAction::Retry) => queue.retry(id),
        (None, TransferAction::Pause) => queue.pause_all().await,
        (None, TransferAction::Resume) => queue.resume_all().await,
        (None, TransferAction::Cancel) => queue.cancel_all().await,
        (None, TransferAction::Retry) => {
            for job in queue
                .jobs()
                .iter()
                .filter(|j| j.state == berth_transfer::JobState::Failed)
            {
                queue.retry(job.id)?;
            }
            Ok(())
        }
    }
}

#[tauri::command]
#[specta::specta]
pub fn clear_finished_transfers(state: State<'_, ActiveEngine>) -> Result<(), Error> {
    state.transfers()?.clear_finished()
}

/// The transfer panel's settings.
#[tauri::command]
#[specta::specta]
pub fn transfer_settings(state: State<'_, ActiveEngine>) -> Settings {
    state.settings()
}

/// How many files move at once (1–8): saved, and applied at once to waiting transfers; running
/// ones are never stopped by lowering it.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub fn set_transfer_concurrency(
    state: State<'_, ActiveEngine>,
    limit: u32,
) -> Result<Settings, Error> {
    state.set_transfer_concurrency(limit)
}

/// Shows a finished download in the file manager. Takes the job's id, not a path: the webview
/// cannot make Berth reveal anything the queue did not write.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub fn reveal_transfer(state: State<'_, ActiveEngine>, id: JobId) -> Result<(), Error> {
    let path = state.transfers()?.downloaded_path(id)?;
    if !path.exists() {
        return Err(Error::new(
            berth_core::ErrorCode::NotFound,
            format!("{} is no longer there.", path.display()),
        ));
    }
    tauri_plugin_opener::reveal_item_in_dir(&path).map_err(|e| {
        Error::internal(format!(
            "Cannot show {} in the file manager: {e}",
            path.display()
        ))
    })
}
