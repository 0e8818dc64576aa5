//! The apps a local session offers to open on this computer: its SSH (Berth's own server, so
//! every session has one; see `ssh`), JupyterLab and code-server (VS Code in the browser) where
//! the environment has them (started on demand, the browser opened already logged in), and any
//! port by number through a forward.

use std::time::{Duration, Instant};

use berth_core::{Error, Result};
use berth_forward::{AppKind, Forward, SessionApp};

use crate::LocalEngine;
use crate::ssh::SSH_APP;
use crate::supervisor::client::{SupervisorClient, finish_exec};

/// JupyterLab's name among a session's apps.
pub const JUPYTERLAB: &str = "jupyterlab";

/// code-server's (VS Code in the browser) name among a session's apps.
pub const CODE_SERVER: &str = "code-server";

/// Which apps the environment has: JupyterLab as a command or as a Python module (a folder of
/// packages on `PYTHONPATH` counts), code-server as a command (a folder on `PATH` counts).
const DETECT: &str = "if command -v jupyter-lab >/dev/null 2>&1 || \
     python3 -c 'import jupyterlab' >/dev/null 2>&1; then echo jupyterlab; fi; \
     if command -v code-server >/dev/null 2>&1; then echo code-server; fi";

/// An app Berth starts in a session when the user opens it.
struct Startable {
    name: &'static str,
    /// Ports it is started on inside the session: its usual one, or the next free.
    ports: std::ops::RangeInclusive<u16>,
    /// Run by `sh -c` with the port as `$1` and the app's secret on stdin (so it is in no
    /// command line another user of this computer could read): starts it in the background in
    /// /home/work, its process id to /tmp/berth-NAME.pid, its output to /tmp/berth-NAME.log.
    /// In a session of its own where the image has `setsid` (slim images may not: then only in
    /// the background, which outlives the starting command as well).
    start: &'static str,
    /// How long it may take to answer once started (a first start builds caches).
    patience: Duration,
}

const JUPYTERLAB_START: Startable = Startable {
    name: JUPYTERLAB,
    ports: 8888..=8898,
    start: "read -r JUPYTER_TOKEN; export JUPYTER_TOKEN; port=$1; cd /home/work; \
     if command -v jupyter-lab >/dev/null 2>&1; then set -- jupyter-lab; \
     else set -- python3 -m jupyterlab; fi; \
     if command -v setsid >/dev/null 2>&1; then set -- setsid \"$@\"; fi; \
     \"$@\" --no-browser --ip=127.0.0.1 --port=\"$port\" --ServerApp.port_retries=0 \
       --ServerApp.root_dir=/home/work </dev/null >/tmp/berth-jupyterlab.log 2>&1 & \
     echo $! > /tmp/berth-jupyterlab.pid",
    patience: Duration::from_secs(90),
};

/// code-server with a password (its only login besides none): Berth logs the browser in with
/// it (see [`code_server_login_page`]).
const CODE_SERVER_START: Startable = Startable {
    name: CODE_SERVER,
    ports: 8080..=8090,
    start: "read -r PASSWORD; export PASSWORD; port=$1; cd /home/work; set -- code-server; \
     if command -v setsid >/dev/null 2>&1; then set -- setsid \"$@\"; fi; \
     \"$@\" --bind-addr 127.0.0.1:\"$port\" --auth password --disable-telemetry \
       --disable-update-check --disable-workspace-trust /home/work \
       </dev/null >/tmp/berth-code-server.log 2>&1 & \
     echo $! > /tmp/berth-code-server.pid",
    patience: Duration::from_secs(90),
};

/// Where code-server opens: the session's home as the workspace.
const CODE_SERVER_WORKSPACE: &str = "/?folder=/home/work";

/// The end of app `$1`'s log; all of it where the image has no `tail`.
const LOG_END: &str = "(tail -n 5 /tmp/berth-$1.log || cat /tmp/berth-$1.log) 2>/dev/null";

/// Prints `up` while app `$1` that Berth started runs (shell built-ins only).
const ALIVE: &str = "{ read -r pid < /tmp/berth-$1.pid; } 2>/dev/null && \
     kill -0 \"$pid\" 2>/dev/null && echo up || true";

impl LocalEngine {
    /// The apps running session `key` offers: its SSH always, JupyterLab and code-server where
    /// the environment has them. Errors: the session's (unknown, not running).
    pub async fn session_apps(&self, key: &str) -> Result<Vec<SessionApp>> {
        // Looking is not using: an idle session stays idle.
        let client = self.session_client(key)?.1.unmarked();
        let mut apps = vec![SessionApp {
            name: SSH_APP.into(),
            port: 22,
            kind: AppKind::Ssh,
        }];
        let found = run(&client, DETECT, b"").await.unwrap_or_default();
        for app in [&JUPYTERLAB_START, &CODE_SERVER_START] {
            if found.lines().any(|l| l == app.name) {
                apps.push(SessionApp {
                    name: app.name.into(),
                    port: *app.ports.start(),
                    kind: AppKind::Web,
                });
            }
        }
        Ok(apps)
    }

