//! A cluster session's web app opened through the resource group's App Proxy, still on this
//! computer's loopback, and the choice between the App Proxy and the manager's tcpproxy with
//! its reason.
//!
//! The peer has no App Proxy, so this runs against a STAND-IN built here: a manager (the
//! announcement, the session query, `wsproxy-version`, `start-service`, and a tcpproxy websocket
//! that echoes), an App Proxy coordinator (`add` → `auth` → the worker's setup address, or 503
//! `WorkerNotAvailable`) and a worker that serves the "app" itself: `setup` sets the permit
//! cookie and sends the browser on; every other request must carry that cookie and the worker's
//! own host (and origin, for a websocket), and is answered with what arrived.

use std::sync::{Arc, Mutex};

use berth_backendai::{BackendAiEngine, Connection, Credentials};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const SESSION_ID: &str = "7a0d3c55-1f2e-4b6a-9c8d-5e4f3a2b1c0d";
const SESSION_NAME: &str = "standin-apps";
const PROJECT_ID: &str = "2de2b969-1d04-48a6-af16-0bc8adb3c831";
const RESOURCE_GROUP: &str = "standin-group";
const TOKEN: &str = "0b9e6a8e-52f6-4f1f-8d7e-3c2a1b0f9e8d";
const PERMIT: &str = "appproxy_permit=permit-77";

#[derive(Clone, Copy, PartialEq)]
enum Proxy {
    /// The resource group has an App Proxy with a worker free.
    Working,
    /// It has one, but no worker is free (503).
    Busy,
    /// It has none (`v1`).
    None,
}

#[derive(Default)]
struct Seen {
    /// Requests the worker got: request line, and whether they carried the manager's
    /// credentials (they must not).
    worker: Mutex<Vec<(String, bool)>>,
    tcpproxy: Mutex<Vec<String>>,
}

struct StandIn {
    manager: String,
    seen: Arc<Seen>,
}

async fn start(proxy: Proxy) -> StandIn {
    let seen = Arc::new(Seen::default());
    let manager = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let coordinator = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let worker = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addresses = Arc::new([
        format!("http://{}", manager.local_addr().unwrap()),
        format!("http://{}", coordinator.local_addr().unwrap()),
        format!("http://{}", worker.local_addr().unwrap()),
    ]);
    for (listener, role) in [(manager, 0), (coordinator, 1), (worker, 2)] {
        let (seen, addresses) = (seen.clone(), addresses.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, addresses) = (seen.clone(), addresses.clone());
                tokio::spawn(async move {
                    serve(stream, role, proxy, &addresses, &seen).await;
                });
            }
        });
    }
    StandIn {
        manager: addresses[0].clone(),
        seen,
    }
}

