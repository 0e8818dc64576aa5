//! A cluster session's apps and ports on this computer's loopback: the image's service ports
//! (`jupyter`, `vscode`, `ttyd`, `sshd`...) and the ports the session was launched to open
//! (the manager's "preopen" ports; it tunnels nothing else). One local listener per app
//! (`berth_forward`); each connection made to it is its own websocket to the manager's
//! `tcpproxy`, which starts the app on demand — what the official `backend.ai app` does, with
//! no Python process between.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_core::{Engine, Error, ErrorCode, Result, SessionStatus};
use berth_forward::ssh::{HostKeyCheck, SshAccess};
use berth_forward::{AppKind, Counted, Forward, ForwardRecord, ForwardTarget, SessionApp};
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::connection::Connection;
use crate::engine::BackendAiEngine;
use crate::tcpproxy;

/// How long an opening forward waits for the manager to say nothing listens on the port. It
/// says so right after the websocket opens (close code 1013), as soon as its connection to the
/// kernel's host is refused (a hop inside the cluster); a server that listens stays silent
/// (HTTP) or greets (SSH). A webserver login's relay passes no close on at all (its
/// `WebSocketProxy` ends only when the client does), so there the forward opens regardless.
const REFUSAL_WAIT: Duration = Duration::from_millis(100);

/// How often a forward asks the manager whether its session still runs.
const ASK_EVERY: Duration = Duration::from_secs(10);

impl BackendAiEngine {
    /// The apps session `key` (id or name) offers, as its image and launch declared them.
    /// Errors: `not_found` for a session the manager does not know, else the manager's.
    pub async fn session_apps(&self, key: &str) -> Result<Vec<SessionApp>> {
        let session = self.session(key).await?;
        let item = crate::terminal::session_item(self.connection(), &session.id, "service_ports")
            .await?
            .unwrap_or_default();
        Ok(parse_apps(&item["service_ports"]))
    }

    /// Opens `app` of running session `key` on `127.0.0.1:local_port` (a free port when
    /// `None`): an app's name, or a port number, which must be one the session offers (an app's
    /// port, or a port it was launched to open). The first connection is made now, so the
    /// manager starts the app and a wrong app or a port nothing listens on is said here, not in
    /// a blank browser tab. Errors: `invalid_input` naming what the session offers or the fix,
    /// the manager's refusal otherwise.
    pub async fn open_app(&self, key: &str, app: &str, local_port: Option<u16>) -> Result<Forward> {
        let session = self.session(key).await?;
        if session.status != SessionStatus::Running {
            return Err(Error::invalid_input(format!(
                "Session \"{}\" is not running ({:?}), so nothing in it can be opened.",
                session.name, session.status
            )));
        }
        let item = crate::terminal::session_item(
            self.connection(),
            &session.id,
            "id scaling_group group_id service_ports",
        )
        .await?
        .unwrap_or_default();
        let apps = parse_apps(&item["service_ports"]);
        let chosen = choose(&apps, app).map_err(|offered| {
            Error::invalid_input(format!(
                "Session \"{}\" offers no app or port \"{app}\"; it offers {offered}. A server \
                 you start in a cluster session is reachable only on a port the session was \
                 launched to open (Ports to open, or --port at launch).",
                session.name
            ))
        })?;
        let watch = Arc::new(SessionWatch {
            engine: self.clone(),
            session_id: session.id.clone(),
            session_name: session.name.clone(),
            last_asked: Mutex::new(Instant::now()),
        });
        let (target, via): (Arc<dyn ForwardTarget>, String) = match route(
            self.connection(),
            &session.id,
            crate::terminal::parse_placement(&item),
            &chosen,
        )
        .await
        {
            Route::AppProxy(address) => (
                Arc::new(crate::proxied_app::ProxiedApp {
                    address,
                    session_name: session.name.clone(),
                    app: chosen.name.clone(),
                    watch,
                }),
                "the cluster's App Proxy".to_owned(),
            ),
            Route::Manager { why } => {
                probe(self.connection(), &session.name, &chosen).await?;
                (
                    Arc::new(ManagerTunnel {
                        connection: self.connection().clone(),
                        session_name: session.name.clone(),
                        app: chosen.name.clone(),
                        watch,
                    }),
                    format!("the manager's tcpproxy ({why})"),
                )
            }
        };
        let listener = berth_forward::listen(local_port).await?;
        let record = ForwardRecord {
            session_id: session.id,
            session_name: session.name,
            engine: self.profile().to_string(),
            app: (chosen.name != chosen.port.to_string()).then(|| chosen.name.clone()),
            port: chosen.port,
            kind: chosen.kind,
            local: String::new(),
            since_ms: 0,
            pid: 0,
            via: Some(via),
        };
        Forward::start(listener, target, record)
    }
}

