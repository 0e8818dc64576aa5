//! The Settings page's dotfiles and bootstrap script editor.

use berth_core::dotfiles::PersonalSetupSync;
use berth_core::{Dotfile, Engine, Error};
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

/// On a cluster profile: makes the cluster's dotfiles and bootstrap script the same as this
/// computer's, or (`pull`) this computer's the same as the cluster's.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn sync_personal_setup(
    state: State<'_, ActiveEngine>,
    pull: bool,
) -> Result<PersonalSetupSync, Error> {
    let cluster = state.cluster().ok_or_else(|| {
        Error::invalid_input(
            "Copying dotfiles needs a Backend.AI profile in use: switch to one in the status bar.",
        )
    })?;
    let local = state.this_computer()?;
    let (from, to): (&dyn Engine, &dyn Engine) = if pull {
        (&*cluster, &*local)
    } else {
        (&*local, &*cluster)
    };
    berth_core::dotfiles::mirror_personal_setup(from, to).await
}
