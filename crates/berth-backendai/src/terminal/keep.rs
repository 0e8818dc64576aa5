//! Keeps a cluster terminal tab attached to its session for as long as both live.
//!
//! Two things end a cluster terminal that a local one never meets, and both were seen on the
//! peer's real kernels:
//!
//! * **The session ends while the tunnel stays open.** After a destroy the manager kept the
//!   tcpproxy websocket open for over a minute, so the tab looked live while nothing answered.
//!   A watcher asks the manager for the session's status every [`WATCH_EVERY`] and ends the
//!   terminal, saying so, once the session has left the running states.
//! * **The tunnel drops while the session runs** (ttyd restarted, a proxy or the manager let go):
//!   the stream ends without ttyd closing it. The terminal reconnects once — ttyd attaches the
//!   kernel's tmux session, so the shell and its screen are the ones the user left — and when
//!   that fails, or the new connection drops again within [`RECONNECT_GRACE`], it ends with the
//!   reason.
//!
//! Either end is written into the terminal as a dim line, then an exit frame of status −1 (no
//! status: the shell did not end), from which the app tells "disconnected" from "exited" by the
//! session's own status.

use berth_core::frames::FrameStream;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use berth_core::Result;
use berth_core::frames::{Frame, encode_frame, exit_payload};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;

use super::{FromApp, next_from_app};
use crate::connection::Connection;
use crate::ttyd::{self, Stop};

/// How often an open terminal asks whether its session still runs.
const WATCH_EVERY: Duration = Duration::from_secs(5);
/// A connection that drops again this soon after a reconnect is not reconnected again.
const RECONNECT_GRACE: Duration = Duration::from_secs(30);

/// What the app sent, read off its end by one task for the terminal's whole life, so a
/// reconnect never loses half a frame.
pub(crate) enum AppInput {
    Keys(Vec<u8>),
    Resize { cols: u16, rows: u16 },
}

/// Opens a new websocket to the same ttyd at the given size, hello said.
pub(crate) type Reopen<S> = Box<
    dyn Fn(u16, u16) -> Pin<Box<dyn Future<Output = Result<WebSocketStream<S>>> + Send>>
        + Send
        + Sync,
>;

/// The session a terminal belongs to, as the watcher asks about it.
pub(crate) struct SessionOnCluster {
    pub connection: Arc<Connection>,
    pub id: String,
    pub name: String,
}

/// Starts keeping `socket` (ttyd's websocket, hello said at `cols`×`rows`) attached to the app
/// and returns the app's end of the frame stream. Tasks on the current tokio runtime run it
/// until the tab closes or the terminal ends.
pub(crate) fn keep<S>(
    session: SessionOnCluster,
    socket: WebSocketStream<S>,
    cols: u16,
    rows: u16,
    reopen: Reopen<S>,
) -> Result<FrameStream>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (app_end, bridge_end) = super::socket_pair()?;
    let (from_app, to_app) = bridge_end.into_split();
    let size = Arc::new(AtomicU32::new(pack(cols, rows)));
    let (input, inputs) = mpsc::channel(64);
    tokio::spawn(read_app(from_app, input, size.clone()));
    let (tell_end, session_end) = watch::channel(None);
    tokio::spawn(watch_session(
        session.connection.clone(),
        session.id.clone(),
        tell_end,
    ));
    tokio::spawn(run(
        session,
        socket,
        reopen,
        Attached {
            inputs,
            to_app,
            session_end,
            size,
        },
    ));
    Ok(app_end)
}

/// The app's side of a kept terminal, which outlives every websocket.
struct Attached {
    inputs: mpsc::Receiver<AppInput>,
    to_app: OwnedWriteHalf,
    session_end: watch::Receiver<Option<String>>,
    /// The tab's size as last sent, cols << 16 | rows, for a reconnect.
    size: Arc<AtomicU32>,
}

fn pack(cols: u16, rows: u16) -> u32 {
    (u32::from(cols) << 16) | u32::from(rows)
}

async fn read_app(
    mut from_app: OwnedReadHalf,
    input: mpsc::Sender<AppInput>,
    size: Arc<AtomicU32>,
) {
    let mut payload = Vec::new();
    while let Some(from) = next_from_app(&mut from_app, &mut payload).await {
        let owned = match from {
            FromApp::Keys(keys) => AppInput::Keys(keys.to_vec()),
            FromApp::Resize { cols, rows } => {
                size.store(pack(cols, rows), Ordering::Relaxed);
                AppInput::Resize { cols, rows }
            }
        };
        if input.send(owned).await.is_err() {
            return;
        }
    }
    // Dropping `input` tells the bridge the tab closed.
}

