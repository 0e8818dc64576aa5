//! One connection of a port forward, made inside the session's network: the supervisor starts
//! its own binary in `relay` mode for each connection, with the client's socket as stdout. The
//! relay joins the sandbox's network namespace (and nothing else: it needs the session's
//! loopback, not its files), connects to `127.0.0.1:PORT` there, and hands the connected
//! socket to the client (`fd_passing`) with the line `ok` — or says `error …` — and ends. The
//! socket keeps working in the client's process: the bytes then go straight between Berth and
//! the server.
//!
//! A process per connection, because joining a user namespace is refused to a process with
//! more than one thread, which the supervisor is.

use std::io;
use std::net::TcpStream;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;

use super::{enter, fd_passing};

/// Runs the relay for port `port` of the sandbox whose processes include `pid`; returns the
/// process's exit status.
pub fn relay(pid: u32, port: u16) -> i32 {
    // SAFETY: descriptor 1 is this process's stdout, the client's socket, owned here once.
    let client = unsafe { UnixStream::from_raw_fd(1) };
    let say = |line: String| {
        let _ = fd_passing::send_line(&client, line.as_bytes(), None::<&TcpStream>);
        1
    };
    if let Err(error) = enter::join_network(pid) {
        return say(format!(
            "error cannot reach the session's network: {error}\n"
        ));
    }
    match TcpStream::connect(("127.0.0.1", port)) {
        Ok(server) => {
            let _ = server.set_nodelay(true);
            match fd_passing::send_line(&client, b"ok\n", Some(&server)) {
                Ok(()) => 0,
                Err(_) => 1,
            }
        }
        Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => say(format!(
            "error nothing listens on port {port} in the session\n"
        )),
        Err(error) => say(format!("error cannot connect to port {port}: {error}\n")),
    }
}
