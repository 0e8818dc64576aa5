//! The figures themselves (bubblewrap: Linux only).

#[path = "../common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use berth_core::{Engine, NetworkMode, NewSession};
use berth_local::supervisor::client::finish_exec;
use common::{engine, knob, median};

const PORT: u16 = 8791;
/// Where the session's web server listens: Python's `http.server`, serving a file of MB
/// megabytes, the kind of server people start in a session and open through a forward.
const WEB_PORT: u16 = 8792;

/// Inside the session: a server that sends what it is asked for (`N\n` → N bytes) on every
/// connection, in C-speed `sendall`s.
const SERVER: &str = r#"
import socket, threading
block = b"x" * (1 << 20)
def serve(c):
    with c:
        n = int(c.makefile("rb").readline())
        while n > 0:
            c.sendall(block[: min(n, len(block))]); n -= len(block)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8791)); s.listen(256)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

fn fetch(address: SocketAddr, bytes: u64) -> u64 {
    let mut stream = TcpStream::connect(address).unwrap();
    writeln!(stream, "{bytes}").unwrap();
    let mut buffer = vec![0u8; 1 << 20];
    let mut got = 0;
    loop {
        let n = stream.read(&mut buffer).unwrap();
        if n == 0 {
            return got;
        }
        got += n as u64;
    }
}

/// Downloads `/big` from the web server at `address` (HTTP/1.0: the server ends the connection
/// after the body); returns the body's length.
fn download(address: SocketAddr) -> u64 {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(b"GET /big HTTP/1.0\r\n\r\n").unwrap();
    let mut buffer = vec![0u8; 1 << 20];
    // The response's head until its blank line has arrived; `None` once the body flows.
    let mut head = Some(Vec::new());
    let mut body = 0u64;
    loop {
        let n = stream.read(&mut buffer).unwrap();
        if n == 0 {
            return body;
        }
        match &mut head {
            Some(so_far) => {
                so_far.extend_from_slice(&buffer[..n]);
                if let Some(end) = so_far.windows(4).position(|w| w == b"\r\n\r\n") {
                    body = (so_far.len() - end - 4) as u64;
                    head = None;
                }
            }
            None => body += n as u64,
        }
    }
}

/// Prints the medians of `rounds` interleaved reads of `bytes` by `read` (so a noisy moment
/// hurts all alike), straight from the server, through the forward (`straight`, `forward`) and
/// through `socat` on the same path where there is one: what any user-space relay costs on this
/// machine (a third busy party beside client and server), so the forward's figure can be told
/// apart from the machine's.
fn compare(
    what: &str,
    rounds: usize,
    bytes: u64,
    (straight, forward): (SocketAddr, SocketAddr),
    read: impl Fn(SocketAddr) -> u64,
) {
    let relay = socat_relay(straight);
    let (mut direct, mut forwarded, mut relayed) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        direct.push(rate(bytes, || read(straight)));
        forwarded.push(rate(bytes, || read(forward)));
        if let Some((address, _)) = &relay {
            relayed.push(rate(bytes, || read(*address)));
        }
    }
    let (s, f) = (median(direct), median(forwarded));
    println!(
        "{what}: through the forward {f:.0} MB/s vs straight over loopback {s:.0} MB/s → {:.2}× (goal ≥ 0.8×), medians of {rounds}",
        f / s
    );
    match relay {
        Some((_, mut socat)) => {
            let _ = socat.kill();
            let _ = socat.wait();
            let r = median(relayed);
            println!(
                "  the same through socat (a C relay, 8 MiB buffer): {r:.0} MB/s → {:.2}× straight; the forward vs socat {:.2}×",
                r / s,
                f / r
            );
        }
        None => println!("  (no socat here to compare a plain relay with: apt install socat)"),
    }
}

