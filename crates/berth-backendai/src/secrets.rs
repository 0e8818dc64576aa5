//! Where passwords and secret keys live: the operating system's keychain (macOS Keychain,
//! Windows Credential Manager, the Secret Service on Linux). Where no keychain service runs (a
//! bare Linux session, a server), an encrypted file in the config directory instead — with a
//! warning, because its key sits beside it and protects only against the file being copied
//! alone. Secrets never go into `profiles.json`, a log line or the webview.

use std::path::{Path, PathBuf};

use berth_core::{Error, ErrorCode, Result};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// The keychain service name every Berth secret is filed under.
const SERVICE: &str = "berth";

pub enum SecretStore {
    Keychain,
    /// `secrets.json` (sealed values) and `secrets.key` (the key), both 0600.
    File {
        dir: PathBuf,
    },
}

impl SecretStore {
    /// The keychain when one answers, else the encrypted file in `config_dir`.
    /// `BERTH_SECRET_STORE=file` chooses the file even where a keychain runs (for machines whose
    /// keychain prompts on every access).
    pub fn open(config_dir: &Path) -> Self {
        let forced_file = std::env::var("BERTH_SECRET_STORE").is_ok_and(|v| v == "file");
        if !forced_file && keychain_answers() {
            return Self::Keychain;
        }
        Self::File {
            dir: config_dir.to_path_buf(),
        }
    }

    /// A warning to show wherever secrets are entered, when they do not go to a keychain.
    pub fn warning(&self) -> Option<String> {
        match self {
            Self::Keychain => None,
            Self::File { dir } => Some(format!(
                "No keychain service is running, so Berth keeps passwords and secret keys encrypted in {} with the key beside them: anyone who can read your files can read them.",
                dir.join("secrets.json").display()
            )),
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Self::Keychain => "the system keychain",
            Self::File { .. } => "an encrypted file (no keychain service is running)",
        }
    }

    pub fn get(&self, account: &str) -> Result<Option<String>> {
        match self {
            Self::Keychain => match entry(account)?.get_password() {
                Ok(secret) => Ok(Some(secret)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(keychain_error(&e)),
            },
            Self::File { dir } => Ok(read_sealed(dir)?.remove(account)),
        }
    }

    pub fn set(&self, account: &str, secret: &str) -> Result<()> {
        match self {
            Self::Keychain => entry(account)?
                .set_password(secret)
                .map_err(|e| keychain_error(&e)),
            Self::File { dir } => {
                let mut all = read_sealed(dir)?;
                all.insert(account.to_string(), secret.to_string());
                write_sealed(dir, &all)
            }
        }
    }

    /// Removing what is not there is not an error.
    pub fn remove(&self, account: &str) -> Result<()> {
        match self {
            Self::Keychain => match entry(account)?.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(keychain_error(&e)),
            },
            Self::File { dir } => {
                let mut all = read_sealed(dir)?;
                if all.remove(account).is_some() {
                    write_sealed(dir, &all)?;
                }
                Ok(())
            }
        }
    }
}

fn entry(account: &str) -> Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, account).map_err(|e| keychain_error(&e))
}

fn keychain_error(error: &keyring::Error) -> Error {
    Error::new(
        ErrorCode::EngineUnavailable,
        format!(
            "The system keychain refused access: {error}. Unlock it, or set BERTH_SECRET_STORE=file."
        ),
    )
}

/// Whether a keychain service answers: a lookup of an entry that may not exist tells (no
/// entry is an answer; no service is not).
fn keychain_answers() -> bool {
    match keyring::Entry::new(SERVICE, "berth-probe") {
        Ok(probe) => matches!(probe.get_password(), Ok(_) | Err(keyring::Error::NoEntry)),
        Err(_) => false,
    }
}

#[derive(Serialize, Deserialize, Default)]
struct SealedFile {
    /// account → base64(nonce ‖ ciphertext ‖ tag)
    #[serde(default)]
    secrets: std::collections::BTreeMap<String, String>,
}

fn key(dir: &Path) -> Result<LessSafeKey> {
    let path = dir.join("secrets.key");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut fresh = [0u8; 32];
            SystemRandom::new()
                .fill(&mut fresh)
                .map_err(|_| Error::internal("The system's random number source failed."))?;
            write_private(&path, &fresh)?;
            fresh.to_vec()
        }
        Err(e) => return Err(file_error(&path, &e)),
    };
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| {
        Error::engine_unavailable(format!(
            "{} is not a Berth secrets key (wrong length). Remove it and the secrets file, then enter the passwords again.",
            path.display()
        ))
    })?;
    Ok(LessSafeKey::new(unbound))
}