/// The head of the request waiting on `stream`, read without taking it (a websocket upgrade
/// is handed to tungstenite whole).
async fn peek_head(stream: &TcpStream) -> Option<(String, usize)> {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = stream.peek(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        if let Some(end) = buffer[..n].windows(4).position(|w| w == b"\r\n\r\n") {
            return Some((
                String::from_utf8_lossy(&buffer[..end + 4]).into_owned(),
                end + 4,
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn serve(
    mut stream: TcpStream,
    role: u8,
    proxy: Proxy,
    addresses: &[String; 3],
    seen: &Seen,
) {
    let Some((head, head_len)) = peek_head(&stream).await else {
        return;
    };
    let line = head.lines().next().unwrap_or_default().to_string();
    let target = line.split(' ').nth(1).unwrap_or("/").to_string();
    let upgrade = header(&head, "upgrade").is_some();
    if role == 2 {
        let credentials = header(&head, "authorization").is_some()
            || header(&head, "x-backendai-sessionid").is_some();
        seen.worker
            .lock()
            .unwrap()
            .push((line.clone(), credentials));
    }
    if upgrade {
        if role == 0 {
            seen.tcpproxy.lock().unwrap().push(target.clone());
        }
        let permitted = role == 0
            || (header(&head, "cookie").is_some_and(|c| c.contains(PERMIT))
                && header(&head, "origin") == Some(addresses[2].as_str()));
        if permitted {
            echo_websocket(stream).await;
        }
        return;
    }
    let mut head_bytes = vec![0u8; head_len];
    stream.read_exact(&mut head_bytes).await.unwrap();
    let length: usize = header(&head, "content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    let path = target.split('?').next().unwrap_or_default().to_string();
    let json = |status: u16, body: String| (status, Vec::new(), body);
    let (status, headers, body): (u16, Vec<(&str, String)>, String) = match (role, path.as_str()) {
        (0, "/") => json(200, r#"{"version": "v9.20250722", "manager": "26.8.1"}"#.into()),
        (0, "/folders/_/allowed-types") => json(200, r#"["user"]"#.into()),
        (0, "/admin/gql") => {
            let ports = r#"[{"name": "jupyter", "protocol": "http", "container_ports": [8090]}, {"name": "sshd", "protocol": "tcp", "container_ports": [2200]}]"#;
            let item = serde_json::json!({
                "id": SESSION_ID, "name": SESSION_NAME, "status": "RUNNING", "type": "INTERACTIVE",
                "scaling_group": RESOURCE_GROUP, "group_id": PROJECT_ID, "service_ports": ports,
            });
            let answer = serde_json::json!({"data": {"compute_session_list": {"total_count": 1, "items": [item]}}});
            json(200, answer.to_string())
        }
        (0, p) if p == format!("/scaling-groups/{RESOURCE_GROUP}/wsproxy-version") => {
            let version = if proxy == Proxy::None { "v1" } else { "v2" };
            json(200, format!(r#"{{"wsproxy_version": "{version}"}}"#))
        }
        (0, p) if p == format!("/session/{SESSION_ID}/start-service") => json(
            200,
            serde_json::json!({"token": TOKEN, "wsproxy_addr": addresses[1]}).to_string(),
        ),
        (1, p) if p == format!("/v2/proxy/{TOKEN}/{SESSION_ID}/add") => json(
            200,
            serde_json::json!({"url": format!("{}/v2/proxy/auth?token={TOKEN}", addresses[1])}).to_string(),
        ),
        (1, "/v2/proxy/auth") if proxy == Proxy::Busy => json(
            503,
            r#"{"type": "https://api.backend.ai/probs/worker-not-available", "title": "Worker not available."}"#.into(),
        ),
        (1, "/v2/proxy/auth") => json(
            200,
            serde_json::json!({"redirect_url": format!("{}/setup?token=jwt", addresses[2]), "reuse": false}).to_string(),
        ),
        // Where the app answers, with the permit: an absolute address, as the real worker's.
        (2, "/setup") => (
            302,
            vec![
                ("Location", format!("{}/", addresses[2])),
                ("Set-Cookie", format!("{PERMIT}; Path=/; HttpOnly")),
            ],
            String::new(),
        ),
        (2, _) => {
            let cookie = header(&head, "cookie").unwrap_or_default();
            if !cookie.contains(PERMIT) {
                json(401, "no permit".into())
            } else {
                let host = header(&head, "host").unwrap_or_default();
                let connection = header(&head, "connection").unwrap_or_default();
                (
                    200,
                    Vec::new(),
                    format!(
                        "app got {line} host={host} connection={connection} cookie={cookie} body={}",
                        String::from_utf8_lossy(&body)
                    ),
                )
            }
        }
        _ => json(404, r#"{"title": "Unknown URL path."}"#.into()),
    };
    let mut response = format!(
        "HTTP/1.1 {status} Stand-in\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&body);
    let _ = stream.write_all(response.as_bytes()).await;
}

async fn echo_websocket(stream: TcpStream) {
    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    while let Some(Ok(message)) = socket.next().await {
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && socket.send(message).await.is_err()
        {
            return;
        }
    }
}

async fn engine(stand_in: &StandIn) -> BackendAiEngine {
    let connection = Connection::open(
        &stand_in.manager,
        Credentials::Keypair {
            access_key: "AKSTANDIN".into(),
            secret_key: "stand-in-secret".into(),
        },
    )
    .await
    .unwrap();
    BackendAiEngine::new("standin", connection)
}

/// Sends `request` to `address` and reads the whole answer.
async fn ask(address: std::net::SocketAddr, request: &str) -> String {
    let mut socket = TcpStream::connect(address).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_app_opens_through_the_app_proxy_on_loopback_with_the_permit_kept_from_the_browser() {
    let stand_in = start(Proxy::Working).await;
    let engine = engine(&stand_in).await;
    let forward = engine
        .open_app(SESSION_NAME, "jupyter", None)
        .await
        .unwrap();
    assert!(forward.local.ip().is_loopback());
    assert_eq!(
        forward.record.via.as_deref(),
        Some("the cluster's App Proxy")
    );
    let worker_host = stand_in.seen.worker.lock().unwrap().clone();
    assert!(
        worker_host.iter().any(|(l, _)| l.starts_with("GET /setup")),
        "{worker_host:?}"
    );

    // A page: the worker gets its own host, the permit beside the browser's cookie, and a
    // request to close after answering; the browser never sees the permit.
    let page = ask(
        forward.local,
        &format!(
            "GET /lab?reset HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\nCookie: _xsrf=x1\r\n\r\n",
            forward.local
        ),
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("app got GET /lab?reset HTTP/1.1"), "{page}");
    assert!(page.contains("connection=close"), "{page}");
    assert!(
        page.contains(&format!("cookie=_xsrf=x1; {PERMIT}")),
        "{page}"
    );
    let (head, _) = page.split_once("\r\n\r\n").unwrap();
    assert!(
        !head.contains("permit"),
        "no permit for the browser: {head}"
    );

    // A request with a body, the body arriving in the same read as the head.
    let posted = ask(
        forward.local,
        "POST /api/contents HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello there",
    )
    .await;
    assert!(
        posted.contains("app got POST /api/contents HTTP/1.1"),
        "{posted}"
    );
    assert!(posted.ends_with("body=hello there"), "{posted}");

    // A websocket (a notebook's kernel channel), its origin made the worker's.
    let (mut socket, _) = tokio_tungstenite::client_async(
        {
            let mut request =
                tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                    format!("ws://{}/api/kernels/k1/channels", forward.local),
                )
                .unwrap();
            request.headers_mut().insert(
                "Origin",
                format!("http://{}", forward.local).parse().unwrap(),
            );
            request
        },
        TcpStream::connect(forward.local).await.unwrap(),
    )
    .await
    .unwrap();
    socket.send(Message::text("execute 6*7")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("execute 6*7")
    );

    // Nothing went the manager's way, and the worker never saw the manager's credentials.
    assert!(stand_in.seen.tcpproxy.lock().unwrap().is_empty());
    let worker = stand_in.seen.worker.lock().unwrap().clone();
    assert!(
        worker.iter().all(|(_, credentials)| !credentials),
        "{worker:?}"
    );
    assert_eq!(forward.connections(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_app_proxy_or_a_free_worker_the_manager_carries_the_app_and_the_forward_says_why()
 {
    for (proxy, why) in [
        (
            Proxy::None,
            format!(
                "the manager's tcpproxy (resource group \"{RESOURCE_GROUP}\" has no App Proxy: the manager reports v1)"
            ),
        ),
        (
            Proxy::Busy,
            "the manager's tcpproxy (the App Proxy did not open it: The cluster's app proxy at"
                .to_string(),
        ),
    ] {
        let stand_in = start(proxy).await;
        let engine = engine(&stand_in).await;
        let forward = engine
            .open_app(SESSION_NAME, "jupyter", None)
            .await
            .unwrap();
        let via = forward.record.via.clone().unwrap();
        assert!(via.starts_with(&why), "{via}");
        let mut socket = TcpStream::connect(forward.local).await.unwrap();
        socket.write_all(b"through the manager").await.unwrap();
        let mut echoed = vec![0u8; 19];
        socket.read_exact(&mut echoed).await.unwrap();
        assert_eq!(echoed, b"through the manager");
        assert!(
            stand_in
                .seen
                .tcpproxy
                .lock()
                .unwrap()
                .iter()
                .any(|t| t.contains("app=jupyter")),
            "the manager's tcpproxy carried it"
        );
    }
    // SSH is a TCP app: the manager's way, whatever the resource group has.
    let stand_in = start(Proxy::Working).await;
    let engine = engine(&stand_in).await;
    let forward = engine.open_app(SESSION_NAME, "sshd", None).await.unwrap();
    assert_eq!(
        forward.record.via.as_deref(),
        Some("the manager's tcpproxy (which carries ports and TCP apps such as SSH)")
    );
}
