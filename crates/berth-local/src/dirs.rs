//! Where Berth keeps its config, data and logs: the OS's own directories, each overridable from
//! the environment so tests (and users with a second disk) never touch the default locations.

use std::ffi::OsString;
use std::path::PathBuf;

use berth_core::{Error, Result};

pub const CONFIG_DIR_VAR: &str = "BERTH_CONFIG_DIR";
pub const DATA_DIR_VAR: &str = "BERTH_DATA_DIR";
pub const LOG_DIR_VAR: &str = "BERTH_LOG_DIR";
pub const RUNTIME_DIR_VAR: &str = "BERTH_RUNTIME_DIR";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDirs {
    pub config: PathBuf,
    pub data: PathBuf,
    pub logs: PathBuf,
    /// Sockets and state of running sessions' supervisors: gone at reboot, like the sessions.
    pub runtime: PathBuf,
}

impl DataDirs {
    /// Resolves the directories from the process environment; `data_override` (the CLI's
    /// `--data-dir`) wins over `BERTH_DATA_DIR`. Creates nothing.
    pub fn resolve(data_override: Option<PathBuf>) -> Result<Self> {
        Self::resolve_with(|name| std::env::var_os(name), data_override)
    }

    /// [`DataDirs::resolve`] with the environment passed in, so the precedence is testable
    /// without mutating the process environment.
    pub fn resolve_with(
        env: impl Fn(&str) -> Option<OsString>,
        data_override: Option<PathBuf>,
    ) -> Result<Self> {
        let from_env = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let explicit_data = data_override.or_else(|| from_env(DATA_DIR_VAR));
        let os = directories::ProjectDirs::from("io", "Berth", "Berth");

        let data = match (&explicit_data, &os) {
            (Some(dir), _) => dir.clone(),
            (None, Some(os)) => os.data_dir().to_path_buf(),
            (None, None) => return Err(no_home_error(DATA_DIR_VAR)),
        };
        let config = match (from_env(CONFIG_DIR_VAR), &os) {
            (Some(dir), _) => dir,
            (None, Some(os)) => os.config_dir().to_path_buf(),
            (None, None) => return Err(no_home_error(CONFIG_DIR_VAR)),
        };
        // An explicit data dir takes the logs with it: a test run or a portable install then
        // writes nothing into the user's real log directory.
        let logs = match (from_env(LOG_DIR_VAR), &explicit_data, &os) {
            (Some(dir), _, _) => dir,
            (None, Some(data), _) => data.join("logs"),
            (None, None, Some(os)) => os_log_dir(os),
            (None, None, None) => return Err(no_home_error(LOG_DIR_VAR)),
        };
        // When Berth runs as root its sessions run as an unprivileged uid, whose supervisors
        // must reach their sockets: /run/berth is searchable, a root-only data dir is not.
        let runtime = match (from_env(RUNTIME_DIR_VAR), from_env("XDG_RUNTIME_DIR")) {
            (Some(dir), _) => dir,
            (None, _) if is_root() => PathBuf::from("/run/berth"),
            (None, Some(xdg)) => xdg.join("berth"),
            (None, None) => data.join("run"),
        };
        Ok(Self {
            config,
            data,
            logs,
            runtime,
        })
    }
}

fn is_root() -> bool {
    #[cfg(unix)]
    // SAFETY: geteuid cannot fail.
    return unsafe { libc::geteuid() } == 0;
    #[cfg(not(unix))]
    false
}

fn os_log_dir(os: &directories::ProjectDirs) -> PathBuf {
    if cfg!(target_os = "macos")
        && let Some(home) = directories::BaseDirs::new()
    {
        return home.home_dir().join("Library/Logs/Berth");
    }
    // Linux: $XDG_STATE_HOME/berth/logs (logs are state, not data); Windows: %LOCALAPPDATA%.
    os.state_dir()
        .unwrap_or_else(|| os.data_local_dir())
        .join("logs")
}

fn no_home_error(var: &str) -> Error {
    Error::engine_unavailable(format!(
        "Cannot tell where to keep Berth's files: no home directory is known. Set {var} to a \
         writable directory."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn environment_overrides_every_directory() {
        let dirs = DataDirs::resolve_with(
            env(&[
                (DATA_DIR_VAR, "/d"),
                (CONFIG_DIR_VAR, "/c"),
                (LOG_DIR_VAR, "/l"),
                (RUNTIME_DIR_VAR, "/r"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(
            dirs,
            DataDirs {
                data: "/d".into(),
                config: "/c".into(),
                logs: "/l".into(),
                runtime: "/r".into(),
            }
        );
    }

    #[test]
    fn data_dir_flag_beats_the_environment_and_takes_the_logs_along() {
        let dirs =
            DataDirs::resolve_with(env(&[(DATA_DIR_VAR, "/env")]), Some("/flag".into())).unwrap();
        assert_eq!(dirs.data, PathBuf::from("/flag"));
        assert_eq!(dirs.logs, PathBuf::from("/flag/logs"));
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let dirs = DataDirs::resolve_with(env(&[(DATA_DIR_VAR, "")]), None).unwrap();
        assert_ne!(dirs.data, PathBuf::from(""));
    }
}
