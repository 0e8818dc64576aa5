//! Connection profiles: the clusters a user works with, by name, and which one is in use.
//! `profiles.json` in the config directory holds names, endpoints, emails and access keys;
//! the password or secret key of each is in the [`SecretStore`] under `profile:<name>`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_core::{Error, ErrorCode, Result, SessionPlacement};
use serde::{Deserialize, Serialize};

use crate::connection::{Connection, CredentialSource, Credentials, parse_endpoint};
use crate::engine::BackendAiEngine;
use crate::secrets::SecretStore;

/// How a profile logs in; the secret half is in the secret store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Login {
    /// Through the web server, with an email and a password.
    Password { email: String },
    /// Straight to the manager, with an API keypair.
    Keypair { access_key: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Profile {
    pub name: String,
    /// Normalised endpoint URL (`https://host/`).
    pub endpoint: String,
    pub login: Login,
}

impl Profile {
    fn account(&self) -> String {
        account(&self.name)
    }

    /// The credentials with `secret` as the password or secret key.
    pub fn credentials(&self, secret: String) -> Credentials {
        match &self.login {
            Login::Password { email } => Credentials::Password {
                email: email.clone(),
                password: secret,
                otp: None,
            },
            Login::Keypair { access_key } => Credentials::Keypair {
                access_key: access_key.clone(),
                secret_key: secret,
            },
        }
    }
}

fn account(name: &str) -> String {
    format!("profile:{name}")
}

/// Refuses an email that is not one and an empty access key, before any network call.
fn check_login(login: &Login) -> Result<()> {
    match login {
        Login::Password { email } if !email.contains('@') => Err(Error::invalid_input(format!(
            "\"{email}\" is not an email address."
        ))),
        Login::Keypair { access_key } if access_key.trim().is_empty() => {
            Err(Error::invalid_input("The access key is empty."))
        }
        _ => Ok(()),
    }
}

/// The refusal of a login without its password or secret key (the form shows it by that field).
fn empty_secret(login: &Login) -> Error {
    Error::invalid_input(match login {
        Login::Password { .. } => "The password is empty.",
        Login::Keypair { .. } => "The secret key is empty.",
    })
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ProfilesFile {
    /// `None`: the local engine.
    #[serde(default)]
    active: Option<String>,
    #[serde(default)]
    profiles: Vec<Profile>,
    /// The project and resource group last chosen in the launcher, per profile name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    placements: std::collections::BTreeMap<String, SessionPlacement>,
}

/// The profiles of one user, read from and written to `profiles.json` on every change (the
/// app and a `berth` command may both change them).
pub struct Profiles {
    path: PathBuf,
    secrets: Arc<SecretStore>,
}

/// Profile names appear in menus and on the command line: short, no surprises.
pub fn validate_profile_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok && name != "local" {
        Ok(())
    } else if name == "local" {
        Err(Error::invalid_input(
            "Profile name \"local\" is taken by the local engine.",
        ))
    } else {
        Err(Error::invalid_input(format!(
            "Profile name \"{}\" must be 1-40 letters, digits, '-', '_' or '.'.",
            name.escape_debug()
        )))
    }
}

impl Profiles {
    pub fn open(config_dir: &Path) -> Self {
        Self {
            path: config_dir.join("profiles.json"),
            secrets: Arc::new(SecretStore::open(config_dir)),
        }
    }

    pub fn secrets(&self) -> &SecretStore {
        &self.secrets
    }

    fn read(&self) -> Result<ProfilesFile> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                Error::engine_unavailable(format!(
                    "{} is damaged ({e}); fix or remove it.",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ProfilesFile::default()),
            Err(e) => Err(Error::engine_unavailable(format!(
                "Cannot read {}: {e}",
                self.path.display()
            ))),
        }
    }

    fn write(&self, file: &ProfilesFile) -> Result<()> {
        let text = serde_json::to_vec_pretty(file)
            .map_err(|e| Error::internal(format!("Cannot encode the profiles: {e}")))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let failed = |e: std::io::Error| {
            Error::engine_unavailable(format!("Cannot save {}: {e}", self.path.display()))
        };
        std::fs::create_dir_all(dir).map_err(failed)?;
        let temporary = self.path.with_extension("json.tmp");
        std::fs::write(&temporary, text).map_err(failed)?;
        std::fs::rename(&temporary, &self.path).map_err(failed)
    }

    pub fn list(&self) -> Result<Vec<Profile>> {
        Ok(self.read()?.profiles)
    }

    /// The profile in use; `None` means the local engine.
    pub fn active(&self) -> Result<Option<String>> {
        Ok(self.read()?.active)
    }

    pub fn get(&self, name: &str) -> Result<Profile> {
        self.read()?
            .profiles
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!("There is no profile named \"{name}\"."),
                )
            })
    }

    /// Logs in with the new profile's credentials first, and saves it (secret to the store)
    /// only when that worked: a profile that is saved is one that connects.
    pub async fn add(
        &self,
        name: &str,
        endpoint: &str,
        login: Login,
        secret: String,
        otp: Option<String>,
    ) -> Result<(Profile, BackendAiEngine)> {
        validate_profile_name(name)?;
        if self.get(name).is_ok() {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("A profile named \"{name}\" exists; remove it first or pick another name."),
            ));
        }
        check_login(&login)?;
        if secret.is_empty() {
            return Err(empty_secret(&login));
        }
        let profile = Profile {
            name: name.to_string(),
            endpoint: parse_endpoint(endpoint)?.to_string(),
            login,
        };
        let engine = self.connect_with(&profile, secret.clone(), otp).await?;
        self.secrets.set(&profile.account(), &secret)?;
        let mut file = self.read()?;
        file.profiles.push(profile.clone());
        self.write(&file)?;
        Ok((profile, engine))
    }

    /// Changes profile `name`'s address and login. As with [`Profiles::add`], it logs in with
    /// the result first and saves only when that worked. `secret` `None` (or empty) keeps the
    /// saved password or secret key, which only a login of the same kind can use. The name
    /// stays: the profile's transfer journal is kept under it.
    pub async fn edit(
        &self,
        name: &str,
        endpoint: &str,
        login: Login,
        secret: Option<String>,
        otp: Option<String>,
    ) -> Result<(Profile, BackendAiEngine)> {
        let old = self.get(name)?;
        check_login(&login)?;
        let same_kind = std::mem::discriminant(&old.login) == std::mem::discriminant(&login);
        let secret = match secret.filter(|s| !s.is_empty()) {
            Some(secret) => secret,
            None if same_kind => self
                .secrets
                .get(&old.account())?
                .ok_or_else(|| empty_secret(&login))?,
            // The saved secret belongs to the other way of logging in.
            None => return Err(empty_secret(&login)),
        };
        let profile = Profile {
            name: name.to_string(),
            endpoint: parse_endpoint(endpoint)?.to_string(),
            login,
        };
        let engine = self.connect_with(&profile, secret.clone(), otp).await?;
        self.secrets.set(&profile.account(), &secret)?;
        let mut file = self.read()?;
        match file.profiles.iter_mut().find(|p| p.name == name) {
            Some(slot) => *slot = profile.clone(),
            None => file.profiles.push(profile.clone()),
        }
        self.write(&file)?;
        Ok((profile, engine))
    }

    /// Replaces a profile's saved secret after logging in with it (the re-login dialog, or
    /// `berth profile login`).
    pub async fn login(
        &self,
        name: &str,
        secret: String,
        otp: Option<String>,
    ) -> Result<BackendAiEngine> {
        let profile = self.get(name)?;
        let engine = self.connect_with(&profile, secret.clone(), otp).await?;
        self.secrets.set(&profile.account(), &secret)?;
        Ok(engine)
    }

    /// Switches the app and the CLI to profile `name`, or to the local engine with `None`.
    pub fn set_active(&self, name: Option<&str>) -> Result<()> {
        if let Some(name) = name {
            self.get(name)?;
        }
        let mut file = self.read()?;
        file.active = name.map(str::to_string);
        self.write(&file)
    }

    /// Forgets a profile and its secret. Removing the active one switches to the local engine.
    pub fn remove(&self, name: &str) -> Result<()> {
        let mut file = self.read()?;
        let before = file.profiles.len();
        file.profiles.retain(|p| p.name != name);
        if file.profiles.len() == before {
            return Err(Error::new(
                ErrorCode::NotFound,
                format!("There is no profile named \"{name}\"."),
            ));
        }
        if file.active.as_deref() == Some(name) {
            file.active = None;
        }
        file.placements.remove(name);
        self.write(&file)?;
        self.secrets.remove(&account(name))
    }

    /// The project and resource group last chosen for profile `name`'s sessions, if any.
    pub fn placement(&self, name: &str) -> Result<Option<SessionPlacement>> {
        Ok(self.read()?.placements.get(name).cloned())
    }

    /// Remembers `placement` as profile `name`'s last choice (written to `profiles.json`, so
    /// it outlives the window). `not_found` for an unknown profile.
    pub fn remember_placement(&self, name: &str, placement: SessionPlacement) -> Result<()> {
        let mut file = self.read()?;
        if !file.profiles.iter().any(|p| p.name == name) {
            return Err(Error::new(
                ErrorCode::NotFound,
                format!("There is no profile named \"{name}\"."),
            ));
        }
        file.placements.insert(name.to_owned(), placement);
        self.write(&file)
    }

    /// Logs in to profile `name` with its saved secret.
    pub async fn connect(&self, name: &str) -> Result<BackendAiEngine> {
        let profile = self.get(name)?;
        let secret = self.secrets.get(&profile.account())?.ok_or_else(|| {
            Error::new(
                ErrorCode::LoginExpired,
                format!(
                    "Profile \"{name}\" has no saved password or secret key in {}. Log in again (berth profile login {name}).",
                    self.secrets.describe()
                ),
            )
        })?;
        self.connect_with(&profile, secret, None).await
    }

    /// Logs in to `profile` with `secret` and, where the site asks for one, a one-time code
    /// (used for this login only: a renewal that needs a new code asks the user again).
    async fn connect_with(
        &self,
        profile: &Profile,
        secret: String,
        otp: Option<String>,
    ) -> Result<BackendAiEngine> {
        // An expired login is renewed with whatever secret is saved by then.
        let renew: CredentialSource = {
            let secrets = self.secrets.clone();
            let profile = profile.clone();
            Arc::new(move || {
                secrets
                    .get(&profile.account())
                    .ok()
                    .flatten()
                    .map(|secret| profile.credentials(secret))
            })
        };
        let mut credentials = profile.credentials(secret);
        if let Credentials::Password { otp: code, .. } = &mut credentials {
            *code = otp
                .filter(|c| !c.trim().is_empty())
                .map(|c| c.trim().to_string());
        }
        let connection = Connection::open_renewing(&profile.endpoint, credentials, renew).await?;
        let memory = self
            .path
            .with_file_name("backendai")
            .join(format!("{}-mounts.json", profile.name));
        Ok(BackendAiEngine::new(profile.name.clone(), connection).with_mount_memory(memory))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_placement_is_kept_per_profile_and_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        // The file store, so removing the profile never touches a real keychain's entry.
        let profiles = Profiles {
            path: dir.path().join("profiles.json"),
            secrets: Arc::new(SecretStore::File {
                dir: dir.path().to_path_buf(),
            }),
        };
        let podman = SessionPlacement {
            project: Some("default".into()),
            resource_group: Some("podman".into()),
        };
        let refused = profiles
            .remember_placement("lab", podman.clone())
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::NotFound);
        let mut file = profiles.read().unwrap();
        for name in ["lab", "other"] {
            file.profiles.push(Profile {
                name: name.into(),
                endpoint: "http://127.0.0.1:8081/".into(),
                login: Login::Keypair {
                    access_key: "AK".into(),
                },
            });
        }
        profiles.write(&file).unwrap();
        assert_eq!(profiles.placement("lab").unwrap(), None);
        profiles.remember_placement("lab", podman.clone()).unwrap();
        // Read back from the file, as another process (the CLI, the next run) would.
        let again: ProfilesFile =
            serde_json::from_slice(&std::fs::read(dir.path().join("profiles.json")).unwrap())
                .unwrap();
        assert_eq!(again.placements.get("lab"), Some(&podman));
        assert_eq!(profiles.placement("other").unwrap(), None);
        profiles.remove("lab").unwrap();
        assert!(
            !std::fs::read_to_string(dir.path().join("profiles.json"))
                .unwrap()
                .contains("podman")
        );
    }

    #[test]
    fn profile_names_are_short_and_plain() {
        for good in ["peer", "lab-gpu", "prod_2", "a.b"] {
            assert_eq!(validate_profile_name(good), Ok(()), "{good}");
        }
        for bad in ["", "local", "has space", "x/y", &"n".repeat(41)] {
            let error = validate_profile_name(bad).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn profiles_json_never_holds_a_secret_and_switching_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let profiles = Profiles {
            path: dir.path().join("profiles.json"),
            secrets: Arc::new(SecretStore::File {
                dir: dir.path().to_path_buf(),
            }),
        };
        let mut file = profiles.read().unwrap();
        file.profiles.push(Profile {
            name: "lab".into(),
            endpoint: "https://lab.example/".into(),
            login: Login::Keypair {
                access_key: "AKIA".into(),
            },
        });
        profiles.write(&file).unwrap();
        profiles
            .secrets
            .set("profile:lab", "the-secret-key")
            .unwrap();
        profiles.set_active(Some("lab")).unwrap();
        assert_eq!(profiles.active().unwrap().as_deref(), Some("lab"));
        let saved = std::fs::read_to_string(dir.path().join("profiles.json")).unwrap();
        assert!(!saved.contains("the-secret-key"), "{saved}");
        assert_eq!(
            profiles.set_active(Some("nope")).unwrap_err().code,
            ErrorCode::NotFound
        );
        profiles.remove("lab").unwrap();
        assert_eq!(profiles.active().unwrap(), None, "back to the local engine");
        assert_eq!(profiles.secrets.get("profile:lab").unwrap(), None);
    }

    #[tokio::test]
    async fn an_edit_is_refused_before_any_login_when_it_cannot_work() {
        let dir = tempfile::tempdir().unwrap();
        let profiles = Profiles {
            path: dir.path().join("profiles.json"),
            secrets: Arc::new(SecretStore::File {
                dir: dir.path().to_path_buf(),
            }),
        };
        let lab = Profile {
            name: "lab".into(),
            endpoint: "https://lab.example/".into(),
            login: Login::Keypair {
                access_key: "AKIA".into(),
            },
        };
        let mut file = profiles.read().unwrap();
        file.profiles.push(lab.clone());
        profiles.write(&file).unwrap();
        profiles
            .secrets
            .set("profile:lab", "the-secret-key")
            .unwrap();
        let password = |email: &str| Login::Password {
            email: email.into(),
        };

        // The saved secret key is no password: switching the way in needs the new secret.
        let refused = profiles
            .edit(
                "lab",
                "https://lab.example",
                password("me@lab.example"),
                None,
                None,
            )
            .await
            .err()
            .expect("no password to log in with");
        assert_eq!(refused.code, ErrorCode::InvalidInput);
        assert_eq!(refused.message, "The password is empty.");
        let refused = profiles
            .edit(
                "lab",
                "https://lab.example",
                password("me"),
                Some("pw".into()),
                None,
            )
            .await
            .err()
            .expect("not an email");
        assert_eq!(refused.code, ErrorCode::InvalidInput, "{refused}");
        let missing = profiles
            .edit(
                "nope",
                "https://lab.example",
                password("me@lab.example"),
                Some("pw".into()),
                None,
            )
            .await
            .err()
            .expect("no such profile");
        assert_eq!(missing.code, ErrorCode::NotFound);

        // Nothing was saved by the refusals.
        assert_eq!(profiles.list().unwrap(), vec![lab]);
        assert_eq!(
            profiles.secrets.get("profile:lab").unwrap().as_deref(),
            Some("the-secret-key")
        );
    }
}
