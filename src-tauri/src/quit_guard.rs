//! What closing the window and quitting do while work goes on. Closing the window hides it
//! when sessions or transfers are running or files are open in the user's editor (they carry
//! on, saves are written back; the tray icon brings the window back), and only closes the app when nothing runs. Quitting (the tray menu, Ctrl+Q) asks
//! first when something runs: transfers stop until the next start, and sessions keep running
//! without the app, by design (they outlive it under their supervisors).

use std::sync::atomic::{AtomicBool, Ordering};

use tauri::{AppHandle, Manager, Runtime, Window, WindowEvent};
use tauri_plugin_notification::NotificationExt;
use tauri_specta::Event;

use crate::ActiveEngine;

/// Label of the app's only window (tauri.conf.json).
pub const MAIN_WINDOW: &str = "main";

/// Sent to the UI when the user asked to quit while work is running; nothing has stopped yet.
/// The UI asks, and calls `quit_app` when the answer is yes.
#[derive(Debug, Clone, serde::Serialize, specta::Type, tauri_specta::Event)]
pub struct QuitRequested {
    /// Transfers that would be left unfinished (they resume at the next start).
    pub unfinished: u32,
    /// Sessions that keep running after the app quits.
    pub sessions: u32,
    /// Files open in the user's editor: saves made after quitting are not written back.
    pub edited_copies: u32,
    /// Of those, copies whose latest save is not in the folder (a conflict, a failure).
    pub not_written_back: u32,
    /// Syncs that stop until the next start (then they catch up).
    pub syncs: u32,
}

/// Whether the "still running in the background" notice was shown in this run: once is
/// enough to teach where the window went.
#[derive(Default)]
pub struct BackgroundNotice(AtomicBool);

/// What would keep going (or be cut off) if the app went away now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Running {
    transfers: u32,
    sessions: u32,
    /// Copies open in editors, written back at each save while Berth runs.
    edited_copies: u32,
    /// Syncs sending changes while Berth runs.
    syncs: u32,
}

impl Running {
    async fn now<R: Runtime>(app: &AppHandle<R>) -> Self {
        let engine = app.state::<ActiveEngine>();
        let syncs = app
            .try_state::<crate::commands::syncs::Syncs>()
            .map_or(0, |syncs| syncs.active());
        let edited_copies = app
            .try_state::<berth_sync::EditCopies>()
            .map_or(0, |copies| {
                u32::try_from(copies.views().len()).unwrap_or(u32::MAX)
            });
        // Every engine's transfers: a cluster's keep running while another engine is shown.
        let transfers: usize = engine
            .all_queues()
            .iter()
            .map(|queue| queue.unfinished_count())
            .sum();
        let sessions = match engine.get() {
            Ok(engine) => engine
                .list_sessions()
                .await
                .map(|all| all.iter().filter(|s| s.status.is_live()).count())
                .unwrap_or(0),
            Err(_) => 0,
        };
        Self {
            transfers: u32::try_from(transfers).unwrap_or(u32::MAX),
            sessions: u32::try_from(sessions).unwrap_or(u32::MAX),
            edited_copies,
            syncs,
        }
    }

    fn is_idle(self) -> bool {
        self.transfers == 0 && self.sessions == 0 && self.edited_copies == 0 && self.syncs == 0
    }
}

/// Window event hook: a close request becomes "hide" while work runs, "quit" otherwise.
pub fn on_window_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    let WindowEvent::CloseRequested { api, .. } = event else {
        return;
    };
    // Counting sessions asks the engine; decide off the event loop, then hide or exit.
    api.prevent_close();
    let window = window.clone();
    tauri::async_runtime::spawn(async move {
        let app = window.app_handle().clone();
        let running = Running::now(&app).await;
        if running.is_idle() {
            app.exit(0);
            return;
        }
        if let Err(error) = window.hide() {
            tracing::error!(%error, "cannot hide the window; quitting instead");
            app.exit(0);
            return;
        }
        tracing::info!(?running, "window hidden; work continues in the background");
        notify_background_once(&app, running);
    });
}

fn notify_background_once<R: Runtime>(app: &AppHandle<R>, running: Running) {
    if app
        .state::<BackgroundNotice>()
        .0
        .swap(true, Ordering::Relaxed)
    {
        return;
    }
    let body = format!(
        "{}. Open Berth from its icon in the system tray; quit it from there.",
        describe(running)
    );
    let shown = app
        .notification()
        .builder()
        .title("Berth is still running")
        .body(body)
        .show();
    if let Err(error) = shown {
        tracing::warn!(%error, "cannot show the background notice");
    }
}

/// "2 sessions and 1 transfer continue", for the notice.
fn describe(running: Running) -> String {
    let count = |n: u32, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    let parts: Vec<String> = [
        (running.sessions, "session"),
        (running.transfers, "transfer"),
        (running.edited_copies, "file open in your editor"),
        (running.syncs, "sync"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, one)| match one {
        "file open in your editor" if n != 1 => format!("{n} files open in your editor"),
        _ => count(n, one),
    })
    .collect();
    let what = match parts.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [first @ .., last] => format!("{} and {last}", first.join(", ")),
    };
    let one_thing = running
        .sessions
        .saturating_add(running.transfers)
        .saturating_add(running.edited_copies)
        .saturating_add(running.syncs)
        == 1;
    format!(
        "{what} {}",
        if one_thing { "continues" } else { "continue" }
    )
}

/// Brings the window back (tray menu, a second launch).
pub fn show_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// The user asked to quit: quits at once when nothing runs, otherwise shows the window and
/// asks the UI to confirm (it calls `quit_app`).
pub async fn request_quit<R: Runtime>(app: AppHandle<R>) {
    let running = Running::now(&app).await;
    if running.is_idle() {
        app.exit(0);
        return;
    }
    show_window(&app);
    let asked = QuitRequested {
        unfinished: running.transfers,
        sessions: running.sessions,
        edited_copies: running.edited_copies,
        not_written_back: app
            .try_state::<berth_sync::EditCopies>()
            .map_or(0, |copies| copies.not_written_back()),
        syncs: running.syncs,
    }
    .emit(&app);
    if let Err(error) = asked {
        // Without the question the user could never quit; transfers resume next time and
        // sessions run on, so quitting is the lesser harm.
        tracing::error!(%error, "cannot ask the UI about quitting; quitting");
        app.exit(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_names_what_keeps_running() {
        let running = |sessions, transfers| Running {
            transfers,
            sessions,
            edited_copies: 0,
            syncs: 0,
        };
        assert_eq!(describe(running(1, 0)), "1 session continues");
        assert_eq!(describe(running(0, 1)), "1 transfer continues");
        assert_eq!(describe(running(0, 3)), "3 transfers continue");
        assert_eq!(
            describe(running(2, 1)),
            "2 sessions and 1 transfer continue"
        );
        let editing = Running {
            edited_copies: 2,
            syncs: 1,
            ..running(1, 1)
        };
        assert_eq!(
            describe(editing),
            "1 session, 1 transfer, 2 files open in your editor and 1 sync continue"
        );
        assert!(running(0, 0).is_idle());
        assert!(
            !editing.is_idle(),
            "saves are written back while Berth runs"
        );
        assert!(!running(1, 0).is_idle());
    }
}
