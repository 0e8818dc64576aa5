//! Terminals over ttyd through the App Proxy, and the choice between ttyd and the manager's pty.
//!
//! The real peer plays every part it can: its manager answers which App Proxy a resource group
//! uses (`wsproxy-version`, also for a resource group this file creates and removes), and a
//! session on it shows what a terminal does where the configured App Proxy does not run — it
//! falls back to the pty and says why.
//!
//! The peer has no App Proxy and its dummy agent starts no service (`start_service` answers `{}`,
//! on which the manager fails), so the ttyd way is tested against a STAND-IN built in this file:
//! one small server per part — a manager (announcement, login, the session query,
//! `wsproxy-version`, `start-service` and a silent pty websocket), an App Proxy coordinator
//! (`v2/proxy/{token}/{session}/add` → `v2/proxy/auth` → `{redirect_url}`, or 503
//! `WorkerNotAvailable`), a worker (`setup` → 308 to the app with the `appproxy_permit` cookie),
//! and ttyd itself, speaking its documented protocol (`tty` subprotocol, the JSON hello, then
//! `'0'`..`'3'` command bytes) with a shell that echoes keys, reports sizes, floods on request
//! and honours pause/resume as ttyd does by not reading its pty.

use berth_core::frames::FrameStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_backendai::app_proxy::proxy_version;
use berth_backendai::terminal::{
    ClusterTerminal, TerminalTransport, TransportChoice, open_terminal,
};
use berth_backendai::{Connection, Credentials};
use berth_core::frames::{Frame, parse_exit, read_frame, resize_payload, write_frame};
use berth_core::{Engine, ErrorCode, NewSession};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::*;

const SESSION_ID: &str = "5d7b2d0e-8c1a-4f4e-9a53-0d7f1c2b3a4e";
const SESSION_NAME: &str = "standin-session";
const PROJECT_ID: &str = "2de2b969-1d04-48a6-af16-0bc8adb3c831";
const RESOURCE_GROUP: &str = "standin-group";
const TOKEN: &str = "c1f0e6f4-4b57-4c8e-a0a6-2f7f3b1d9e10";
const LOGIN_SESSION: &str = "standin-login-session";
const PERMIT: &str = "permit-4f1c";
/// Bytes the stand-in shell's "flood" sends: far more than any buffer on the way.
const FLOOD: u64 = 32 * 1024 * 1024;
/// Not UTF-8, and not even valid in pieces: what a paste or an Alt key can send.
const RAW: &[u8] = &[0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, b'\r'];

// ---------------------------------------------------------------------------------------------
// The stand-in

#[derive(Default)]
struct Seen {
    /// `start-service` bodies.
    start_service: Mutex<Vec<serde_json::Value>>,
    /// `wsproxy-version` queries.
    versions: Mutex<Vec<String>>,
    /// Every request to the coordinator, worker and app: path with query, and whether it
    /// carried the manager's credentials (it must not).
    proxy_requests: Mutex<Vec<(String, bool)>>,
    /// The ttyd upgrade: its `Cookie` and `Sec-WebSocket-Protocol`.
    ttyd_upgrade: Mutex<Option<(String, String)>>,
    /// Every message ttyd received, whole.
    received: Mutex<Vec<Vec<u8>>>,
    pauses: AtomicU64,
    resumes: AtomicU64,
    /// Output of the flood handed to the socket so far.
    flooded: AtomicU64,
    pty_upgrades: Mutex<Vec<String>>,
    /// The manager's tcpproxy upgrades, path with query.
    tcpproxy_upgrades: Mutex<Vec<String>>,
}

struct StandIn {
    manager: String,
    seen: Arc<Seen>,
}

#[derive(Clone)]
struct Addresses {
    coordinator: String,
    worker: String,
    app: String,
}

