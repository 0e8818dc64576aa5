use std::sync::OnceLock;

use std::time::Instant;
use tauri::AppHandle;

/// When the process started `run()`; set once at start-up.
pub static STARTED: OnceLock<Instant> = OnceLock::new();
static READY: OnceLock<u128> = OnceLock::new();

/// The UI calls this once its first screen with real data has been painted. Logs the start-up
/// time and prints it to stdout (one line, for people starting Berth from a terminal and for
/// `scripts/measure-foundation`). Later calls do nothing.
#[tauri::command]
#[specta::specta]
pub fn ui_ready() {
    let elapsed_ms = STARTED
        .get()
        .map(|t| t.elapsed().as_millis())
        .unwrap_or_default();
    if READY.set(elapsed_ms).is_ok() {
        tracing::info!(elapsed_ms, "first screen painted");
        println!("Berth ready in {elapsed_ms} ms");
    }
}

/// Ctrl+Q in the window: quits at once when nothing runs, otherwise asks through the
/// `QuitRequested` event (see `quit_guard`).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(app))]
pub async fn request_quit(app: AppHandle) {
    crate::quit_guard::request_quit(app).await;
}

/// Quits Berth now, even with transfers unfinished: the UI calls this after the user confirmed
/// the quit warning. Unfinished transfers resume at the next start; sessions keep running.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(app))]
pub fn quit_app(app: AppHandle) {
    app.exit(0);
}
