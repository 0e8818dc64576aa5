//! Port forwards: a TCP port inside a local session, on this computer's loopback. Each
//! connection accepted on `127.0.0.1:LOCAL` becomes its own connection to `127.0.0.1:PORT`
//! inside the session, made by a relay the session's supervisor starts in the sandbox's
//! network (`supervisor::relay`), so it works for sessions with outbound network and with none
//! alike, and nothing but this computer's loopback ever listens. A forward ends with its
//! session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use berth_core::{Error, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::LocalEngine;
use crate::supervisor::client::SupervisorClient;

/// Each direction's copy buffer.
const BUFFER: usize = 256 * 1024;

/// How often a forward asks whether its session still runs.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// An open forward as `berth session ports` and the window's Ports view list it, whichever
/// process holds it: each open forward leaves one of these in the runtime directory's
/// `forwards/`, removed when it closes (and ignored once its process is gone).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, specta::Type)]
pub struct ForwardRecord {
    pub session_id: String,
    pub session_name: String,
    /// The port inside the session.
    pub port: u16,
    /// `127.0.0.1:PORT` on this computer.
    pub local: String,
    pub since_ms: i64,
    /// The process holding it (the app's, or a `berth session open`).
    pub pid: u32,
}

/// An open forward; dropping it closes the listener (connections already made run on).
pub struct Forward {
    pub session_id: String,
    pub session_name: String,
    /// The port inside the session.
    pub port: u16,
    /// Where it listens on this computer.
    pub local: SocketAddr,
    pub since_ms: i64,
    moved: Arc<AtomicU64>,
    connections: Arc<AtomicU32>,
    ended: watch::Receiver<Option<String>>,
    stop: watch::Sender<bool>,
    /// This forward's entry in the list of open ones.
    record: Option<std::path::PathBuf>,
}

impl Forward {
    /// Bytes moved both ways so far.
    pub fn bytes_moved(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }

    /// Connections made through it so far.
    pub fn connections(&self) -> u32 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Whether it still listens: false once its session ended.
    pub fn is_open(&self) -> bool {
        self.ended.borrow().is_none()
    }

    /// Waits until the forward ends on its own (its session ended) and says why.
    pub async fn ended(&self) -> String {
        let mut ended = self.ended.clone();
        loop {
            if let Some(why) = ended.borrow().clone() {
                return why;
            }
            if ended.changed().await.is_err() {
                return "the forward was closed".into();
            }
        }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(record) = &self.record {
            let _ = std::fs::remove_file(record);
        }
    }
}