/// Starts the four stand-in servers; `worker_free: false` makes the coordinator answer 503
/// `WorkerNotAvailable` the way a real one does when its workers' ports are used up.
async fn start_stand_in(worker_free: bool) -> StandIn {
    let seen = Arc::new(Seen::default());
    let bind = || async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        (listener, address)
    };
    let (manager, manager_address) = bind().await;
    let (coordinator, coordinator_address) = bind().await;
    let (worker, worker_address) = bind().await;
    let (app, app_address) = bind().await;
    let addresses = Addresses {
        coordinator: coordinator_address,
        worker: worker_address,
        app: app_address,
    };
    for (listener, role) in [
        (manager, Role::Manager),
        (coordinator, Role::Coordinator { worker_free }),
        (worker, Role::Worker),
        (app, Role::Ttyd),
    ] {
        let seen = seen.clone();
        let addresses = addresses.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, role, addresses.clone(), seen.clone()));
            }
        });
    }
    StandIn {
        manager: manager_address,
        seen,
    }
}

#[derive(Clone, Copy)]
enum Role {
    Manager,
    Coordinator { worker_free: bool },
    Worker,
    Ttyd,
}

struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn parse_head(text: &str) -> Head {
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or("/").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Head {
        method,
        target,
        headers,
    }
}

