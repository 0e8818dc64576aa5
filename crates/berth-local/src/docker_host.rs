//! Which Docker-API engine the Docker runtime talks to, found the way its users expect: the
//! `DOCKER_HOST` they set, else the `docker context` in use, else where Docker Desktop, Podman
//! (machine or service), Colima and Rancher Desktop put their socket or named pipe on this
//! system. The engine must run on this computer: sessions mount this computer's folders.

use std::fmt;
use std::path::{Path, PathBuf};

use berth_core::{Error, Result};

/// Where a Docker-API engine answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    /// `unix:///path/to/docker.sock` (Linux, macOS).
    Unix(PathBuf),
    /// `npipe:////./pipe/NAME` (Windows), kept as `//./pipe/NAME`.
    Pipe(String),
    /// `tcp://127.0.0.1:2375`, loopback only, as `host:port`.
    Tcp(String),
}

impl fmt::Display for DockerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
            Self::Pipe(pipe) => write!(f, "npipe://{pipe}"),
            Self::Tcp(address) => write!(f, "tcp://{address}"),
        }
    }
}

impl DockerHost {
    /// Reads a `DOCKER_HOST` value (or a context's endpoint). Refuses what Berth cannot use, with
    /// the rule: an engine on another machine (it could not mount this computer's folders), and
    /// TLS, which a loopback engine does not need.
    pub fn parse(text: &str) -> Result<Self> {
        let refuse = |why: &str| Error::invalid_input(format!("DOCKER_HOST \"{text}\" {why}"));
        let (scheme, rest) = text.split_once("://").ok_or_else(|| {
            refuse(
                "is not an address Berth knows: use unix:///path/to/docker.sock, \
                 npipe:////./pipe/NAME or tcp://127.0.0.1:PORT.",
            )
        })?;
        match scheme {
            "unix" if rest.starts_with('/') => Ok(Self::Unix(PathBuf::from(rest))),
            "npipe" => {
                let pipe = rest.trim_start_matches(['/', '\\']);
                let pipe = pipe
                    .strip_prefix(".")
                    .map(|p| p.trim_start_matches(['/', '\\']))
                    .unwrap_or(pipe);
                let name = pipe
                    .strip_prefix("pipe")
                    .map(|p| p.trim_start_matches(['/', '\\']))
                    .filter(|name| !name.is_empty())
                    .ok_or_else(|| refuse("names no pipe: use npipe:////./pipe/NAME."))?;
                Ok(Self::Pipe(format!("//./pipe/{name}")))
            }
            "tcp" | "http" => {
                let address = rest.trim_end_matches('/');
                let host = address
                    .rsplit_once(':')
                    .map(|(host, _)| host)
                    .unwrap_or(address)
                    .trim_matches(['[', ']']);
                let loopback = host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                if !loopback {
                    return Err(refuse(
                        "is another machine: sessions mount folders of this computer, so the \
                         Docker engine must run here (unix://, npipe:// or tcp://127.0.0.1:PORT).",
                    ));
                }
                if std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty() && v != "0")
                {
                    return Err(refuse(
                        "asks for TLS (DOCKER_TLS_VERIFY), which Berth does not speak: an engine \
                         on this computer's loopback needs none; unset DOCKER_TLS_VERIFY.",
                    ));
                }
                Ok(Self::Tcp(address.to_string()))
            }
            "ssh" => Err(refuse(
                "is another machine over SSH: sessions mount folders of this computer, so the \
                 Docker engine must run here.",
            )),
            _ => Err(refuse(
                "is not an address Berth knows: use unix:///path/to/docker.sock, \
                 npipe:////./pipe/NAME or tcp://127.0.0.1:PORT.",
            )),
        }
    }

    /// Whether something is there to ask (a socket or pipe exists; a TCP address always is).
    fn is_present(&self) -> bool {
        match self {
            Self::Unix(path) => path.exists(),
            Self::Pipe(pipe) => Path::new(pipe).exists(),
            Self::Tcp(_) => true,
        }
    }
}

/// How the engine was found, for `doctor` and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundBy {
    DockerHost,
    Context(String),
    WellKnown,
}

impl fmt::Display for FoundBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DockerHost => write!(f, "DOCKER_HOST"),
            Self::Context(name) => write!(f, "docker context \"{name}\""),
            Self::WellKnown => write!(f, "its usual place"),
        }
    }
}

/// The operating systems whose engines put their sockets in different places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Linux,
    MacOs,
    Windows,
}

impl System {
    pub const THIS: Self = if cfg!(windows) {
        Self::Windows
    } else if cfg!(target_os = "macos") {
        Self::MacOs
    } else {
        Self::Linux
    };
}

/// What discovery reads from the environment; the tests give their own.
#[derive(Debug, Clone, Default)]
pub struct Surroundings {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    /// `DOCKER_CONFIG`, else `~/.docker`.
    pub docker_config: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub runtime_dir: Option<PathBuf>,
    pub temp_dir: Option<PathBuf>,
}

