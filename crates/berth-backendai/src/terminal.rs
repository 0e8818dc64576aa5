//! A terminal in a Backend.AI session, over the way the cluster offers one. Every way ends in
//! the same frame stream ([`berth_core::frames`]), so the app's terminal (and its flow control)
//! does not care which carries the bytes:
//!
//! * **ttyd through the App Proxy** ([`crate::ttyd`]), preferred where the session's resource
//!   group has one (v2): the console the WebUI opens, a shell on a real pty in the container.
//! * **ttyd through the manager's tcpproxy** ([`crate::tcpproxy`]) everywhere else: the same
//!   ttyd, reached over the manager's own websocket as the official `backend.ai app` does. It
//!   needs no App Proxy, so it is what clusters without one (and the team's peer) use.
//! * **the manager's pty websocket** ([`crate::pty`]) only when asked for by name: on 26.x
//!   kernels it opens and then carries nothing (the manager's ZeroMQ sockets do not match the
//!   kernel runner's, and the runner's terminal ports are not published; see
//!   `backendai-api.md` §2.4), so choosing it for the user would show a blank screen.
//!
//! With [`TransportChoice::Auto`] a failure through the App Proxy falls back to the tcpproxy,
//! and the reason is kept ([`ClusterTerminal::describe`] says it in the tab's tooltip and the
//! CLI's `--verbose`); choosing a way makes its failure the error. Both ttyd ways are kept
//! attached to the session by [`keep`]: the terminal ends, saying so, when the session does, and
//! a dropped tunnel is reconnected once.

pub(crate) mod keep;

use berth_core::frames::FrameStream;
use std::sync::Arc;

use berth_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::connection::Connection;
use crate::{app_proxy, pty, tcpproxy, ttyd};

/// Which way a terminal's bytes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum TerminalTransport {
    /// ttyd in the session, through the resource group's App Proxy.
    Ttyd,
    /// ttyd in the session, through the manager's `tcpproxy` websocket.
    Tcpproxy,
    /// The manager's pty websocket (`/stream/session/{name}/pty`).
    Pty,
}

/// Which way the user wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportChoice {
    /// ttyd through the App Proxy where the cluster offers one, else through the tcpproxy.
    #[default]
    Auto,
    /// ttyd through the App Proxy only.
    Ttyd,
    /// ttyd through the manager's tcpproxy only.
    Tcpproxy,
    /// The manager's pty websocket.
    Pty,
}

/// An open terminal: the app's end of the frame stream and how it is carried.
#[derive(Debug)]
pub struct ClusterTerminal {
    pub stream: FrameStream,
    pub transport: TerminalTransport,
    /// Why the App Proxy was not used, when [`TransportChoice::Auto`] went through the tcpproxy.
    pub app_proxy_unavailable: Option<String>,
}

impl ClusterTerminal {
    /// How the terminal is carried and why, in a sentence for a tooltip or `--verbose`.
    pub fn describe(&self) -> String {
        let way = match self.transport {
            TerminalTransport::Ttyd => "ttyd in the session, through the cluster's App Proxy",
            TerminalTransport::Tcpproxy => {
                "ttyd in the session, through the manager's tcpproxy websocket"
            }
            TerminalTransport::Pty => {
                "the manager's pty websocket (asked for; it carries nothing on 26.x kernels)"
            }
        };
        match &self.app_proxy_unavailable {
            Some(why) => format!("{way}. The App Proxy was not used: {why}"),
            None => format!("{way}."),
        }
    }
}

/// Opens a terminal in session `session_id` (a UUID; `session_name` is its name), `cols` by
/// `rows`, the way `choice` says. The bridge runs on the current tokio runtime until either side
/// closes, the session ends, or a dropped tunnel cannot be reconnected ([`keep`]). Side effects: on the App Proxy way the manager starts ttyd's service (a no-op when it
/// runs) and the App Proxy opens or reuses a circuit to it; on the tcpproxy way the manager
/// opens a TCP connection to ttyd. Errors: those of the way used — with `Auto`, the tcpproxy's,
/// with the App Proxy's reason added; with `Ttyd`, `invalid_input` when the cluster does not
/// offer ttyd through an App Proxy for the session, else the App Proxy's refusal.
pub async fn open_terminal(
    connection: &Arc<Connection>,
    session_id: &str,
    session_name: &str,
    cols: u16,
    rows: u16,
    choice: TransportChoice,
) -> Result<ClusterTerminal> {
    let opened = |stream, transport, app_proxy_unavailable| ClusterTerminal {
        stream,
        transport,
        app_proxy_unavailable,
    };
    match choice {
        TransportChoice::Pty => {
            let stream = pty::open_pty(connection, session_name, cols, rows).await?;
            Ok(opened(stream, TerminalTransport::Pty, None))
        }
        TransportChoice::Ttyd => {
            let stream = open_over_ttyd(connection, session_id, session_name, cols, rows).await?;
            Ok(opened(stream, TerminalTransport::Ttyd, None))
        }
        TransportChoice::Tcpproxy => {
            let stream =
                open_over_tcpproxy(connection, session_id, session_name, cols, rows).await?;
            Ok(opened(stream, TerminalTransport::Tcpproxy, None))
        }
        TransportChoice::Auto => {
            let why = match open_over_ttyd(connection, session_id, session_name, cols, rows).await {
                Ok(stream) => {
                    tracing::info!(session = session_name, "terminal over ttyd (App Proxy)");
                    return Ok(opened(stream, TerminalTransport::Ttyd, None));
                }
                Err(error) => error.message,
            };
            match open_over_tcpproxy(connection, session_id, session_name, cols, rows).await {
                Ok(stream) => {
                    tracing::info!(session = session_name, app_proxy_unavailable = %why, "terminal over ttyd (manager tcpproxy)");
                    Ok(opened(stream, TerminalTransport::Tcpproxy, Some(why)))
                }
                Err(error) => Err(Error::new(
                    error.code,
                    format!(
                        "No terminal could be opened in session \"{session_name}\". Through the \
                         manager's tcpproxy: {} Through the App Proxy: {why}",
                        error.message
                    ),
                )),
            }
        }
    }
}

