//! Turning what the user picked into one transfer per file, as the local engine plans them:
//! a folder tree goes as a tree of files (each resumes and reports progress on its own, unlike
//! the storage proxy's ZIP of a directory), and empty directories are made up front so they
//! survive too.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use berth_core::{Error, ErrorCode, FileKind, FolderPath, Result};
use berth_transfer::names::HostNames;
use berth_transfer::{ConflictPolicy, Direction, TransferSpec};
use reqwest::Method;
use serde_json::json;

use super::host_error;
use crate::engine::BackendAiEngine;
use crate::folders::{self, segment};

/// Paths one `mkdir` call may carry (the manager's limit).
const MKDIR_BATCH: usize = 50;

// The engine's only planning: the window, the CLI and the tests all reach it through the trait.
#[async_trait::async_trait]
impl berth_transfer::PlanTransfers for BackendAiEngine {
    /// One upload per file under `sources` (files or directories on this computer) into
    /// directory `to` of folder `folder`. Makes `to` and every directory that would otherwise
    /// stay missing (an upload creates its file's parents itself) on the server now; symbolic
    /// links on this computer are skipped, not followed. Errors: `not_found` for a missing
    /// source or folder, `permission_denied` for a read-only folder.
    async fn plan_upload(
        &self,
        folder: &str,
        sources: &[PathBuf],
        to: &FolderPath,
        conflict: ConflictPolicy,
        batch: &str,
    ) -> Result<Vec<TransferSpec>> {
        // Refuses a read-only or missing folder before anything is walked.
        folders::make_dir(self.connection(), folder, to).await?;
        let (sources, to_walk) = (sources.to_vec(), to.clone());
        let (files, empty_dirs) =
            tokio::task::spawn_blocking(move || walk_local(&sources, &to_walk))
                .await
                .map_err(|e| Error::internal(format!("Planning the upload stopped: {e}")))??;
        for paths in empty_dirs.chunks(MKDIR_BATCH) {
            let paths: Vec<&str> = paths.iter().map(FolderPath::as_str).collect();
            self.connection()
                .call(
                    Method::POST,
                    &format!("folders/{}/mkdir", segment(folder)),
                    Some(&json!({ "path": paths, "parents": true, "exist_ok": true })),
                )
                .await?;
        }
        Ok(berth_transfer::upload_specs(files, folder, conflict, batch))
    }