impl BackendAiEngine {
    /// The key a session's image `sshd` lets in, fetched into `dir` (readable by this user
    /// only) as `SESSION_ID.key`, and how to log in with it at `127.0.0.1:port`: Backend.AI's
    /// kernels make the pair at start and keep the private half in `/home/work/id_container`,
    /// as the official `backend.ai session ssh` uses it. The kernel's host key is kept on
    /// first use in `SESSION_ID.known_hosts` beside it. Errors: the manager's (no such file:
    /// an image without Backend.AI's sshd), or the file cannot be written.
    pub async fn session_ssh_access(
        &self,
        key: &str,
        port: u16,
        dir: &std::path::Path,
    ) -> Result<SshAccess> {
        let session = self.session(key).await?;
        let key_file = dir.join(format!("{}.key", session.id));
        if !key_file.exists() {
            let path = format!(
                "session/{}/download_single?file=id_container",
                crate::folders::segment(&session.name)
            );
            let response = self
                .connection()
                .call(reqwest::Method::POST, &path, None)
                .await?;
            let bytes = response.bytes().await.map_err(|e| {
                Error::new(
                    ErrorCode::Unreachable,
                    format!(
                        "The SSH key of session \"{}\" did not arrive: {e}",
                        session.name
                    ),
                )
            })?;
            berth_forward::write_private(&key_file, &bytes).map_err(|e| {
                Error::internal(format!(
                    "Cannot keep an SSH key at {}: {e}",
                    key_file.display()
                ))
            })?;
        }
        Ok(ssh_access_with_key(&session.name, &session.id, port, dir))
    }
}

/// How to log in to session `name` (`id`)'s `sshd` forwarded to `127.0.0.1:port`, with the key
/// [`BackendAiEngine::session_ssh_access`] fetched into `dir`.
pub fn ssh_access_with_key(name: &str, id: &str, port: u16, dir: &std::path::Path) -> SshAccess {
    SshAccess::new(
        name,
        port,
        &dir.join(format!("{id}.key")),
        &dir.join(format!("{id}.known_hosts")),
        HostKeyCheck::PinFirst,
    )
}