impl Surroundings {
    pub fn of_this_process() -> Self {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
        Self {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            docker_config: var("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".docker"))),
            runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            temp_dir: var("TMPDIR").map(PathBuf::from),
            home,
        }
    }
}

/// The engine to use: `DOCKER_HOST` when set (the user's explicit choice, used even when
/// nothing answers there, as the docker CLI does), else the current docker context's endpoint
/// (unless it is `default`), else the first well-known place that exists. `Ok(None)`: none.
pub fn find(around: &Surroundings, system: System) -> Result<Option<(DockerHost, FoundBy)>> {
    if let Some(host) = &around.docker_host {
        return Ok(Some((DockerHost::parse(host)?, FoundBy::DockerHost)));
    }
    if let Some((name, host)) = current_context(around)? {
        return Ok(Some((DockerHost::parse(&host)?, FoundBy::Context(name))));
    }
    Ok(well_known(around, system)
        .into_iter()
        .find(DockerHost::is_present)
        .map(|host| (host, FoundBy::WellKnown)))
}

/// The docker context in use (`DOCKER_CONTEXT`, else `currentContext` in the docker CLI's
/// config.json) and its Docker endpoint, unless it is the built-in `default` context. A named
/// context whose metadata is missing is an error: the docker CLI refuses it too.
fn current_context(around: &Surroundings) -> Result<Option<(String, String)>> {
    let Some(config) = &around.docker_config else {
        return Ok(None);
    };
    let name = match &around.docker_context {
        Some(name) => name.clone(),
        None => match std::fs::read(config.join("config.json")) {
            Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["currentContext"].as_str().map(str::to_owned))
                .unwrap_or_default(),
            Err(_) => String::new(),
        },
    };
    if name.is_empty() || name == "default" {
        return Ok(None);
    }
    // Each context lives in contexts/meta/<sha256 of its name>/meta.json; reading them all
    // and matching the name spares a hash.
    let contexts = config.join("contexts").join("meta");
    let host = std::fs::read_dir(&contexts)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|dir| std::fs::read(dir.path().join("meta.json")).ok())
        .filter_map(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .find(|meta| meta["Name"] == name.as_str())
        .and_then(|meta| {
            meta["Endpoints"]["docker"]["Host"]
                .as_str()
                .map(str::to_owned)
        });
    match host {
        Some(host) => Ok(Some((name, host))),
        None => Err(Error::invalid_input(format!(
            "The docker context \"{name}\" in use has no Docker endpoint in {}: pick another \
             with `docker context use`, or set DOCKER_HOST.",
            contexts.display()
        ))),
    }
}

