//! Terminal output on its way to the webview, gathered into fewer, larger channel messages.
//! Each message costs the webview an IPC round trip (an eval, then a fetch of the raw body),
//! which at a PTY's ~4 KiB per read caps `cat` of a big file far below what xterm.js can
//! parse. So while output streams, bytes that arrive within a couple of milliseconds of each
//! other go out together (up to `MAX_MESSAGE`); after a pause, the first bytes (a keystroke's
//! echo) go out at once, so typing gains no latency.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Largest message. Each one costs the webview an eval, a fetch and their garbage whatever its
/// size, so fewer, larger ones leave less behind (a 200 MB `cat` through the channel alone:
/// +30 MiB in the web process at 64 KiB, +20 MiB at 256 KiB) and move faster; a quarter of
/// the bridge's high-water mark keeps several in flight.
pub const MAX_MESSAGE: usize = 256 * 1024;
/// How long a streaming message waits for more bytes.
const GATHER: Duration = Duration::from_millis(2);
/// A send this recent means output is streaming, so the next message may wait to fill up.
const STREAMING: Duration = Duration::from_millis(10);

/// What the sending side takes out in one go.
#[derive(Debug, PartialEq, Eq)]
pub enum Batch {
    Output(Vec<u8>),
    /// The shell ended (after all its output was taken).
    Exit(i32),
    /// The reader is gone without an exit status, or the receiver hung up.
    Closed,
}

#[derive(Default)]
struct State {
    bytes: Vec<u8>,
    exit: Option<i32>,
    closed: bool,
}

#[derive(Default)]
pub struct OutputBatch {
    state: Mutex<State>,
    changed: Condvar,
}

impl OutputBatch {
    /// The reader side: more output. Returns false once the receiver is gone.
    pub fn push(&self, bytes: &[u8]) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.bytes.extend_from_slice(bytes);
        self.changed.notify_all();
        !state.closed
    }

    /// The reader side: the shell ended.
    pub fn exit(&self, status: i32) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.exit = Some(status);
        self.changed.notify_all();
    }

    /// Either side: nothing more will come, or nobody listens any more.
    pub fn close(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.closed = true;
        self.changed.notify_all();
    }

    /// The sending side: blocks for the next message. `last_send` is when the previous one
    /// went out; a recent one means output is streaming and this one may wait to fill up.
    pub fn next(&self, last_send: Option<Instant>) -> Batch {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while state.bytes.is_empty() && state.exit.is_none() && !state.closed {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        if last_send.is_some_and(|t| t.elapsed() < STREAMING) {
            let deadline = Instant::now() + GATHER;
            while state.bytes.len() < MAX_MESSAGE && state.exit.is_none() && !state.closed {
                let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                    break;
                };
                state = self
                    .changed
                    .wait_timeout(state, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        if !state.bytes.is_empty() {
            let take = state.bytes.len().min(MAX_MESSAGE);
            let rest = state.bytes.split_off(take);
            return Batch::Output(std::mem::replace(&mut state.bytes, rest));
        }
        match state.exit {
            Some(status) => Batch::Exit(status),
            None => Batch::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn after_a_pause_the_first_bytes_go_out_at_once() {
        let batch = OutputBatch::default();
        batch.push(b"a");
        let started = Instant::now();
        assert_eq!(batch.next(None), Batch::Output(b"a".to_vec()));
        assert!(started.elapsed() < GATHER);
    }

    #[test]
    fn streaming_output_is_gathered_into_large_messages() {
        let batch = Arc::new(OutputBatch::default());
        let writer = {
            let batch = batch.clone();
            std::thread::spawn(move || {
                for _ in 0..64 {
                    batch.push(&[b'x'; 4096]);
                }
            })
        };
        writer.join().unwrap();
        let Batch::Output(first) = batch.next(Some(Instant::now())) else {
            panic!("output expected");
        };
        assert_eq!(first.len(), MAX_MESSAGE, "capped");
        let mut total = first.len();
        while total < 64 * 4096 {
            let Batch::Output(more) = batch.next(Some(Instant::now())) else {
                panic!("output expected");
            };
            total += more.len();
        }
        assert_eq!(total, 64 * 4096);
    }

    #[test]
    fn the_exit_comes_after_all_output_and_a_closed_receiver_stops_the_reader() {
        let batch = OutputBatch::default();
        batch.push(b"bye\r\n");
        batch.exit(3);
        assert_eq!(
            batch.next(Some(Instant::now())),
            Batch::Output(b"bye\r\n".to_vec())
        );
        assert_eq!(batch.next(None), Batch::Exit(3));
        batch.close();
        assert!(!batch.push(b"more"));
    }

    #[test]
    fn close_without_exit_ends_the_sender() {
        let batch = OutputBatch::default();
        batch.close();
        assert_eq!(batch.next(None), Batch::Closed);
    }
}