impl LocalEngine {
    /// Forwards port `port` of running session `key` to `127.0.0.1:local_port` (a free port
    /// when `None`). Refused when nothing listens on the port in the session now, or when the
    /// local port is taken, with the fix in the message.
    pub async fn forward_port(
        &self,
        key: &str,
        port: u16,
        local_port: Option<u16>,
    ) -> Result<Forward> {
        let (session, client) = self.session_client(key)?;
        // A first connection, so a wrong port is said now rather than as a browser's blank tab.
        let probe = client.clone();
        let probed = tokio::task::spawn_blocking(move || probe.connect_port(port))
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        match probed {
            Ok(stream) => drop(stream),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(Error::invalid_input(format!(
                    "Nothing listens on port {port} in session \"{}\": start the server first \
                     (listening on 127.0.0.1 or 0.0.0.0 inside the session).",
                    session.name
                )));
            }
            Err(e) => {
                return Err(Error::invalid_input(format!(
                    "Cannot reach port {port} in session \"{}\": {e}.",
                    session.name
                )));
            }
        }
        let listener = TcpListener::bind(("127.0.0.1", local_port.unwrap_or(0)))
            .await
            .map_err(|e| match (e.kind(), local_port) {
                (std::io::ErrorKind::AddrInUse, Some(taken)) => Error::invalid_input(format!(
                    "Port {taken} on this computer is already in use: pick another one, or \
                     leave it out and Berth picks a free one."
                )),
                _ => Error::internal(format!("Cannot listen on this computer's loopback: {e}")),
            })?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::internal(e.to_string()))?;
        let moved = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU32::new(0));
        let (stop, stopped) = watch::channel(false);
        let (tell_end, ended) = watch::channel(None);
        tokio::spawn(serve(
            listener,
            client,
            port,
            moved.clone(),
            connections.clone(),
            stopped,
            tell_end,
            session.name.clone(),
        ));
        tracing::info!(session = %session.id, port, %local, "port forward opened");
        let since_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let record = ForwardRecord {
            session_id: session.id.clone(),
            session_name: session.name.clone(),
            port,
            local: local.to_string(),
            since_ms,
            pid: std::process::id(),
        };
        Ok(Forward {
            session_id: session.id,
            session_name: session.name,
            port,
            local,
            since_ms,
            moved,
            connections,
            ended,
            stop,
            record: self.keep_record(&record),
        })
    }

    fn forwards_dir(&self) -> std::path::PathBuf {
        self.dirs().runtime.join("forwards")
    }

    /// Writes `record` where `open_forwards` finds it; `None` when it cannot (the forward
    /// works regardless, it is only not listed).
    fn keep_record(&self, record: &ForwardRecord) -> Option<std::path::PathBuf> {
        let dir = self.forwards_dir();
        let path = dir.join(format!(
            "{}-{}.json",
            record.pid,
            record.local.replace(':', "-")
        ));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, serde_json::to_vec(record).unwrap_or_default()));
        match written {
            Ok(()) => Some(path),
            Err(error) => {
                tracing::warn!(%error, "cannot list the port forward");
                None
            }
        }
    }

    /// The forwards open on this computer, by the app and by `berth session open`, oldest
    /// first; entries whose process is gone are cleared away.
    pub fn open_forwards(&self) -> Vec<ForwardRecord> {
        let Ok(entries) = std::fs::read_dir(self.forwards_dir()) else {
            return Vec::new();
        };
        let mut open: Vec<ForwardRecord> = entries
            .flatten()
            .filter_map(|entry| {
                let record: ForwardRecord =
                    serde_json::from_slice(&std::fs::read(entry.path()).ok()?).ok()?;
                if process_alive(record.pid) {
                    Some(record)
                } else {
                    let _ = std::fs::remove_file(entry.path());
                    None
                }
            })
            .collect();
        open.sort_by_key(|r| r.since_ms);
        open
    }
}

#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let answered = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
    answered || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    // Forwards exist only where sessions have supervisors (Linux) for now.
    true
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    listener: TcpListener,
    client: SupervisorClient,
    port: u16,
    moved: Arc<AtomicU64>,
    connections: Arc<AtomicU32>,
    mut stopped: watch::Receiver<bool>,
    tell_end: watch::Sender<Option<String>>,
    name: String,
) {
    let mut watch = tokio::time::interval(WATCH_EVERY);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                let _ = socket.set_nodelay(true);
                connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(carry(socket, client.clone(), port, moved.clone()));
            }
            _ = stopped.changed() => return,
            _ = watch.tick() => {
                let asked = client.clone();
                let runs = tokio::task::spawn_blocking(move || asked.answers()).await.unwrap_or(false);
                if !runs {
                    let _ = tell_end.send(Some(format!("session {name} ended")));
                    return;
                }
            }
        }
    }
}

/// One accepted connection, carried to the port in the session until either side closes.
async fn carry(
    mut socket: tokio::net::TcpStream,
    client: SupervisorClient,
    port: u16,
    moved: Arc<AtomicU64>,
) {
    let connected = tokio::task::spawn_blocking(move || client.connect_port(port)).await;
    let Ok(Ok(server)) = connected else {
        // Nothing there (the server stopped): the connection closes, which a browser shows.
        return;
    };
    // Big buffers: a forward's throughput is mostly how few copies and wakeups it costs. (A
    // splice(2) through a pipe measured no faster here: on two cores the third busy party,
    // not the copy, is what costs — see `scripts/bench-forward`.)
    let result = match server
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpStream::from_std(server))
    {
        Ok(mut server) => {
            tokio::io::copy_bidirectional_with_sizes(&mut socket, &mut server, BUFFER, BUFFER).await
        }
        Err(e) => Err(e),
    };
    if let Ok((up, down)) = result {
        moved.fetch_add(up + down, Ordering::Relaxed);
    }
}
