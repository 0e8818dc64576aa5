//! Environments a local session can run in: the host's own `/usr`, a root file system directory
//! the user registered, or an image imported from a `docker save` / OCI archive (unpacked once
//! into the data directory, see [`image`]).

#[cfg(target_os = "linux")]
pub mod image;

use berth_core::clock::now_ms;
use std::path::{Path, PathBuf};

use berth_core::{Environment, EnvironmentKind, Error, ErrorCode, Result};

use crate::LocalEngine;
use crate::sessions::docker;

/// The environment every machine has.
pub const HOST: &str = "host";

/// Where a session's system files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemRoot {
    Host,
    /// A directory holding a whole root file system.
    Directory(PathBuf),
}

/// Environment names: what a person types after `--env`.
fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        && name != HOST;
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "Environment name \"{name}\" must be 1 to 64 letters, digits, '-', '_', '.' or ':', and not \"host\"."
        )))
    }
}

/// A root file system must at least have a shell to run.
fn has_shell(root: &Path) -> bool {
    ["bin/sh", "usr/bin/sh"]
        .iter()
        .any(|p| std::fs::symlink_metadata(root.join(p)).is_ok())
}

/// A Docker engine's image as an environment of the Docker runtime.
fn docker_environment(tag: &str) -> Environment {
    Environment {
        id: format!("{}{tag}", docker::IMAGE_PREFIX),
        name: tag.to_owned(),
        kind: EnvironmentKind::Image,
        description: "Docker image (Docker runtime)".to_owned(),
    }
}

/// Root file systems (a directory, an imported image) run only in bubblewrap sandboxes, which
/// only Linux has; elsewhere environments are Docker images.
fn only_sandboxes_run_root_file_systems() -> Result<()> {
    if crate::sessions::sandboxes_run_here() {
        Ok(())
    } else {
        Err(Error::invalid_input(
            "Root file systems and imported images run in bubblewrap sandboxes, which only Linux \
             has. On this computer, run a Docker image instead (`berth env list` shows docker:… \
             environments).",
        ))
    }
}

#[cfg(target_os = "linux")]
fn unpack_image(archive: &Path, into: &Path) -> Result<()> {
    image::unpack(archive, into)
}

#[cfg(not(target_os = "linux"))]
fn unpack_image(_archive: &Path, _into: &Path) -> Result<()> {
    only_sandboxes_run_root_file_systems()
}

impl LocalEngine {
    fn host_environment(&self) -> Environment {
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
            .unwrap_or_else(|| "this computer".to_owned());
        Environment {
            id: HOST.to_owned(),
            name: "This computer".to_owned(),
            kind: EnvironmentKind::Host,
            description: format!("{os}: its programs in /usr, read-only"),
        }
    }

    /// The host first, then registered and imported environments, then the images of a
    /// Docker-API engine when one answers (for the Docker runtime).
    /// Off Linux only the images: nothing else could start there.
    pub(crate) fn environments(&self) -> Result<Vec<Environment>> {
        let mut all = Vec::new();
        if crate::sessions::sandboxes_run_here() {
            all.push(self.host_environment());
            all.extend(self.catalog().environments()?.into_iter().map(|(e, _)| e));
        }
        if let Ok(host) = self.docker_host() {
            let listed = docker::run_apart(async {
                let engine = docker::connect(&host)?;
                docker::images(&engine).await
            });
            match listed {
                Ok(tags) => all.extend(tags.into_iter().map(|tag| docker_environment(&tag))),
                Err(error) => tracing::info!(%error, "no Docker images listed"),
            }
        }
        Ok(all)
    }

