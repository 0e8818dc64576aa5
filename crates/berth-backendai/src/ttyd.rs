//! A terminal in a Backend.AI session over ttyd, the web terminal every Backend.AI kernel runs
//! (`ttyd -W -p 7681 /bin/bash -c "… tmux -2 attach"`), reached through the App Proxy
//! ([`crate::app_proxy`]) or the manager's tcpproxy ([`crate::tcpproxy`]) and bridged onto the
//! frame stream every Berth terminal reads ([`berth_core::frames`]) by
//! [`crate::terminal::keep`]. Since ttyd attaches the kernel's one tmux session, a second
//! websocket reaches the same shell, which is what lets a dropped terminal reconnect.
//!
//! ttyd's websocket (`<app>/ws`, subprotocol `tty`): the client first sends the JSON
//! `{"AuthToken","columns","rows"}`, which makes ttyd spawn the shell; after that every message
//! starts with a command byte — client `'0'` keys, `'1'` resize JSON `{"columns","rows"}`, `'2'`
//! pause, `'3'` resume; server `'0'` output, `'1'` window title, `'2'` preferences. The shell's
//! end closes the socket, normally when it exited 0 and with 1011 otherwise.
//!
//! Flow control: the app stops reading its end of the socket pair when the UI stops
//! acknowledging. When a write to it stays blocked, the bridge tells ttyd to pause (`'2'`), which
//! stops ttyd reading the pty, so the shell itself waits instead of output piling up in the
//! proxy's buffers; once the write goes through, `'3'` resumes it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::frames::{Frame, encode_frame};
use berth_core::{Error, ErrorCode, Result};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::app_proxy::{self, AppAddress};
use crate::connection::Connection;
use crate::terminal::keep::AppInput;

const INPUT: u8 = b'0';
const RESIZE: u8 = b'1';
const PAUSE: u8 = b'2';
const RESUME: u8 = b'3';
const OUTPUT: u8 = b'0';

/// How long the app may stay behind before ttyd is paused.
const PAUSE_AFTER: Duration = Duration::from_millis(50);
/// How long a quiet terminal waits before asking ttyd whether it is still there.
const PING_EVERY: Duration = Duration::from_secs(5);
/// How long an asked ttyd may take to answer before the connection counts as dropped.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// How long ttyd may take to answer its websocket upgrade through the manager's tcpproxy.
const TTYD_ANSWER_WAIT: Duration = Duration::from_secs(20);

/// Opens ttyd's websocket in session `session_id` (a UUID) through the resource group's App
/// Proxy and says hello at `cols`×`rows`. Side effects and errors: those of
/// [`app_proxy::open_app`], then the worker's refusal of the websocket.
pub(crate) async fn open_through_app_proxy(
    connection: &Connection,
    session_id: &str,
    cols: u16,
    rows: u16,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>> {
    let app = app_proxy::open_app(connection, session_id, "ttyd").await?;
    let mut socket = handshake(&app).await?;
    hello(&mut socket, cols, rows).await?;
    Ok(socket)
}

/// Opens the ttyd websocket at `app`.
async fn handshake(app: &AppAddress) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>> {
    let mut url = app
        .url
        .join("ws")
        .map_err(|e| Error::internal(format!("Cannot form the terminal's address: {e}")))?;
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme)
        .map_err(|()| Error::internal(format!("Cannot make a websocket address of {url}")))?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| Error::internal(format!("Cannot form the terminal request: {e}")))?;
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static("tty"),
    );
    if !app.cookie.is_empty() {
        let cookie = app
            .cookie
            .parse()
            .map_err(|_| Error::internal("The app proxy set a cookie Berth cannot send back."))?;
        headers.insert("Cookie", cookie);
    }
    let connector =
        tokio_tungstenite::Connector::Rustls(Arc::new(crate::connection::websocket_tls()?));
    let (socket, _) =
        tokio_tungstenite::connect_async_tls_with_config(request, None, true, Some(connector))
            .await
            .map_err(|e| refused(app, &e))?;
    Ok(socket)
}