    /// Opens `app` of running session `key` on this computer's loopback: `ssh`, `jupyterlab`,
    /// `code-server`, or a port number. Errors: an app the session does not have, and each
    /// app's own.
    pub async fn open_app(&self, key: &str, app: &str, local_port: Option<u16>) -> Result<Forward> {
        match app {
            SSH_APP => self.open_ssh(key, local_port).await,
            JUPYTERLAB => {
                let (mut forward, started) = self
                    .open_started(key, &JUPYTERLAB_START, local_port)
                    .await?;
                forward.open_path = format!("/lab?token={}", started.token);
                Ok(forward)
            }
            CODE_SERVER => {
                let (mut forward, started) = self
                    .open_started(key, &CODE_SERVER_START, local_port)
                    .await?;
                forward.open_path = CODE_SERVER_WORKSPACE.into();
                forward.login_page = Some(code_server_login_page(
                    forward.local.port(),
                    &started.token,
                    CODE_SERVER_WORKSPACE,
                ));
                Ok(forward)
            }
            other => match other.trim().parse::<u16>() {
                Ok(port) => self.forward_port(key, port, local_port).await,
                Err(_) => Err(Error::invalid_input(format!(
                    "\"{other}\" is not an app of this session or a port: a local session opens \
                     `ssh`, `jupyterlab` or `code-server` where its environment has them, or \
                     any port by number (1-65535)."
                ))),
            },
        }
    }

    /// `app` in session `key`, started unless Berth started it there already, forwarded; with
    /// the secret it was started with (the caller builds the browser's way in from it).
    async fn open_started(
        &self,
        key: &str,
        app: &Startable,
        local_port: Option<u16>,
    ) -> Result<(Forward, StartedApp)> {
        let (session, client) = self.session_client(key)?;
        let started = self.started_apps(&session.id);
        let running = match started.read(app.name) {
            Some(running) if answers(&client.unmarked(), running.port).await => Some(running),
            _ => None,
        };
        let running = match running {
            Some(running) => running,
            None => {
                let running = start(&client, &session.name, app).await?;
                started.keep(app.name, &running);
                running
            }
        };
        let forward = self
            .forward_port_of_app(key, running.port, local_port, Some(app.name))
            .await?;
        Ok((forward, running))
    }

    fn started_apps(&self, session_id: &str) -> StartedApps {
        StartedApps {
            dir: self.session_runtime_dir(session_id).join("apps"),
        }
    }
}

/// An app Berth started in a session: where it listens there, and its token or password.
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

/// Starts `app` on the first free port of its range in the session with a new secret, and
/// waits until it answers. Errors: no free port; or it did not come up, with the end of its
/// log.
async fn start(client: &SupervisorClient, session: &str, app: &Startable) -> Result<StartedApp> {
    // Its start is the user's doing (they asked for it); looking for a port and waiting for
    // it to answer is not, and must not keep an idle session alive.
    let probe = &client.unmarked();
    let mut port = None;
    for candidate in app.ports.clone() {
        if !answers(probe, candidate).await {
            port = Some(candidate);
            break;
        }
    }
    let port = port.ok_or_else(|| {
        Error::invalid_input(format!(
            "Ports {}-{} are all taken in session \"{session}\": stop a server there, then open \
             {} again.",
            app.ports.start(),
            app.ports.end(),
            app.name
        ))
    })?;
    let token = new_token();
    let stdin = format!("{token}\n");
    run_args(
        client,
        app.start,
        &[&format!("berth-{}", app.name), &port.to_string()],
        stdin.as_bytes(),
    )
    .await?;
    let about_it = ["berth-app", app.name];
    let started = Instant::now();
    while started.elapsed() < app.patience {
        if answers(probe, port).await {
            tracing::info!(session, port, app = app.name, "app started");
            return Ok(StartedApp { port, token });
        }
        // Gone already: it failed; its log says why.
        let alive = run_args(probe, ALIVE, &about_it, b"")
            .await
            .unwrap_or_default();
        if started.elapsed() > Duration::from_secs(2) && alive.trim() != "up" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = run_args(probe, LOG_END, &about_it, b"")
        .await
        .unwrap_or_default();
    Err(Error::internal(format!(
        "{} did not start in session \"{session}\" within {} s: {}",
        app.name,
        app.patience.as_secs(),
        if log.trim().is_empty() {
            "it wrote nothing".to_owned()
        } else {
            log.trim().to_owned()
        }
    )))
}

/// A page that logs the browser in to code-server on local port `port` and goes on to `to`:
/// its password form, filled in and sent at once. (code-server's login is a form post that
/// sets a cookie; no URL can carry it, as Jupyter's token does.)
fn code_server_login_page(port: u16, password: &str, to: &str) -> String {
    let to: String = to
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    format!(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>Opening code-server…</title>\n\
         <form method=\"post\" action=\"http://127.0.0.1:{port}/login?to={to}\">\
         <input type=\"hidden\" name=\"password\" value=\"{password}\">\
         <noscript><button>Open code-server</button></noscript></form>\n\
         <script>document.forms[0].submit()</script>\n"
    )
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
