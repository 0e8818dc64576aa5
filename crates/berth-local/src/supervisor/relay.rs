//! One connection of a port forward, inside the session's network: the supervisor starts its
//! own binary in `relay` mode for each connection, with the client's socket as stdin and
//! stdout. The relay joins the sandbox's network namespace (and nothing else: it needs the
//! session's loopback, not its files), connects to `127.0.0.1:PORT` there, says how that went
//! in one line (`ok`, or `error …`), then copies bytes both ways until either side closes.
//!
//! A process per connection, because joining a user namespace is refused to a process with
//! more than one thread, which the supervisor is.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;

use super::enter;

/// Runs the relay for port `port` of the sandbox whose processes include `pid`; returns the
/// process's exit status.
pub fn relay(pid: u32, port: u16) -> i32 {
    // SAFETY: descriptors 0 and 1 are this process's stdin and stdout, both the client's
    // socket; each is owned here once.
    let (mut from_client, mut to_client) =
        unsafe { (UnixStream::from_raw_fd(0), UnixStream::from_raw_fd(1)) };
    if let Err(error) = enter::join_network(pid) {
        let _ = writeln!(
            to_client,
            "error cannot reach the session's network: {error}"
        );
        return 1;
    }
    let server = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(server) => server,
        Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
            let _ = writeln!(
                to_client,
                "error nothing listens on port {port} in the session"
            );
            return 1;
        }
        Err(error) => {
            let _ = writeln!(to_client, "error cannot connect to port {port}: {error}");
            return 1;
        }
    };
    let _ = server.set_nodelay(true);
    if to_client.write_all(b"ok\n").is_err() {
        return 1;
    }
    let Ok(mut to_server) = server.try_clone() else {
        return 1;
    };
    // Client → server on a thread of its own; server → client here.
    let upstream = std::thread::spawn(move || {
        let _ = copy(&mut from_client, &mut to_server);
        let _ = to_server.shutdown(Shutdown::Write);
    });
    let mut from_server = server;
    let _ = copy(&mut from_server, &mut to_client);
    // The server is done: the client hears the end; what it still sends goes nowhere.
    let _ = to_client.shutdown(Shutdown::Write);
    let _ = from_server.shutdown(Shutdown::Both);
    let _ = upstream.join();
    0
}

fn copy(from: &mut impl Read, to: &mut impl Write) -> io::Result<u64> {
    let mut buffer = vec![0u8; 256 * 1024];
    let mut moved = 0;
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => return Ok(moved),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buffer[..n])?;
        moved += n as u64;
    }
}
