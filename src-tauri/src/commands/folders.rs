use berth_core::{Error, Folder};
use tauri::State;

use crate::ActiveEngine;

/// The Data & Storage page's folders table.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn list_folders(state: State<'_, ActiveEngine>) -> Result<Vec<Folder>, Error> {
    state.get()?.list_folders().await
}