async fn run<S>(
    session: SessionOnCluster,
    mut socket: WebSocketStream<S>,
    reopen: Reopen<S>,
    mut app: Attached,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let name = session.name.as_str();
    let mut reconnected_at: Option<Instant> = None;
    loop {
        let ended = ttyd::pump(
            &mut socket,
            &mut app.inputs,
            &mut app.to_app,
            &mut app.session_end,
        )
        .await;
        let why = match ended {
            Stop::AppClosed => return,
            Stop::ShellExited(status) => return app.exit(status).await,
            Stop::SessionEnded(status) => return app.session_ended(name, &status).await,
            Stop::Dropped(why) => why,
        };
        // A session that ends takes its tunnel with it: say that rather than reconnect.
        if let Some(status) = ended_status(&session.connection, &session.id).await {
            return app.session_ended(name, &status).await;
        }
        if reconnected_at.is_some_and(|at| at.elapsed() < RECONNECT_GRACE) {
            app.say(&format!(
                "Lost the connection to this terminal again ({why}), so Berth stopped \
                 reconnecting. Session {name} is still running: open a new terminal to reach it."
            ))
            .await;
            return app.exit(-1).await;
        }
        app.say(&format!(
            "Lost the connection to this terminal ({why}); reconnecting…"
        ))
        .await;
        let size = app.size.load(Ordering::Relaxed);
        let (cols, rows) = ((size >> 16) as u16, size as u16);
        let reopened = tokio::select! {
            reopened = reopen(cols, rows) => reopened,
            Ok(()) = app.session_end.changed() => {
                let status = app.session_end.borrow().clone().unwrap_or_default();
                return app.session_ended(name, &status).await;
            }
        };
        match reopened {
            Ok(new) => {
                tracing::info!(session = name, "cluster terminal reconnected");
                socket = new;
                reconnected_at = Some(Instant::now());
            }
            Err(error) => {
                tracing::warn!(session = name, %error, "cluster terminal could not reconnect");
                app.say(&format!(
                    "Berth could not reconnect: {} Open a new terminal to try again.",
                    error.message
                ))
                .await;
                return app.exit(-1).await;
            }
        }
    }
}

impl Attached {
    /// Writes a line of Berth's own into the terminal, dimmed so it is not taken for output.
    async fn say(&mut self, line: &str) {
        let text = format!("\r\n\x1b[2m[Berth: {line}]\x1b[0m\r\n");
        let _ = self
            .to_app
            .write_all(&encode_frame(Frame::Output, text.as_bytes()))
            .await;
    }

    async fn exit(&mut self, status: i32) {
        let _ = self
            .to_app
            .write_all(&encode_frame(Frame::Exit, &exit_payload(status)))
            .await;
    }

    async fn session_ended(&mut self, name: &str, status: &str) {
        self.say(&format!(
            "Session {name} is no longer running ({status}); this terminal ended with it."
        ))
        .await;
        self.exit(-1).await;
    }
}

/// What the cluster says of session `id` once it has left the running states, as the end of
/// a sentence ("the cluster reports TERMINATED"); `None` while it runs, or when the manager
/// cannot say.
async fn ended_status(connection: &Connection, id: &str) -> Option<String> {
    let item = super::session_item(connection, id, "status").await.ok()?;
    match item {
        None => Some("the cluster no longer knows it".into()),
        Some(item) => item["status"]
            .as_str()
            .filter(|status| has_left_running(status))
            .map(|status| format!("the cluster reports {status}")),
    }
}

/// Asks every [`WATCH_EVERY`] until the session has ended (and says so on `tell`) or nobody
/// listens any more.
async fn watch_session(
    connection: Arc<Connection>,
    id: String,
    tell: watch::Sender<Option<String>>,
) {
    let mut every = tokio::time::interval(WATCH_EVERY);
    // The first tick is at once; the session was just found running.
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = tell.closed() => return,
        }
        if let Some(status) = ended_status(&connection, &id).await {
            let _ = tell.send(Some(status));
            return;
        }
    }
}

/// Statuses after running. Starting ones are not among them: a terminal opens only in a
/// running session, and a status this client does not know is not taken for an end.
fn has_left_running(status: &str) -> bool {
    matches!(status, "TERMINATING" | "TERMINATED" | "CANCELLED" | "ERROR")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_statuses_after_running_end_a_terminal() {
        for status in ["TERMINATING", "TERMINATED", "CANCELLED", "ERROR"] {
            assert!(has_left_running(status), "{status}");
        }
        for status in [
            "RUNNING",
            "RESTARTING",
            "RUNNING_DEGRADED",
            "PREPARING",
            "SOMETHING_NEW",
        ] {
            assert!(!has_left_running(status), "{status}");
        }
    }

    #[test]
    fn the_size_survives_packing() {
        let packed = pack(300, 80);
        assert_eq!(((packed >> 16) as u16, packed as u16), (300, 80));
    }
}
