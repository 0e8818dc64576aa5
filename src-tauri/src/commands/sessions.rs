use berth_core::{Error, Session};
use tauri::State;

use crate::ActiveEngine;

/// The Sessions page's list.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn list_sessions(state: State<'_, ActiveEngine>) -> Result<Vec<Session>, Error> {
    state.get()?.list_sessions().await
}
