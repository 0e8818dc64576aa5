//! The terminal bridge to a Backend.AI session's pty websocket. The peer's dummy agent runs no
//! shell, so the bridge is tested against a STAND-IN: a small server in this file that answers
//! like a manager (`GET /`, a keypair check) and speaks the documented pty message format
//! (`stdin` / `resize` in, `out` back, base64 bytes). The handshake against the real manager is
//! covered by the sessions tests once a session exists there.

use berth_core::frames::FrameStream;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::stand_in_connection;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use berth_backendai::pty::open_pty;
use berth_core::frames::{Frame, read_frame, resize_payload, write_frame};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// How much the stand-in's "flood" command sends: far more than any buffer on the way.
const FLOOD: u64 = 64 * 1024 * 1024;

#[derive(Default)]
struct StandIn {
    /// The path and Authorization header of each websocket upgrade.
    upgrades: Mutex<Vec<(String, String)>>,
    /// Bytes of `out` the flood has handed to the socket so far.
    flooded: AtomicU64,
}

async fn start_stand_in() -> (String, Arc<StandIn>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(StandIn::default());
    let serving = state.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(stream, serving.clone()));
        }
    });
    (address, state)
}

async fn serve(mut stream: TcpStream, state: Arc<StandIn>) {
    let mut head = vec![0u8; 8192];
    let seen = loop {
        let n = stream.peek(&mut head).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        if head[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let text = String::from_utf8_lossy(&head[..seen]).to_lowercase();
    if text.contains("upgrade: websocket") {
        let record = state.clone();
        // The callback's error type is tungstenite's, large by its design, not ours.
        #[allow(clippy::result_large_err)]
        let callback = move |request: &Request, response: Response| {
            let auth = request
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            record
                .upgrades
                .lock()
                .unwrap()
                .push((request.uri().path().to_string(), auth));
            Ok(response)
        };
        let Ok(socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
            return;
        };
        pty(socket, state).await;
        return;
    }
    // A plain request: consume its head and answer like a 26.8.1 manager.
    let end = text.find("\r\n\r\n").unwrap() + 4;
    let mut discard = vec![0u8; end];
    let _ = stream.read_exact(&mut discard).await;
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
    let body = match path.as_str() {
        "/" => r#"{"version": "v9.20250722", "manager": "26.8.1"}"#,
        "/folders/_/allowed-types" => r#"["user"]"#,
        _ => "{}",
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

/// The documented pty protocol: echo what is typed (as a tty does), report sizes, and flood
/// on request.
async fn pty(socket: tokio_tungstenite::WebSocketStream<TcpStream>, state: Arc<StandIn>) {
    let (mut send, mut receive) = socket.split();
    // As binary frames, the way the 26.8 manager sends them.
    let out = |bytes: &[u8]| {
        Message::binary(
            serde_json::json!({ "type": "out", "data": BASE64.encode(bytes) })
                .to_string()
                .into_bytes(),
        )
    };
    while let Some(Ok(message)) = receive.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        match parsed["type"].as_str() {
            Some("resize") => {
                let line = format!("size {}x{}\r\n", parsed["rows"], parsed["cols"]);
                if send.send(out(line.as_bytes())).await.is_err() {
                    return;
                }
            }
            Some("stdin") => {
                let keys = BASE64.decode(parsed["chars"].as_str().unwrap()).unwrap();
                if keys == b"flood\r" {
                    let chunk = vec![b'y'; 64 * 1024];
                    while state.flooded.load(Ordering::SeqCst) < FLOOD {
                        if send.send(out(&chunk)).await.is_err() {
                            return;
                        }
                        state
                            .flooded
                            .fetch_add(chunk.len() as u64, Ordering::SeqCst);
                    }
                    let _ = send.close().await;
                    return;
                }
                if send.send(out(&keys)).await.is_err() {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// Reads output frames until `wanted` shows up (or the stream ends).
fn read_until(stream: &mut FrameStream, wanted: &str) -> String {
    let mut seen = String::new();
    let mut payload = Vec::new();
    while !seen.contains(wanted) {
        match read_frame(stream, &mut payload).unwrap() {
            Some(Frame::Output) => seen.push_str(&String::from_utf8_lossy(&payload)),
            _ => break,
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_resizes_reach_the_pty_and_its_output_comes_back() {
    let (address, stand_in) = start_stand_in().await;
    let connection = stand_in_connection(&address).await;
    let stream = open_pty(&connection, "my-session", 80, 24).await.unwrap();
    let seen = tokio::task::spawn_blocking(move || {
        let mut stream = stream;
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        // The opening size goes first.
        let opening = read_until(&mut stream, "size 24x80");
        write_frame(&mut stream, Frame::Input, "echo héllo\r".as_bytes()).unwrap();
        let echoed = read_until(&mut stream, "echo héllo\r");
        write_frame(&mut stream, Frame::Resize, &resize_payload(132, 43)).unwrap();
        let resized = read_until(&mut stream, "size 43x132");
        stream.flush().unwrap();
        (opening, echoed, resized)
    })
    .await
    .unwrap();
    assert!(seen.0.contains("size 24x80"), "{:?}", seen.0);
    assert!(seen.1.contains("echo héllo\r"), "{:?}", seen.1);
    assert!(seen.2.contains("size 43x132"), "{:?}", seen.2);
    let upgrades = stand_in.upgrades.lock().unwrap().clone();
    assert_eq!(upgrades.len(), 1);
    assert_eq!(upgrades[0].0, "/stream/session/my-session/pty");
    assert!(
        upgrades[0]
            .1
            .starts_with("BackendAI signMethod=HMAC-SHA256, credential=AKSTANDIN:"),
        "the upgrade is signed like any manager call: {}",
        upgrades[0].1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_waits_for_a_reader_that_stops_and_arrives_whole_when_it_goes_on() {
    let (address, stand_in) = start_stand_in().await;
    let connection = stand_in_connection(&address).await;
    let mut stream = open_pty(&connection, "flooding", 80, 24).await.unwrap();
    write_frame(&mut stream, Frame::Input, b"flood\r").unwrap();

    // Nobody reads (the UI stopped acknowledging): the server's sending must come to a stop
    // well short of the flood, instead of the bridge buffering it all.
    let mut last = 0;
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = stand_in.flooded.load(Ordering::SeqCst);
        if now == last && now > 0 {
            break;
        }
        last = now;
    }
    let stalled_at = stand_in.flooded.load(Ordering::SeqCst);
    assert!(
        stalled_at > 0 && stalled_at < FLOOD / 2,
        "the server got {stalled_at} of {FLOOD} bytes out with nobody reading"
    );

    // Reading again lets everything through, byte for byte, then the end.
    let received = tokio::task::spawn_blocking(move || {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut payload = Vec::new();
        let mut total = 0u64;
        loop {
            match read_frame(&mut stream, &mut payload).unwrap() {
                Some(Frame::Output) => {
                    total += payload.iter().filter(|&&b| b == b'y').count() as u64;
                }
                Some(Frame::Exit) | None => return total,
                Some(_) => {}
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(received, FLOOD, "every flooded byte arrived");
}
