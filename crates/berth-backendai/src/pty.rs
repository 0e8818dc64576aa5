//! A terminal in a Backend.AI session: the manager's pty websocket
//! (`/stream/session/{name}/pty`, JSON messages: `{"type":"stdin","chars":<base64>}`,
//! `{"type":"resize","rows":R,"cols":C}` out, `{"type":"out","data":<base64>}` in) bridged onto
//! the frame stream every Berth terminal reads ([`berth_core::frames`]). The app's terminal
//! then works unchanged, flow control included: when the UI stops acknowledging, the app stops
//! reading the local socket, this bridge's writes to it wait, it stops reading the websocket,
//! and TCP makes the manager wait — memory stays bounded end to end.

use berth_core::frames::FrameStream;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use berth_core::frames::{Frame, encode_frame, exit_payload};
use berth_core::{Error, ErrorCode, Result};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::connection::Connection;
use crate::folders::segment;
use crate::terminal::{FromApp, next_from_app};

/// Opens a shell's pty in session `name` and returns the app's end of the frame stream. The
/// bridge runs on the current tokio runtime until either side closes.
pub async fn open_pty(
    connection: &Connection,
    name: &str,
    cols: u16,
    rows: u16,
) -> Result<FrameStream> {
    let socket = connection
        .open_websocket(&format!("stream/session/{}/pty", segment(name)), |e| {
            refused(connection, name, e)
        })
        .await?;

    let (app_end, bridge_end) = crate::terminal::socket_pair()?;
    tokio::spawn(bridge(socket, bridge_end, cols, rows));
    Ok(app_end)
}

fn refused(
    connection: &Connection,
    name: &str,
    error: &tokio_tungstenite::tungstenite::Error,
) -> Error {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match error {
        WsError::Http(response) => {
            let (status, said) = crate::terminal::refusal(response);
            let code = match status.as_u16() {
                401 => ErrorCode::AuthFailed,
                403 => ErrorCode::PermissionDenied,
                404 => ErrorCode::NotFound,
                _ => ErrorCode::Internal,
            };
            Error::new(
                code,
                format!(
                    "{} refused a terminal in session \"{name}\" ({status}): {said}",
                    connection.endpoint(),
                ),
            )
        }
        WsError::Io(e) => Error::new(
            ErrorCode::Unreachable,
            format!("Cannot reach {} for a terminal: {e}", connection.endpoint()),
        ),
        other => Error::internal(format!(
            "The terminal to session \"{name}\" failed to open: {other}"
        )),
    }
}

#[derive(Deserialize)]
struct ServerMessage {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: String,
}

async fn bridge<S>(
    socket: tokio_tungstenite::WebSocketStream<S>,
    local: TcpStream,
    cols: u16,
    rows: u16,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut to_server, mut from_server) = socket.split();
    let (mut from_app, mut to_app) = local.into_split();
    let resize = |cols: u16, rows: u16| {
        Message::text(
            serde_json::json!({ "type": "resize", "rows": rows, "cols": cols }).to_string(),
        )
    };
    if to_server.send(resize(cols, rows)).await.is_err() {
        return;
    }
    // Keys and resizes from the app, to the server.
    let upstream = async move {
        let mut payload = Vec::new();
        while let Some(from) = next_from_app(&mut from_app, &mut payload).await {
            let message = match from {
                FromApp::Keys(keys) => Message::text(
                    serde_json::json!({ "type": "stdin", "chars": BASE64.encode(keys) })
                        .to_string(),
                ),
                FromApp::Resize { cols, rows } => resize(cols, rows),
            };
            if to_server.send(message).await.is_err() {
                break;
            }
        }
        // The tab closed (or the app went away): end the websocket politely.
        let _ = to_server.close().await;
    };
    // Output from the server, to the app. Awaiting each write is the flow control.
    let downstream = async move {
        while let Some(message) = from_server.next().await {
            // The manager sends its JSON as binary frames (`ws.send_bytes(dump_json(…))` in
            // 26.8's `stream_pty`); text is accepted too.
            let json = match message {
                Ok(Message::Binary(bytes)) => bytes,
                Ok(Message::Text(text)) => text.into(),
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => continue,
            };
            let Ok(parsed) = serde_json::from_slice::<ServerMessage>(&json) else {
                continue;
            };
            if parsed.kind != "out" {
                continue;
            }
            let Ok(bytes) = BASE64.decode(parsed.data.as_bytes()) else {
                continue;
            };
            for piece in bytes.chunks(berth_core::frames::MAX_FRAME) {
                if to_app
                    .write_all(&encode_frame(Frame::Output, piece))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        // The server ended the pty (the session ended, or the connection dropped); its status
        // is not part of the protocol.
        let _ = to_app
            .write_all(&encode_frame(Frame::Exit, &exit_payload(0)))
            .await;
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}
