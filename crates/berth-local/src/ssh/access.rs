//! How a user reaches a session's SSH server: a ready `ssh` command, an `~/.ssh/config` entry
//! (`Host berth-NAME`, what VS Code's Remote-SSH lists), and the port a session had, so the
//! entry stays right when its SSH is opened again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::keys::{HOST_ALIAS, SshKeys};

use berth_forward::ssh::HostKeyCheck;
pub use berth_forward::ssh::{SSH_USER, SshAccess};

/// Access to session `session_name`'s SSH, served by Berth at `127.0.0.1:port`.
pub fn local_access(session_name: &str, port: u16, keys: &SshKeys) -> SshAccess {
    SshAccess::new(
        session_name,
        port,
        &keys.client_key_file,
        &keys.known_hosts_file,
        HostKeyCheck::Known { alias: HOST_ALIAS },
    )
}

/// Berth's own `ssh_config` (`<data>/ssh/config`): one `Host berth-NAME` entry per session whose
/// SSH was opened, which the user's `~/.ssh/config` takes in with one `Include` line. Berth
/// never edits the user's entries.
pub struct BerthSshConfig {
    pub file: PathBuf,
}

impl BerthSshConfig {
    pub fn at(ssh_dir: &Path) -> Self {
        Self {
            file: ssh_dir.join("config"),
        }
    }

    /// Puts `access`'s entry in, replacing one for the same host. Errors: `internal` naming
    /// the file.
    pub fn put(&self, access: &SshAccess) -> berth_core::Result<()> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let mut kept = without_host(&text, &access.host);
        if !kept.is_empty() && !kept.ends_with("\n\n") {
            kept.push('\n');
        }
        kept.push_str(&access.config_entry);
        write_whole(&self.file, &kept)
    }

    /// Whether `user_config` (`~/.ssh/config`) already takes this file in.
    pub fn is_included_in(&self, user_config: &Path) -> bool {
        let line = self.include_line();
        std::fs::read_to_string(user_config)
            .is_ok_and(|text| text.lines().any(|l| l.trim() == line))
    }

    /// Adds `Include "<this file>"` at the top of `user_config` (creating it, and its
    /// directory, private to the user), so `ssh berth-NAME` and VS Code's Remote-SSH know every
    /// session Berth opened. At the top, because an `Include` after a `Host` line would belong to
    /// that host. Nothing else in the file changes; a file that already has it is left alone.
    pub fn include_in(&self, user_config: &Path) -> berth_core::Result<()> {
        if self.is_included_in(user_config) {
            return Ok(());
        }
        if let Some(dir) = user_config.parent() {
            std::fs::create_dir_all(dir).map_err(|e| write_error(dir, &e))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            }
        }
        let before = std::fs::read_to_string(user_config).unwrap_or_default();
        let text = format!(
            "# Added by Berth: its sessions' SSH (Host berth-NAME).\n{}\n\n{before}",
            self.include_line()
        );
        write_whole(user_config, &text)
    }

    fn include_line(&self) -> String {
        format!("Include \"{}\"", self.file.display())
    }
}

/// `text` without the `Host host` block (up to the next `Host` or `Match` line).
fn without_host(text: &str, host: &str) -> String {
    let mut kept = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let starts_block = matches!(words.first(), Some(w) if w.eq_ignore_ascii_case("host") || w.eq_ignore_ascii_case("match"));
        if starts_block {
            skipping = words
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("host"))
                && words.get(1) == Some(&host)
                && words.len() == 2;
        }
        if !skipping {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

fn write_whole(file: &Path, text: &str) -> berth_core::Result<()> {
    berth_forward::write_private(file, text.as_bytes()).map_err(|e| write_error(file, &e))
}

fn write_error(path: &Path, e: &std::io::Error) -> berth_core::Error {
    berth_core::Error::internal(format!("Cannot write {}: {e}", path.display()))
}

/// The local port each session's SSH last listened on, by session id.
pub struct PortMemory {
    file: PathBuf,
}

impl PortMemory {
    pub fn at(ssh_dir: &Path) -> Self {
        Self {
            file: ssh_dir.join("ports.json"),
        }
    }

    fn read(&self) -> BTreeMap<String, u16> {
        std::fs::read(&self.file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn port_of(&self, session_id: &str) -> Option<u16> {
        self.read().get(session_id).copied()
    }

    /// Remembers `port` for `session_id`; a failure to write only costs the memory.
    pub fn remember(&self, session_id: &str, port: u16) {
        let mut ports = self.read();
        if ports.get(session_id) == Some(&port) {
            return;
        }
        ports.insert(session_id.to_owned(), port);
        let partial = self.file.with_extension("partial");
        let written = std::fs::write(&partial, serde_json::to_vec(&ports).unwrap_or_default())
            .and_then(|()| std::fs::rename(&partial, &self.file));
        if let Err(error) = written {
            tracing::warn!(%error, "cannot remember the SSH port");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berths_entries_are_replaced_by_host_and_included_once_at_the_top_of_the_users_config() {
        let dir = tempfile::tempdir().unwrap();
        let keys = SshKeys::load_or_create(dir.path(), None).unwrap();
        let config = BerthSshConfig::at(dir.path());
        config.put(&local_access("a", 40001, &keys)).unwrap();
        config.put(&local_access("b", 40002, &keys)).unwrap();
        config.put(&local_access("a", 40003, &keys)).unwrap();
        let text = std::fs::read_to_string(&config.file).unwrap();
        assert_eq!(text.matches("Host berth-a\n").count(), 1, "{text}");
        assert!(
            text.contains("Port 40003") && !text.contains("Port 40001"),
            "{text}"
        );
        assert!(
            text.contains("Host berth-b\n    HostName 127.0.0.1\n    Port 40002"),
            "{text}"
        );

        let user = dir.path().join("home/.ssh/config");
        std::fs::create_dir_all(user.parent().unwrap()).unwrap();
        std::fs::write(&user, "Host gpu\n    HostName gpu.example\n").unwrap();
        assert!(!config.is_included_in(&user));
        config.include_in(&user).unwrap();
        config.include_in(&user).unwrap();
        let text = std::fs::read_to_string(&user).unwrap();
        assert_eq!(text.matches("Include ").count(), 1, "{text}");
        assert!(
            text.lines().nth(1).unwrap().starts_with("Include \""),
            "{text}"
        );
        assert!(
            text.ends_with("Host gpu\n    HostName gpu.example\n"),
            "the user's own kept: {text}"
        );
        assert!(config.is_included_in(&user));
    }

    #[test]
    fn a_sessions_port_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let memory = PortMemory::at(dir.path());
        assert_eq!(memory.port_of("s1"), None);
        memory.remember("s1", 40001);
        memory.remember("s2", 40002);
        assert_eq!(PortMemory::at(dir.path()).port_of("s1"), Some(40001));
        assert_eq!(PortMemory::at(dir.path()).port_of("s2"), Some(40002));
    }
}
