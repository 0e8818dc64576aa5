//! An app in a session reached through the manager's own `tcpproxy` websocket
//! (`GET /stream/session/{name}/tcpproxy?app=APP`, signed like any request): raw TCP to the
//! app's port in the container, carried in binary frames. It needs no App Proxy, so it works on
//! every cluster; it is what the official `backend.ai app` command uses. [`open_app_stream`]
//! turns it into a byte stream that any protocol runs over — ttyd's HTTP upgrade and websocket
//! for the terminal ([`crate::ttyd::connect_over`]).
//!
//! Flow control: the byte stream is a bounded in-memory pipe. When whoever reads it stops, the
//! pipe fills, the pump stops reading the websocket, and TCP makes the manager wait.

use berth_core::{Error, ErrorCode, Result};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::tungstenite::Message;

use crate::connection::{Connection, ManagerWebSocket};
use crate::folders::segment;

/// How much the pipe holds in each direction before the side feeding it waits.
const PIPE_BYTES: usize = 256 * 1024;

/// Opens app `app` (`ttyd`, `sshd`, `jupyter`...) of session `session_name` through the
/// manager and returns this end of the byte stream; a task on the current tokio runtime pumps
/// it until either side closes. Errors: `not_found` when the manager knows no such session,
/// `permission_denied`/`auth_failed` when it refuses the user, `unreachable` when it cannot be
/// reached, else the manager's words (e.g. the session runs no such app).
pub async fn open_app_stream(
    connection: &Connection,
    session_name: &str,
    app: &str,
) -> Result<DuplexStream> {
    let socket = open_app_socket(connection, session_name, app).await?;
    let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
    tokio::spawn(pump(socket, theirs));
    Ok(ours)
}

/// The websocket [`open_app_stream`] pumps, for whoever moves the bytes itself (a port
/// forward carries each connection straight onto it, without the pipe). Errors as there.
pub(crate) async fn open_app_socket(
    connection: &Connection,
    session_name: &str,
    app: &str,
) -> Result<ManagerWebSocket> {
    let path = format!(
        "stream/session/{}/tcpproxy?app={}",
        segment(session_name),
        segment(app)
    );
    connection
        .open_websocket(&path, |e| refused(connection, session_name, app, e))
        .await
}

fn refused(
    connection: &Connection,
    session_name: &str,
    app: &str,
    error: &tokio_tungstenite::tungstenite::Error,
) -> Error {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let manager = connection.endpoint();
    match error {
        WsError::Http(response) => {
            let (status, said) = crate::terminal::refusal(response);
            let code = match status.as_u16() {
                401 => ErrorCode::AuthFailed,
                403 => ErrorCode::PermissionDenied,
                404 => ErrorCode::NotFound,
                502..=504 => ErrorCode::Unreachable,
                _ => ErrorCode::Internal,
            };
            Error::new(
                code,
                format!(
                    "{manager} refused to connect to {app} in session \"{session_name}\" ({status}): {said}"
                ),
            )
        }
        WsError::Io(e) => Error::new(
            ErrorCode::Unreachable,
            format!(
                "Cannot reach {manager} to connect to {app} in session \"{session_name}\": {e}"
            ),
        ),
        other => Error::internal(format!(
            "The connection to {app} in session \"{session_name}\" failed to open: {other}"
        )),
    }
}

/// Moves bytes between the websocket and `pipe` (the in-memory pipe, or a forward's accepted
/// connection) until both directions have ended.
pub(crate) async fn pump<S, P>(socket: tokio_tungstenite::WebSocketStream<S>, pipe: P)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    P: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    let (mut to_server, mut from_server) = socket.split();
    let (mut from_pipe, mut to_pipe) = tokio::io::split(pipe);
    let upstream = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match from_pipe.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_server
                        .send(Message::binary(buffer[..n].to_vec()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        let _ = to_server.close().await;
    };
    let downstream = async move {
        while let Some(Ok(message)) = from_server.next().await {
            let written = match message {
                Message::Binary(bytes) => to_pipe.write_all(&bytes).await,
                Message::Text(text) => to_pipe.write_all(text.as_bytes()).await,
                Message::Close(_) => break,
                _ => Ok(()),
            };
            if written.is_err() {
                break;
            }
        }
        // The app's side of the TCP connection is closed: whoever reads the pipe sees its end.
        let _ = to_pipe.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}
