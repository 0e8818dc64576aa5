//! The apps a local session offers to open on this computer: its SSH (Berth's own server, so
//! every session has one; see `ssh`), JupyterLab where the environment has it (started on
//! demand, the browser opened already logged in), and any port by number through a forward.

use std::time::{Duration, Instant};

use berth_core::{Error, Result};
use berth_forward::{AppKind, Forward, SessionApp};

use crate::LocalEngine;
use crate::ssh::SSH_APP;
use crate::supervisor::client::{SupervisorClient, finish_exec};

/// JupyterLab's name among a session's apps.
pub const JUPYTERLAB: &str = "jupyterlab";

/// Ports JupyterLab is started on inside a session: its usual one, or the next free.
const JUPYTER_PORTS: std::ops::RangeInclusive<u16> = 8888..=8898;

/// How long JupyterLab may take to answer once started (its first start builds caches).
const JUPYTER_START: Duration = Duration::from_secs(90);

/// Which apps the environment has: JupyterLab as a command or as a Python module (a folder of
/// packages on `PYTHONPATH` counts).
const DETECT: &str = "if command -v jupyter-lab >/dev/null 2>&1 || \
     python3 -c 'import jupyterlab' >/dev/null 2>&1; then echo jupyterlab; fi";

/// Starts JupyterLab in the background on port `$1`, in /home/work, with the token read from
/// stdin (so it is in no command line another user of this computer could read); its process
/// id goes to /tmp/berth-jupyterlab.pid, its output to /tmp/berth-jupyterlab.log. In a session
/// of its own where the image has `setsid` (slim images may not: then only in the background,
/// which outlives the starting command as well).
const START_JUPYTER: &str = "read -r JUPYTER_TOKEN; export JUPYTER_TOKEN; port=$1; cd /home/work; \
     if command -v jupyter-lab >/dev/null 2>&1; then set -- jupyter-lab; \
     else set -- python3 -m jupyterlab; fi; \
     if command -v setsid >/dev/null 2>&1; then set -- setsid \"$@\"; fi; \
     \"$@\" --no-browser --ip=127.0.0.1 --port=\"$port\" --ServerApp.port_retries=0 \
       --ServerApp.root_dir=/home/work </dev/null >/tmp/berth-jupyterlab.log 2>&1 & \
     echo $! > /tmp/berth-jupyterlab.pid";

/// The end of JupyterLab's log; all of it where the image has no `tail`.
const LOG_END: &str =
    "(tail -n 5 /tmp/berth-jupyterlab.log || cat /tmp/berth-jupyterlab.log) 2>/dev/null";

/// Prints `up` while the JupyterLab Berth started runs (shell built-ins only).
const JUPYTER_ALIVE: &str = "{ read -r pid < /tmp/berth-jupyterlab.pid; } 2>/dev/null && \
     kill -0 \"$pid\" 2>/dev/null && echo up || true";

impl LocalEngine {
    /// The apps running session `key` offers: its SSH always, JupyterLab where the
    /// environment has it. Errors: the session's (unknown, not running).
    pub async fn session_apps(&self, key: &str) -> Result<Vec<SessionApp>> {
        // Looking is not using: an idle session stays idle.
        let client = self.session_client(key)?.1.unmarked();
        let mut apps = vec![SessionApp {
            name: SSH_APP.into(),
            port: 22,
            kind: AppKind::Ssh,
        }];
        let found = run(&client, DETECT, b"").await.unwrap_or_default();
        if found.lines().any(|l| l == JUPYTERLAB) {
            apps.push(SessionApp {
                name: JUPYTERLAB.into(),
                port: *JUPYTER_PORTS.start(),
                kind: AppKind::Web,
            });
        }
        Ok(apps)
    }

    /// Opens `app` of running session `key` on this computer's loopback: `ssh`, `jupyterlab`,
    /// or a port number. Errors: an app the session does not have, and each app's own.
    pub async fn open_app(&self, key: &str, app: &str, local_port: Option<u16>) -> Result<Forward> {
        match app {
            SSH_APP => self.open_ssh(key, local_port).await,
            JUPYTERLAB => self.open_jupyterlab(key, local_port).await,
            other => match other.trim().parse::<u16>() {
                Ok(port) => self.forward_port(key, port, local_port).await,
                Err(_) => Err(Error::invalid_input(format!(
                    "\"{other}\" is not an app of this session or a port: a local session opens \
                     `ssh`, `jupyterlab` where its environment has it, or any port by number \
                     (1-65535)."
                ))),
            },
        }
    }

