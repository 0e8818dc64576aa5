//! One request to a bubblewrap session's supervisor over its Unix socket (Linux only, like the
//! supervisor): a JSON line each way, then the frames the request opened.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::protocol::{Reply, Request};

/// Whether a supervisor listens on `socket`.
pub fn answers(socket: &Path) -> bool {
    UnixStream::connect(socket).is_ok()
}

/// Sends `request` and reads the answer line; the stream is left at the first frame.
pub fn send(socket: &Path, request: &Request) -> io::Result<(UnixStream, Reply)> {
    let mut stream = UnixStream::connect(socket)?;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    // Byte by byte: the frames that follow must stay in the socket for the caller.
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if stream.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the session's supervisor closed the connection",
            ));
        }
        if byte[0] == b'\n' {
            break;
        }
        answer.push(byte[0]);
    }
    let reply: Reply = serde_json::from_slice(&answer)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if !reply.ok {
        return Err(io::Error::other(
            reply
                .error
                .unwrap_or_else(|| "the supervisor refused".into()),
        ));
    }
    Ok((stream, reply))
}