/// Throughput in MB/s of `bytes` moved by `run`.
fn rate(bytes: u64, run: impl FnOnce() -> u64) -> f64 {
    let start = Instant::now();
    assert_eq!(run(), bytes, "every byte arrived");
    bytes as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// `socat` relaying a loopback port of its own to `to`, once it accepts connections.
fn socat_relay(to: SocketAddr) -> Option<(SocketAddr, std::process::Child)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = std::process::Command::new("socat")
        .args([
            "-b",
            "8388608",
            &format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"),
            &format!("TCP:{to}"),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..100 {
        if TcpStream::connect(address).is_ok() {
            return Some((address, child));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}

pub fn main() {
    let megabytes: u64 = knob("MB", 1024);
    let rounds: usize = knob("ROUNDS", 5);
    let root = tempfile::tempdir().unwrap();
    let engine = engine(&root);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut spec = NewSession::interactive("host", vec![]);
    spec.network = NetworkMode::Host;
    let session = rt.block_on(engine.create_session(spec)).unwrap();
    let (_, client) = engine.session_client(&session.id).unwrap();
    let started = client
        .exec(vec![
            "sh".into(),
            "-c".into(),
            format!(
                "setsid python3 -c '{SERVER}' </dev/null >/dev/null 2>&1 & \
                 mkdir -p /tmp/web && head -c {megabytes}M /dev/zero > /tmp/web/big && \
                 setsid python3 -m http.server {WEB_PORT} --bind 127.0.0.1 --directory /tmp/web \
                 </dev/null >/dev/null 2>&1 & for i in $(seq 100); do \
                 python3 -c 'import socket; [socket.create_connection((\"127.0.0.1\", p)) \
                 for p in ({PORT}, {WEB_PORT})]' 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
            ),
        ])
        .unwrap();
    assert_eq!(
        finish_exec(started, b"").unwrap().code,
        0,
        "the server started"
    );
    let direct: SocketAddr = ([127, 0, 0, 1], PORT).into();

    // Asking for a forward → the first answer through it (the server is up).
    let mut opening = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        let forward = rt
            .block_on(engine.forward_port(&session.id, PORT, None))
            .unwrap();
        let address = forward.local;
        assert_eq!(
            rt.block_on(async move {
                tokio::task::spawn_blocking(move || fetch(address, 1))
                    .await
                    .unwrap()
            }),
            1
        );
        opening.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "forward opened → first answer through it: {:.1} ms median of {rounds} (goal ≤ 500 ms; a forward's first connection checks the port)",
        median(opening)
    );

    let forward = rt
        .block_on(engine.forward_port(&session.id, PORT, None))
        .unwrap();
    let through = forward.local;
    let bytes = megabytes << 20;
    compare(
        &format!("one connection reading {megabytes} MiB"),
        rounds,
        bytes,
        (direct, through),
        |address| fetch(address, bytes),
    );

    // The same for a real web server: what opening a file from a server in the session costs
    // through the forward, where the server, not only the loopback, takes its share.
    let web_direct: SocketAddr = ([127, 0, 0, 1], WEB_PORT).into();
    let web = rt
        .block_on(engine.forward_port(&session.id, WEB_PORT, None))
        .unwrap();
    compare(
        &format!("downloading a {megabytes} MiB file from Python's http.server"),
        rounds,
        bytes,
        (web_direct, web.local),
        download,
    );
    drop(web);

    // 100 connections at once through the one forward.
    let start = Instant::now();
    let results: Vec<bool> = rt.block_on(async move {
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                tokio::task::spawn_blocking(move || {
                    std::panic::catch_unwind(|| fetch(through, 64 << 10) == 64 << 10)
                        .unwrap_or(false)
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap_or(false));
        }
        results
    });
    let ok = results.iter().filter(|r| **r).count();
    println!(
        "100 connections at once through one forward (64 KiB each): {ok} answered in full, {} failed, in {:.0} ms (goal: no errors)",
        100 - ok,
        start.elapsed().as_secs_f64() * 1000.0
    );
    drop(forward);
    rt.block_on(engine.destroy_session(&session.id)).unwrap();
}
