//! This computer's running sessions, sampled every few seconds for as long as the app runs
//! (window open or in the tray): their use goes to the window for the lists' sparklines and
//! the drawer's graphs, their idle and lifetime limits are kept (`berth_local::vitals`), the
//! user is warned before a limit ends a session — a toast in the window, a desktop
//! notification when the window is not in front — and told when one did, with the reason.

use berth_core::clock::now_ms;
use std::collections::HashMap;
use std::sync::Arc;

use berth_core::limits::{LimitEnd, LimitKind, SessionVitals, describe_duration};
use berth_local::LocalEngine;
use berth_local::vitals::{SAMPLE_EVERY, Vitals};
use tauri::AppHandle;
use tauri_specta::Event;

use crate::session_notice;

/// Every running local session's latest sample and coming end, each round.
#[derive(Debug, Clone, serde::Serialize, specta::Type, tauri_specta::Event)]
pub struct VitalsSampled {
    pub vitals: Vec<SessionVitals>,
}

/// A limit will end a session soon; the window offers "Extend".
#[derive(Debug, Clone, serde::Serialize, specta::Type, tauri_specta::Event)]
pub struct SessionEnding {
    pub id: String,
    pub name: String,
    pub ends: LimitEnd,
}

/// The samples, kept for the drawer's graph of the last hour.
#[derive(Default)]
pub struct LocalVitals(pub Arc<Vitals>);

/// Samples `engine`'s sessions every [`SAMPLE_EVERY`] until the app ends.
pub fn keep(app: AppHandle, engine: Arc<LocalEngine>, vitals: Arc<Vitals>) {
    tauri::async_runtime::spawn(async move {
        // The end each session was last warned about: warned once per approach, and again
        // only if the user's activity (or an extension) moved it away and it came back.
        let mut warned: HashMap<String, LimitEnd> = HashMap::new();
        loop {
            match vitals.tick(&engine).await {
                Ok(tick) => {
                    let now = now_ms();
                    warned.retain(|id, _| tick.vitals.iter().any(|v| &v.session_id == id));
                    for vital in &tick.vitals {
                        let Some(end) = vital.ends else { continue };
                        if now < end.warn_from_ms {
                            warned.remove(&vital.session_id);
                        } else if !warned.contains_key(&vital.session_id) {
                            warned.insert(vital.session_id.clone(), end);
                            warn(&app, &engine, &vital.session_id, end).await;
                        }
                    }
                    for ended in &tick.ended {
                        session_notice::announce_stopped(&app, ended);
                    }
                    if let Err(error) = (VitalsSampled {
                        vitals: tick.vitals,
                    })
                    .emit(&app)
                    {
                        tracing::debug!(%error, "cannot send the vitals to the window");
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot sample the sessions"),
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    });
}

async fn warn(app: &AppHandle, engine: &LocalEngine, id: &str, ends: LimitEnd) {
    let Ok(session) = berth_core::Engine::session(engine, id).await else {
        return;
    };
    let ending = SessionEnding {
        id: session.id.clone(),
        name: session.name.clone(),
        ends,
    };
    if let Err(error) = ending.emit(app) {
        tracing::warn!(%error, "cannot tell the window a session is about to end");
    }
    session_notice::notify_unless_in_front(
        app,
        format!(
            "Session {} ends {}",
            session.name,
            in_words(ends.at_ms - now_ms())
        ),
        warning_body(ends),
    );
}

fn in_words(ms: i64) -> String {
    if ms < 60_000 {
        "in under a minute".into()
    } else {
        format!("in {}", describe_duration((ms / 1000) as u64))
    }
}

fn warning_body(ends: LimitEnd) -> String {
    let why = match ends.kind {
        LimitKind::Idle => format!(
            "It has been idle, and its idle limit is {}.",
            describe_duration(ends.limit_secs)
        ),
        LimitKind::Lifetime => format!(
            "Its lifetime of {} is running out.",
            describe_duration(ends.limit_secs)
        ),
    };
    format!("{why} Open Berth to extend it; files in its folders are kept either way.")
}
