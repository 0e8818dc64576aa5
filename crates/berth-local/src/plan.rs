//! Turning what the user picked (files and whole trees, on this computer or in a folder) into
//! one transfer per file, with every directory created up front so empty ones survive too.

use std::path::{Path, PathBuf};

use berth_core::{Error, FileKind, FolderPath, Result};
use berth_transfer::names::HostNames;
use berth_transfer::{ConflictPolicy, Direction, TransferSpec};

use crate::LocalEngine;

impl LocalEngine {
    /// One upload per file under `sources` (files or directories on this computer) into
    /// directory `to` of folder `folder`. Creates the directory tree in the folder now;
    /// symbolic links on this computer are skipped, not followed.
    pub fn plan_upload(
        &self,
        folder: &str,
        sources: &[PathBuf],
        to: &FolderPath,
        conflict: ConflictPolicy,
        batch: &str,
    ) -> Result<Vec<TransferSpec>> {
        let files = self.writable_files(folder)?;
        files.make_dir(to)?;
        let tree = berth_transfer::walk_sources(sources, to)?;
        for directory in &tree.directories {
            files.make_dir(directory)?;
        }
        Ok(berth_transfer::upload_specs(
            tree.files, folder, conflict, batch,
        ))
    }

    /// One download per file under `paths` (files or directories in folder `folder`) into
    /// directory `to` on this computer, creating the local directory tree now. Links inside the
    /// folder are skipped, never followed.
    pub fn plan_download(
        &self,
        folder: &str,
        paths: &[FolderPath],
        to: &Path,
        conflict: ConflictPolicy,
        batch: &str,
    ) -> Result<Vec<TransferSpec>> {
        let (_, files) = self.files(folder)?;
        let to = &std::path::absolute(to).map_err(|e| host_error(to, e))?;
        std::fs::create_dir_all(to).map_err(|e| host_error(to, e))?;
        let mut specs = Vec::new();
        let mut pending: Vec<PendingDownload> = Vec::new();
        for path in paths {
            let name = path.file_name().unwrap_or(folder);
            pending.push((path.clone(), to.join(name), None));
        }
        while let Some((remote, local, known)) = pending.pop() {
            let (kind, size) = match known {
                Some(known) => known,
                None => match files.kind(&remote)? {
                    Some(FileKind::File) => (
                        FileKind::File,
                        files
                            .open_read(&remote)?
                            .metadata()
                            .map(|m| m.len())
                            .unwrap_or(0),
                    ),
                    Some(kind) => (kind, 0),
                    None => {
                        return Err(Error::new(
                            berth_core::ErrorCode::NotFound,
                            format!("\"{remote}\" does not exist in folder \"{folder}\"."),
                        ));
                    }
                },
            };
            match kind {
                FileKind::Directory => {
                    // A name this computer cannot hold is not made (the queue fails its
                    // files one by one, saying why); everything else goes on.
                    if HostNames::THIS_COMPUTER.path_refusal(&local).is_none() {
                        std::fs::create_dir_all(&local).map_err(|e| host_error(&local, e))?;
                    }
                    for entry in files.list(&remote)? {
                        pending.push((
                            remote.join(&entry.name)?,
                            local.join(&entry.name),
                            Some((entry.kind, entry.size)),
                        ));
                    }
                }
                FileKind::File => specs.push(TransferSpec {
                    batch: batch.to_string(),
                    direction: Direction::Download,
                    folder: folder.to_string(),
                    remote_path: remote.as_str().to_string(),
                    local_path: local,
                    size,
                    conflict,
                }),
                FileKind::Symlink | FileKind::Other => {}
            }
        }
        specs.sort_by(|a, b| a.local_path.cmp(&b.local_path));
        Ok(specs)
    }

    /// The planned transfers whose destination already exists, for the conflict question.
    pub fn existing_destinations(&self, specs: &[TransferSpec]) -> Result<Vec<String>> {
        let mut existing = Vec::new();
        let mut opened: Option<(String, crate::files::FolderFiles)> = None;
        for spec in specs {
            match spec.direction {
                Direction::Upload => {
                    if opened.as_ref().is_none_or(|(name, _)| *name != spec.folder) {
                        opened = Some((spec.folder.clone(), self.writable_files(&spec.folder)?));
                    }
                    let Some((_, files)) = &opened else { continue };
                    if files
                        .kind(&FolderPath::parse(&spec.remote_path)?)?
                        .is_some()
                    {
                        existing.push(spec.remote_path.clone());
                    }
                }
                Direction::Download => {
                    if spec.local_path.symlink_metadata().is_ok() {
                        existing.push(spec.local_path.display().to_string());
                    }
                }
            }
        }
        Ok(existing)
    }
}

/// A path in the folder, where it goes on this computer, and its kind and size when a listing
/// already told them.
type PendingDownload = (FolderPath, PathBuf, Option<(FileKind, u64)>);

pub(crate) use berth_transfer::host_error;

/// The window and the CLI plan through this when the local engine is the active one. Local
/// planning reads this computer's disks only, so the inherent methods stay synchronous.
#[async_trait::async_trait]
impl berth_transfer::PlanTransfers for LocalEngine {
    async fn plan_upload(
        &self,
        folder: &str,
        sources: &[PathBuf],
        to: &FolderPath,
        conflict: ConflictPolicy,
        batch: &str,
    ) -> Result<Vec<TransferSpec>> {
        LocalEngine::plan_upload(self, folder, sources, to, conflict, batch)
    }

    async fn plan_download(
        &self,
        folder: &str,
        paths: &[FolderPath],
        to: &Path,
        conflict: ConflictPolicy,
        batch: &str,
    ) -> Result<Vec<TransferSpec>> {
        LocalEngine::plan_download(self, folder, paths, to, conflict, batch)
    }

    async fn existing_destinations(&self, specs: &[TransferSpec]) -> Result<Vec<String>> {
        LocalEngine::existing_destinations(self, specs)
    }
}
