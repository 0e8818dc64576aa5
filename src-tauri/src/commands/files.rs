use berth_core::{Error, FileEntry, FolderPath};
use tauri::State;

use crate::ActiveEngine;

/// The explorer's listing of one directory.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn list_files(
    state: State<'_, ActiveEngine>,
    folder: String,
    path: String,
) -> Result<Vec<FileEntry>, Error> {
    state
        .get()?
        .list_files(&folder, &FolderPath::parse(&path)?)
        .await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn make_dir(
    state: State<'_, ActiveEngine>,
    folder: String,
    path: String,
) -> Result<(), Error> {
    state
        .get()?
        .make_dir(&folder, &FolderPath::parse(&path)?)
        .await
}

/// Rename or move within a folder.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn move_path(
    state: State<'_, ActiveEngine>,
    folder: String,
    from: String,
    to: String,
) -> Result<(), Error> {
    let (from, to) = (FolderPath::parse(&from)?, FolderPath::parse(&to)?);
    state.get()?.move_path(&folder, &from, &to).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn remove_paths(
    state: State<'_, ActiveEngine>,
    folder: String,
    paths: Vec<String>,
) -> Result<(), Error> {
    let paths = paths
        .iter()
        .map(|p| FolderPath::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    state.get()?.remove_paths(&folder, &paths).await
}
