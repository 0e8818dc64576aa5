//! The Docker Engine API (Docker, Podman, Colima, Rancher Desktop): the only local runtime on
//! macOS and Windows, opt-in on Linux. Found as its users expect (`crate::docker_host`) and
//! pinged for real: a socket that answers but is not a Docker API says so.

use std::time::Duration;

use super::{CheckId, Finding};
use crate::docker_host::{self, DockerHost, Surroundings, System};

const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// What to install or start, per system, in one line.
pub fn install_hint() -> &'static str {
    match System::THIS {
        System::Linux => {
            "Optional on Linux: sudo apt-get install podman, then systemctl --user enable --now podman.socket (or set DOCKER_HOST)."
        }
        System::MacOs => {
            "Install and start Docker Desktop, Podman Desktop (podman machine start), Colima (colima start) or Rancher Desktop, or set DOCKER_HOST."
        }
        System::Windows => {
            "Install and start Docker Desktop or Podman Desktop (podman machine start), or set DOCKER_HOST (npipe:////./pipe/NAME or tcp://127.0.0.1:PORT)."
        }
    }
}

pub(super) async fn examine() -> Finding {
    // Off Linux this is the only runtime: without it, no session can start.
    let missing = |detail: String| {
        if System::THIS == System::Linux {
            Finding::warn(CheckId::DockerApi, detail, install_hint())
        } else {
            Finding::fail(CheckId::DockerApi, detail, install_hint())
        }
    };
    let (host, found_by) = match docker_host::find(&Surroundings::of_this_process(), System::THIS) {
        Ok(Some(found)) => found,
        Ok(None) => return missing("no Docker or Podman engine found".to_owned()),
        Err(e) => return missing(e.message),
    };
    match ping(&host).await {
        Ok(version) => Finding::ok(
            CheckId::DockerApi,
            format!("{version} answers at {host} (found by {found_by})"),
        ),
        Err(e) => missing(format!("{host} (found by {found_by}) {e}")),
    }
}

/// The engine's product and version; an error in words when nothing answers, or something
/// answers that is not a Docker API.
async fn ping(host: &DockerHost) -> Result<String, String> {
    let docker = crate::sessions::docker::connect(host).map_err(|e| e.message)?;
    let version = tokio::time::timeout(PING_TIMEOUT, docker.version())
        .await
        .map_err(|_| format!("does not answer within {} s", PING_TIMEOUT.as_secs()))?
        .map_err(|e| match e {
            bollard::errors::Error::JsonDataError { .. }
            | bollard::errors::Error::JsonSerdeError { .. }
            | bollard::errors::Error::DockerResponseServerError { .. } => {
                format!("answers, but not as a Docker API does ({e})")
            }
            _ => format!("does not answer: {e}"),
        })?;
    let product = version
        .components
        .unwrap_or_default()
        .into_iter()
        .next()
        .map(|c| c.name)
        .unwrap_or_else(|| "Docker Engine".into());
    Ok(format!("{product} {}", version.version.unwrap_or_default()))
}
