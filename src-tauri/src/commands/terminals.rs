//! Terminal tabs: a shell in a session, its output streamed to xterm.js over a channel as raw
//! bytes, keys and resizes back, and the UI's acknowledgements feeding the bridge's flow
//! control (`berth_local::terminal`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use berth_core::Error;
use berth_local::terminal::{Terminal, TerminalEvent};
use serde::Serialize;
use tauri::State;
use tauri::ipc::{Channel, InvokeResponseBody, IpcResponse};

use crate::ActiveEngine;
use crate::output_batch::{Batch, OutputBatch};

/// One message on a terminal's channel, as raw bytes: `0` then output bytes, or `1` then the
/// shell's exit status as i32 LE. Raw, because JSON would turn every output byte into text.
#[derive(specta::Type)]
// What the webview receives is an ArrayBuffer; the generated type only has to exist.
pub struct TerminalChunk(#[specta(type = Vec<u8>)] Vec<u8>);

impl IpcResponse for TerminalChunk {
    fn body(self) -> tauri::Result<InvokeResponseBody> {
        Ok(InvokeResponseBody::Raw(self.0))
    }
}

/// The open terminals of this window, by id.
#[derive(Default)]
pub struct Terminals {
    next: AtomicU32,
    open: Mutex<HashMap<u32, Arc<Terminal>>>,
}

impl Terminals {
    fn get(&self, id: u32) -> Result<Arc<Terminal>, Error> {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::new(berth_core::ErrorCode::NotFound, "That terminal has closed."))
    }
}

/// What the tab needs to label itself.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct OpenedTerminal {
    pub id: u32,
    pub session_name: String,
    /// How a cluster terminal's bytes travel and why that way, in a sentence for the tab's
    /// tooltip; `None` for a local session's (a pty on this computer).
    pub transport: Option<String>,
}

fn io_error(e: std::io::Error) -> Error {
    Error::internal(format!("The terminal stopped: {e}"))
}

/// Opens a login shell in session `session` and streams it to `output`.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, terminals, output), err)]
pub async fn open_terminal(
    state: State<'_, ActiveEngine>,
    terminals: State<'_, Terminals>,
    session: String,
    cols: u16,
    rows: u16,
    output: Channel<TerminalChunk>,
) -> Result<OpenedTerminal, Error> {
    let (session_name, transport, (terminal, reader)) = match state.cluster() {
        // ttyd through the cluster's App Proxy, else through the manager's tcpproxy, bridged
        // onto the same frame stream.
        Some(cluster) => {
            let found = berth_core::Engine::session(&*cluster, &session).await?;
            let opened = berth_backendai::terminal::open_terminal(
                cluster.connection(),
                &found.id,
                &found.name,
                cols,
                rows,
                berth_backendai::terminal::TransportChoice::Auto,
            )
            .await?;
            tracing::info!(
                transport = ?opened.transport,
                app_proxy_unavailable = ?opened.app_proxy_unavailable,
                "cluster terminal opened"
            );
            let transport = opened.describe();
            (
                found.name,
                Some(transport),
                Terminal::over(opened.stream).map_err(io_error)?,
            )
        }
        None => {
            let (session, client) = state.local("Terminals")?.session_client(&session)?;
            let opened =
                tauri::async_runtime::spawn_blocking(move || Terminal::open(&client, cols, rows))
                    .await
                    .map_err(|e| Error::internal(e.to_string()))?
                    .map_err(io_error)?;
            (session.name, None, opened)
        }
    };
    let id = terminals.next.fetch_add(1, Ordering::Relaxed);
    terminals
        .open
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, Arc::new(terminal));
    // The reader hands output to a batch and a second thread sends it, so a burst leaves as
    // a few large messages rather than one per PTY read (see `output_batch`).
    let batch = Arc::new(OutputBatch::default());
    let reading = batch.clone();
    std::thread::spawn(move || {
        reader.run(|event| match event {
            TerminalEvent::Output(bytes) => reading.push(bytes),
            TerminalEvent::Exit(code) => {
                reading.exit(code);
                true
            }
        });
        reading.close();
    });
    std::thread::spawn(move || {
        let mut last_send = None;
        loop {
            let (chunk, last) = match batch.next(last_send) {
                Batch::Output(bytes) => {
                    let mut chunk = Vec::with_capacity(bytes.len() + 1);
                    chunk.push(0);
                    chunk.extend_from_slice(&bytes);
                    (chunk, false)
                }
                Batch::Exit(code) => {
                    let mut chunk = vec![1];
                    chunk.extend_from_slice(&code.to_le_bytes());
                    (chunk, true)
                }
                Batch::Closed => return,
            };
            if output.send(TerminalChunk(chunk)).is_err() || last {
                // The tab is gone (or the shell ended): stop the reader too.
                batch.close();
                return;
            }
            last_send = Some(std::time::Instant::now());
        }
    });
    Ok(OpenedTerminal {
        id,
        session_name,
        transport,
    })
}

#[tauri::command]
#[specta::specta]
pub fn terminal_input(terminals: State<'_, Terminals>, id: u32, data: String) -> Result<(), Error> {
    terminals.get(id)?.input(data.as_bytes()).map_err(io_error)
}

#[tauri::command]
#[specta::specta]
pub fn resize_terminal(
    terminals: State<'_, Terminals>,
    id: u32,
    cols: u16,
    rows: u16,
) -> Result<(), Error> {
    terminals.get(id)?.resize(cols, rows).map_err(io_error)
}

/// xterm.js has rendered `bytes` more bytes of output.
#[tauri::command]
#[specta::specta]
pub fn acknowledge_terminal(
    terminals: State<'_, Terminals>,
    id: u32,
    bytes: u32,
) -> Result<(), Error> {
    terminals.get(id)?.acknowledge(u64::from(bytes));
    Ok(())
}

/// The tab was closed: the shell hangs up.
#[tauri::command]
#[specta::specta]
pub fn close_terminal(terminals: State<'_, Terminals>, id: u32) -> Result<(), Error> {
    if let Some(terminal) = terminals
        .open
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id)
    {
        terminal.close();
    }
    Ok(())
}

/// How many lines each terminal tab keeps for scrolling back (Settings).
#[tauri::command]
#[specta::specta]
pub fn terminal_scrollback(state: State<'_, ActiveEngine>) -> u32 {
    state.settings().terminal_scrollback
}

/// Saves the terminal scrollback (0–50000 lines); open tabs take it at once.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub fn set_terminal_scrollback(state: State<'_, ActiveEngine>, lines: u32) -> Result<u32, Error> {
    state
        .set_terminal_scrollback(lines)
        .map(|s| s.terminal_scrollback)
}

/// Whether terminals should draw with WebGL here: only where a GPU draws it (see
/// `graphics::gpu_present`); otherwise xterm.js's DOM renderer is faster.
#[tauri::command]
#[specta::specta]
pub fn terminal_webgl() -> bool {
    crate::graphics::gpu_present()
}
