//! The Settings page's dotfiles and bootstrap script editor.

use berth_core::{Dotfile, Error};
use tauri::State;

use crate::ActiveEngine;

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn list_dotfiles(state: State<'_, ActiveEngine>) -> Result<Vec<Dotfile>, Error> {
    state.get()?.list_dotfiles().await
}

/// Checks a dotfile name as the user types it.
#[tauri::command]
#[specta::specta]
pub fn check_dotfile_path(path: String) -> Result<(), Error> {
    berth_core::dotfiles::validate_dotfile_path(&path)
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, dotfile), fields(path = %dotfile.path), err)]
pub async fn set_dotfile(state: State<'_, ActiveEngine>, dotfile: Dotfile) -> Result<(), Error> {
    state.get()?.set_dotfile(dotfile).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn remove_dotfile(state: State<'_, ActiveEngine>, path: String) -> Result<(), Error> {
    state.get()?.remove_dotfile(&path).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn bootstrap_script(state: State<'_, ActiveEngine>) -> Result<Option<String>, Error> {
    state.get()?.bootstrap_script().await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, script), err)]
pub async fn set_bootstrap_script(
    state: State<'_, ActiveEngine>,
    script: Option<String>,
) -> Result<(), Error> {
    state.get()?.set_bootstrap_script(script).await
}