async fn serve(mut stream: TcpStream, role: Role, addresses: Addresses, seen: Arc<Seen>) {
    // Peek at the head first: a websocket upgrade is handed to tungstenite unread.
    let mut buf = vec![0u8; 16 * 1024];
    let head_len = loop {
        let n = stream.peek(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        if let Some(end) = buf[..n].windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let head = parse_head(&String::from_utf8_lossy(&buf[..head_len]));
    let carries_credentials =
        head.header("authorization").is_some() || head.header("x-backendai-sessionid").is_some();
    if !matches!(role, Role::Manager) {
        seen.proxy_requests
            .lock()
            .unwrap()
            .push((head.target.clone(), carries_credentials));
    }
    if head
        .header("upgrade")
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
    {
        match role {
            Role::Ttyd => ttyd(stream, seen).await,
            Role::Manager => pty(stream, seen).await,
            _ => {}
        }
        return;
    }
    let mut discard = vec![0u8; head_len];
    stream.read_exact(&mut discard).await.unwrap();
    let length: usize = head
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    let reply = match role {
        Role::Manager => manager(&head, &body, &addresses, &seen),
        Role::Coordinator { worker_free } => coordinator(&head, &addresses, worker_free),
        Role::Worker => worker(&head, &addresses),
        Role::Ttyd => Reply::json(404, r#"{"title": "Not found"}"#),
    };
    let mut response = format!(
        "HTTP/1.1 {} Stand-in\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&reply.body);
    let _ = stream.write_all(response.as_bytes()).await;
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }
}

/// The manager's side, answered like 26.8.1 (through the webserver's `/func/` too).
fn manager(head: &Head, body: &[u8], addresses: &Addresses, seen: &Seen) -> Reply {
    let target = head
        .target
        .strip_prefix("/func")
        .unwrap_or(&head.target)
        .to_string();
    let path = target.split('?').next().unwrap_or_default();
    match (head.method.as_str(), path) {
        ("GET", "/" | "") => Reply::json(200, r#"{"version": "v9.20250722", "manager": "26.8.1"}"#),
        ("POST", "/server/login") => Reply {
            status: 200,
            headers: vec![("X-BackendAI-SessionID", LOGIN_SESSION.to_string())],
            body: r#"{"authenticated": true, "data": {"access_key": "AKSTANDIN", "role": "user", "status": "active"}}"#.into(),
        },
        ("GET", "/folders/_/allowed-types") => Reply::json(200, r#"["user"]"#),
        ("POST", "/admin/gql") => {
            let ports = r#"[{"name": "sshd", "protocol": "tcp", "container_ports": [2200], "host_ports": [30022], "is_inference": false}, {"name": "ttyd", "protocol": "http", "container_ports": [7681], "host_ports": [30681], "is_inference": false}]"#;
            let answer = serde_json::json!({
                "data": {"compute_session_list": {"total_count": 1, "items": [{
                    "id": SESSION_ID, "scaling_group": RESOURCE_GROUP, "group_id": PROJECT_ID,
                    "service_ports": ports,
                }]}},
                "errors": null,
            });
            Reply::json(200, &answer.to_string())
        }
        ("GET", p) if p == format!("/scaling-groups/{RESOURCE_GROUP}/wsproxy-version") => {
            seen.versions.lock().unwrap().push(target.clone());
            Reply::json(200, r#"{"wsproxy_version": "v2"}"#)
        }
        ("POST", p) if p == format!("/session/{SESSION_ID}/start-service") => {
            seen.start_service
                .lock()
                .unwrap()
                .push(serde_json::from_slice(body).unwrap());
            let answer =
                serde_json::json!({ "token": TOKEN, "wsproxy_addr": addresses.coordinator });
            Reply::json(200, &answer.to_string())
        }
        _ => Reply::json(404, r#"{"type": "https://api.backend.ai/probs/url-not-found", "title": "Unknown URL path."}"#),
    }
}

/// The App Proxy coordinator: `add` points at `auth`, which names the worker (JSON only when
/// asked for JSON, as the real one).
fn coordinator(head: &Head, addresses: &Addresses, worker_free: bool) -> Reply {
    let path = head.target.split('?').next().unwrap_or_default();
    let query = head
        .target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default();
    if path == format!("/v2/proxy/{TOKEN}/{SESSION_ID}/add") {
        if !query.contains("app=ttyd") || !query.contains("protocol=http") {
            return Reply::json(400, r#"{"title": "Invalid API parameters."}"#);
        }
        let url = format!(
            "{}/v2/proxy/auth?app=ttyd&protocol=http&token={TOKEN}&session_id={SESSION_ID}",
            addresses.coordinator
        );
        return Reply::json(
            200,
            &serde_json::json!({ "code": 200, "url": url }).to_string(),
        );
    }
    if path == "/v2/proxy/auth" && query.contains(&format!("token={TOKEN}")) {
        if !worker_free {
            return Reply::json(
                503,
                r#"{"type": "https://api.backend.ai/probs/worker-not-available", "title": "Worker not available."}"#,
            );
        }
        if head.header("accept") != Some("application/json") {
            return Reply {
                status: 308,
                headers: vec![("Location", format!("{}/setup?token=jwt", addresses.worker))],
                body: String::new(),
            };
        }
        let answer = serde_json::json!({
            "redirect_url": format!("{}/setup?token=jwt-of-the-circuit", addresses.worker),
            "reuse": false,
        });
        return Reply::json(200, &answer.to_string());
    }
    Reply::json(401, r#"{"title": "Invalid credentials."}"#)
}

/// The worker's `setup`: on to the app's port, with the permit.
fn worker(head: &Head, addresses: &Addresses) -> Reply {
    if head.target != "/setup?token=jwt-of-the-circuit" {
        return Reply::json(401, r#"{"title": "Invalid credentials."}"#);
    }
    Reply {
        status: 308,
        headers: vec![
            ("Location", addresses.app.clone()),
            (
                "Set-Cookie",
                format!("appproxy_permit={PERMIT}; HttpOnly; Max-Age=604800; Path=/; SameSite=Lax"),
            ),
        ],
        body: String::new(),
    }
}

/// The manager's websockets: the pty, as silent as the peer's dummy agent leaves it, and the
/// tcpproxy, which closes at once, as the manager does when it cannot reach the app.
async fn pty(stream: TcpStream, seen: Arc<Seen>) {
    let record = seen.clone();
    let tcpproxy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let is_tcpproxy = tcpproxy.clone();
    #[allow(clippy::result_large_err)] // tungstenite's callback type, not ours
    let callback = move |request: &Request, response: Response| {
        let path = request.uri().path().to_string();
        if path.ends_with("/tcpproxy") {
            is_tcpproxy.store(true, Ordering::SeqCst);
            let query = request.uri().query().unwrap_or_default();
            record
                .tcpproxy_upgrades
                .lock()
                .unwrap()
                .push(format!("{path}?{query}"));
        } else {
            record.pty_upgrades.lock().unwrap().push(path);
        }
        Ok(response)
    };
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    if tcpproxy.load(Ordering::SeqCst) {
        let _ = socket.close(None).await;
        return;
    }
    while let Some(Ok(_)) = socket.next().await {}
}

/// ttyd: checks the permit and the subprotocol, waits for the JSON hello, sends the title and
/// preferences, then runs a "shell" that echoes what it is sent.
async fn ttyd(stream: TcpStream, seen: Arc<Seen>) {
    let record = seen.clone();
    #[allow(clippy::result_large_err)] // tungstenite's callback type, not ours
    let callback = move |request: &Request, mut response: Response| {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let (cookie, protocol) = (header("cookie"), header("sec-websocket-protocol"));
        *record.ttyd_upgrade.lock().unwrap() = Some((cookie.clone(), protocol.clone()));
        // The worker refuses requests without its permit (E20004).
        if request.uri().path() != "/ws" || !cookie.contains(&format!("appproxy_permit={PERMIT}")) {
            let mut refusal = ErrorResponse::new(Some(
                r#"{"title": "E20004: Authorization cookie not provided"}"#.to_string(),
            ));
            *refusal.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::UNAUTHORIZED;
            return Err(refusal);
        }
        if protocol == "tty" {
            response
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", "tty".parse().unwrap());
        }
        Ok(response)
    };
    let Ok(socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let (send, mut receive) = socket.split();
    let send = Arc::new(tokio::sync::Mutex::new(send));
    let output = |bytes: &[u8]| {
        let mut message = vec![b'0'];
        message.extend_from_slice(bytes);
        Message::binary(message)
    };
    let resumed = Arc::new(Notify::new());
    let paused = Arc::new(AtomicBool::new(false));
    let mut flood: Option<tokio::task::JoinHandle<()>> = None;
    while let Some(Ok(message)) = receive.next().await {
        let bytes = match message {
            Message::Binary(bytes) => bytes.to_vec(),
            Message::Text(text) => text.as_bytes().to_vec(),
            Message::Close(_) => break,
            _ => continue,
        };
        seen.received.lock().unwrap().push(bytes.clone());
        // Pause and resume are handled even while the flood waits on a full socket, as ttyd
        // handles them apart from writing.
        match bytes.first() {
            Some(b'{') => {
                let mut sink = send.lock().await;
                let _ = sink
                    .send(Message::binary(b"1bash (stand-in)".to_vec()))
                    .await;
                let _ = sink
                    .send(Message::binary(br#"2{"fontSize": 13}"#.to_vec()))
                    .await;
                let _ = sink.send(output(b"$ ")).await;
            }
            Some(b'0') => {
                let keys = &bytes[1..];
                if keys == b"flood\r" {
                    let send = send.clone();
                    let (paused, resumed, seen) = (paused.clone(), resumed.clone(), seen.clone());
                    flood = Some(tokio::spawn(async move {
                        // Every byte value in turn, so the reader can check each one.
                        let chunk: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
                        while seen.flooded.load(Ordering::SeqCst) < FLOOD {
                            // ttyd stops reading its pty while paused.
                            while paused.load(Ordering::SeqCst) {
                                resumed.notified().await;
                            }
                            if send.lock().await.send(output(&chunk)).await.is_err() {
                                return;
                            }
                            seen.flooded.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                        }
                        let _ = send.lock().await.close().await;
                    }));
                } else if keys == b"exit 3\r" {
                    // ttyd closes with 1011 when the shell exits non-zero.
                    let _ = send
                        .lock()
                        .await
                        .send(Message::Close(Some(CloseFrame {
                            code: CloseCode::Error,
                            reason: "".into(),
                        })))
                        .await;
                } else {
                    let _ = send.lock().await.send(output(keys)).await;
                }
            }
            Some(b'1') => {
                let size: serde_json::Value = serde_json::from_slice(&bytes[1..]).unwrap();
                let line = format!("size {}x{}\r\n", size["rows"], size["columns"]);
                let _ = send.lock().await.send(output(line.as_bytes())).await;
            }
            Some(b'2') => {
                seen.pauses.fetch_add(1, Ordering::SeqCst);
                paused.store(true, Ordering::SeqCst);
            }
            Some(b'3') => {
                seen.resumes.fetch_add(1, Ordering::SeqCst);
                paused.store(false, Ordering::SeqCst);
                resumed.notify_one();
            }
            _ => {}
        }
    }
    if let Some(flood) = flood {
        flood.abort();
    }
}

/// A terminal of 80×24 on session `id` (`name`) over the `choice` of transport.
async fn open_80x24(
    connection: &Arc<Connection>,
    id: &str,
    name: &str,
    choice: TransportChoice,
) -> berth_core::Result<ClusterTerminal> {
    open_terminal(connection, id, name, 80, 24, choice).await
}

// ---------------------------------------------------------------------------------------------
// Reading the terminal

/// Output frames until `wanted` has arrived (or the stream ended); the exit status if it did.
fn read_until(stream: &mut FrameStream, wanted: &[u8]) -> (Vec<u8>, Option<i32>) {
    let mut seen = Vec::new();
    let mut payload = Vec::new();
    while !seen.windows(wanted.len().max(1)).any(|w| w == wanted) {
        match read_frame(stream, &mut payload).unwrap() {
            Some(Frame::Output) => seen.extend_from_slice(&payload),
            Some(Frame::Exit) => return (seen, Some(parse_exit(&payload))),
            _ => break,
        }
    }
    (seen, None)
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// The ttyd way, against the stand-in

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_reach_ttyd_as_input_frames_resizes_as_json_and_output_comes_back_byte_exact() {
    let stand_in = start_stand_in(true).await;
    let connection = stand_in_connection(&stand_in.manager).await;
    let ClusterTerminal {
        stream,
        transport,
        app_proxy_unavailable,
    } = open_80x24(&connection, SESSION_ID, SESSION_NAME, TransportChoice::Auto)
        .await
        .unwrap();
    assert_eq!(transport, TerminalTransport::Ttyd);
    assert_eq!(app_proxy_unavailable, None);

    let (prompt, echoed, raw, resized) = blocking(move || {
        let mut stream = stream;
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let prompt = read_until(&mut stream, b"$ ").0;
        write_frame(&mut stream, Frame::Input, "echo héllo\r".as_bytes()).unwrap();
        let echoed = read_until(&mut stream, "echo héllo\r".as_bytes()).0;
        write_frame(&mut stream, Frame::Input, RAW).unwrap();
        let raw = read_until(&mut stream, RAW).0;
        write_frame(&mut stream, Frame::Resize, &resize_payload(132, 43)).unwrap();
        let resized = read_until(&mut stream, b"size 43x132\r\n").0;
        (prompt, echoed, raw, resized)
    })
    .await;
    // The title and preferences ttyd sends first are not output.
    assert_eq!(prompt, b"$ ");
    assert_eq!(echoed, "echo héllo\r".as_bytes());
    assert_eq!(raw, RAW, "bytes that are not UTF-8 pass through untouched");
    assert_eq!(resized, b"size 43x132\r\n");

    let received = stand_in.seen.received.lock().unwrap().clone();
    let hello: serde_json::Value = serde_json::from_slice(&received[0]).unwrap();
    assert_eq!(
        hello,
        serde_json::json!({ "AuthToken": "", "columns": 80, "rows": 24 })
    );
    assert_eq!(received[1], b"0echo h\xc3\xa9llo\r");
    let mut raw_input = vec![b'0'];
    raw_input.extend_from_slice(RAW);
    assert_eq!(received[2], raw_input);
    let resize: serde_json::Value = serde_json::from_slice(&received[3][1..]).unwrap();
    assert_eq!(received[3][0], b'1');
    assert_eq!(resize, serde_json::json!({ "columns": 132, "rows": 43 }));

    // The way there: the resource group's proxy asked with the project, ttyd started, the
    // circuit opened, and the permit the worker set carried to ttyd with the subprotocol.
    assert_eq!(
        *stand_in.seen.versions.lock().unwrap(),
        [format!(
            "/scaling-groups/{RESOURCE_GROUP}/wsproxy-version?group={PROJECT_ID}"
        )]
    );
    assert_eq!(
        *stand_in.seen.start_service.lock().unwrap(),
        [serde_json::json!({ "app": "ttyd" })],
        "a keypair login has no login session to hand on"
    );
    assert_eq!(
        stand_in.seen.ttyd_upgrade.lock().unwrap().clone(),
        Some((format!("appproxy_permit={PERMIT}"), "tty".to_string()))
    );
    let proxy_requests = stand_in.seen.proxy_requests.lock().unwrap().clone();
    let paths: Vec<&str> = proxy_requests
        .iter()
        .map(|(p, _)| p.split('?').next().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            format!("/v2/proxy/{TOKEN}/{SESSION_ID}/add").as_str(),
            "/v2/proxy/auth",
            "/setup",
            "/ws"
        ]
    );
    assert!(
        proxy_requests.iter().all(|(_, credentials)| !credentials),
        "the manager's credentials never go to the App Proxy: {proxy_requests:?}"
    );
    assert!(stand_in.seen.pty_upgrades.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webserver_login_hands_its_session_to_the_app_proxy_and_a_failed_shell_exits_non_zero() {
    let stand_in = start_stand_in(true).await;
    let connection = Connection::open(
        &stand_in.manager,
        Credentials::Password {
            email: "someone@example.com".into(),
            password: "pw".into(),
            otp: None,
        },
    )
    .await
    .map(Arc::new)
    .unwrap();
    let opened = open_80x24(&connection, SESSION_ID, SESSION_NAME, TransportChoice::Ttyd)
        .await
        .unwrap();
    assert_eq!(opened.transport, TerminalTransport::Ttyd);
    assert_eq!(
        *stand_in.seen.start_service.lock().unwrap(),
        [serde_json::json!({ "app": "ttyd", "login_session_token": LOGIN_SESSION })]
    );
    let status = blocking(move || {
        let mut stream = opened.stream;
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        read_until(&mut stream, b"$ ");
        write_frame(&mut stream, Frame::Input, b"exit 3\r").unwrap();
        read_until(&mut stream, b"never printed").1
    })
    .await;
    assert_eq!(
        status,
        Some(1),
        "ttyd's 1011 close means the shell failed; its status is not sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_pauses_ttyd_while_nobody_reads_and_arrives_whole_after_resume() {
    let stand_in = start_stand_in(true).await;
    let connection = stand_in_connection(&stand_in.manager).await;
    let opened = open_80x24(&connection, SESSION_ID, SESSION_NAME, TransportChoice::Ttyd)
        .await
        .unwrap();
    let mut stream = opened.stream;
    write_frame(&mut stream, Frame::Input, b"flood\r").unwrap();

    // Nobody reads (the UI stopped acknowledging): ttyd is told to pause and the flood stops
    // well short of its end. (Whether the stand-in then waits for the resume or on a full
    // socket depends on how fast loopback fills; a real ttyd, too, leaves a write pending.)
    let mut last = 0;
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = stand_in.seen.flooded.load(Ordering::SeqCst);
        if now == last && now > 0 {
            break;
        }
        last = now;
    }
    let stalled_at = stand_in.seen.flooded.load(Ordering::SeqCst);
    assert!(
        stalled_at > 0 && stalled_at < FLOOD / 2,
        "ttyd got {stalled_at} of {FLOOD} bytes out with nobody reading"
    );
    assert!(
        stand_in.seen.pauses.load(Ordering::SeqCst) >= 1,
        "ttyd was told to pause"
    );

    // Reading again resumes it; every byte arrives, in order, then the end.
    let (total, exit) = blocking(move || {
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        // The prompt comes first; the flood's bytes count up from 0 after it.
        let (prompt, _) = read_until(&mut stream, b"$ ");
        assert_eq!(prompt, b"$ ");
        let mut payload = Vec::new();
        let mut total = 0u64;
        loop {
            match read_frame(&mut stream, &mut payload).unwrap() {
                Some(Frame::Output) => {
                    for &byte in &payload {
                        assert_eq!(byte, (total % 256) as u8, "byte {total} of the flood");
                        total += 1;
                    }
                }
                Some(Frame::Exit) => return (total, Some(parse_exit(&payload))),
                None => return (total, None),
                Some(_) => {}
            }
        }
    })
    .await;
    assert_eq!(total, FLOOD, "every flooded byte arrived");
    assert_eq!(exit, Some(0));
    // The last resume may still be on its way to the stand-in when the end arrives here.
    let counts = || {
        (
            stand_in.seen.pauses.load(Ordering::SeqCst),
            stand_in.seen.resumes.load(Ordering::SeqCst),
        )
    };
    for _ in 0..100 {
        if counts().0 == counts().1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (pauses, resumes) = counts();
    assert_eq!(pauses, resumes, "each pause was followed by a resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_proxy_without_a_free_worker_is_an_error_when_asked_for_and_the_tcpproxy_is_tried_otherwise()
 {
    let stand_in = start_stand_in(false).await;
    let connection = stand_in_connection(&stand_in.manager).await;
    let error = open_80x24(&connection, SESSION_ID, SESSION_NAME, TransportChoice::Ttyd)
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Unreachable, "{error}");
    assert!(
        error.message.contains("503") && error.message.contains("Worker not available."),
        "{error}"
    );
    assert!(
        error.message.contains("Try again"),
        "says what to do: {error}"
    );
    assert!(
        !error.message.contains(TOKEN),
        "no token in what the user sees: {error}"
    );
    let json = serde_json::to_value(&error).unwrap();
    assert_eq!(json["code"], "unreachable");

    // Auto goes on to ttyd through the manager's tcpproxy (never to the silent pty); this
    // stand-in's manager cannot reach the app, so both reasons are the error.
    let both = open_80x24(&connection, SESSION_ID, SESSION_NAME, TransportChoice::Auto)
        .await
        .unwrap_err();
    assert!(
        both.message.contains("tcpproxy") && both.message.contains(&error.message),
        "{both}"
    );
    assert_eq!(
        *stand_in.seen.tcpproxy_upgrades.lock().unwrap(),
        [format!("/stream/session/{SESSION_NAME}/tcpproxy?app=ttyd")]
    );
    assert!(stand_in.seen.pty_upgrades.lock().unwrap().is_empty());

    // The pty only when asked for by name.
    let chosen = open_80x24(&connection, SESSION_ID, SESSION_NAME, TransportChoice::Pty)
        .await
        .unwrap();
    assert_eq!(chosen.transport, TerminalTransport::Pty);
    assert_eq!(
        *stand_in.seen.pty_upgrades.lock().unwrap(),
        [format!("/stream/session/{SESSION_NAME}/pty")]
    );
}

// ---------------------------------------------------------------------------------------------
// The real peer

/// The fixtures' second user, whose keypair no other test gives a resource group: the one
/// this file creates is visible to it alone.
const USER2_ACCESS_KEY: &str = "AKIANATWOUSEREXAMPLE";
const USER2_SECRET_KEY: &str = "P7oxTDdzHbEpUSs5v7r7EWj9yKstp8VpZ7SEyA-g";

/// A resource group of this test's own, allowed for user2's keypair only, removed when the
/// test ends, failed or not.
struct ResourceGroup(String);

impl ResourceGroup {
    fn create(name: String) -> Self {
        psql(&format!(
            "insert into scaling_groups (name, description, is_active, is_public, driver, \
             driver_opts, scheduler, use_host_network, scheduler_opts, \
             default_deployment_options, default_session_options) \
             select '{name}', 'Berth ttyd test', true, true, driver, driver_opts, scheduler, \
             use_host_network, scheduler_opts, default_deployment_options, \
             default_session_options from scaling_groups where name = 'default'"
        ));
        let group = Self(name);
        psql(&format!(
            "insert into sgroups_for_keypairs (scaling_group, access_key) values ('{}', '{USER2_ACCESS_KEY}')",
            group.0
        ));
        group
    }

    fn set_app_proxy(&self, address: Option<&str>) {
        let value = address.map_or("null".to_string(), |a| format!("'{a}'"));
        psql(&format!(
            "update scaling_groups set wsproxy_addr = {value} where name = '{}'",
            self.0
        ));
    }
}

impl Drop for ResourceGroup {
    fn drop(&mut self) {
        psql(&format!(
            "delete from sgroups_for_keypairs where scaling_group = '{}'",
            self.0
        ));
        psql(&format!(
            "delete from scaling_groups where name = '{}'",
            self.0
        ));
    }
}

/// A stand-in App Proxy coordinator's `/status`, the one call the manager makes to it for
/// `wsproxy-version`.
async fn coordinator_status() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let body = if head.starts_with(b"GET /status ") {
                    r#"{"api_version": "v2", "advertise_address": null}"#
                } else {
                    "{}"
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    address
}

#[tokio::test]
async fn the_managers_wsproxy_version_follows_the_resource_groups_app_proxy() {
    require_peer().await;
    let connection = Connection::open(
        MANAGER,
        Credentials::Keypair {
            access_key: USER2_ACCESS_KEY.into(),
            secret_key: USER2_SECRET_KEY.into(),
        },
    )
    .await
    .unwrap();
    let project = psql("select id from groups where name = 'default'");
    let group = ResourceGroup::create(unique("berth-ttyd"));

    // No coordinator configured: the manager says v1 (apps only through a local proxy).
    group.set_app_proxy(None);
    assert_eq!(
        proxy_version(&connection, &group.0, &project)
            .await
            .unwrap(),
        "v1"
    );
    // A coordinator configured: the manager asks it and passes its answer on.
    let coordinator = coordinator_status().await;
    group.set_app_proxy(Some(&coordinator));
    assert_eq!(
        proxy_version(&connection, &group.0, &project)
            .await
            .unwrap(),
        "v2"
    );
    // A resource group the user may not use is not found.
    let error = proxy_version(&connection, "no-such-group", &project)
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::NotFound, "{error}");
}

/// The peer's session, destroyed when the test ends, failed or not.
struct PeerSession(Option<String>);

impl Drop for PeerSession {
    fn drop(&mut self) {
        let Some(id) = self.0.take() else { return };
        // The test's own runtime is the one being dropped from; this gets its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Err(error) = engine().await.destroy_session(&id).await {
                    eprintln!("cleanup: session {id}: {error}");
                }
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_dummy_agent_no_terminal_opens_and_the_error_says_why_for_each_way() {
    let engine = engine().await;
    let name = unique("bs-ttyd");
    let mut cleanup = PeerSession(None);
    let created = engine
        .create_session(NewSession {
            name: Some(name.clone()),
            ..NewSession::interactive("cr.backend.ai/stable/python:3.9-ubuntu20.04", vec![])
        })
        .await
        .unwrap();
    cleanup.0 = Some(created.id.clone());

    // The peer's resource group names an App Proxy (the example fixture's 127.0.0.1:5050) that
    // does not run, so the manager cannot say which version it is. Neither this nor the pty's
    // upgrade reaches the dummy agent, so its 60-second kernel sweep cannot change the outcome.
    let error = open_80x24(
        engine.connection(),
        &created.id,
        &name,
        TransportChoice::Ttyd,
    )
    .await
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::Internal, "{error}");
    assert!(
        error.message.contains("wsproxy-version") && error.message.contains("AppProxy"),
        "{error}"
    );

    // The dummy agent runs no ttyd either: Auto says so for both ways rather than opening the
    // pty, which would leave the tab blank.
    let both = open_80x24(
        engine.connection(),
        &created.id,
        &name,
        TransportChoice::Auto,
    )
    .await
    .unwrap_err();
    assert!(
        both.message.contains("tcpproxy") && both.message.contains(&error.message),
        "{both}"
    );

    let chosen = open_80x24(
        engine.connection(),
        &created.id,
        &name,
        TransportChoice::Pty,
    )
    .await
    .unwrap();
    assert_eq!(chosen.transport, TerminalTransport::Pty);
    assert_eq!(chosen.app_proxy_unavailable, None);

    // Nor can it run a command: exec says so instead of hanging or passing.
    let argv = ["true".to_owned()];
    let refused = berth_backendai::exec::exec(engine.connection(), &name, &argv, |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::Internal);
    assert!(
        refused.message.contains("could not run the command") && refused.message.contains(&name),
        "{refused}"
    );
}
