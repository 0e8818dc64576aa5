//! A terminal in a Backend.AI session over ttyd, the web terminal every Backend.AI kernel runs
//! (`ttyd -W -p PORT /bin/bash`), reached through the App Proxy ([`crate::app_proxy`]) or the
//! manager's tcpproxy ([`crate::tcpproxy`]) and bridged onto the frame stream every Berth
//! terminal reads ([`berth_core::frames`]).
//!
//! ttyd's websocket (`<app>/ws`, subprotocol `tty`): the client first sends the JSON
//! `{"AuthToken","columns","rows"}`, which makes ttyd spawn the shell; after that every message
//! starts with a command byte — client `'0'` keys, `'1'` resize JSON `{"columns","rows"}`, `'2'`
//! pause, `'3'` resume; server `'0'` output, `'1'` window title, `'2'` preferences. The shell's
//! end closes the socket, normally when it exited 0 and with 1011 otherwise.
//!
//! Flow control: the app stops reading its end of the socket pair when the UI stops
//! acknowledging. When a write to it would block, the bridge tells ttyd to pause (`'2'`), which
//! stops ttyd reading the pty, so the shell itself waits instead of output piling up in the
//! proxy's buffers; once the write goes through, `'3'` resumes it.

use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;

use berth_core::frames::{Frame, encode_frame, exit_payload};
use berth_core::{Error, ErrorCode, Result};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::app_proxy::{self, AppAddress};
use crate::connection::Connection;
use crate::terminal::{FromApp, next_from_app};

const INPUT: u8 = b'0';
const RESIZE: u8 = b'1';
const PAUSE: u8 = b'2';
const RESUME: u8 = b'3';
const OUTPUT: u8 = b'0';

/// How long ttyd may take to answer its websocket upgrade through the manager's tcpproxy.
const TTYD_ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Opens ttyd in session `session_id` (a UUID) through the resource group's App Proxy and
/// returns the app's end of the frame stream; the bridge runs on the current tokio runtime
/// until either side closes. Side effects and errors: those of [`app_proxy::open_app`], then
/// the worker's refusal of the websocket.
pub async fn open_ttyd(
    connection: &Connection,
    session_id: &str,
    cols: u16,
    rows: u16,
) -> Result<StdUnixStream> {
    let app = app_proxy::open_app(connection, session_id, "ttyd").await?;
    connect(&app, cols, rows).await
}

/// Opens the ttyd websocket at `app` and bridges it; see [`open_ttyd`].
pub async fn connect(app: &AppAddress, cols: u16, rows: u16) -> Result<StdUnixStream> {
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
    start(socket, cols, rows).await
}

/// Opens ttyd's websocket over `stream`, a byte stream to ttyd's port (the manager's tcpproxy,
/// [`crate::tcpproxy::open_app_stream`]), and bridges it; see [`open_ttyd`]. ttyd serves its
/// websocket at `/ws` of whatever host it is asked for.
pub async fn connect_over<S>(stream: S, cols: u16, rows: u16) -> Result<StdUnixStream>
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
    let (socket, _) = handshake.map_err(|e| match e {
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
    start(socket, cols, rows).await
}

/// Says hello to ttyd at the tab's size and starts the bridge; returns the app's end.
async fn start<S>(
    mut socket: tokio_tungstenite::WebSocketStream<S>,
    cols: u16,
    rows: u16,
) -> Result<StdUnixStream>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // ttyd spawns the shell at this size when it reads this; no command byte before it.
    let hello = serde_json::json!({ "AuthToken": "", "columns": cols.max(1), "rows": rows.max(1) });
    socket
        .send(Message::binary(hello.to_string().into_bytes()))
        .await
        .map_err(|e| Error::internal(format!("The terminal closed as it opened: {e}")))?;

    let (app_end, bridge_end) = crate::terminal::socket_pair()?;
    tokio::spawn(bridge(socket, bridge_end));
    Ok(app_end)
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

type Sink<S> = Arc<Mutex<SplitSink<tokio_tungstenite::WebSocketStream<S>, Message>>>;

async fn bridge<S>(socket: tokio_tungstenite::WebSocketStream<S>, local: UnixStream)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (to_server, mut from_server) = socket.split();
    // Keys go out from one task and pause/resume from the other.
    let to_server: Sink<S> = Arc::new(Mutex::new(to_server));
    let (mut from_app, to_app) = local.into_split();
    let upstream = {
        let to_server = to_server.clone();
        async move {
            let mut payload = Vec::new();
            while let Some(from) = next_from_app(&mut from_app, &mut payload).await {
                let message = match from {
                    FromApp::Keys(keys) => command(INPUT, keys),
                    FromApp::Resize { cols, rows } => command(
                        RESIZE,
                        serde_json::json!({ "columns": cols, "rows": rows })
                            .to_string()
                            .as_bytes(),
                    ),
                };
                if to_server.lock().await.send(message).await.is_err() {
                    break;
                }
            }
            // The tab closed (or the app went away): end the websocket politely; ttyd then
            // ends the shell.
            let _ = to_server.lock().await.close().await;
        }
    };
    let downstream = async move {
        let mut to_app = to_app;
        let mut status = 0;
        while let Some(message) = from_server.next().await {
            let bytes = match message {
                Ok(Message::Binary(bytes)) => bytes.to_vec(),
                // ttyd sends binary; a proxy may pass it on as text.
                Ok(Message::Text(text)) => text.as_bytes().to_vec(),
                Ok(Message::Close(frame)) => {
                    if frame.is_some_and(|f| f.code != CloseCode::Normal) {
                        // ttyd only says whether the shell failed, not its status.
                        status = 1;
                    }
                    break;
                }
                Err(_) => break,
                Ok(_) => continue,
            };
            let Some((&OUTPUT, output)) = bytes.split_first() else {
                // The window title and preferences have no place in the frame stream.
                continue;
            };
            for piece in output.chunks(berth_core::frames::MAX_FRAME) {
                if deliver(&mut to_app, &encode_frame(Frame::Output, piece), &to_server)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        let _ = deliver(
            &mut to_app,
            &encode_frame(Frame::Exit, &exit_payload(status)),
            &to_server,
        )
        .await;
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
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
    to_server: &Sink<S>,
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
                if !paused {
                    paused = true;
                    // A pause that cannot be sent changes nothing: the socket still holds back.
                    let _ = to_server.lock().await.send(command(PAUSE, &[])).await;
                }
                to_app.writable().await?;
            }
            Err(e) => return Err(e),
        }
    }
    if paused {
        let _ = to_server.lock().await.send(command(RESUME, &[])).await;
    }
    Ok(())
}
