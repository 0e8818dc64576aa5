//! Port forwards, the same on every engine: a listener on this computer's loopback whose every
//! accepted connection an engine carries to an app or a port inside a session — a local
//! session's supervisor connects inside the sandbox's network, a cluster's manager tunnels each
//! connection over its own websocket. This crate owns what the user sees of a forward (where it
//! listens, since when, what it moved, when and why it ended); the engine owns only
//! [`ForwardTarget`], how one connection reaches the session.

mod carry;
mod share;
pub mod ssh;

pub use carry::carry_both;
pub use share::{Shared, share};

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use berth_core::{Error, Result};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Writes `bytes` as `file`'s whole content, readable and writable by its owner only (what
/// `ssh` wants of keys and its config, and what an app's token deserves), through a temporary
/// file beside it, so a reader never sees half of it and a failed write leaves the old one.
pub fn write_private(file: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut partial = file.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&partial)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&partial, file));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// How often a forward asks whether its session still runs.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// What one forward is, as `berth session ports` and the window's Ports view list it, whichever
/// process holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, specta::Type)]
pub struct ForwardRecord {
    pub session_id: String,
    pub session_name: String,
    /// Where the session runs: `This computer`, or the cluster profile's name.
    pub engine: String,
    /// The app opened by name (`jupyter`, `sshd`, `ttyd`...); `None` for a bare port.
    #[serde(default)]
    pub app: Option<String>,
    /// The port inside the session.
    pub port: u16,
    /// How it is reached: a web page for a bare port.
    #[serde(default = "web")]
    pub kind: AppKind,
    /// `127.0.0.1:PORT` on this computer.
    pub local: String,
    pub since_ms: i64,
    /// The process holding it (the app's, or a `berth session open`).
    pub pid: u32,
    /// Which way its connections take into a cluster session, and why that one (the App
    /// Proxy, or the manager's tcpproxy where there is none); `None` for a local session.
    #[serde(default)]
    pub via: Option<String>,
}

/// An app a session offers to open on this computer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, specta::Type)]
pub struct SessionApp {
    /// What it is opened by: `jupyter`, `vscode`, `sshd`, `ttyd`... or a port number's digits
    /// for a port the session was launched to open.
    pub name: String,
    /// The port it listens on inside the session.
    pub port: u16,
    pub kind: AppKind,
}

/// How a user reaches an app once it is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// A web page: opened in the browser.
    Web,
    /// An SSH or SFTP server: an `ssh` command, or VS Code Remote-SSH.
    Ssh,
    /// Another protocol: a client of the user's connects to the local port.
    Tcp,
}

fn web() -> AppKind {
    AppKind::Web
}

impl ForwardRecord {
    /// What the user opens: `http://127.0.0.1:PORT/` for a web page, `ssh://USER@127.0.0.1:PORT`
    /// for an SSH server (`user` is the session's login), `127.0.0.1:PORT` for anything else.
    pub fn address(&self, ssh_user: &str) -> String {
        match self.kind {
            AppKind::Web => format!("http://{}/", self.local),
            AppKind::Ssh => format!("ssh://{ssh_user}@{}", self.local),
            AppKind::Tcp => self.local.clone(),
        }
    }
}

/// How an engine carries one connection into a session.
#[async_trait::async_trait]
pub trait ForwardTarget: Send + Sync + 'static {
    /// Carries `client`, accepted on the forward's listener, to the session until either side
    /// closes (what moves is counted as it moves). A target that cannot connect just drops
    /// `client`: the browser or client sees the connection close.
    async fn carry(&self, client: Counted<TcpStream>);

    /// `Err(why)` once the session the forward leads into has ended; asked every 2 s.
    async fn still_there(&self) -> std::result::Result<(), String>;
}

/// How long a login page stays on disk: a browser has read it long before.
const LOGIN_PAGE_KEPT: Duration = Duration::from_secs(60);

/// `file://` URL of an absolute path (on Windows `file:///C:/…`).
fn file_url(path: &std::path::Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let text = if text.starts_with('/') {
        text
    } else {
        format!("/{text}")
    };
    let mut url = String::from("file://");
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' | b':' => {
                url.push(byte as char);
            }
            other => url.push_str(&format!("%{other:02X}")),
        }
    }
    url
}

/// Listens on `127.0.0.1:local_port`, or on a free port when `None`. Errors: `invalid_input`
/// with the fix when the port asked for is taken, `internal` when loopback cannot be listened on.
pub async fn listen(local_port: Option<u16>) -> Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", local_port.unwrap_or(0)))
        .await
        .map_err(|e| match (e.kind(), local_port) {
            (std::io::ErrorKind::AddrInUse, Some(taken)) => Error::invalid_input(format!(
                "Port {taken} on this computer is already in use: pick another one, or leave it \
                 out and Berth picks a free one."
            )),
            (std::io::ErrorKind::PermissionDenied, Some(low)) => Error::invalid_input(format!(
                "Port {low} on this computer needs administrator rights: pick one above 1023, \
                 or leave it out and Berth picks a free one."
            )),
            _ => Error::internal(format!("Cannot listen on this computer's loopback: {e}")),
        })
}

