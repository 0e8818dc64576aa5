//! The warning before quitting with transfers unfinished: closing the main window is held back
//! and the UI is told, so it can ask; the answer "quit" comes back as the `quit_app` command.

use tauri::{Manager, Window, WindowEvent};
use tauri_specta::Event;

use crate::ActiveEngine;

/// Sent to the UI when the user closes the window while transfers are queued, running or
/// paused; nothing has closed yet.
#[derive(Debug, Clone, serde::Serialize, specta::Type, tauri_specta::Event)]
pub struct QuitRequested {
    /// Transfers that would be left unfinished (they resume at the next start).
    pub unfinished: u32,
}

/// Window event hook: prevents the close and asks the UI when transfers are unfinished;
/// otherwise lets the window close as usual.
pub fn on_window_event(window: &Window, event: &WindowEvent) {
    let WindowEvent::CloseRequested { api, .. } = event else {
        return;
    };
    let unfinished = window
        .state::<ActiveEngine>()
        .transfers()
        .map(|queue| queue.unfinished_count())
        .unwrap_or(0);
    if unfinished == 0 {
        return;
    }
    api.prevent_close();
    let asked = QuitRequested {
        unfinished: u32::try_from(unfinished).unwrap_or(u32::MAX),
    }
    .emit(window.app_handle());
    if let Err(error) = asked {
        // Without the question the user could never close the window; quitting is the
        // lesser harm, and the journal resumes the transfers next time.
        tracing::error!(%error, "cannot ask the UI about quitting; quitting");
        window.app_handle().exit(0);
    }
}
