//! A terminal in a session as the app shows it: keys in, output out, with acknowledgement-based
//! flow control (`conventions.md` #10). xterm.js parses ~30 MB/s at best, while a PTY can
//! produce far more; so output stops being read from the session once `HIGH_WATER` bytes are
//! sent and not yet acknowledged by the UI, and resumes below `LOW_WATER`. The PTY then fills,
//! and `cat` of a huge file or `yes` simply waits: the app stays responsive and its memory
//! bounded. Nothing here knows the UI toolkit: the app passes a sink for the bytes.

use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use berth_core::frames::FrameStream;

use crate::supervisor::client::SupervisorClient;
use crate::supervisor::protocol::{Frame, parse_exit, read_frame, resize_payload, write_frame};

/// Output in flight to the UI before reading pauses: four of the app's 256 KiB messages, enough
/// to keep xterm.js busy while acknowledgements travel back (`scripts/bench-terminal`: the same
/// ~27 MB/s as 2 MiB). More would only add memory: bytes that wait in the webview outlive
/// JavaScriptCore's young-generation collections and stay until a full one.
pub const HIGH_WATER: u64 = 1024 * 1024;
/// Reading resumes once the UI has caught up to this.
pub const LOW_WATER: u64 = 512 * 1024;

/// How much the reader takes from the socket in one read.
const READ_BUFFER: usize = 256 * 1024;

/// What the reader hands to the sink.
#[derive(Debug, PartialEq, Eq)]
pub enum TerminalEvent<'a> {
    Output(&'a [u8]),
    /// The shell ended with this status.
    Exit(i32),
}

#[derive(Default)]
struct Credit {
    in_flight: Mutex<(u64, bool)>,
    changed: Condvar,
}

/// The writing half: keys, resizes, acknowledgements, close.
pub struct Terminal {
    stream: Mutex<FrameStream>,
    credit: Arc<Credit>,
    /// Keys typed here restart the session's idle clock.
    input_mark: Option<crate::vitals::InputMark>,
}

/// The reading half, run on its own thread with [`TerminalReader::run`].
pub struct TerminalReader {
    /// Buffered: a frame costs three reads unbuffered (kind, length, payload), and a reader
    /// that falls behind makes a cluster's bridge pause ttyd, a round trip through the manager.
    stream: std::io::BufReader<FrameStream>,
    credit: Arc<Credit>,
}

impl Terminal {
    /// Opens a login shell of `cols`×`rows` in the session behind `client`.
    pub fn open(
        client: &SupervisorClient,
        cols: u16,
        rows: u16,
    ) -> io::Result<(Self, TerminalReader)> {
        let (mut terminal, reader) = Self::over(client.terminal(cols, rows)?)?;
        terminal.input_mark = client.input_mark().map(crate::vitals::InputMark::new);
        Ok((terminal, reader))
    }

    /// A terminal over an already-connected frame stream (a supervisor's, or a bridge's).
    pub fn over(stream: FrameStream) -> io::Result<(Self, TerminalReader)> {
        let credit = Arc::new(Credit::default());
        let reader = TerminalReader {
            stream: std::io::BufReader::with_capacity(READ_BUFFER, stream.try_clone()?),
            credit: credit.clone(),
        };
        Ok((
            Self {
                stream: Mutex::new(stream),
                credit,
                input_mark: None,
            },
            reader,
        ))
    }

    fn send(&self, frame: Frame, payload: &[u8]) -> io::Result<()> {
        let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        write_frame(&mut *stream, frame, payload)
    }

    /// Keys typed or text pasted.
    pub fn input(&self, bytes: &[u8]) -> io::Result<()> {
        if let Some(mark) = &self.input_mark {
            mark.touch();
        }
        self.send(Frame::Input, bytes)
    }

    pub fn resize(&self, cols: u16, rows: u16) -> io::Result<()> {
        self.send(Frame::Resize, &resize_payload(cols.max(1), rows.max(1)))
    }

    /// The UI has rendered `bytes` more bytes.
    pub fn acknowledge(&self, bytes: u64) {
        let mut state = self
            .credit
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        state.0 = state.0.saturating_sub(bytes);
        if state.0 <= LOW_WATER {
            self.credit.changed.notify_all();
        }
    }

    /// Ends the shell (its terminal hangs up) and the reader with it.
    pub fn close(&self) {
        {
            let mut state = self
                .credit
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            state.1 = true;
            self.credit.changed.notify_all();
        }
        let stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
}

impl TerminalReader {
    /// Forwards output to `sink` until the shell exits, the terminal is closed, or the sink
    /// returns false (the UI went away). Blocks while too much output is unacknowledged.
    pub fn run(mut self, mut sink: impl FnMut(TerminalEvent<'_>) -> bool) {
        let mut payload = Vec::new();
        loop {
            {
                let mut state = self
                    .credit
                    .in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                while state.0 >= HIGH_WATER && !state.1 {
                    // A UI that stopped acknowledging (its view was closed without telling us)
                    // is detected by the sink failing on the next send after a while.
                    let (next, timeout) = self
                        .credit
                        .changed
                        .wait_timeout(state, Duration::from_secs(5))
                        .unwrap_or_else(|p| p.into_inner());
                    state = next;
                    if timeout.timed_out() {
                        break;
                    }
                }
                if state.1 {
                    return;
                }
            }
            match read_frame(&mut self.stream, &mut payload) {
                Ok(Some(Frame::Output)) => {
                    self.credit
                        .in_flight
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .0 += payload.len() as u64;
                    if !sink(TerminalEvent::Output(&payload)) {
                        return;
                    }
                }
                Ok(Some(Frame::Exit)) => {
                    sink(TerminalEvent::Exit(parse_exit(&payload)));
                    return;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    sink(TerminalEvent::Exit(-1));
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in supervisor on a socket pair: it sends more output than the high-water mark
    /// and records how much the reader took before it stopped to wait.
    #[test]
    fn output_pauses_at_the_high_water_mark_until_acknowledged() {
        let (ours, theirs) = berth_core::frames::pair().unwrap();
        let mut theirs = FrameStream::Loopback(theirs);
        let (terminal, reader) = Terminal::over(ours).unwrap();
        // Twice the high-water mark, so the reader must stop half-way.
        const CHUNKS: u64 = 2 * HIGH_WATER / (64 * 1024);
        let chunk = vec![b'y'; 64 * 1024];
        let writer = std::thread::spawn(move || {
            for _ in 0..CHUNKS {
                if write_frame(&mut theirs, Frame::Output, &chunk).is_err() {
                    return;
                }
            }
            let _ = write_frame(&mut theirs, Frame::Exit, &0i32.to_le_bytes());
        });
        let received = Arc::new(Mutex::new(0u64));
        let seen = received.clone();
        let reading = std::thread::spawn(move || {
            reader.run(|event| {
                if let TerminalEvent::Output(bytes) = event {
                    *seen.lock().unwrap() += bytes.len() as u64;
                }
                true
            })
        });
        std::thread::sleep(Duration::from_millis(300));
        let before = *received.lock().unwrap();
        assert!(
            (HIGH_WATER..HIGH_WATER + 64 * 1024).contains(&before),
            "read {before} bytes without acknowledgement"
        );
        // Acknowledging lets everything through, and the exit arrives.
        for _ in 0..2 * CHUNKS {
            terminal.acknowledge(64 * 1024);
            std::thread::sleep(Duration::from_millis(5));
        }
        reading.join().unwrap();
        writer.join().unwrap();
        assert_eq!(*received.lock().unwrap(), CHUNKS * 64 * 1024);
    }
}