/// An open forward; dropping it closes the listener (connections already made run on) and
/// takes its entry off the list of open ones.
pub struct Forward {
    pub record: ForwardRecord,
    /// Where it listens on this computer.
    pub local: SocketAddr,
    /// Where a web app is opened: `/`, or a path that logs the browser in (Jupyter's
    /// `/lab?token=…`). Kept in memory only, never in the list of open forwards.
    pub open_path: String,
    /// For an app whose login no URL can carry (code-server's password form): a page that
    /// logs the browser in and goes on to [`Forward::open_path`]. Holds the password, so it is
    /// kept in memory and written only by [`Forward::browser_address`].
    pub login_page: Option<String>,
    moved: Arc<AtomicU64>,
    connections: Arc<AtomicU32>,
    ended: watch::Receiver<Option<String>>,
    stop: watch::Sender<bool>,
    /// Runs when the forward is dropped: takes its entry off the list of open forwards.
    on_close: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Forward {
    /// Starts serving `listener` through `target` on the current tokio runtime. `record` says
    /// what it leads to; its `local`, `since_ms` and `pid` are filled in here.
    pub fn start(
        listener: TcpListener,
        target: Arc<dyn ForwardTarget>,
        mut record: ForwardRecord,
    ) -> Result<Self> {
        let local = listener
            .local_addr()
            .map_err(|e| Error::internal(e.to_string()))?;
        record.local = local.to_string();
        record.pid = std::process::id();
        record.since_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let moved = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU32::new(0));
        let (stop, stopped) = watch::channel(false);
        let (tell_end, ended) = watch::channel(None);
        tokio::spawn(serve(
            listener,
            target,
            moved.clone(),
            connections.clone(),
            stopped,
            tell_end,
            record.session_name.clone(),
        ));
        tracing::info!(session = %record.session_id, app = ?record.app, port = record.port, %local, "port forward opened");
        Ok(Self {
            record,
            local,
            open_path: "/".into(),
            login_page: None,
            moved,
            connections,
            ended,
            stop,
            on_close: None,
        })
    }

    /// What the user opens: for a web app, its URL with [`Forward::open_path`]; else as
    /// [`ForwardRecord::address`] says.
    pub fn open_address(&self, ssh_user: &str) -> String {
        match self.record.kind {
            AppKind::Web => format!("http://{}{}", self.local, self.open_path),
            _ => self.record.address(ssh_user),
        }
    }

    /// What the browser opens: [`Forward::open_address`], or for an app with a
    /// [`Forward::login_page`] that page as a file in `dir`, readable by this user only and
    /// removed after a minute or when the forward closes, whichever comes first.
    pub fn browser_address(&mut self, dir: &std::path::Path, ssh_user: &str) -> Result<String> {
        let Some(page) = &self.login_page else {
            return Ok(self.open_address(ssh_user));
        };
        let file = dir.join(format!("berth-login-{}.html", self.local.port()));
        write_private(&file, page.as_bytes()).map_err(|e| {
            Error::internal(format!(
                "Cannot write the page that logs the browser in, {}: {e}",
                file.display()
            ))
        })?;
        let soon = file.clone();
        std::thread::spawn(move || {
            std::thread::sleep(LOGIN_PAGE_KEPT);
            let _ = std::fs::remove_file(soon);
        });
        let address = file_url(&file);
        self.on_close(move || {
            let _ = std::fs::remove_file(file);
        });
        Ok(address)
    }

    /// Runs `on_close` when this forward closes (after any earlier one).
    pub fn on_close(&mut self, on_close: impl FnOnce() + Send + Sync + 'static) {
        let earlier = self.on_close.take();
        self.on_close = Some(Box::new(move || {
            if let Some(earlier) = earlier {
                earlier();
            }
            on_close();
        }));
    }

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

    /// Why it stopped listening on its own (`session NAME ended`), once it has.
    pub fn end_reason(&self) -> Option<String> {
        self.ended.borrow().clone()
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
        if let Some(on_close) = self.on_close.take() {
            on_close();
        }
    }
}

async fn serve(
    listener: TcpListener,
    target: Arc<dyn ForwardTarget>,
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
                let target = target.clone();
                let socket = Counted { inner: socket, moved: moved.clone() };
                tokio::spawn(async move { target.carry(socket).await });
            }
            _ = stopped.changed() => return,
            _ = watch.tick() => {
                if let Err(why) = target.still_there().await {
                    tracing::info!(session = %name, %why, "port forward ended with its session");
                    let _ = tell_end.send(Some(why));
                    return;
                }
            }
        }
    }
}