/// Opens ttyd's websocket over `stream`, a byte stream to ttyd's port (the manager's tcpproxy,
/// [`crate::tcpproxy::open_app_stream`]), and says hello at `cols`×`rows`. ttyd serves its
/// websocket at `/ws` of whatever host it is asked for.
pub(crate) async fn open_over<S>(stream: S, cols: u16, rows: u16) -> Result<WebSocketStream<S>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut request = "ws://localhost/ws"
        .into_client_request()
        .map_err(|e| Error::internal(format!("Cannot form the terminal request: {e}")))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static("tty"),
    );
    // A manager that opened the tunnel but whose ttyd never answers must not hang the tab.
    let handshake = tokio::time::timeout(
        TTYD_ANSWER_WAIT,
        tokio_tungstenite::client_async(request, stream),
    )
    .await
    .map_err(|_| {
        Error::new(
            ErrorCode::Unreachable,
            format!(
                "The session's ttyd did not answer through the manager within {} s; the session \
                 may still be starting, or its image runs no ttyd.",
                TTYD_ANSWER_WAIT.as_secs()
            ),
        )
    })?;
    let (mut socket, _) = handshake.map_err(|e| match e {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            let (status, said) = crate::terminal::refusal(&response);
            Error::internal(format!(
                "The session's ttyd refused the terminal ({status}): {said}"
            ))
        }
        other => Error::new(
            ErrorCode::Unreachable,
            format!("The session's ttyd did not answer through the manager: {other}"),
        ),
    })?;
    hello(&mut socket, cols, rows).await?;
    Ok(socket)
}

/// Says hello to ttyd at the tab's size: ttyd spawns the shell (or, as Backend.AI runs it,
/// attaches tmux) at this size when it reads this; no command byte before it.
async fn hello<S>(socket: &mut WebSocketStream<S>, cols: u16, rows: u16) -> Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let hello = serde_json::json!({ "AuthToken": "", "columns": cols.max(1), "rows": rows.max(1) });
    socket
        .send(Message::binary(hello.to_string().into_bytes()))
        .await
        .map_err(|e| Error::internal(format!("The terminal closed as it opened: {e}")))
}

fn refused(app: &AppAddress, error: &tokio_tungstenite::tungstenite::Error) -> Error {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let origin = app.url.origin().ascii_serialization();
    match error {
        WsError::Http(response) => {
            let (status, said) = crate::terminal::refusal(response);
            let code = match status.as_u16() {
                401 | 403 => ErrorCode::PermissionDenied,
                404 => ErrorCode::NotFound,
                502..=504 => ErrorCode::Unreachable,
                _ => ErrorCode::Internal,
            };
            Error::new(
                code,
                format!(
                    "The app proxy's worker at {origin} refused the terminal ({status}): {said}"
                ),
            )
        }
        WsError::Io(e) => Error::new(
            ErrorCode::Unreachable,
            format!("Cannot reach the app proxy's worker at {origin} for the terminal: {e}"),
        ),
        other => Error::internal(format!("The terminal at {origin} failed to open: {other}")),
    }
}

/// How one websocket to ttyd ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The tab closed, or the app went away.
    AppClosed,
    /// ttyd closed the websocket: the shell ended. ttyd only says whether it failed (1) or not (0).
    ShellExited(i32),
    /// The connection broke without ttyd closing it: a tunnel or proxy on the way dropped it.
    Dropped(String),
    /// The session left the running states; what the cluster says of it, as the end of a
    /// sentence ("the cluster reports TERMINATED").
    SessionEnded(String),
}

