//! `cargo bench -p berth-backendai --bench cluster_terminal -- NAME`: Berth's side of
//! `scripts/bench-cluster-terminal`, on the peer's real kernel (resource group `podman`). Logs
//! in with the official client's environment (`BACKEND_ENDPOINT`, `BACKEND_ACCESS_KEY`,
//! `BACKEND_SECRET_KEY`), then, in a new session NAME:
//!
//! * session create → terminal ready: from asking for the session to its shell's first prompt
//!   through the terminal Berth opens (ttyd through the manager's tcpproxy here);
//! * `cat` of a 50 MB text file made in the session, from the Enter to the marker after it;
//! * keystroke → echo: one key sent, until the output holding it arrives (200 keys).
//!
//! Prints one JSON line of figures on stdout and destroys the session. The official client's
//! side, on the same kernel and the same file, is in the script.
#![allow(clippy::unwrap_used)]

mod support;

use berth_core::frames::FrameStream;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use berth_backendai::terminal::{TransportChoice, open_terminal};

use berth_core::frames::{Frame, read_frame, write_frame};
use berth_core::{Engine, NewSession};

const GROUP: &str = "podman";
const IMAGE: &str = "cr.backend.ai/stable/python:3.11-debian12";
/// The same command the script gives the official client: 50 MB of 99-character lines.
const MAKE_FILE: &[u8] =
    b"head -c 50000000 /dev/zero | tr '\\0' x | fold -w 99 > /tmp/big; echo MADE-$((1+1))\r";
const CAT_FILE: &[u8] = b"clear; cat /tmp/big; echo; echo END-$((1+1))\r";
const KEYS: usize = 200;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(name) = args.first().cloned() else {
        eprintln!("usage: cluster_terminal SESSION_NAME");
        return ExitCode::FAILURE;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match runtime.block_on(run(name)) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("bench-cluster-terminal: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(name: String) -> Result<serde_json::Value, String> {
    let engine = support::engine_like_the_client().await?;

    let started = Instant::now();
    let session = engine
        .create_session(NewSession {
            name: Some(name.clone()),
            resource_group: Some(GROUP.into()),
            ..NewSession::interactive(IMAGE, vec![])
        })
        .await
        .map_err(|e| e.to_string())?;
    let created = started.elapsed();
    let measured = async {
        let opened = open_terminal(
            engine.connection(),
            &session.id,
            &session.name,
            200,
            50,
            TransportChoice::Auto,
        )
        .await
        .map_err(|e| e.to_string())?;
        let opened_at = started.elapsed();
        let transport = opened.describe();
        let stream = opened.stream;
        let mut figures = tokio::task::spawn_blocking(move || measure(stream, started, transport))
            .await
            .map_err(|e| e.to_string())??;
        // Where the wait to the first prompt went: the cluster starting the kernel, then the
        // terminal's way in, then ttyd and tmux drawing the prompt.
        figures["created_s"] = created.as_secs_f64().into();
        figures["terminal_opened_s"] = opened_at.as_secs_f64().into();
        Ok::<_, String>(figures)
    }
    .await;
    let _ = engine.destroy_session(&session.id).await;
    measured
}

fn measure(
    stream: FrameStream,
    started: Instant,
    transport: String,
) -> Result<serde_json::Value, String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .map_err(|e| e.to_string())?;
    let mut terminal = Terminal {
        // Buffered as the app's reader is (`berth_local::terminal`).
        reader: std::io::BufReader::with_capacity(
            256 * 1024,
            stream.try_clone().map_err(|e| e.to_string())?,
        ),
        stream,
        seen: Vec::new(),
        received: 0,
    };
    terminal.until(b"$ ")?;
    let ready = started.elapsed();

    terminal.send(MAKE_FILE)?;
    terminal.until(b"MADE-2")?;
    terminal.received = 0;
    let cat_started = Instant::now();
    terminal.send(CAT_FILE)?;
    terminal.until(b"END-2")?;
    let cat = cat_started.elapsed();
    let cat_bytes = terminal.received;

    // Keys at the prompt, each timed to the first output after it that holds it.
    std::thread::sleep(Duration::from_millis(500));
    terminal.drain()?;
    let mut echoes = Vec::with_capacity(KEYS);
    for _ in 0..KEYS {
        terminal.seen.clear();
        let sent = Instant::now();
        terminal.send(b"x")?;
        terminal.until(b"x")?;
        echoes.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    terminal.send(b"\x15")?;
    echoes.sort_by(f64::total_cmp);
    let percentile = |p: f64| echoes[((echoes.len() as f64 - 1.0) * p).round() as usize];
    Ok(serde_json::json!({
        "transport": transport,
        "create_to_ready_s": ready.as_secs_f64(),
        "cat_s": cat.as_secs_f64(),
        "cat_bytes_received": cat_bytes,
        "echo_p50_ms": percentile(0.5),
        "echo_p99_ms": percentile(0.99),
    }))
}

/// The app's end of a terminal, read as the app reads it.
struct Terminal {
    stream: FrameStream,
    reader: std::io::BufReader<FrameStream>,
    /// Output since the last [`Terminal::until`] found its marker (or the last clear).
    seen: Vec<u8>,
    /// Output bytes since the counter was reset.
    received: usize,
}

impl Terminal {
    fn send(&mut self, keys: &[u8]) -> Result<(), String> {
        write_frame(&mut self.stream, Frame::Input, keys).map_err(|e| e.to_string())?;
        self.stream.flush().map_err(|e| e.to_string())
    }

    fn until(&mut self, marker: &[u8]) -> Result<(), String> {
        let mut payload = Vec::new();
        loop {
            if let Some(at) = self.seen.windows(marker.len()).position(|w| w == marker) {
                self.seen.drain(..at + marker.len());
                return Ok(());
            }
            // Searched: only a marker's start can still be in it. Keeping more would make
            // every frame search the same bytes again, slowing the reader (and, through flow
            // control, the terminal) by the bench's own work.
            let keep_from = self.seen.len().saturating_sub(marker.len() - 1);
            self.seen.drain(..keep_from);
            match read_frame(&mut self.reader, &mut payload) {
                Ok(Some(Frame::Output)) => {
                    self.received += payload.len();
                    self.seen.extend_from_slice(&payload);
                }
                Ok(Some(_)) => {}
                other => {
                    return Err(format!(
                        "the terminal ended or stalled ({other:?}) before {:?}",
                        String::from_utf8_lossy(marker)
                    ));
                }
            }
        }
    }

    /// Reads what is already there, so the next marker search starts clean.
    fn drain(&mut self) -> Result<(), String> {
        let mut payload = Vec::new();
        self.stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .map_err(|e| e.to_string())?;
        while let Ok(Some(_)) = read_frame(&mut self.reader, &mut payload) {}
        self.stream
            .set_read_timeout(Some(Duration::from_secs(300)))
            .map_err(|e| e.to_string())?;
        self.seen.clear();
        Ok(())
    }
}
