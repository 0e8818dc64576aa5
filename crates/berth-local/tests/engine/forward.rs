//! Port forwards from real sandboxes: a real server started in the session (Python's
//! `http.server`, on the session's own loopback, in a session with no network at all) reached
//! from this computer's loopback through the forward; a port nothing listens on, a local port
//! already taken, and a session that ends, each said in words.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use berth_core::{Engine, NetworkMode, NewSession, SessionStatus};

use crate::{Fixture, Running, engine, runtime};

fn start_with_server(fixture: &Fixture, port: u16) -> Running<'_> {
    let mut spec = NewSession::interactive("host", vec![]);
    spec.network = NetworkMode::None;
    let session = runtime()
        .block_on(fixture.engine.create_session(spec))
        .unwrap();
    assert_eq!(session.status, SessionStatus::Running);
    let running = Running {
        fixture,
        id: session.id,
    };
    running.ok(&format!(
        "echo 'hello from the session' > /home/work/hello.txt; cd /home/work; \
         setsid python3 -m http.server {port} --bind 127.0.0.1 </dev/null >/dev/null 2>&1 & \
         for i in $(seq 100); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}))' 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
    ));
    running
}

fn get(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn a_server_in_a_session_without_network_answers_on_this_computers_loopback() {
    let fixture = engine();
    let session = start_with_server(&fixture, 8765);
    let rt = runtime();
    let forward = rt
        .block_on(fixture.engine.forward_port(&session, 8765, None))
        .unwrap();
    assert!(forward.local.ip().is_loopback(), "{}", forward.local);
    // Several connections through the one listener, each its own connection in the session.
    for _ in 0..3 {
        let answer = rt.block_on(async {
            let address = forward.local;
            tokio::task::spawn_blocking(move || get(address, "/hello.txt"))
                .await
                .unwrap()
        });
        assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
        assert!(answer.ends_with("hello from the session\n"), "{answer}");
    }
    assert_eq!(forward.connections(), 3);
    assert!(forward.bytes_moved() > 3 * 23, "{}", forward.bytes_moved());

    // A port nothing listens on, and a local port already taken: refused in words.
    let error = rt
        .block_on(fixture.engine.forward_port(&session, 8766, None))
        .err()
        .unwrap();
    assert!(
        error
            .message
            .starts_with("Nothing listens on port 8766 in session"),
        "{}",
        error.message
    );
    let taken = forward.local.port();
    let error = rt
        .block_on(fixture.engine.forward_port(&session, 8765, Some(taken)))
        .err()
        .unwrap();
    assert!(
        error
            .message
            .contains(&format!("Port {taken} on this computer is already in use")),
        "{}",
        error.message
    );

    // The session ends: so does the forward, saying why, and its port is free again.
    let name = forward.record.session_name.clone();
    session.destroy();
    let why = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(15), forward.ended())
            .await
            .expect("the forward ends with its session")
    });
    assert_eq!(why, format!("session {name} ended"));
}
