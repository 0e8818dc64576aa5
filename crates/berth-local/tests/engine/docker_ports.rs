//! A Docker session's ports and SSH, against a real Podman serving the Docker API (see
//! `docker`): a real server (Perl's, the image has no Python) in a session with no network,
//! reached from this computer's loopback through a forward — a megabyte each way, the client's
//! end of sending passed on — and through `ssh -L`; a port nothing listens on said in words; a
//! real `ssh` client running a command in the session and a real `sftp` putting a file into
//! its mounted folder; the forward ending with its session.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use berth_core::{Engine, MountRequest, NewFolder};

use crate::docker::{docker_session, engine_on_podman, folder_file, sh};
use crate::ssh::{serving_runtime, sftp_put, ssh, ssh_tunnel};

const PORT: u16 = 8766;

/// Inside the session: answers each connection, once its client has sent everything, with the
/// byte count and the bytes.
const ECHO_SERVER: &str = r#"use IO::Socket::INET;
my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 8766, Listen => 16, ReuseAddr => 1) or die "$!";
while (my $c = $l->accept) {
  my ($all, $b) = ("", "");
  while (sysread($c, $b, 65536) > 0) { $all .= $b }
  print $c "from docker: " . length($all) . "\n" . $all;
  close $c;
}"#;

/// Sends `payload`, ends sending, and reads the whole answer.
fn round_trip(address: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(payload).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    answer
}

fn expected(payload: &[u8]) -> Vec<u8> {
    let mut answer = format!("from docker: {}\n", payload.len()).into_bytes();
    answer.extend_from_slice(payload);
    answer
}

#[test]
fn a_docker_sessions_port_and_ssh_reach_this_computers_loopback() {
    let Some((_podman, fixture)) = engine_on_podman() else {
        return;
    };
    let rt = serving_runtime();
    rt.block_on(fixture.engine.create_folder(NewFolder::named("project")))
        .unwrap();
    let session = docker_session(&fixture, vec![MountRequest::folder("project")]);
    let started = sh(
        &fixture,
        &session.id,
        &format!(
            "perl -e '{ECHO_SERVER}' </dev/null >/dev/null 2>&1 & i=0; while [ $i -lt 100 ]; do \
             perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(\"127.0.0.1:{PORT}\") ? 0 : 1)' \
             && exit 0; sleep 0.1; i=$((i+1)); done; exit 1"
        ),
    );
    assert_eq!(
        started.code,
        0,
        "the server started: {}",
        started.stderr_text()
    );

    // A megabyte each way through the forward, in a session with no network.
    let forward = rt
        .block_on(fixture.engine.forward_port(&session.id, PORT, None))
        .unwrap();
    assert!(forward.local.ip().is_loopback(), "{}", forward.local);
    let payload: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    for sent in [&b"hello"[..], &payload] {
        let address = forward.local;
        let owned = sent.to_vec();
        let answer = rt.block_on(async move {
            tokio::task::spawn_blocking(move || round_trip(address, &owned))
                .await
                .unwrap()
        });
        assert!(answer == expected(sent), "{} bytes back", answer.len());
    }
    assert_eq!(forward.connections(), 2);

    // A port nothing listens on: said in words.
    let error = rt
        .block_on(fixture.engine.forward_port(&session.id, PORT + 1, None))
        .err()
        .unwrap();
    assert!(
        error
            .message
            .starts_with(&format!("Nothing listens on port {} in session", PORT + 1)),
        "{}",
        error.message
    );

    // SSH into the Docker session with the real client: a command, its stdin and status.
    let ssh_forward = rt
        .block_on(fixture.engine.open_ssh(&session.id, None))
        .unwrap();
    let access = fixture
        .engine
        .ssh_access(&session.name, ssh_forward.local.port())
        .unwrap();
    let ran = ssh(
        &access,
        &["echo out-$((6*7)); cat > /home/work/from-ssh.txt; exit 3"],
        b"typed into ssh\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "out-42\n",
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(ran.status.code(), Some(3));
    assert_eq!(
        sh(&fixture, &session.id, "cat /home/work/from-ssh.txt").stdout_text(),
        "typed into ssh\n"
    );

    // SFTP (FileZilla, WinSCP, sftp): a file put lands in the mounted folder.
    sftp_put(
        &access,
        "notes.txt",
        "put over sftp\n",
        "/home/work/project",
    );
    assert_eq!(
        folder_file(&fixture, "project", "notes.txt").as_deref(),
        Some("put over sftp\n")
    );

    // ssh -L to the session's server (what VS Code's Remote-SSH does with its own).
    let (mut tunnel, local_port) = ssh_tunnel(&access, PORT);
    let through_ssh = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        let mut stream = TcpStream::connect(("127.0.0.1", local_port)).ok()?;
        stream.write_all(b"over ssh").ok()?;
        stream.shutdown(Shutdown::Write).ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).ok()?;
        (!answer.is_empty()).then_some(answer)
    });
    tunnel.kill().unwrap();
    tunnel.wait().unwrap();
    assert_eq!(through_ssh, Some(expected(b"over ssh")));

    // The session ends: so does the forward, saying why.
    rt.block_on(fixture.engine.destroy_session(&session.id))
        .unwrap();
    let why = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), forward.ended())
            .await
            .expect("the forward ends with its session")
    });
    assert_eq!(why, format!("session {} ended", session.name));
    drop(ssh_forward);
}
