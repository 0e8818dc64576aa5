//! Terminal output on its way to the webview, gathered into fewer, larger channel messages.
//! Each message costs the webview an IPC round trip (an eval, then a fetch of the raw body),
//! which at a PTY's ~4 KiB per read caps `cat` of a big file far below what xterm.js can
//! parse. So while output streams, bytes that arrive within a couple of milliseconds of each
//! other go out together (up to `MAX_MESSAGE`); after a pause, the first bytes (a keystroke's
//! echo) go out at once, so typing gains no latency.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Largest message. Each one costs the webview an eval, a fetch and their garbage whatever its
/// size, so fewer, larger ones leave less behind (a 200 MB `cat` through the channel alone:
/// +30 MiB in the web process at 64 KiB, +20 MiB at 256 KiB) and move faster; a quarter of
/// the bridge's high-water mark keeps several in flight.
pub const MAX_MESSAGE: usize = 256 * 1024;
/// How long a streaming message waits for more bytes. A cluster's `cat` arrives in ~15 KB
/// pieces at a few MB/s (tmux in the kernel is the limit), so a short window sent hundreds of
/// small messages a second and their IPC took the CPU the stream needed (50 MB into the window:
/// 13.4 s at 2 ms, 11.1 s at 16 ms); a local `cat` fills `MAX_MESSAGE` well within it.
const GATHER: Duration = Duration::from_millis(16);
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
        let deadline = Instant::now() + GATHER;
        take(
            state,
            streaming(last_send, Instant::now()),
            |state| match deadline.checked_duration_since(Instant::now()) {
                Some(left) => {
                    let state = self.changed.wait_timeout(state, left);
                    (state.unwrap_or_else(|p| p.into_inner()).0, true)
                }
                None => (state, false),
            },
        )
    }
}

/// Whether a message sent at `last_send` means output is still streaming at `now`.
fn streaming(last_send: Option<Instant>, now: Instant) -> bool {
    last_send.is_some_and(|t| now.saturating_duration_since(t) < STREAMING)
}

/// Takes the next message out of `state`, which holds something. While `streaming`, first
/// gathers more: `wait` lets the reader add bytes and says whether there is time left to wait
/// again (a separate function so tests can play the reader without a clock).
fn take<'a>(
    mut state: MutexGuard<'a, State>,
    streaming: bool,
    mut wait: impl FnMut(MutexGuard<'a, State>) -> (MutexGuard<'a, State>, bool),
) -> Batch {
    if streaming {
        while state.bytes.len() < MAX_MESSAGE && state.exit.is_none() && !state.closed {
            let (next, more) = wait(state);
            state = next;
            if !more {
                break;
            }
        }
    }
    if !state.bytes.is_empty() {
        let size = state.bytes.len().min(MAX_MESSAGE);
        let rest = state.bytes.split_off(size);
        return Batch::Output(std::mem::replace(&mut state.bytes, rest));
    }
    match state.exit {
        Some(status) => Batch::Exit(status),
        None => Batch::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays the reader during a gathering wait: each wait, `chunk` more bytes arrive, until
    /// `chunks` have; after that the gathering window has run out.
    fn reader_adding(
        chunk: usize,
        chunks: usize,
    ) -> impl FnMut(MutexGuard<'_, State>) -> (MutexGuard<'_, State>, bool) {
        let mut left = chunks;
        move |mut state| {
            if left == 0 {
                return (state, false);
            }
            left -= 1;
            state.bytes.extend(std::iter::repeat_n(b'x', chunk));
            (state, true)
        }
    }

    #[test]
    fn after_a_pause_the_first_bytes_go_out_without_waiting_for_more() {
        let batch = OutputBatch::default();
        batch.push(b"a");
        let state = batch.state.lock().unwrap();
        let sent = take(state, false, |_| panic!("a keystroke's echo must not wait"));
        assert_eq!(sent, Batch::Output(b"a".to_vec()));
    }

    #[test]
    fn output_counts_as_streaming_only_shortly_after_a_send() {
        let now = Instant::now() + Duration::from_secs(1);
        assert!(!streaming(None, now), "nothing sent yet");
        assert!(streaming(Some(now - STREAMING / 2), now));
        assert!(!streaming(Some(now - STREAMING * 2), now), "after a pause");
    }

    /// The length of an output message (lengths only: a failed comparison of 256 KiB vectors
    /// prints all of them).
    fn output_len(batch: Batch) -> usize {
        match batch {
            Batch::Output(bytes) => bytes.len(),
            other => panic!("output expected, got {other:?}"),
        }
    }

    #[test]
    fn streaming_output_is_gathered_up_to_the_cap() {
        let batch = OutputBatch::default();
        batch.push(&[b'x'; 5000]);
        // More chunks arrive while the sender gathers: it stops waiting once it holds the cap
        // (53 chunks, 265,000 bytes) and sends exactly the cap.
        let first = take(batch.state.lock().unwrap(), true, reader_adding(5000, 100));
        assert_eq!(output_len(first), MAX_MESSAGE, "gathered, and capped");
        let rest = take(batch.state.lock().unwrap(), false, reader_adding(0, 0));
        assert_eq!(
            output_len(rest),
            53 * 5000 - MAX_MESSAGE,
            "the rest comes next"
        );
    }

    #[test]
    fn gathering_stops_when_the_window_ends() {
        let batch = OutputBatch::default();
        batch.push(&[b'x'; 100]);
        let sent = take(batch.state.lock().unwrap(), true, reader_adding(100, 2));
        assert_eq!(
            output_len(sent),
            300,
            "what arrived before the window ended"
        );
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