    /// One download per file under `paths` (files or directories in folder `folder`) into
    /// directory `to` on this computer, walking the folder's listing (`GET
    /// folders/{name}/files?path=`) directory by directory and creating the local tree now.
    /// Links inside the folder are skipped, never followed. Errors: `not_found` for a path
    /// the folder does not hold.
    async fn plan_download(
        &self,
        folder: &str,
        paths: &[FolderPath],
        to: &Path,
        conflict: ConflictPolicy,
        batch: &str,
    ) -> Result<Vec<TransferSpec>> {
        let to = std::path::absolute(to).map_err(|e| host_error(to, e))?;
        std::fs::create_dir_all(&to).map_err(|e| host_error(&to, e))?;
        let mut specs = Vec::new();
        let mut directories: Vec<(FolderPath, PathBuf)> = Vec::new();
        for path in paths {
            let local = to.join(path.file_name().unwrap_or(folder));
            if path.is_root() {
                directories.push((path.clone(), local));
                continue;
            }
            let parent = path.parent().unwrap_or_else(FolderPath::root);
            let name = path.file_name().unwrap_or_default();
            let entry = folders::list_files(self.connection(), folder, &parent)
                .await?
                .into_iter()
                .find(|e| e.name == name)
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::NotFound,
                        format!("\"{path}\" does not exist in folder \"{folder}\"."),
                    )
                })?;
            match entry.kind {
                FileKind::Directory => directories.push((path.clone(), local)),
                FileKind::File => specs.push(download_spec(
                    folder, path, local, entry.size, conflict, batch,
                )),
                FileKind::Symlink | FileKind::Other => {}
            }
        }
        while let Some((remote, local)) = directories.pop() {
            // A name this computer cannot hold is not made (the queue fails its files one by
            // one, saying why); everything else goes on.
            if HostNames::THIS_COMPUTER.path_refusal(&local).is_none() {
                std::fs::create_dir_all(&local).map_err(|e| host_error(&local, e))?;
            }
            for entry in folders::list_files(self.connection(), folder, &remote).await? {
                let (child, child_local) = (remote.join(&entry.name)?, local.join(&entry.name));
                match entry.kind {
                    FileKind::Directory => directories.push((child, child_local)),
                    FileKind::File => specs.push(download_spec(
                        folder,
                        &child,
                        child_local,
                        entry.size,
                        conflict,
                        batch,
                    )),
                    FileKind::Symlink | FileKind::Other => {}
                }
            }
        }
        specs.sort_by(|a, b| a.local_path.cmp(&b.local_path));
        Ok(specs)
    }

    /// The planned transfers whose destination already exists: what the user must be asked
    /// about ("replace, skip or keep both?") before anything is queued. Each destination
    /// directory in the folder is listed once.
    async fn existing_destinations(&self, specs: &[TransferSpec]) -> Result<Vec<String>> {
        let mut listed: HashMap<(String, String), HashSet<String>> = HashMap::new();
        let mut existing = Vec::new();
        for spec in specs {
            match spec.direction {
                Direction::Upload => {
                    let path = FolderPath::parse(&spec.remote_path)?;
                    let parent = path.parent().unwrap_or_else(FolderPath::root);
                    let key = (spec.folder.clone(), parent.as_str().to_string());
                    if !listed.contains_key(&key) {
                        let names =
                            match folders::list_files(self.connection(), &spec.folder, &parent)
                                .await
                            {
                                Ok(entries) => entries.into_iter().map(|e| e.name).collect(),
                                Err(e) if e.code == ErrorCode::NotFound => HashSet::new(),
                                Err(e) => return Err(e),
                            };
                        listed.insert(key.clone(), names);
                    }
                    if path
                        .file_name()
                        .is_some_and(|name| listed[&key].contains(name))
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

fn download_spec(
    folder: &str,
    remote: &FolderPath,
    local: PathBuf,
    size: u64,
    conflict: ConflictPolicy,
    batch: &str,
) -> TransferSpec {
    TransferSpec {
        batch: batch.to_string(),
        direction: Direction::Download,
        folder: folder.to_string(),
        remote_path: remote.as_str().to_string(),
        local_path: local,
        size,
        conflict,
    }
}

type Walked = (Vec<(PathBuf, FolderPath, u64)>, Vec<FolderPath>);

/// The files under `sources` with their destinations and sizes, and the directories that no
/// file upload will create (empty ones, deepest only: `mkdir` makes their parents).
fn walk_local(sources: &[PathBuf], to: &FolderPath) -> Result<Walked> {
    let berth_transfer::SourceTree { files, directories } =
        berth_transfer::walk_sources(sources, to)?;
    let directories: BTreeSet<FolderPath> = directories.into_iter().collect();
    // A directory holding a file, or a directory below it, is created by that upload or mkdir.
    let mut covered: HashSet<String> = HashSet::new();
    for (_, remote, _) in &files {
        covered.extend(ancestors(remote));
    }
    let mut empty: Vec<FolderPath> = Vec::new();
    for dir in directories.iter().rev() {
        if !covered.contains(dir.as_str()) {
            covered.extend(ancestors(dir));
            empty.push(dir.clone());
        }
    }
    Ok((files, empty))
}

/// `a/b/c` → `a/b`, `a`.
fn ancestors(path: &FolderPath) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = path.parent();
    while let Some(parent) = current {
        if parent.is_root() {
            break;
        }
        out.push(parent.as_str().to_string());
        current = parent.parent();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_directories_no_upload_creates_are_made_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        for sub in ["a/b/c", "a/full", "empty/deeper", "lonely"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("a/full/x.txt"), b"x").unwrap();
        std::fs::write(root.join("top.txt"), b"top").unwrap();
        std::fs::write(root.join(".DS_Store"), b"junk").unwrap();
        let to = FolderPath::parse("in").unwrap();
        let (files, empty) = walk_local(std::slice::from_ref(&root), &to).unwrap();
        let mut remote: Vec<&str> = files.iter().map(|(_, r, _)| r.as_str()).collect();
        remote.sort();
        assert_eq!(remote, ["in/tree/a/full/x.txt", "in/tree/top.txt"]);
        let mut empty: Vec<&str> = empty.iter().map(FolderPath::as_str).collect();
        empty.sort();
        assert_eq!(
            empty,
            ["in/tree/a/b/c", "in/tree/empty/deeper", "in/tree/lonely"]
        );
    }
}
