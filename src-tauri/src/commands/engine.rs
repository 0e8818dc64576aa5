use berth_core::{EngineInfo, Error};
use tauri::State;

use crate::ActiveEngine;

/// Which engine the window talks to, for the status bar.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub fn engine_info(state: State<'_, ActiveEngine>) -> Result<EngineInfo, Error> {
    Ok(state.get()?.info())
}
