use std::path::PathBuf;

use berth_core::folder::validate_name;
use berth_core::{Error, Folder, FolderUsage, NewFolder, StorageHost};
use tauri::{AppHandle, State};

use crate::ActiveEngine;

/// Storage hosts for the create dialog, with free space.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn list_hosts(state: State<'_, ActiveEngine>) -> Result<Vec<StorageHost>, Error> {
    state.get()?.list_hosts().await
}

/// Adds storage host `local:NAME` keeping its folders in `directory` (typed or picked).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn add_host(
    state: State<'_, ActiveEngine>,
    name: String,
    directory: String,
) -> Result<StorageHost, Error> {
    let directory = PathBuf::from(directory.trim());
    state.get()?.add_host(name.trim(), &directory).await
}

/// Removes an added storage host that holds no folders; its directory stays on disk.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn remove_host(state: State<'_, ActiveEngine>, id: String) -> Result<(), Error> {
    state.get()?.remove_host(&id).await
}

/// The native folder picker for a new host's directory; `None` when the user cancels.
#[tauri::command]
#[specta::specta]
pub async fn pick_host_directory(app: AppHandle) -> Result<Option<String>, Error> {
    Ok(super::picker::pick_folder(
        &app,
        "Keep the host's folders in",
    ))
}

/// The Data & Storage page's folders table.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn list_folders(state: State<'_, ActiveEngine>) -> Result<Vec<Folder>, Error> {
    state.get()?.list_folders().await
}

/// The size shown in the folders table, counted on demand (links not followed).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn folder_usage(
    state: State<'_, ActiveEngine>,
    name: String,
) -> Result<FolderUsage, Error> {
    state.get()?.folder_usage(&name).await
}

/// The Trash tab.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn list_trash(state: State<'_, ActiveEngine>) -> Result<Vec<Folder>, Error> {
    state.get()?.list_trash().await
}

/// A name that passed [`check_folder_name`], with what the create dialog says about it.
#[derive(Debug, Clone, serde::Serialize, specta::Type)]
pub struct FolderNameCheck {
    /// Where sessions mount the folder when it is picked without a path or alias (or, for a
    /// dot folder, always): the planner's own answer, so the dialog and the launcher agree.
    pub mount_target: String,
    /// Mounted into every session without being picked.
    pub automount: bool,
}

/// Checks a name as the user types, with the same rules every engine applies on create.
#[tauri::command]
#[specta::specta]
pub fn check_folder_name(name: String) -> Result<FolderNameCheck, Error> {
    validate_name(&name)?;
    Ok(FolderNameCheck {
        mount_target: berth_core::mount::default_target(&name),
        automount: berth_core::folder::is_automount_name(&name),
    })
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn create_folder(
    state: State<'_, ActiveEngine>,
    request: NewFolder,
) -> Result<Folder, Error> {
    state.get()?.create_folder(request).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn rename_folder(
    state: State<'_, ActiveEngine>,
    name: String,
    new_name: String,
) -> Result<Folder, Error> {
    state.get()?.rename_folder(&name, &new_name).await
}

/// Copies a cloneable folder into a new one.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn clone_folder(
    state: State<'_, ActiveEngine>,
    source: String,
    target: NewFolder,
) -> Result<Folder, Error> {
    state.get()?.clone_folder(&source, target).await
}

/// Moves a folder to the trash.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn trash_folder(state: State<'_, ActiveEngine>, name: String) -> Result<Folder, Error> {
    state.get()?.trash_folder(&name).await
}

/// Brings a folder back from the trash; `key` is its id (or name).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn restore_folder(state: State<'_, ActiveEngine>, key: String) -> Result<Folder, Error> {
    state.get()?.restore_folder(&key).await
}

/// Deletes a trashed folder and its files for good; `key` is its id (or name).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn purge_folder(state: State<'_, ActiveEngine>, key: String) -> Result<(), Error> {
    state.get()?.purge_folder(&key).await
}

/// Projects a new folder can belong to (cluster profiles); empty on this computer.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn list_projects(state: State<'_, ActiveEngine>) -> Result<Vec<String>, Error> {
    state.get()?.list_projects().await
}
