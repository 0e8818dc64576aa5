//! What frames travel over inside Berth: a byte stream between the side that shows a terminal
//! or an exec (the app, the CLI) and the side that runs it (a supervisor in a sandbox, a bridge
//! to Docker's exec or a cluster's ttyd). On Linux a local session's supervisor hands over a
//! Unix socket that reaches into its sandbox; everything else is bridged in this process over
//! [`pair`], one implementation on every OS: a loopback TCP connection whose far end is checked
//! to be the one this process opened, since Windows has no socket pairs.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;

/// One end of a frame stream.
#[derive(Debug)]
pub enum FrameStream {
    /// A local session's supervisor (Linux: a socket into the sandbox).
    #[cfg(unix)]
    Unix(UnixStream),
    /// One end of a [`pair`].
    Loopback(TcpStream),
}

/// How many strangers' connections [`pair`] turns away before it gives up: another local
/// program may connect to the listening port in the moment it is open.
const STRANGERS: usize = 16;

/// A connected pair within this process: the first end for the side that reads output, the
/// second for the bridge that produces it (it may turn it into a tokio stream). Both ends send
/// every write at once (no Nagle delay): a keystroke is one small frame.
///
/// The listening port is open only until the one connection is accepted, and only a connection
/// from the socket this function opened is accepted: while that socket is open no other socket
/// on this computer has its address, so a stranger who raced to connect is refused by address.
pub fn pair() -> io::Result<(FrameStream, TcpStream)> {
    let (ours, theirs) = loopback_pair()?;
    Ok((FrameStream::Loopback(ours), theirs))
}

/// [`pair`]'s two connected sockets, for a bridge that carries plain bytes rather than frames
/// (a connection to a port of a Docker session).
pub fn loopback_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let ours = TcpStream::connect(listener.local_addr()?)?;
    let theirs = accept_from(&listener, ours.local_addr()?)?;
    ours.set_nodelay(true)?;
    theirs.set_nodelay(true)?;
    Ok((ours, theirs))
}

/// The connection `listener` receives from `expected`; others are dropped on the way.
fn accept_from(listener: &TcpListener, expected: SocketAddr) -> io::Result<TcpStream> {
    for _ in 0..STRANGERS {
        let (theirs, from) = listener.accept()?;
        if from == expected {
            return Ok(theirs);
        }
        // Someone else's connection: dropped, and we keep waiting for ours.
    }
    Err(io::Error::new(
        io::ErrorKind::ConnectionRefused,
        "other programs kept connecting to Berth's private loopback port; try again",
    ))
}

impl FrameStream {
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(match self {
            #[cfg(unix)]
            Self::Unix(s) => Self::Unix(s.try_clone()?),
            Self::Loopback(s) => Self::Loopback(s.try_clone()?),
        })
    }

    /// How long a read may wait (`None`: for ever), for readers that must not hang.
    pub fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        match self {
            #[cfg(unix)]
            Self::Unix(s) => s.set_read_timeout(timeout),
            Self::Loopback(s) => s.set_read_timeout(timeout),
        }
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            #[cfg(unix)]
            Self::Unix(s) => s.shutdown(how),
            Self::Loopback(s) => s.shutdown(how),
        }
    }
}

#[cfg(unix)]
impl From<UnixStream> for FrameStream {
    fn from(stream: UnixStream) -> Self {
        Self::Unix(stream)
    }
}

impl Read for &FrameStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            FrameStream::Unix(s) => (&*s).read(buf),
            FrameStream::Loopback(s) => (&*s).read(buf),
        }
    }
}

impl Write for &FrameStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            FrameStream::Unix(s) => (&*s).write(buf),
            FrameStream::Loopback(s) => (&*s).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for FrameStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for FrameStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::{Frame, read_frame, write_frame};

    #[test]
    fn a_pair_carries_frames_both_ways_and_a_shutdown_ends_the_reader() {
        let (app, bridge) = pair().unwrap();
        let mut bridge = FrameStream::Loopback(bridge);
        write_frame(&mut &app, Frame::Input, b"ls\r").unwrap();
        let mut payload = Vec::new();
        assert_eq!(
            read_frame(&mut bridge, &mut payload).unwrap(),
            Some(Frame::Input)
        );
        assert_eq!(payload, b"ls\r");
        write_frame(&mut bridge, Frame::Output, b"file\r\n").unwrap();
        bridge.shutdown(Shutdown::Write).unwrap();
        let mut reader = app.try_clone().unwrap();
        assert_eq!(
            read_frame(&mut reader, &mut payload).unwrap(),
            Some(Frame::Output)
        );
        assert_eq!(payload, b"file\r\n");
        assert_eq!(read_frame(&mut reader, &mut payload).unwrap(), None);
    }

    #[test]
    fn only_the_socket_that_opened_the_pair_is_taken_for_its_far_end() {
        // A stranger connects first; the pair's own socket after it.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let mut stranger = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let theirs = accept_from(&listener, ours.local_addr().unwrap()).unwrap();
        assert_eq!(theirs.peer_addr().unwrap(), ours.local_addr().unwrap());
        // The stranger was dropped: it reads the end of the stream (or a reset), never a frame.
        let mut byte = [0u8; 1];
        assert!(matches!(stranger.read(&mut byte), Ok(0) | Err(_)));
    }

    #[test]
    fn pairs_are_independent() {
        let (a, a_bridge) = pair().unwrap();
        let (b, b_bridge) = pair().unwrap();
        drop(a_bridge);
        let mut b_bridge = FrameStream::Loopback(b_bridge);
        write_frame(&mut b_bridge, Frame::Output, b"b").unwrap();
        let mut payload = Vec::new();
        assert_eq!(
            read_frame(&mut &b, &mut payload).unwrap(),
            Some(Frame::Output)
        );
        assert_eq!(read_frame(&mut &a, &mut payload).unwrap(), None);
    }
}