/// The app named `asked`, or whose port is `asked`; `Err(what the session offers)` if none.
fn choose(apps: &[SessionApp], asked: &str) -> std::result::Result<SessionApp, String> {
    let by_port = asked.parse::<u16>().ok();
    apps.iter()
        .find(|a| a.name == asked)
        .or_else(|| by_port.and_then(|port| apps.iter().find(|a| a.port == port)))
        .cloned()
        .ok_or_else(|| {
            if apps.is_empty() {
                "nothing".to_string()
            } else {
                apps.iter()
                    .map(|a| {
                        if a.name == a.port.to_string() {
                            format!("port {}", a.port)
                        } else {
                            format!("{} (port {})", a.name, a.port)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        })
}

/// The apps in a session's `service_ports` (a JSON list, or a string holding one): each with
/// the first port it listens on in the container.
pub(crate) fn parse_apps(service_ports: &Value) -> Vec<SessionApp> {
    let ports = crate::sessions::json_value(Some(service_ports));
    ports
        .as_array()
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| {
                    let name = p["name"].as_str()?.to_string();
                    let port = p["container_ports"]
                        .as_array()
                        .and_then(|ports| ports.first())
                        .or(p.get("container_port"))
                        .and_then(Value::as_u64)
                        .and_then(|port| u16::try_from(port).ok())?;
                    let protocol = p["protocol"].as_str().unwrap_or("tcp");
                    let kind = match (name.as_str(), protocol) {
                        ("sshd" | "sftp" | "sftpd", _) => AppKind::Ssh,
                        (_, "http" | "preopen") => AppKind::Web,
                        _ => AppKind::Tcp,
                    };
                    Some(SessionApp { name, port, kind })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Makes one connection to `app` and lets it go: the manager starts the app if it must, and
/// says now when nothing listens there.
async fn probe(connection: &Connection, session_name: &str, app: &SessionApp) -> Result<()> {
    let mut socket = tcpproxy::open_app_socket(connection, session_name, &app.name).await?;
    let first = tokio::time::timeout(REFUSAL_WAIT, socket.next()).await;
    let refusal = match first {
        // Silent (an HTTP server waits for a request) or greeting (SSH): it listens.
        Err(_) | Ok(Some(Ok(Message::Binary(_) | Message::Text(_)))) => None,
        Ok(Some(Ok(Message::Close(frame)))) => Some(frame.map(|f| f.code)),
        Ok(Some(Ok(_))) => None,
        Ok(Some(Err(_)) | None) => Some(None),
    };
    let _ = socket.close(None).await;
    match refusal {
        None => Ok(()),
        Some(Some(CloseCode::Again)) => Err(Error::invalid_input(format!(
            "Nothing listens on port {} in session \"{session_name}\"{}: start the server first \
             (listening on 0.0.0.0 or 127.0.0.1 inside the session).",
            app.port,
            if app.name == app.port.to_string() {
                String::new()
            } else {
                format!(" ({} is not up)", app.name)
            }
        ))),
        Some(code) => Err(Error::new(
            ErrorCode::Unreachable,
            format!(
                "The cluster closed the connection to {} in session \"{session_name}\" at once{}: \
                 the app may have failed to start; its logs may say why.",
                app.name,
                code.map(|c| format!(" (code {})", u16::from(c)))
                    .unwrap_or_default()
            ),
        )),
    }
}

/// Which way an app's connections take.
enum Route {
    /// The resource group's App Proxy, which has opened a circuit to the app.
    AppProxy(crate::app_proxy::AppAddress),
    /// The manager's tcpproxy, and why not the App Proxy.
    Manager { why: String },
}

/// The App Proxy for a web app of the image where the session's resource group has one (what
/// the WebUI uses; the manager then carries no app traffic), else the manager's tcpproxy —
/// chosen the way a terminal chooses, and saying why.
async fn route(
    connection: &Connection,
    session_id: &str,
    placement: Option<crate::terminal::Placement>,
    app: &SessionApp,
) -> Route {
    let manager = |why: String| Route::Manager { why };
    if app.kind != AppKind::Web || app.name == app.port.to_string() {
        return manager("which carries ports and TCP apps such as SSH".into());
    }
    let Some(placement) = placement else {
        return manager("the cluster did not say the session's resource group".into());
    };
    match crate::app_proxy::proxy_version(
        connection,
        &placement.resource_group,
        &placement.project_id,
    )
    .await
    {
        Ok(version) if version == "v2" => {}
        Ok(version) => {
            return manager(format!(
                "resource group \"{}\" has no App Proxy: the manager reports {version}",
                placement.resource_group
            ));
        }
        Err(error) => return manager(format!("no App Proxy: {}", error.message)),
    }
    match crate::app_proxy::open_app(connection, session_id, &app.name).await {
        Ok(address) => Route::AppProxy(address),
        Err(error) => manager(format!("the App Proxy did not open it: {}", error.message)),
    }
}

/// A cluster session's app, reached over one manager websocket per connection.
struct ManagerTunnel {
    connection: Arc<Connection>,
    session_name: String,
    app: String,
    watch: Arc<SessionWatch>,
}

#[async_trait::async_trait]
impl ForwardTarget for ManagerTunnel {
    async fn carry(&self, client: Counted<tokio::net::TcpStream>) {
        match tcpproxy::open_app_socket(&self.connection, &self.session_name, &self.app).await {
            Ok(socket) => tcpproxy::pump(socket, client).await,
            Err(error) => {
                tracing::warn!(session = %self.session_name, app = %self.app, %error, "cannot open a connection through the forward");
            }
        }
    }

    async fn still_there(&self) -> std::result::Result<(), String> {
        self.watch.still_there().await
    }
}

/// Whether a cluster session still runs, asked of the manager at most every [`ASK_EVERY`].
pub(crate) struct SessionWatch {
    engine: BackendAiEngine,
    session_id: String,
    session_name: String,
    last_asked: Mutex<Instant>,
}

impl SessionWatch {
    /// `Err(why)` once the session has ended.
    pub(crate) async fn still_there(&self) -> std::result::Result<(), String> {
        {
            let mut last = self.last_asked.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() < ASK_EVERY {
                return Ok(());
            }
            *last = Instant::now();
        }
        match self.engine.session(&self.session_id).await {
            Ok(session) if session.status.is_live() => Ok(()),
            Ok(session) => Err(format!(
                "session {} ended{}",
                self.session_name,
                session
                    .status_detail
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )),
            Err(error) if error.code == ErrorCode::NotFound => {
                Err(format!("session {} ended", self.session_name))
            }
            // The manager did not answer this time: the forward stays; the next ask decides.
            Err(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn apps_are_read_from_service_ports_in_either_form() {
        let listed = json!([
            {"name": "sshd", "protocol": "tcp", "container_ports": [2200], "host_ports": [31001]},
            {"name": "ttyd", "protocol": "http", "container_ports": [7681], "host_ports": [31002]},
            {"name": "8000", "protocol": "preopen", "container_ports": [8000], "host_ports": [null]},
            {"name": "redis", "protocol": "tcp", "container_ports": [6379]},
            {"name": "broken", "protocol": "http"}
        ]);
        let apps = parse_apps(&listed);
        let kinds: Vec<_> = apps
            .iter()
            .map(|a| (a.name.as_str(), a.port, a.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("sshd", 2200, AppKind::Ssh),
                ("ttyd", 7681, AppKind::Web),
                ("8000", 8000, AppKind::Web),
                ("redis", 6379, AppKind::Tcp),
            ]
        );
        let as_text = Value::String(listed.to_string());
        assert_eq!(parse_apps(&as_text), apps);
        assert!(parse_apps(&Value::Null).is_empty());
    }

    #[test]
    fn an_app_is_chosen_by_name_or_port_and_a_miss_says_what_there_is() {
        let apps = parse_apps(&json!([
            {"name": "jupyter", "protocol": "http", "container_ports": [8090]},
            {"name": "8000", "protocol": "preopen", "container_ports": [8000]},
        ]));
        assert_eq!(choose(&apps, "jupyter").unwrap().port, 8090);
        assert_eq!(choose(&apps, "8090").unwrap().name, "jupyter");
        assert_eq!(choose(&apps, "8000").unwrap().name, "8000");
        assert_eq!(
            choose(&apps, "5000").unwrap_err(),
            "jupyter (port 8090), port 8000"
        );
        assert_eq!(choose(&[], "x").unwrap_err(), "nothing");
    }
}
