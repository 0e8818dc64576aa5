//! The keys of a session's SSH server, kept in Berth's data directory: one host key (every
//! session's server shows the same one, so `ssh` learns it once under the alias `berth`), and
//! one client key Berth's `ssh` commands and config entries log in with. The user's own keys
//! (`~/.ssh/id_*.pub`) are let in too, so an SSH client set up for them needs nothing new.

use std::path::{Path, PathBuf};

use berth_core::{Error, Result};
use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, PrivateKey, PublicKey};

/// The name `ssh` knows the sessions' host key by (`HostKeyAlias`), whatever port it is on.
pub const HOST_ALIAS: &str = "berth";

/// The user's own public keys that may log in, as OpenSSH names them.
const USER_KEYS: [&str; 3] = ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"];

pub struct SshKeys {
    pub host: PrivateKey,
    /// Berth's own client key's file, for `ssh -i`.
    pub client_key_file: PathBuf,
    /// A known-hosts file holding only the host key, under [`HOST_ALIAS`].
    pub known_hosts_file: PathBuf,
    /// Keys that may log in: Berth's client key and the user's own.
    pub authorized: Vec<PublicKey>,
}

impl SshKeys {
    /// Reads the keys in `dir`, making those missing (private keys readable by the user only).
    /// `user_ssh_dir` is where the user's own keys are (`~/.ssh`), if anywhere. Errors:
    /// `internal` naming the file that cannot be read or written.
    pub fn load_or_create(dir: &Path, user_ssh_dir: Option<&Path>) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
        let host = key_in(&dir.join("host_ed25519"))?;
        let client_key_file = dir.join("berth_ed25519");
        let client = key_in(&client_key_file)?;
        let host_public = host
            .public_key()
            .to_openssh()
            .map_err(|e| Error::internal(e.to_string()))?;
        let known_hosts_file = dir.join("known_hosts");
        let line = format!("{HOST_ALIAS} {host_public}\n");
        if std::fs::read_to_string(&known_hosts_file).ok().as_deref() != Some(line.as_str()) {
            std::fs::write(&known_hosts_file, line).map_err(|e| io_error(&known_hosts_file, &e))?;
        }
        let mut authorized = vec![client.public_key().clone()];
        if let Some(user_dir) = user_ssh_dir {
            for name in USER_KEYS {
                let Ok(text) = std::fs::read_to_string(user_dir.join(name)) else {
                    continue;
                };
                match PublicKey::from_openssh(text.trim()) {
                    Ok(key) => authorized.push(key),
                    Err(error) => {
                        tracing::warn!(file = name, %error, "an SSH public key Berth cannot read")
                    }
                }
            }
        }
        Ok(Self {
            host,
            client_key_file,
            known_hosts_file,
            authorized,
        })
    }

    /// Whether `key` may log in.
    pub fn lets_in(&self, key: &PublicKey) -> bool {
        self.authorized
            .iter()
            .any(|k| k.key_data() == key.key_data())
    }
}

/// The private key in `file`, made (Ed25519) when there is none.
fn key_in(file: &Path) -> Result<PrivateKey> {
    match std::fs::read_to_string(file) {
        Ok(text) => PrivateKey::from_openssh(text).map_err(|e| {
            Error::internal(format!(
                "{} is not an OpenSSH private key ({e}): remove it and Berth makes a new one.",
                file.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
                .map_err(|e| Error::internal(format!("Cannot make an SSH key: {e}")))?;
            let text = key
                .to_openssh(LineEnding::LF)
                .map_err(|e| Error::internal(e.to_string()))?;
            berth_forward::write_private(file, text.as_bytes()).map_err(|e| io_error(file, &e))?;
            let public = key
                .public_key()
                .to_openssh()
                .map_err(|e| Error::internal(e.to_string()))?;
            let public_file = file.with_extension("pub");
            std::fs::write(&public_file, format!("{public} berth\n"))
                .map_err(|e| io_error(&public_file, &e))?;
            Ok(key)
        }
        Err(e) => Err(io_error(file, &e)),
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::internal(format!("Cannot keep SSH keys at {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_once_kept_private_and_the_users_own_are_let_in() {
        let dir = tempfile::tempdir().unwrap();
        let user = tempfile::tempdir().unwrap();
        let theirs = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).unwrap();
        std::fs::write(
            user.path().join("id_ed25519.pub"),
            format!("{} me@laptop\n", theirs.public_key().to_openssh().unwrap()),
        )
        .unwrap();
        let first = SshKeys::load_or_create(dir.path(), Some(user.path())).unwrap();
        let again = SshKeys::load_or_create(dir.path(), Some(user.path())).unwrap();
        assert_eq!(
            first.host.public_key(),
            again.host.public_key(),
            "kept, not remade"
        );
        assert!(again.lets_in(theirs.public_key()));
        let client =
            PrivateKey::from_openssh(std::fs::read_to_string(&first.client_key_file).unwrap())
                .unwrap();
        assert!(again.lets_in(client.public_key()));
        let stranger = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).unwrap();
        assert!(!again.lets_in(stranger.public_key()));
        let known = std::fs::read_to_string(&first.known_hosts_file).unwrap();
        assert!(known.starts_with("berth ssh-ed25519 "), "{known}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.client_key_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "only its owner may read the key");
        }
    }
}
