//! Port forwards of local sessions: each connection accepted on `127.0.0.1:LOCAL` becomes its
//! own connection to `127.0.0.1:PORT` inside the session, made by a relay the session's
//! supervisor starts in the sandbox's network (`supervisor::relay`), so it works for sessions
//! with outbound network and with none alike, and nothing but this computer's loopback ever
//! listens. The listener and what the user sees of it are `berth_forward`'s; here is how a
//! connection reaches the sandbox, and the list of forwards open on this computer (the
//! window's and `berth session open`'s, whichever engine they lead into).

use std::path::PathBuf;
use std::sync::Arc;

use berth_core::{Error, Result};
use berth_forward::{Counted, Forward, ForwardRecord, ForwardTarget};

use crate::LocalEngine;
use crate::dirs::DataDirs;
use crate::supervisor::client::SupervisorClient;

/// How the forwards of this computer's sessions are named in the list of open forwards.
pub const THIS_COMPUTER: &str = "This computer";

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
        self.forward_port_of_app(key, port, local_port, None).await
    }

    /// [`LocalEngine::forward_port`], listed as app `app` (which listens on `port`).
    pub(crate) async fn forward_port_of_app(
        &self,
        key: &str,
        port: u16,
        local_port: Option<u16>,
        app: Option<&str>,
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
        let listener = berth_forward::listen(local_port).await?;
        let record = ForwardRecord {
            session_id: session.id.clone(),
            session_name: session.name.clone(),
            engine: THIS_COMPUTER.into(),
            app: app.map(str::to_owned),
            port,
            kind: berth_forward::AppKind::Web,
            local: String::new(),
            since_ms: 0,
            pid: 0,
            via: None,
        };
        let target = Arc::new(SandboxPort {
            client,
            port,
            name: session.name,
        });
        let mut forward = Forward::start(listener, target, record)?;
        self.forward_list().keep(&mut forward);
        Ok(forward)
    }

    /// The list of forwards open on this computer.
    pub fn forward_list(&self) -> ForwardList {
        ForwardList::of(self.dirs())
    }

    /// The forwards open on this computer, by the app and by `berth session open`, oldest
    /// first.
    pub fn open_forwards(&self) -> Vec<ForwardRecord> {
        self.forward_list().open()
    }
}

/// The forwards open on this computer, by any process and into any engine: each open forward
/// leaves one file in the runtime directory's `forwards/`, removed when it closes (and ignored,
/// then cleared, once its process is gone).
pub struct ForwardList {
    dir: PathBuf,
}

impl ForwardList {
    pub fn of(dirs: &DataDirs) -> Self {
        Self {
            dir: dirs.runtime.join("forwards"),
        }
    }

    /// Lists `forward` until it closes. A forward that cannot be listed still works; the
    /// failure is logged.
    pub fn keep(&self, forward: &mut Forward) {
        let record = &forward.record;
        let path = self.dir.join(format!(
            "{}-{}.json",
            record.pid,
            record.local.replace(':', "-")
        ));
        let written = std::fs::create_dir_all(&self.dir)
            .and_then(|()| std::fs::write(&path, serde_json::to_vec(record).unwrap_or_default()));
        match written {
            Ok(()) => forward.on_close(move || {
                let _ = std::fs::remove_file(path);
            }),
            Err(error) => tracing::warn!(%error, "cannot list the port forward"),
        }
    }

    /// The open forwards, oldest first; entries whose process is gone are cleared away.
    pub fn open(&self) -> Vec<ForwardRecord> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
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

#[cfg(windows)]
fn process_alive(pid: u32) -> bool {
    use windows_sys::Win32::Foundation::{CloseHandle, STILL_ACTIVE};
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    };
    // SAFETY: a handle opened here, only queried, and closed.
    unsafe {
        let handle = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if handle.is_null() {
            return false;
        }
        let mut code = 0u32;
        let asked = GetExitCodeProcess(handle, &mut code);
        CloseHandle(handle);
        asked != 0 && code == STILL_ACTIVE as u32
    }
}

/// A port inside a local sandbox, reached through its supervisor.
struct SandboxPort {
    client: SupervisorClient,
    port: u16,
    name: String,
}

#[async_trait::async_trait]
impl ForwardTarget for SandboxPort {
    async fn carry(&self, socket: Counted<tokio::net::TcpStream>) {
        // Someone using an app through the forward (a notebook in the browser) is using the
        // session: what they send counts as input for idle timeouts, as typing does.
        let socket = Touching {
            inner: socket,
            mark: self.client.input_mark().map(crate::vitals::InputMark::new),
        };
        let (client, port) = (self.client.clone(), self.port);
        let connected = tokio::task::spawn_blocking(move || client.connect_port(port)).await;
        let Ok(Ok(server)) = connected else {
            // Nothing there (the server stopped): the connection closes, which a browser shows.
            return;
        };
        // (A splice(2) through a pipe measured no faster here: on two cores the third busy
        // party's wakeups, not the copy, are what costs; see `berth_forward::carry_both`.)
        if let Ok(server) = server
            .set_nonblocking(true)
            .and_then(|()| tokio::net::TcpStream::from_std(server))
        {
            let _ = berth_forward::carry_both(socket, server).await;
        }
    }

    async fn still_there(&self) -> std::result::Result<(), String> {
        session_answers(&self.client, &self.name).await
    }
}

/// A forwarded connection's local end that marks the session as used whenever its client sends
/// something (see `vitals::InputMark`, which writes at most every few seconds).
struct Touching<S> {
    inner: S,
    mark: Option<crate::vitals::InputMark>,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Touching<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before
            && let Some(mark) = &self.mark
        {
            mark.touch();
        }
        polled
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Touching<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `Err(why)` once the supervisor of session `name` no longer answers: the session ended.
pub(crate) async fn session_answers(
    client: &SupervisorClient,
    name: &str,
) -> std::result::Result<(), String> {
    let asked = client.clone();
    let runs = tokio::task::spawn_blocking(move || asked.answers())
        .await
        .unwrap_or(false);
    if runs {
        Ok(())
    } else {
        Err(format!("session {name} ended"))
    }
}