/// Where each system's engines put their socket or pipe, most specific first.
pub fn well_known(around: &Surroundings, system: System) -> Vec<DockerHost> {
    let unix = |path: PathBuf| DockerHost::Unix(path);
    let in_home = |rel: &str| around.home.as_ref().map(|h| unix(h.join(rel)));
    let mut found = Vec::new();
    match system {
        System::Linux => {
            if let Some(runtime) = &around.runtime_dir {
                found.push(unix(runtime.join("podman/podman.sock")));
                found.push(unix(runtime.join("docker.sock")));
            }
            found.extend(in_home(".docker/desktop/docker.sock"));
            found.push(unix("/var/run/docker.sock".into()));
            found.push(unix("/run/podman/podman.sock".into()));
        }
        System::MacOs => {
            found.extend(in_home(".docker/run/docker.sock")); // Docker Desktop
            found.extend(in_home(".colima/default/docker.sock"));
            found.extend(in_home(".colima/docker.sock"));
            found.extend(in_home(".rd/docker.sock")); // Rancher Desktop
            if let Some(temp) = &around.temp_dir {
                // Podman 5's machine (applehv, libkrun).
                found.push(unix(temp.join("podman/podman-machine-default-api.sock")));
            }
            found.extend(in_home(
                ".local/share/containers/podman/machine/podman.sock",
            ));
            found.extend(in_home(
                ".local/share/containers/podman/machine/qemu/podman.sock",
            ));
            found.push(unix("/var/run/docker.sock".into()));
        }
        System::Windows => {
            for pipe in [
                "docker_engine",
                "podman-machine-default",
                "dockerDesktopLinuxEngine",
            ] {
                found.push(DockerHost::Pipe(format!("//./pipe/{pipe}")));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn addresses_parse_as_the_docker_cli_writes_them() {
        assert_eq!(
            DockerHost::parse("unix:///var/run/docker.sock").unwrap(),
            DockerHost::Unix("/var/run/docker.sock".into())
        );
        for pipe in [
            "npipe:////./pipe/docker_engine",
            "npipe://./pipe/docker_engine",
            r"npipe://\\.\pipe\docker_engine",
        ] {
            assert_eq!(
                DockerHost::parse(pipe).unwrap(),
                DockerHost::Pipe("//./pipe/docker_engine".into()),
                "{pipe}"
            );
        }
        for loopback in [
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "tcp://[::1]:2375/",
        ] {
            assert!(
                matches!(DockerHost::parse(loopback).unwrap(), DockerHost::Tcp(_)),
                "{loopback}"
            );
        }
        assert_eq!(
            DockerHost::parse("tcp://127.0.0.1:2375")
                .unwrap()
                .to_string(),
            "tcp://127.0.0.1:2375"
        );
    }

    #[test]
    fn an_engine_elsewhere_or_an_unknown_address_is_refused_with_the_rule() {
        for (text, rule) in [
            ("tcp://10.0.0.5:2375", "is another machine"),
            ("ssh://me@build-box", "over SSH"),
            ("docker.sock", "is not an address Berth knows"),
            ("npipe://", "names no pipe"),
        ] {
            let error = DockerHost::parse(text).unwrap_err();
            assert_eq!(error.code, berth_core::ErrorCode::InvalidInput);
            assert!(
                error
                    .message
                    .starts_with(&format!("DOCKER_HOST \"{text}\" ")),
                "{}",
                error.message
            );
            assert!(error.message.contains(rule), "{}", error.message);
        }
    }

    fn around(dir: &Path) -> Surroundings {
        Surroundings {
            home: Some(dir.join("home")),
            docker_config: Some(dir.join("home/.docker")),
            runtime_dir: Some(dir.join("run")),
            temp_dir: Some(dir.join("tmp")),
            ..Surroundings::default()
        }
    }

    #[test]
    fn docker_host_wins_then_the_context_in_use_then_the_usual_places() {
        let dir = tempfile::tempdir().unwrap();
        let mut around = around(dir.path());
        let colima = dir.path().join("home/.colima/default/docker.sock");
        std::fs::create_dir_all(colima.parent().unwrap()).unwrap();
        std::fs::write(&colima, b"").unwrap();

        assert_eq!(
            find(&around, System::MacOs).unwrap(),
            Some((DockerHost::Unix(colima.clone()), FoundBy::WellKnown))
        );
        // Linux looks elsewhere (and this machine may well run a Podman of its own there).
        assert_ne!(
            find(&around, System::Linux).unwrap().map(|(host, _)| host),
            Some(DockerHost::Unix(colima.clone()))
        );

        let config = dir.path().join("home/.docker");
        std::fs::create_dir_all(config.join("contexts/meta/9f86d081")).unwrap();
        std::fs::write(
            config.join("contexts/meta/9f86d081/meta.json"),
            r#"{"Name":"podman","Metadata":{},"Endpoints":{"docker":{"Host":"unix:///run/user/1000/podman/podman.sock","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
        std::fs::write(config.join("config.json"), r#"{"currentContext":"podman"}"#).unwrap();
        assert_eq!(
            find(&around, System::MacOs).unwrap(),
            Some((
                DockerHost::Unix("/run/user/1000/podman/podman.sock".into()),
                FoundBy::Context("podman".into())
            ))
        );

        around.docker_context = Some("default".into());
        assert_eq!(
            find(&around, System::MacOs).unwrap().unwrap().1,
            FoundBy::WellKnown,
            "DOCKER_CONTEXT=default means the usual places"
        );
        around.docker_context = Some("gone".into());
        let error = find(&around, System::MacOs).unwrap_err();
        assert!(error.message.contains("\"gone\""), "{}", error.message);

        around.docker_host = Some("tcp://127.0.0.1:2375".into());
        assert_eq!(
            find(&around, System::MacOs).unwrap(),
            Some((
                DockerHost::Tcp("127.0.0.1:2375".into()),
                FoundBy::DockerHost
            ))
        );
    }

    #[test]
    fn each_system_has_its_engines_places() {
        let dir = tempfile::tempdir().unwrap();
        let around = around(dir.path());
        let shown = |system| -> Vec<String> {
            well_known(&around, system)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            shown(System::Windows),
            [
                "npipe:////./pipe/docker_engine",
                "npipe:////./pipe/podman-machine-default",
                "npipe:////./pipe/dockerDesktopLinuxEngine"
            ]
        );
        let mac = shown(System::MacOs);
        for place in [
            ".docker/run/docker.sock",
            ".colima/default/docker.sock",
            ".rd/docker.sock",
            "podman/podman-machine-default-api.sock",
            "/var/run/docker.sock",
        ] {
            assert!(mac.iter().any(|p| p.ends_with(place)), "{place} in {mac:?}");
        }
        let linux = shown(System::Linux);
        assert!(linux[0].ends_with("run/podman/podman.sock"), "{linux:?}");
        assert!(linux.contains(&"unix:///var/run/docker.sock".to_string()));
    }
}
