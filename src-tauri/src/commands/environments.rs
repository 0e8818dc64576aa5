//! The launcher's environment list: importing an image archive picked in the native dialog,
//! registering a root file system directory, and removing either.

use std::path::PathBuf;

use berth_core::{Environment, Error};
use tauri::{AppHandle, State};
use tauri_plugin_dialog::DialogExt;

use crate::ActiveEngine;

/// The native file picker for a `docker save` / OCI archive; `None` when the user cancels.
#[tauri::command]
#[specta::specta]
pub async fn pick_image_archive(app: AppHandle) -> Result<Option<String>, Error> {
    Ok(app
        .dialog()
        .file()
        .set_title("Import an image archive")
        .add_filter("Image archives", &["tar", "tar.gz", "tgz"])
        .blocking_pick_file()
        .and_then(|p| p.into_path().ok())
        .map(|p| p.display().to_string()))
}

/// Imports the archive at `path` (from the picker) as environment `name`.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn import_environment(
    state: State<'_, ActiveEngine>,
    path: String,
    name: Option<String>,
) -> Result<Environment, Error> {
    let engine = state.local("Image and root file system environments")?;
    tauri::async_runtime::spawn_blocking(move || {
        engine.import_image(&PathBuf::from(path), name.as_deref())
    })
    .await
    .map_err(|e| Error::internal(e.to_string()))?
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn remove_environment(state: State<'_, ActiveEngine>, name: String) -> Result<(), Error> {
    state
        .local("Image and root file system environments")?
        .remove_environment(&name)
}

/// The native folder picker for a root file system directory; `None` when the user cancels.
#[tauri::command]
#[specta::specta]
pub async fn pick_rootfs_directory(app: AppHandle) -> Result<Option<String>, Error> {
    Ok(super::picker::pick_folder(
        &app,
        "Choose a root file system directory",
    ))
}

/// Registers the directory at `path` (from the picker) as environment `name`, used in place.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn add_rootfs_environment(
    state: State<'_, ActiveEngine>,
    name: String,
    path: String,
) -> Result<Environment, Error> {
    state
        .local("Image and root file system environments")?
        .add_rootfs_environment(&name, &PathBuf::from(path))
}