/// Moves one websocket's traffic: ttyd's output to the app as frames, the app's keys and
/// resizes to ttyd, until one of them ends or `session_end` says the session did. Every wait
/// is at a frame boundary, so a reconnect can carry on with the same app end.
///
/// A quiet connection is pinged every [`PING_EVERY`] and taken for dropped when nothing, not
/// even the pong, comes back within [`ANSWER_WAIT`]: through the webserver a tunnel whose far
/// end died stays open and silent (seen on the peer with ttyd killed), so waiting for a close
/// would leave the tab dead. ttyd (libwebsockets) answers pings itself, also while paused.
pub(crate) async fn pump<S>(
    socket: &mut WebSocketStream<S>,
    from_app: &mut mpsc::Receiver<AppInput>,
    to_app: &mut OwnedWriteHalf,
    session_end: &mut watch::Receiver<Option<String>>,
) -> Stop
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unanswered_since: Option<Instant> = None;
    loop {
        // In this order: keys first, so a flood of output cannot hold back a Ctrl-C, and the
        // ping's clock last, so an answer already here is read before it counts as missing.
        tokio::select! {
            biased;
            input = from_app.recv() => {
                let message = match input {
                    Some(AppInput::Keys(keys)) => command(INPUT, &keys),
                    Some(AppInput::Resize { cols, rows }) => command(
                        RESIZE,
                        serde_json::json!({ "columns": cols, "rows": rows }).to_string().as_bytes(),
                    ),
                    None => {
                        // The tab closed: end the websocket politely; ttyd then lets go of the
                        // shell.
                        let _ = socket.close(None).await;
                        return Stop::AppClosed;
                    }
                };
                if let Err(e) = socket.send(message).await {
                    return Stop::Dropped(cut_off(&e));
                }
            }
            message = socket.next() => {
                unanswered_since = None;
                let bytes = match message {
                    Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                    // ttyd sends binary; a proxy may pass it on as text.
                    Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                    Some(Ok(Message::Close(frame))) => {
                        // ttyd closes normally when the shell exited 0, with 1011 otherwise.
                        let failed = frame.is_some_and(|f| f.code != CloseCode::Normal);
                        return Stop::ShellExited(i32::from(failed));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Stop::Dropped(cut_off(&e)),
                    None => return Stop::Dropped("it was cut off".into()),
                };
                let Some((&OUTPUT, output)) = bytes.split_first() else {
                    // The window title and preferences have no place in the frame stream.
                    continue;
                };
                for piece in output.chunks(berth_core::frames::MAX_FRAME) {
                    if deliver(to_app, &encode_frame(Frame::Output, piece), socket).await.is_err() {
                        return Stop::AppClosed;
                    }
                }
            }
            Ok(()) = session_end.changed() => {
                if let Some(status) = session_end.borrow().clone() {
                    return Stop::SessionEnded(status);
                }
            }
            _ = ping.tick() => match unanswered_since {
                Some(since) if since.elapsed() >= ANSWER_WAIT => {
                    return Stop::Dropped(format!(
                        "nothing came back for {} s",
                        since.elapsed().as_secs()
                    ));
                }
                Some(_) => {}
                None => {
                    if let Err(e) = socket.send(Message::Ping(Vec::new().into())).await {
                        return Stop::Dropped(cut_off(&e));
                    }
                    unanswered_since = Some(Instant::now());
                }
            },
        }
    }
}

/// Why a websocket broke, in words: a cut without goodbye is what a dropped tunnel looks like.
fn cut_off(error: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    match error {
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)
        | WsError::ConnectionClosed
        | WsError::AlreadyClosed => "it was cut off".into(),
        WsError::Io(e) => format!("it was cut off: {e}"),
        other => other.to_string(),
    }
}

fn command(kind: u8, payload: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(payload.len() + 1);
    bytes.push(kind);
    bytes.extend_from_slice(payload);
    Message::binary(bytes)
}

/// Writes `frame` to the app; when the app has stopped reading, ttyd is paused until the
/// frame is through.
async fn deliver<S>(
    to_app: &mut OwnedWriteHalf,
    frame: &[u8],
    socket: &mut WebSocketStream<S>,
) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut written = 0;
    let mut paused = false;
    while written < frame.len() {
        match to_app.try_write(&frame[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // A reader a moment behind is not a reader that stopped: pausing ttyd costs a
                // round trip through the manager each way (208 pauses in one 50 MB `cat`
                // measured without this grace), so only a wait longer than this pauses it.
                if !paused
                    && tokio::time::timeout(PAUSE_AFTER, to_app.writable())
                        .await
                        .is_err()
                {
                    paused = true;
                    // A pause that cannot be sent changes nothing: the socket still holds back.
                    let _ = socket.send(command(PAUSE, &[])).await;
                }
                to_app.writable().await?;
            }
            Err(e) => return Err(e),
        }
    }
    if paused {
        let _ = socket.send(command(RESUME, &[])).await;
    }
    Ok(())
}
