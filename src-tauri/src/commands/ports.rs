//! Session apps and port forwards for the window: what a session offers to open, open one (and
//! the browser on it), list every forward open on this computer — the window's own with their
//! traffic, and those of `berth session open` — and close the window's. The forwarding is
//! `berth_forward`'s, into a local sandbox (`berth_local::forward`) or through a cluster's
//! manager (`berth_backendai::apps`); the window's forwards live as long as the app or their
//! session.

use std::collections::HashMap;
use std::sync::Mutex;

use berth_core::Error;
use berth_forward::AppKind;
use berth_forward::ssh::{SSH_USER, SshAccess};
use berth_forward::{Forward, ForwardRecord, SessionApp};
use berth_local::forward::THIS_COMPUTER;
use berth_local::ssh::SSH_APP;
use serde::Serialize;
use tauri::State;

use crate::ActiveEngine;

/// The window's open forwards, by local address.
#[derive(Default)]
pub struct Ports(Mutex<HashMap<String, Forward>>);

/// One open forward as the Ports view shows it.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct OpenPort {
    #[serde(flatten)]
    pub record: ForwardRecord,
    /// What the user opens: `http://127.0.0.1:PORT/`, `ssh://work@127.0.0.1:PORT`, or the bare
    /// address for another protocol.
    pub url: String,
    /// Whether this window holds it (and can close it); others are `berth session open`'s.
    pub ours: bool,
    /// Bytes moved both ways, for the window's own.
    pub bytes_moved: Option<u64>,
    pub connections: Option<u32>,
    /// For an SSH server: the `ssh` command and `~/.ssh/config` entry.
    pub ssh: Option<SshAccess>,
    /// Whether `~/.ssh/config` includes Berth's `ssh_config` already (so `ssh berth-NAME`
    /// works), for an SSH server.
    pub ssh_config_included: bool,
    /// Why one of the window's forwards stopped on its own (its session ended); it stays
    /// listed, saying so, until dismissed with `close_port`.
    pub ended: Option<String>,
}

/// Whether the user's `~/.ssh/config` takes in Berth's `ssh_config`.
fn ssh_config_included(state: &ActiveEngine) -> bool {
    let (Ok(local), Some(user)) = (state.this_computer(), berth_local::ssh::user_ssh_dir()) else {
        return false;
    };
    local.ssh_config().is_included_in(&user.join("config"))
}

/// How to reach a forward: an SSH server gets its command and config entry (a local
/// session's Berth serves; a cluster session's once its key was fetched).
fn ssh_of(state: &ActiveEngine, record: &ForwardRecord) -> Option<SshAccess> {
    if record.kind != AppKind::Ssh {
        return None;
    }
    let local = state.this_computer().ok()?;
    let port = record.local.rsplit(':').next()?.parse().ok()?;
    if record.engine == THIS_COMPUTER {
        return local.ssh_access(&record.session_name, port).ok();
    }
    let dir = berth_local::ssh::cluster_key_dir(local.dirs());
    dir.join(format!("{}.key", record.session_id))
        .exists()
        .then(|| {
            berth_backendai::apps::ssh_access_with_key(
                &record.session_name,
                &record.session_id,
                port,
                &dir,
            )
        })
}

/// The apps session `session` offers to open: on a cluster its image's apps and the ports it
/// was launched to open; a local session its SSH (and any port by number).
#[tauri::command]
#[specta::specta]
pub async fn session_apps(
    state: State<'_, ActiveEngine>,
    session: String,
) -> Result<Vec<SessionApp>, Error> {
    match state.cluster() {
        Some(cluster) => cluster.session_apps(&session).await,
        None => state.local("Session apps")?.session_apps(&session).await,
    }
}