    /// JupyterLab in session `key`, started unless Berth started it there already, forwarded,
    /// with the browser's way in carrying its token ([`Forward::open_path`]).
    async fn open_jupyterlab(&self, key: &str, local_port: Option<u16>) -> Result<Forward> {
        let (session, client) = self.session_client(key)?;
        let started = self.started_apps(&session.id);
        let running = match started.read(JUPYTERLAB) {
            Some(app) if answers(&client.unmarked(), app.port).await => Some(app),
            _ => None,
        };
        let app = match running {
            Some(app) => app,
            None => {
                let app = start_jupyterlab(&client, &session.name).await?;
                started.keep(JUPYTERLAB, &app);
                app
            }
        };
        let mut forward = self
            .forward_port_of_app(key, app.port, local_port, Some(JUPYTERLAB))
            .await?;
        forward.open_path = format!("/lab?token={}", app.token);
        Ok(forward)
    }

    fn started_apps(&self, session_id: &str) -> StartedApps {
        StartedApps {
            dir: self.session_runtime_dir(session_id).join("apps"),
        }
    }
}

/// An app Berth started in a session: where it listens there, and its token.
#[derive(serde::Serialize, serde::Deserialize)]
struct StartedApp {
    port: u16,
    token: String,
}

/// The apps Berth started in one session, so a second "Open" finds the one running (its
/// token is needed to log in). Files readable by this user only, in the session's runtime
/// directory, so they go when the session does.
struct StartedApps {
    dir: std::path::PathBuf,
}

impl StartedApps {
    fn read(&self, app: &str) -> Option<StartedApp> {
        let bytes = std::fs::read(self.dir.join(format!("{app}.json"))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn keep(&self, app: &str, started: &StartedApp) {
        let file = self.dir.join(format!("{app}.json"));
        let bytes = serde_json::to_vec(started).unwrap_or_default();
        if let Err(error) = berth_forward::write_private(&file, &bytes) {
            tracing::warn!(%error, "cannot note the app Berth started");
        }
    }
}

/// Starts JupyterLab on the first free port of [`JUPYTER_PORTS`] in the session with a new
/// token, and waits until it answers. Errors: no free port; or it did not come up, with the
/// end of its log.
async fn start_jupyterlab(client: &SupervisorClient, session: &str) -> Result<StartedApp> {
    // Its start is the user's doing (they asked for it); looking for a port and waiting for
    // it to answer is not, and must not keep an idle session alive.
    let probe = &client.unmarked();
    let mut port = None;
    for candidate in JUPYTER_PORTS {
        if !answers(probe, candidate).await {
            port = Some(candidate);
            break;
        }
    }
    let port = port.ok_or_else(|| {
        Error::invalid_input(format!(
            "Ports {}-{} are all taken in session \"{session}\": stop a server there, then open \
             JupyterLab again.",
            JUPYTER_PORTS.start(),
            JUPYTER_PORTS.end()
        ))
    })?;
    let token = new_token();
    let stdin = format!("{token}\n");
    run_args(
        client,
        START_JUPYTER,
        &["berth-jupyterlab", &port.to_string()],
        stdin.as_bytes(),
    )
    .await?;
    let started = Instant::now();
    while started.elapsed() < JUPYTER_START {
        if answers(probe, port).await {
            tracing::info!(session, port, "JupyterLab started");
            return Ok(StartedApp { port, token });
        }
        // Gone already: it failed; its log says why.
        let alive = run(probe, JUPYTER_ALIVE, b"").await.unwrap_or_default();
        if started.elapsed() > Duration::from_secs(2) && alive.trim() != "up" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = run(probe, LOG_END, b"").await.unwrap_or_default();
    Err(Error::internal(format!(
        "JupyterLab did not start in session \"{session}\" within {} s: {}",
        JUPYTER_START.as_secs(),
        if log.trim().is_empty() {
            "it wrote nothing".to_owned()
        } else {
            log.trim().to_owned()
        }
    )))
}

/// 32 hex digits from the OS's generator.
fn new_token() -> String {
    use rand::RngExt;
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether something listens on `port` inside the session.
async fn answers(client: &SupervisorClient, port: u16) -> bool {
    let client = client.clone();
    tokio::task::spawn_blocking(move || client.connect_port(port).is_ok())
        .await
        .unwrap_or(false)
}

/// `script` run by `sh -c` in the session with `stdin`; its stdout. Errors: it could not run,
/// or failed (with its stderr).
async fn run(client: &SupervisorClient, script: &str, stdin: &[u8]) -> Result<String> {
    run_args(client, script, &[], stdin).await
}

async fn run_args(
    client: &SupervisorClient,
    script: &str,
    args: &[&str],
    stdin: &[u8],
) -> Result<String> {
    let client = client.clone();
    let mut argv = vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let stdin = stdin.to_vec();
    let output = tokio::task::spawn_blocking(move || {
        client
            .exec(argv)
            .and_then(|stream| finish_exec(stream, &stdin))
    })
    .await
    .map_err(|e| Error::internal(e.to_string()))?
    .map_err(|e| Error::internal(format!("Cannot run in the session: {e}")))?;
    if output.code != 0 {
        return Err(Error::internal(format!(
            "A command in the session failed ({}): {}",
            output.code,
            output.stderr_text().trim()
        )));
    }
    Ok(output.stdout_text())
}
