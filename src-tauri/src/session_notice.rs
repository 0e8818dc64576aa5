//! "Session NAME is ready": when an interactive session this app launched reaches running, the
//! window hears it (its toast carries the "Open terminal" button) and, while the window is in
//! the background, the desktop shows a notification too, so the user need not watch the list.

use std::{sync::Arc, time::Duration};

use berth_core::{Engine, Session, SessionStatus, SessionType};
use tauri::{AppHandle, Manager};
use tauri_plugin_notification::NotificationExt;
use tauri_specta::Event;

use crate::quit_guard::MAIN_WINDOW;

/// Sent to the UI once a session it launched can take terminals.
#[derive(Debug, Clone, serde::Serialize, specta::Type, tauri_specta::Event)]
pub struct SessionReady {
    pub id: String,
    pub name: String,
}

/// How often a session still preparing is looked at again, and for how long: images are
/// unpacked before the start, so minutes are possible but an hour is not.
const POLL: Duration = Duration::from_millis(300);
const GIVE_UP_AFTER: Duration = Duration::from_secs(600);

/// Announces `session` (just created) once it runs; batch sessions have no terminal to offer,
/// and a session that ends first says so on the Sessions page instead.
pub fn announce_when_ready(app: AppHandle, engine: Arc<dyn Engine>, session: Session) {
    if session.session_type != SessionType::Interactive {
        return;
    }
    tauri::async_runtime::spawn(async move {
        let mut session = session;
        let started = std::time::Instant::now();
        while session.status == SessionStatus::Preparing && started.elapsed() < GIVE_UP_AFTER {
            tokio::time::sleep(POLL).await;
            match engine.session(&session.id).await {
                Ok(now) => session = now,
                Err(error) => {
                    tracing::warn!(%error, id = %session.id, "cannot follow the new session");
                    return;
                }
            }
        }
        if session.status != SessionStatus::Running {
            return;
        }
        announce(&app, &session);
    });
}

fn announce(app: &AppHandle, session: &Session) {
    let ready = SessionReady {
        id: session.id.clone(),
        name: session.name.clone(),
    };
    if let Err(error) = ready.emit(app) {
        tracing::warn!(%error, "cannot tell the window a session is ready");
    }
    let in_front = app
        .get_webview_window(MAIN_WINDOW)
        .and_then(|w| Some(w.is_visible().ok()? && w.is_focused().ok()?))
        .unwrap_or(false);
    if in_front {
        // The toast in the window says it already; a desktop bubble on top would say it twice.
        return;
    }
    // Desktop notification actions are not clickable everywhere (Linux daemons differ), so the
    // body points to the window, where the toast has the button.
    if let Err(error) = app
        .notification()
        .builder()
        .title(format!("Session {} is ready", session.name))
        .body("Open Berth to open a terminal in it.")
        .show()
    {
        tracing::warn!(%error, "cannot show the session-ready notification");
    }
}
