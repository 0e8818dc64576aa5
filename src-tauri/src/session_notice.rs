//! "Session NAME is ready": when an interactive session this app launched reaches running, the
//! window hears it (its toast carries the "Open terminal" button) and, while the window is in
//! the background, the desktop shows a notification too, so the user need not watch the list.
//! The same follow-up then says "Session NAME stopped" with the reason when the session ends
//! without being destroyed — a cluster's kernel dying, a local sandbox's supervisor gone.

use std::{sync::Arc, time::Duration};

use berth_core::{Engine, ErrorCode, Session, SessionStatus, SessionType};
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

/// Sent to the UI when a session this app launched ended without being destroyed.
#[derive(Debug, Clone, serde::Serialize, specta::Type, tauri_specta::Event)]
pub struct SessionStopped {
    pub id: String,
    pub name: String,
    /// Why, as the engine says it (`Session::status_detail`).
    pub detail: Option<String>,
}

/// How often a session still preparing is looked at again, and for how long: images are
/// unpacked before the start, so minutes are possible but an hour is not.
const POLL: Duration = Duration::from_millis(300);
const GIVE_UP_AFTER: Duration = Duration::from_secs(600);
/// How often a running session is asked after; its end is news, not an alarm.
const FOLLOW: Duration = Duration::from_secs(5);
/// How long an engine that cannot answer about a running session is still asked.
const STOP_ASKING_AFTER: Duration = Duration::from_secs(180);

/// Announces `session` (just created) once it runs; a session that ends first says so on the
/// Sessions page instead. A batch session has no terminal to offer: it is announced when its
/// command finishes, with the exit status.
pub fn announce_when_ready(app: AppHandle, engine: Arc<dyn Engine>, session: Session) {
    if session.session_type == SessionType::Batch {
        tauri::async_runtime::spawn(async move {
            let mut session = session;
            while session.status == SessionStatus::Preparing {
                tokio::time::sleep(POLL).await;
                match engine.session(&session.id).await {
                    Ok(now) => session = now,
                    Err(_) => return,
                }
            }
            if let Some(ended) = follow_until_ended(&*engine, session).await {
                announce_finished(&app, &ended);
            }
        });
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
        if let Some(ended) = follow_until_ended(&*engine, session).await
            && ended.status == SessionStatus::Error
        {
            announce_stopped(&app, &ended);
        }
    });
}

/// Asks after `session` until it has ended and returns it as it ended; `None` when it can no
/// longer be asked about (gone, or the engine stopped answering).
async fn follow_until_ended(engine: &dyn Engine, mut session: Session) -> Option<Session> {
    // A cluster's dying kernel passes through terminating on its way to an error, and may
    // report a status Berth reads as preparing on the way (one newer than this client): only
    // an end ends the following, or the "stopped" toast would never come.
    while session.status.is_live() {
        tokio::time::sleep(FOLLOW).await;
        // A failed look (a busy manager, a hiccup) is not the end of following: a manager
        // cleaning up after a killed kernel can answer 500 for a while under load, and the
        // end it then reports is the news. Only a session gone or a silence this long is.
        let failing_since = std::time::Instant::now();
        session = loop {
            match engine.session(&session.id).await {
                Ok(now) => break now,
                Err(error)
                    if error.code != ErrorCode::NotFound
                        && failing_since.elapsed() < STOP_ASKING_AFTER =>
                {
                    tokio::time::sleep(FOLLOW).await;
                }
                Err(error) => {
                    tracing::info!(%error, id = %session.id, "stopped following a session");
                    return None;
                }
            }
        };
    }
    Some(session)
}

pub fn announce_stopped(app: &AppHandle, session: &Session) {
    let stopped = SessionStopped {
        id: session.id.clone(),
        name: session.name.clone(),
        detail: session.status_detail.clone(),
    };
    if let Err(error) = stopped.emit(app) {
        tracing::warn!(%error, "cannot tell the window a session stopped");
    }
    notify_unless_in_front(
        app,
        format!("Session {} stopped", session.name),
        session
            .status_detail
            .clone()
            .unwrap_or_else(|| "It ended without being destroyed.".into()),
    );
}

/// A desktop notification, only while the window is not in front: there its toast says it
/// already, and a desktop bubble on top would say it twice.
pub fn notify_unless_in_front(app: &AppHandle, title: String, body: String) {
    if window_in_front(app) {
        return;
    }
    if let Err(error) = app.notification().builder().title(&title).body(body).show() {
        tracing::warn!(%error, title, "cannot show a desktop notification");
    }
}

fn window_in_front(app: &AppHandle) -> bool {
    app.get_webview_window(MAIN_WINDOW)
        .and_then(|w| Some(w.is_visible().ok()? && w.is_focused().ok()?))
        .unwrap_or(false)
}

/// Sent to the UI when a batch session this app launched has ended, however it ended.
#[derive(Debug, Clone, serde::Serialize, specta::Type, tauri_specta::Event)]
pub struct BatchFinished {
    pub id: String,
    pub name: String,
    pub exit_code: Option<i32>,
    pub detail: Option<String>,
}

fn announce_finished(app: &AppHandle, session: &Session) {
    let finished = BatchFinished {
        id: session.id.clone(),
        name: session.name.clone(),
        exit_code: session.exit_code,
        detail: session.status_detail.clone(),
    };
    if let Err(error) = finished.emit(app) {
        tracing::warn!(%error, "cannot tell the window a batch session finished");
    }
    let title = match session.exit_code {
        Some(0) => format!("Batch session {} finished", session.name),
        Some(code) => format!("Batch session {} failed (exit status {code})", session.name),
        None => format!("Batch session {} ended", session.name),
    };
    notify_unless_in_front(
        app,
        title,
        session
            .status_detail
            .clone()
            .unwrap_or_else(|| "Its output is in the session's logs.".into()),
    );
}

fn announce(app: &AppHandle, session: &Session) {
    let ready = SessionReady {
        id: session.id.clone(),
        name: session.name.clone(),
    };
    if let Err(error) = ready.emit(app) {
        tracing::warn!(%error, "cannot tell the window a session is ready");
    }
    // Desktop notification actions are not clickable everywhere (Linux daemons differ), so the
    // body points to the window, where the toast has the button.
    notify_unless_in_front(
        app,
        format!("Session {} is ready", session.name),
        "Open Berth to open a terminal in it.".into(),
    );
}