/// Opens `target` of running session `session` — an app's name, or a port number — on this
/// computer's loopback (`local_port`, or a free one), and a web app in the browser unless
/// `browser` is false.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, ports), err)]
pub async fn open_port(
    state: State<'_, ActiveEngine>,
    ports: State<'_, Ports>,
    session: String,
    target: String,
    local_port: Option<u16>,
    browser: bool,
) -> Result<OpenPort, Error> {
    let mut forward = match state.cluster() {
        Some(cluster) => {
            let forward = cluster.open_app(&session, &target, local_port).await?;
            // A kernel's sshd lets in the key its kernel made: fetched now, and its entry put
            // in Berth's ssh_config.
            if forward.record.kind == AppKind::Ssh
                && let Ok(local) = state.this_computer()
            {
                let access = cluster
                    .session_ssh_access(
                        &forward.record.session_id,
                        forward.local.port(),
                        &berth_local::ssh::cluster_key_dir(local.dirs()),
                    )
                    .await?;
                if let Err(error) = local.ssh_config().put(&access) {
                    tracing::warn!(%error, "cannot write Berth's ssh_config");
                }
            }
            forward
        }
        None => {
            let local = state.local("Session apps")?;
            // One SSH server or JupyterLab per session is enough: the one open already is
            // handed back (and a web app opened again in the browser).
            if target.parse::<u16>().is_err()
                && let Some(open) = open_of(&ports, &session, &target)
            {
                if browser && open.record.kind == AppKind::Web {
                    open_in_browser(&open.url);
                }
                return Ok(OpenPort {
                    ssh: ssh_of(&state, &open.record),
                    ssh_config_included: ssh_config_included(&state),
                    ..open
                });
            }
            local.open_app(&session, &target, local_port).await?
        }
    };
    // The local engine keeps the list of forwards open on this computer, whichever engine
    // they lead into; a cluster forward still works when it cannot be listed.
    if state.cluster().is_some()
        && let Ok(local) = state.this_computer()
    {
        local.forward_list().keep(&mut forward);
    }
    let url = forward.open_address(SSH_USER);
    if browser && forward.record.kind == AppKind::Web {
        // An app that logs in by a form (code-server) opens through a page that does it.
        match state.this_computer() {
            Ok(local) => match forward.browser_address(&local.dirs().runtime, SSH_USER) {
                Ok(address) => open_in_browser(&address),
                Err(error) => tracing::warn!(%error, "cannot write the app's login page"),
            },
            Err(_) => open_in_browser(&url),
        }
    }
    let record = forward.record.clone();
    ports
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(record.local.clone(), forward);
    Ok(OpenPort {
        ssh: ssh_of(&state, &record),
        ssh_config_included: ssh_config_included(&state),
        ended: None,
        record,
        url,
        ours: true,
        bytes_moved: Some(0),
        connections: Some(0),
    })
}

/// The window's open forward of `app` into session `session` (id or name), if any (without
/// its SSH access, which the caller adds).
fn open_of(ports: &Ports, session: &str, app: &str) -> Option<OpenPort> {
    ports
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .find(|f| {
            f.is_open()
                && f.record.app.as_deref() == Some(app)
                && (f.record.session_id == session || f.record.session_name == session)
        })
        .map(|f| OpenPort {
            url: f.open_address(SSH_USER),
            ssh: None,
            ssh_config_included: false,
            ended: None,
            ours: true,
            bytes_moved: Some(f.bytes_moved()),
            connections: Some(f.connections()),
            record: f.record.clone(),
        })
}

/// Opens `url` (a forward's own) in the browser; a failure is logged without the URL, which
/// may carry an app's token.
fn open_in_browser(url: &str) {
    if let Err(error) = tauri_plugin_opener::open_url(url, None::<&str>) {
        tracing::warn!(%error, "cannot open the browser");
    }
}

/// Takes Berth's `ssh_config` into `~/.ssh/config` (one `Include` line at its top), so `ssh
/// berth-NAME` and VS Code's Remote-SSH know the sessions; returns the file changed.
#[tauri::command]
#[specta::specta]
pub fn include_ssh_config(state: State<'_, ActiveEngine>) -> Result<String, Error> {
    let file = state.local("SSH")?.include_ssh_config()?;
    Ok(file.display().to_string())
}