async fn open_over_tcpproxy(
    connection: &Arc<Connection>,
    session_id: &str,
    session_name: &str,
    cols: u16,
    rows: u16,
) -> Result<FrameStream> {
    let reopen: keep::Reopen<tokio::io::DuplexStream> = {
        let connection = connection.clone();
        let name = session_name.to_string();
        Box::new(move |cols, rows| {
            let connection = connection.clone();
            let name = name.clone();
            Box::pin(async move {
                let stream = tcpproxy::open_app_stream(&connection, &name, "ttyd").await?;
                ttyd::open_over(stream, cols, rows).await
            })
        })
    };
    open_and_keep(connection, session_id, session_name, cols, rows, reopen).await
}

async fn open_over_ttyd(
    connection: &Arc<Connection>,
    session_id: &str,
    session_name: &str,
    cols: u16,
    rows: u16,
) -> Result<FrameStream> {
    let placement = placement(connection, session_id).await?;
    let version =
        app_proxy::proxy_version(connection, &placement.resource_group, &placement.project_id)
            .await?;
    if version != "v2" {
        return Err(Error::invalid_input(format!(
            "The session's resource group \"{}\" has no App Proxy (the manager reports {version}).",
            placement.resource_group
        )));
    }
    if !placement.services.iter().any(|s| s == "ttyd") {
        return Err(Error::invalid_input(
            "The session's image offers no ttyd service.",
        ));
    }
    let reopen: keep::Reopen<_> = {
        let connection = connection.clone();
        let id = session_id.to_string();
        Box::new(move |cols, rows| {
            let connection = connection.clone();
            let id = id.clone();
            Box::pin(
                async move { ttyd::open_through_app_proxy(&connection, &id, cols, rows).await },
            )
        })
    };
    open_and_keep(connection, session_id, session_name, cols, rows, reopen).await
}

/// Opens the first websocket with `reopen` and keeps it attached to its session ([`keep`]).
async fn open_and_keep<S>(
    connection: &Arc<Connection>,
    session_id: &str,
    session_name: &str,
    cols: u16,
    rows: u16,
    reopen: keep::Reopen<S>,
) -> Result<FrameStream>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let socket = reopen(cols, rows).await?;
    let session = keep::SessionOnCluster {
        connection: connection.clone(),
        id: session_id.to_string(),
        name: session_name.to_string(),
    };
    keep::keep(session, socket, cols, rows, reopen)
}

/// Where a session runs, as far as its apps are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) resource_group: String,
    pub(crate) project_id: String,
    /// The names of the apps its image serves (`service_ports`).
    services: Vec<String>,
}

async fn placement(connection: &Connection, session_id: &str) -> Result<Placement> {
    let item = session_item(
        connection,
        session_id,
        "id scaling_group group_id service_ports",
    )
    .await?
    .ok_or_else(|| no_such_session(session_id))?;
    parse_placement(&item).ok_or_else(|| {
        Error::internal(format!(
            "The cluster did not say which resource group and project session {session_id} belongs to."
        ))
    })
}

fn no_such_session(session_id: &str) -> Error {
    Error::new(
        ErrorCode::NotFound,
        format!("No session has the id \"{}\".", session_id.escape_debug()),
    )
}