    /// The environment `key` (id or name) and where its system files are.
    pub(crate) fn environment(&self, key: &str) -> Result<(Environment, SystemRoot)> {
        if key == HOST {
            return Ok((self.host_environment(), SystemRoot::Host));
        }
        if let Some(tag) = key.strip_prefix(docker::IMAGE_PREFIX) {
            return Ok((docker_environment(tag), SystemRoot::Host));
        }
        self.catalog()
            .environments()?
            .into_iter()
            .find(|(e, _)| e.id == key || e.name == key)
            .map(|(e, root)| (e, SystemRoot::Directory(root)))
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!(
                        "There is no environment \"{key}\"; `berth env list` shows what there is."
                    ),
                )
            })
    }

    /// Registers `directory` (a root file system, e.g. made by debootstrap) as environment
    /// `name`. It is used in place, and no session changes it: each writes a throwaway copy
    /// (an overlay, where the kernel allows one) or sees it read-only.
    pub fn add_rootfs_environment(&self, name: &str, directory: &Path) -> Result<Environment> {
        only_sandboxes_run_root_file_systems()?;
        validate_name(name)?;
        if !directory.is_absolute() || !directory.is_dir() {
            return Err(Error::invalid_input(format!(
                "\"{}\" is not an existing directory given as an absolute path.",
                directory.display()
            )));
        }
        if !has_shell(directory) {
            return Err(Error::invalid_input(format!(
                "\"{}\" has no bin/sh: it does not look like a root file system.",
                directory.display()
            )));
        }
        let environment = Environment {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            name: name.to_owned(),
            kind: EnvironmentKind::Rootfs,
            description: format!("Root file system in {}", directory.display()),
        };
        self.catalog()
            .insert_environment(&environment, directory, now_ms())?;
        Ok(environment)
    }

    /// Imports a `docker save` or OCI archive as environment `name` (the archive's file name
    /// when `None`). The layers are unpacked beside the data; nothing is half-imported: a
    /// refused or failed archive leaves no environment and no files behind.
    pub fn import_image(&self, archive: &Path, name: Option<&str>) -> Result<Environment> {
        only_sandboxes_run_root_file_systems()?;
        let name = match name {
            Some(name) => name.to_owned(),
            None => archive
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .map(|n| {
                    n.trim_end_matches(".tar")
                        .trim_end_matches(".tar.gz")
                        .to_owned()
                })
                .unwrap_or_default(),
        };
        validate_name(&name)?;
        if self
            .catalog()
            .environments()?
            .iter()
            .any(|(e, _)| e.name == name)
        {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("An environment is already called \"{name}\"."),
            ));
        }
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let home = self.dirs().data.join("environments").join(&id);
        let partial = home.join("rootfs.partial");
        std::fs::create_dir_all(&partial)
            .map_err(|e| Error::internal(format!("Cannot create {}: {e}", partial.display())))?;
        let root = home.join("rootfs");
        let unpacked = unpack_image(archive, &partial).and_then(|()| {
            if has_shell(&partial) {
                Ok(())
            } else {
                Err(Error::invalid_input(
                    "The image has no /bin/sh, so no session could run in it.".to_owned(),
                ))
            }
        });
        let imported = unpacked.and_then(|()| {
            std::fs::rename(&partial, &root)
                .map_err(|e| Error::internal(format!("Cannot finish the import: {e}")))?;
            let environment = Environment {
                id: id.clone(),
                name: name.clone(),
                kind: EnvironmentKind::Image,
                description: format!(
                    "Imported from {}",
                    archive
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
            };
            self.catalog()
                .insert_environment(&environment, &root, now_ms())?;
            Ok(environment)
        });
        if imported.is_err() {
            let _ = std::fs::remove_dir_all(&home);
        }
        imported
    }

    /// Forgets an environment; an imported image's files are deleted, a registered directory
    /// stays. Refused while a running session uses it.
    pub fn remove_environment(&self, key: &str) -> Result<()> {
        let (environment, root) = self.environment(key)?;
        if environment.kind == EnvironmentKind::Host {
            return Err(Error::invalid_input(
                "The host environment cannot be removed.",
            ));
        }
        let in_use = self
            .list_reconciled()?
            .into_iter()
            .any(|s| s.status.is_live() && s.environment == environment.id);
        if in_use {
            return Err(Error::invalid_input(format!(
                "Environment \"{}\" is in use by a running session.",
                environment.name
            )));
        }
        self.catalog().delete_environment(&environment.id)?;
        if let (EnvironmentKind::Image, SystemRoot::Directory(root)) = (environment.kind, root)
            && let Some(home) = root.parent()
        {
            let _ = std::fs::remove_dir_all(home);
        }
        Ok(())
    }
}