fn read_sealed(dir: &Path) -> Result<std::collections::BTreeMap<String, String>> {
    let path = dir.join("secrets.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(file_error(&path, &e)),
    };
    let file: SealedFile = serde_json::from_str(&text)
        .map_err(|e| Error::engine_unavailable(format!("{} is damaged: {e}", path.display())))?;
    let key = key(dir)?;
    let mut open = std::collections::BTreeMap::new();
    for (account, sealed) in file.secrets {
        let mut bytes = hex::decode(&sealed).map_err(|_| damaged(&path, &account))?;
        if bytes.len() < NONCE_LEN {
            return Err(damaged(&path, &account));
        }
        let mut body = bytes.split_off(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(&bytes).map_err(|_| damaged(&path, &account))?;
        let plain = key
            .open_in_place(nonce, Aad::from(account.as_bytes()), &mut body)
            .map_err(|_| damaged(&path, &account))?;
        let secret = String::from_utf8(plain.to_vec()).map_err(|_| damaged(&path, &account))?;
        open.insert(account, secret);
    }
    Ok(open)
}

fn write_sealed(dir: &Path, secrets: &std::collections::BTreeMap<String, String>) -> Result<()> {
    let key = key(dir)?;
    let rng = SystemRandom::new();
    let mut file = SealedFile::default();
    for (account, secret) in secrets {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce)
            .map_err(|_| Error::internal("The system's random number source failed."))?;
        let mut body = secret.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(account.as_bytes()),
            &mut body,
        )
        .map_err(|_| Error::internal("Sealing a secret failed."))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&body);
        file.secrets.insert(account.clone(), hex::encode(sealed));
    }
    let text = serde_json::to_vec_pretty(&file)
        .map_err(|e| Error::internal(format!("Cannot encode the secrets file: {e}")))?;
    write_private(&dir.join("secrets.json"), &text)
}

fn damaged(path: &Path, account: &str) -> Error {
    Error::engine_unavailable(format!(
        "The secret for {account} in {} cannot be decrypted (the file or its key changed). Log in to that profile again.",
        path.display()
    ))
}

fn file_error(path: &Path, error: &std::io::Error) -> Error {
    Error::engine_unavailable(format!("Cannot use {}: {error}", path.display()))
}

/// Writes `bytes` readable by this user only, under a temporary name first so a crash never
/// leaves half a secrets file under the real name.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, &e))?;
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&temporary)
        .map_err(|e| file_error(&temporary, &e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| file_error(&temporary, &e))?;
    std::fs::rename(&temporary, path).map_err(|e| file_error(path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_store_keeps_secrets_sealed_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::File {
            dir: dir.path().to_path_buf(),
        };
        assert!(store.warning().unwrap().contains("secrets.json"));
        assert_eq!(store.get("profile:a").unwrap(), None);
        store.set("profile:a", "hunter2-secret").unwrap();
        store.set("profile:b", "other").unwrap();
        assert_eq!(
            store.get("profile:a").unwrap().as_deref(),
            Some("hunter2-secret")
        );
        let on_disk = std::fs::read_to_string(dir.path().join("secrets.json")).unwrap();
        assert!(!on_disk.contains("hunter2"), "{on_disk}");
        #[cfg(unix)]
        for name in ["secrets.json", "secrets.key"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{name} is private");
        }
        store.remove("profile:a").unwrap();
        store.remove("profile:a").unwrap();
        assert_eq!(store.get("profile:a").unwrap(), None);
        assert_eq!(store.get("profile:b").unwrap().as_deref(), Some("other"));
    }

    #[test]
    fn a_sealed_value_moved_to_another_account_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::File {
            dir: dir.path().to_path_buf(),
        };
        store.set("profile:a", "secret-a").unwrap();
        let path = dir.path().join("secrets.json");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("profile:a", "profile:z");
        std::fs::write(&path, text).unwrap();
        let error = store.get("profile:z").unwrap_err();
        assert!(error.message.contains("cannot be decrypted"), "{error}");
    }
}
