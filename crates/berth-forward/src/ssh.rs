//! How a user reaches a session's SSH server on this computer's loopback, whichever engine
//! serves it: a ready `ssh` command and the same as an `~/.ssh/config` entry (`Host
//! berth-NAME`, what VS Code's Remote-SSH lists).

use std::path::Path;

/// The login sessions' SSH takes: Berth's sandboxes and Backend.AI's kernels run their user
/// as `work`.
pub const SSH_USER: &str = "work";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, specta::Type)]
pub struct SshAccess {
    /// What `ssh` and VS Code call the session: `berth-NAME`.
    pub host: String,
    /// `ssh -p PORT -i KEY ... work@127.0.0.1`, ready to paste into a terminal.
    pub command: String,
    /// The same as an `~/.ssh/config` entry for `host`.
    pub config_entry: String,
    pub port: u16,
}

/// How `ssh` checks the server's host key.
pub enum HostKeyCheck<'a> {
    /// A known_hosts file that holds the key under this alias already (Berth's own server).
    Known { alias: &'a str },
    /// Whatever key the server shows first is kept in the file and required after (a
    /// cluster kernel's own `sshd`, whose key Berth cannot know beforehand).
    PinFirst,
}

impl SshAccess {
    /// Access to session `session_name`'s SSH at `127.0.0.1:port`, logging in with the private
    /// key in `identity` and checking the host key against `known_hosts` as `check` says.
    pub fn new(
        session_name: &str,
        port: u16,
        identity: &Path,
        known_hosts: &Path,
        check: HostKeyCheck<'_>,
    ) -> Self {
        let key = quoted(identity);
        let known = quoted(known_hosts);
        let host = format!("berth-{session_name}");
        let (alias, pin) = match check {
            HostKeyCheck::Known { alias } => (alias.to_owned(), None),
            // The port changes between openings; the alias keeps one entry per session.
            HostKeyCheck::PinFirst => (host.clone(), Some("accept-new")),
        };
        let pin_option = pin
            .map(|p| format!(" -o StrictHostKeyChecking={p}"))
            .unwrap_or_default();
        let pin_line = pin
            .map(|p| format!("    StrictHostKeyChecking {p}\n"))
            .unwrap_or_default();
        let command = format!(
            "ssh -p {port} -i {key} -o IdentitiesOnly=yes -o HostKeyAlias={alias} \
             -o UserKnownHostsFile={known}{pin_option} {SSH_USER}@127.0.0.1"
        );
        let config_entry = format!(
            "Host {host}\n    HostName 127.0.0.1\n    Port {port}\n    User {SSH_USER}\n    \
             IdentityFile {key}\n    IdentitiesOnly yes\n    HostKeyAlias {alias}\n    \
             UserKnownHostsFile {known}\n{pin_line}"
        );
        Self {
            host,
            command,
            config_entry,
            port,
        }
    }
}

/// A path as a shell and `ssh_config` both read it: quoted when it holds a space (macOS's
/// "Application Support", Windows user names).
fn quoted(path: &Path) -> String {
    let text = path.display().to_string();
    if text.contains([' ', '\t']) {
        format!("\"{text}\"")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_and_entry_name_the_port_key_and_host_key_and_quote_spaces() {
        let dir = Path::new("/home/me/Application Support/berth/ssh");
        let access = SshAccess::new(
            "train",
            40222,
            &dir.join("berth_ed25519"),
            &dir.join("known_hosts"),
            HostKeyCheck::Known { alias: "berth" },
        );
        assert_eq!(access.host, "berth-train");
        assert_eq!(
            access.command,
            "ssh -p 40222 -i \"/home/me/Application Support/berth/ssh/berth_ed25519\" \
             -o IdentitiesOnly=yes -o HostKeyAlias=berth -o UserKnownHostsFile=\"/home/me/\
             Application Support/berth/ssh/known_hosts\" work@127.0.0.1"
        );
        assert!(
            access
                .config_entry
                .starts_with("Host berth-train\n    HostName 127.0.0.1\n    Port 40222\n")
        );
        assert!(!access.config_entry.contains("StrictHostKeyChecking"));

        let pinned = SshAccess::new(
            "gpu",
            40223,
            Path::new("/k/id_container"),
            Path::new("/k/known_hosts"),
            HostKeyCheck::PinFirst,
        );
        assert!(
            pinned.command.contains("-o HostKeyAlias=berth-gpu "),
            "{}",
            pinned.command
        );
        assert!(
            pinned
                .command
                .contains("-o StrictHostKeyChecking=accept-new work@"),
            "{}",
            pinned.command
        );
        assert!(
            pinned
                .config_entry
                .ends_with("    StrictHostKeyChecking accept-new\n")
        );
    }
}