/// Opens VS Code on local session `session` over SSH (its Remote-SSH extension, folder
/// `/home/work`): opens the session's SSH if it is not open, takes Berth's `ssh_config` into
/// `~/.ssh/config`, and starts `code --remote ssh-remote+berth-NAME /home/work`. Errors: VS
/// Code's `code` command not found, with what to install.
#[tauri::command]
#[specta::specta]
pub async fn open_in_vscode(
    state: State<'_, ActiveEngine>,
    ports: State<'_, Ports>,
    session: String,
) -> Result<OpenPort, Error> {
    let opened = open_port(state.clone(), ports, session, SSH_APP.into(), None, false).await?;
    let local = state.local("VS Code")?;
    local.include_ssh_config()?;
    let host = format!("ssh-remote+berth-{}", opened.record.session_name);
    let code = std::env::var_os("BERTH_VSCODE").unwrap_or_else(|| "code".into());
    std::process::Command::new(&code)
        .args(["--remote", &host, "/home/work"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            Error::new(
                berth_core::ErrorCode::NotFound,
                format!(
                    "Cannot start VS Code ({}: {e}): install VS Code with its Remote - SSH extension \
                     and its `code` command on PATH. The session's SSH is open: `ssh {}` works meanwhile.",
                    code.to_string_lossy(),
                    opened.ssh.as_ref().map(|s| s.host.as_str()).unwrap_or("berth-NAME")
                ),
            )
        })?;
    Ok(opened)
}

/// Every forward open on this computer, and the window's own whose session ended (saying so).
#[tauri::command]
#[specta::specta]
pub fn list_ports(state: State<'_, ActiveEngine>, ports: State<'_, Ports>) -> Vec<OpenPort> {
    let Ok(local) = state.this_computer() else {
        return Vec::new();
    };
    let ours = ports.0.lock().unwrap_or_else(|p| p.into_inner());
    let me = std::process::id();
    local
        .open_forwards()
        .into_iter()
        .map(|record| {
            let own = (record.pid == me)
                .then(|| ours.get(&record.local))
                .flatten();
            OpenPort {
                url: own.map_or_else(|| record.address(SSH_USER), |f| f.open_address(SSH_USER)),
                ssh: ssh_of(&state, &record),
                ssh_config_included: record.kind == AppKind::Ssh && ssh_config_included(&state),
                ended: own.and_then(Forward::end_reason),
                ours: own.is_some(),
                bytes_moved: own.map(Forward::bytes_moved),
                connections: own.map(Forward::connections),
                record,
            }
        })
        .collect()
}

/// Closes the window's forward listening at `local` (`127.0.0.1:PORT`), or takes one whose
/// session ended off the list.
#[tauri::command]
#[specta::specta]
pub fn close_port(ports: State<'_, Ports>, local: String) -> Result<(), Error> {
    ports
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&local)
        .map(drop)
        .ok_or_else(|| {
            Error::new(
                berth_core::ErrorCode::NotFound,
                format!("No forward of this window listens at {local}: a berth session open holds it, or it closed."),
            )
        })
}

/// Opens a forward's local URL in the browser: only `http://127.0.0.1:…` URLs, which is all a
/// forward has, so the page cannot have the app open anything else.
#[tauri::command]
#[specta::specta]
pub fn open_port_url(url: String) -> Result<(), Error> {
    if !url.starts_with("http://127.0.0.1:") {
        return Err(Error::invalid_input(format!(
            "Only a forward's own address (http://127.0.0.1:PORT/) is opened, not {url}."
        )));
    }
    tauri_plugin_opener::open_url(&url, None::<&str>)
        .map_err(|e| Error::internal(format!("Cannot open the browser: {e}")))
}