/// `fields` of session `session_id` (a UUID) as the manager lists them; `None` when it knows
/// no such session.
pub(crate) async fn session_item(
    connection: &Connection,
    session_id: &str,
    fields: &str,
) -> Result<Option<Value>> {
    // The id goes into a filter string: only a UUID's characters may.
    if session_id.is_empty()
        || !session_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-')
    {
        return Err(no_such_session(session_id));
    }
    let answer: Value = connection
        .graphql(
            &format!(
                "query($filter: String) {{ compute_session_list(limit: 1, offset: 0, \
                 filter: $filter) {{ items {{ {fields} }} }} }}"
            ),
            json!({ "filter": format!("id == \"{}\"", session_id.to_lowercase()) }),
        )
        .await?;
    let item = &answer["compute_session_list"]["items"][0];
    Ok((!item.is_null()).then(|| item.clone()))
}

pub(crate) fn parse_placement(item: &Value) -> Option<Placement> {
    let ports = crate::sessions::json_value(Some(&item["service_ports"]));
    let services = ports
        .as_array()
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Some(Placement {
        resource_group: item["scaling_group"].as_str()?.to_string(),
        project_id: item["group_id"].as_str()?.to_string(),
        services,
    })
}

/// What the app sends a terminal bridge: keys, or the tab's new size (at least 1×1).
pub(crate) enum FromApp<'a> {
    Keys(&'a [u8]),
    Resize { cols: u16, rows: u16 },
}

/// The next keys or resize from the app's end of the frame stream, read into `payload`;
/// other frames are skipped. `None` once that end closes or sends something that is not a frame.
pub(crate) async fn next_from_app<'a>(
    from_app: &mut (impl tokio::io::AsyncRead + Unpin),
    payload: &'a mut Vec<u8>,
) -> Option<FromApp<'a>> {
    use berth_core::frames::{Frame, parse_header, parse_resize};
    use tokio::io::AsyncReadExt;
    loop {
        let mut header = [0u8; 5];
        from_app.read_exact(&mut header).await.ok()?;
        let (kind, len) = parse_header(header).ok()?;
        payload.resize(len, 0);
        from_app.read_exact(payload).await.ok()?;
        match kind {
            Frame::Input => return Some(FromApp::Keys(payload)),
            Frame::Resize => {
                if let Some((cols, rows)) = parse_resize(payload) {
                    return Some(FromApp::Resize {
                        cols: cols.max(1),
                        rows: rows.max(1),
                    });
                }
            }
            _ => {}
        }
    }
}

/// The two ends of a new terminal: the app's (blocking, handed out) and the bridge's (on tokio).
pub(crate) fn socket_pair() -> Result<(FrameStream, tokio::net::TcpStream)> {
    let (app_end, bridge_end) = berth_core::frames::pair()
        .map_err(|e| Error::internal(format!("Cannot create the terminal's stream: {e}")))?;
    bridge_end
        .set_nonblocking(true)
        .map_err(|e| Error::internal(format!("Cannot set up the terminal's stream: {e}")))?;
    let bridge_end = tokio::net::TcpStream::from_std(bridge_end)
        .map_err(|e| Error::internal(format!("Cannot set up the terminal's stream: {e}")))?;
    Ok((app_end, bridge_end))
}

/// The status of a refused websocket upgrade and what the server said, for an error message:
/// a Backend.AI problem's `msg` or `title` where the body is one, else the body's first 200
/// characters.
pub(crate) fn refusal(
    response: &tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>>,
) -> (tokio_tungstenite::tungstenite::http::StatusCode, String) {
    let body = response
        .body()
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let json: Value = serde_json::from_str(&body).unwrap_or_default();
    let said = json["msg"]
        .as_str()
        .or(json["title"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| body.trim().chars().take(200).collect());
    (response.status(), said)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_reads_service_ports_in_either_form() {
        let item = json!({
            "scaling_group": "default",
            "group_id": "2de2b969-1d04-48a6-af16-0bc8adb3c831",
            "service_ports": "[{\"name\": \"sshd\", \"protocol\": \"tcp\"}, {\"name\": \"ttyd\", \"protocol\": \"http\"}]",
        });
        let placement = parse_placement(&item).unwrap();
        assert_eq!(placement.resource_group, "default");
        assert_eq!(placement.services, ["sshd", "ttyd"]);

        let listed = json!({ "scaling_group": "g", "group_id": "p", "service_ports": [{"name": "jupyter"}] });
        assert_eq!(parse_placement(&listed).unwrap().services, ["jupyter"]);
        // The peer's dummy agent reports none.
        let none = json!({ "scaling_group": "g", "group_id": "p", "service_ports": "[]" });
        assert!(parse_placement(&none).unwrap().services.is_empty());
        assert!(parse_placement(&json!({ "group_id": "p" })).is_none());
    }

    #[test]
    fn the_transport_reaches_the_ui_as_a_plain_word() {
        assert_eq!(
            serde_json::to_string(&TerminalTransport::Ttyd).unwrap(),
            "\"ttyd\""
        );
        assert_eq!(
            serde_json::to_string(&TerminalTransport::Pty).unwrap(),
            "\"pty\""
        );
    }
}
