//! The Docker Engine API (Docker, Podman, Colima, Rancher Desktop): the local runtime on macOS
//! and Windows, opt-in on Linux. Found where those tools put their socket, and pinged for real.

use std::path::PathBuf;
use std::time::Duration;

use super::{CheckId, Finding};

const PING_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn examine() -> Finding {
    let fix = if cfg!(target_os = "linux") {
        "Optional on Linux: sudo apt-get install podman, then systemctl --user enable --now podman.socket (or set DOCKER_HOST)."
    } else {
        "Install and start Docker Desktop, Podman Desktop, Colima or Rancher Desktop (or set DOCKER_HOST)."
    };
    let Some(socket) = find_socket() else {
        return Finding::warn(
            CheckId::DockerApi,
            "no Docker or Podman API socket found",
            fix,
        );
    };
    let socket_text = socket.display().to_string();
    match ping(&socket_text).await {
        Ok(version) => Finding::ok(
            CheckId::DockerApi,
            format!("{version} answers at {socket_text}"),
        ),
        Err(e) => Finding::warn(
            CheckId::DockerApi,
            format!("{socket_text} does not answer: {e}"),
            fix,
        ),
    }
}

/// The Docker-API socket to use: the one `DOCKER_HOST` names — the user's explicit choice,
/// used as the docker CLI uses it, even when nothing answers there — else the first of
/// [`socket_candidates`] that exists.
pub(crate) fn find_socket() -> Option<PathBuf> {
    docker_host_socket().or_else(|| socket_candidates().into_iter().find(|p| p.exists()))
}

/// The socket `DOCKER_HOST` names (`unix://PATH`), if it is set to one.
fn docker_host_socket() -> Option<PathBuf> {
    let host = std::env::var_os("DOCKER_HOST")?;
    host.to_string_lossy()
        .strip_prefix("unix://")
        .map(PathBuf::from)
}

/// Where Docker-API engines put their socket, most specific first; `DOCKER_HOST` wins.
pub(crate) fn socket_candidates() -> Vec<PathBuf> {
    let mut found = Vec::new();
    found.extend(docker_host_socket());
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        found.push(PathBuf::from(&runtime).join("podman/podman.sock"));
        found.push(PathBuf::from(&runtime).join("docker.sock"));
    }
    if let Some(home) = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()) {
        found.push(home.join(".docker/run/docker.sock"));
        found.push(home.join(".colima/default/docker.sock"));
        found.push(home.join(".rd/docker.sock"));
    }
    found.push("/var/run/docker.sock".into());
    found.push("/run/podman/podman.sock".into());
    found
}

async fn ping(socket: &str) -> Result<String, String> {
    let docker = bollard::Docker::connect_with_socket(
        socket,
        PING_TIMEOUT.as_secs(),
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|e| e.to_string())?;
    let version = tokio::time::timeout(PING_TIMEOUT, docker.version())
        .await
        .map_err(|_| format!("no answer within {} s", PING_TIMEOUT.as_secs()))?
        .map_err(|e| e.to_string())?;
    let product = version
        .components
        .unwrap_or_default()
        .into_iter()
        .next()
        .map(|c| c.name)
        .unwrap_or_else(|| "Docker Engine".into());
    Ok(format!("{product} {}", version.version.unwrap_or_default()))
}
