//! Port forwards for the window: open one on a local session's port (and the browser on it),
//! list every forward open on this computer — the window's own with their traffic, and those
//! of `berth session open` — and close the window's. The forwarding is
//! `berth_local::forward`'s; the window's forwards live as long as the app or their session.

use std::collections::HashMap;
use std::sync::Mutex;

use berth_core::Error;
use berth_local::forward::{Forward, ForwardRecord};
use serde::Serialize;
use tauri::State;

use crate::ActiveEngine;

/// The window's open forwards, by local address.
#[derive(Default)]
pub struct Ports(Mutex<HashMap<String, Forward>>);

/// One open forward as the Ports view shows it.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct OpenPort {
    #[serde(flatten)]
    pub record: ForwardRecord,
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    /// Whether this window holds it (and can close it); others are `berth session open`'s.
    pub ours: bool,
    /// Bytes moved both ways, for the window's own.
    pub bytes_moved: Option<u64>,
    pub connections: Option<u32>,
}

/// Forwards `port` of running local session `session` to this computer's loopback (`local_port`,
/// or a free one) and opens it in the browser unless `browser` is false.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, ports), err)]
pub async fn open_port(
    state: State<'_, ActiveEngine>,
    ports: State<'_, Ports>,
    session: String,
    port: u16,
    local_port: Option<u16>,
    browser: bool,
) -> Result<OpenPort, Error> {
    let local = state.local("Port forwards")?;
    let forward = local.forward_port(&session, port, local_port).await?;
    let url = format!("http://{}/", forward.local);
    if browser && let Err(error) = tauri_plugin_opener::open_url(&url, None::<&str>) {
        tracing::warn!(%error, url, "cannot open the browser");
    }
    let record = ForwardRecord {
        session_id: forward.session_id.clone(),
        session_name: forward.session_name.clone(),
        port,
        local: forward.local.to_string(),
        since_ms: forward.since_ms,
        pid: std::process::id(),
    };
    ports
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(record.local.clone(), forward);
    Ok(OpenPort {
        record,
        url,
        ours: true,
        bytes_moved: Some(0),
        connections: Some(0),
    })
}

/// Every forward open on this computer; the window's own whose session ended are closed first.
#[tauri::command]
#[specta::specta]
pub fn list_ports(state: State<'_, ActiveEngine>, ports: State<'_, Ports>) -> Vec<OpenPort> {
    let Ok(local) = state.this_computer() else {
        return Vec::new();
    };
    let mut ours = ports.0.lock().unwrap_or_else(|p| p.into_inner());
    // A forward whose session ended has stopped listening: drop it (its record goes with it).
    ours.retain(|_, forward| forward.is_open());
    let me = std::process::id();
    local
        .open_forwards()
        .into_iter()
        .map(|record| {
            let own = (record.pid == me)
                .then(|| ours.get(&record.local))
                .flatten();
            OpenPort {
                url: format!("http://{}/", record.local),
                ours: own.is_some(),
                bytes_moved: own.map(Forward::bytes_moved),
                connections: own.map(Forward::connections),
                record,
            }
        })
        .collect()
}

/// Closes the window's forward listening at `local` (`127.0.0.1:PORT`).
#[tauri::command]
#[specta::specta]
pub fn close_port(ports: State<'_, Ports>, local: String) -> Result<(), Error> {
    ports
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&local)
        .map(drop)
        .ok_or_else(|| {
            Error::new(
                berth_core::ErrorCode::NotFound,
                format!("No forward of this window listens at {local}: a berth session open holds it, or it closed."),
            )
        })
}

/// Opens a forward's local URL in the browser: only `http://127.0.0.1:…` URLs, which is all a
/// forward has, so the page cannot have the app open anything else.
#[tauri::command]
#[specta::specta]
pub fn open_port_url(url: String) -> Result<(), Error> {
    if !url.starts_with("http://127.0.0.1:") {
        return Err(Error::invalid_input(format!(
            "Only a forward's own address (http://127.0.0.1:PORT/) is opened, not {url}."
        )));
    }
    tauri_plugin_opener::open_url(&url, None::<&str>)
        .map_err(|e| Error::internal(format!("Cannot open the browser: {e}")))
}
