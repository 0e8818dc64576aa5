//! The native folder picker the environment, host and download commands open, so the three
//! answer alike: the chosen path as text, or `None` when the user cancels.

use tauri::AppHandle;
use tauri_plugin_dialog::DialogExt;

/// Blocks until the user picks a folder or cancels; call it from an async command (Tauri
/// runs those off the main thread, which the dialog needs free).
pub fn pick_folder(app: &AppHandle, title: &str) -> Option<String> {
    app.dialog()
        .file()
        .set_title(title)
        .blocking_pick_folder()
        .and_then(|p| p.into_path().ok())
        .map(|p| p.display().to_string())
}