/// A forwarded connection's local end, counting the bytes read from it and written to it, so a
/// long-lived connection (a terminal, an SSH login) shows its traffic while it lasts.
pub struct Counted<S> {
    inner: S,
    moved: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.moved.fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &polled {
            self.moved.fetch_add(*written as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A target that answers each connection itself: echoes what it reads, so the listener,
    /// counting and ending are tested without a session.
    struct Echo {
        gone: AtomicBool,
    }

    #[async_trait::async_trait]
    impl ForwardTarget for Echo {
        async fn carry(&self, mut client: Counted<TcpStream>) {
            let mut buffer = [0u8; 1024];
            while let Ok(n) = client.read(&mut buffer).await {
                if n == 0 || client.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        }
        async fn still_there(&self) -> std::result::Result<(), String> {
            if self.gone.load(Ordering::Relaxed) {
                Err("session s ended".into())
            } else {
                Ok(())
            }
        }
    }

    fn record() -> ForwardRecord {
        ForwardRecord {
            session_id: "id".into(),
            session_name: "s".into(),
            engine: "This computer".into(),
            app: None,
            port: 8000,
            kind: AppKind::Web,
            local: String::new(),
            since_ms: 0,
            pid: 0,
            via: None,
        }
    }

    #[tokio::test]
    async fn a_login_page_is_opened_as_a_private_file_gone_when_the_forward_closes() {
        let echo = Arc::new(Echo {
            gone: AtomicBool::new(false),
        });
        let mut forward = Forward::start(listen(None).await.unwrap(), echo, record()).unwrap();
        let dir = std::env::temp_dir().join(format!("berth-login-test-{}", std::process::id()));
        // Without a login page: the app's own address.
        forward.open_path = "/lab?token=t".into();
        let plain = forward.browser_address(&dir, "work").unwrap();
        assert_eq!(plain, format!("http://{}/lab?token=t", forward.local));
        forward.login_page = Some("<form>secret</form>".into());
        let page = forward.browser_address(&dir, "work").unwrap();
        let file = dir.join(format!("berth-login-{}.html", forward.local.port()));
        assert_eq!(page, format!("file://{}", file.display()));
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "<form>secret</form>"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "only its owner may read the password");
        }
        drop(forward);
        assert!(!file.exists(), "the page goes with the forward");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn file_urls_escape_what_a_url_cannot_hold() {
        assert_eq!(
            file_url(std::path::Path::new("/run/user/1000/berth/a b#.html")),
            "file:///run/user/1000/berth/a%20b%23.html"
        );
        assert_eq!(
            file_url(std::path::Path::new("C:\\Users\\x\\p.html")),
            "file:///C:/Users/x/p.html"
        );
    }

    #[tokio::test]
    async fn carries_connections_counts_them_and_ends_with_the_session() {
        let echo = Arc::new(Echo {
            gone: AtomicBool::new(false),
        });
        let listener = listen(None).await.unwrap();
        let closed = Arc::new(AtomicBool::new(false));
        let mut forward = Forward::start(listener, echo.clone(), record()).unwrap();
        let flag = closed.clone();
        forward.on_close(move || flag.store(true, Ordering::Relaxed));
        assert_eq!(forward.record.local, forward.local.to_string());
        assert!(forward.local.ip().is_loopback(), "listens on loopback only");
        assert_eq!(forward.record.pid, std::process::id());

        let mut open = Vec::new();
        for _ in 0..3 {
            let mut client = TcpStream::connect(forward.local).await.unwrap();
            client.write_all(b"hello").await.unwrap();
            let mut back = [0u8; 5];
            client.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"hello");
            open.push(client);
        }
        assert_eq!(forward.connections(), 3);
        // Counted as it moves, while the connections are still open.
        assert_eq!(forward.bytes_moved(), 30);
        drop(open);

        echo.gone.store(true, Ordering::Relaxed);
        let why = tokio::time::timeout(Duration::from_secs(10), forward.ended())
            .await
            .unwrap();
        assert_eq!(why, "session s ended");
        assert!(!forward.is_open());
        drop(forward);
        assert!(
            closed.load(Ordering::Relaxed),
            "closing takes it off the list"
        );
    }

    #[tokio::test]
    async fn a_taken_local_port_is_refused_with_the_fix() {
        let taken = listen(None).await.unwrap();
        let port = taken.local_addr().unwrap().port();
        let error = listen(Some(port)).await.unwrap_err();
        assert_eq!(error.code, berth_core::ErrorCode::InvalidInput);
        assert!(
            error.message.contains(&format!("Port {port}")),
            "{}",
            error.message
        );
        assert!(error.message.contains("leave it out"), "{}", error.message);
    }
}
