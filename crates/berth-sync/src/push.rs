//! One pass of a push (this computer → a folder): what differs between a local directory and a
//! folder's path, by size and modified time, as directories to make, files to upload, and —
//! only when asked — entries to delete. Links are never followed (a loop, or a way out of the
//! directory); ignore rules (gitignore syntax) apply to both sides alike, so an ignored path in
//! the folder (a session's outputs) is never deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use berth_core::{Engine, Error, ErrorCode, FileEntry, FileKind, FolderPath, Result};
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::journal::Signature;
use crate::reconcile::same_bytes;

/// Ignored unless the user asks for them: version control, dependencies, bytecode.
pub const DEFAULT_IGNORES: [&str; 3] = [".git/", "node_modules/", "__pycache__/"];

/// Always ignored: files Berth writes while bytes arrive (a transfer's partial, a save's or a
/// sync's scratch copy), which become the real name only when whole.
const SCRATCH: [&str; 3] = [".*.berth-part-*", ".*.berth-save-*", ".*.berth-sync-*"];

/// A local directory and the folder path it is kept in step with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPair {
    pub local: PathBuf,
    pub folder: String,
    pub path: FolderPath,
}

impl SyncPair {
    /// `local` with `FOLDER` or `FOLDER:PATH`.
    pub fn parse(local: &Path, target: &str) -> Result<Self> {
        let (folder, path) = target.split_once(':').unwrap_or((target, ""));
        if folder.is_empty() {
            return Err(Error::invalid_input(format!(
                "\"{target}\" names no folder: write FOLDER or FOLDER:PATH."
            )));
        }
        let metadata = std::fs::metadata(local).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::invalid_input(format!(
                "There is no directory {} on this computer.",
                local.display()
            )),
            _ => Error::invalid_input(format!("Cannot sync {}: {e}", local.display())),
        })?;
        if !metadata.is_dir() {
            return Err(Error::invalid_input(format!(
                "{} is not a directory; sync keeps a directory in step with a folder.",
                local.display()
            )));
        }
        Ok(Self {
            local: local.to_path_buf(),
            folder: folder.to_string(),
            path: FolderPath::parse(path)?,
        })
    }
}

impl SyncPair {
    /// `FOLDER` or `FOLDER:PATH`, as the user writes it.
    pub fn target(&self) -> String {
        match self.path.as_str() {
            "" => self.folder.clone(),
            path => format!("{}:{path}", self.folder),
        }
    }
}

/// Which paths a sync leaves alone, on both sides.
pub struct IgnoreRules {
    matcher: Gitignore,
}

impl IgnoreRules {
    /// `patterns` in gitignore syntax, plus [`DEFAULT_IGNORES`] unless `with_defaults` is false.
    pub fn new(patterns: &[String], with_defaults: bool) -> Result<Self> {
        let mut builder = GitignoreBuilder::new("");
        let defaults = DEFAULT_IGNORES
            .iter()
            .filter(|_| with_defaults)
            .map(|p| p.to_string());
        let scratch = SCRATCH.iter().map(|p| p.to_string());
        for pattern in scratch.chain(defaults).chain(patterns.iter().cloned()) {
            builder.add_line(None, &pattern).map_err(|e| {
                Error::invalid_input(format!("Ignore pattern \"{pattern}\" is not valid: {e}"))
            })?;
        }
        let matcher = builder
            .build()
            .map_err(|e| Error::invalid_input(format!("The ignore patterns are not valid: {e}")))?;
        Ok(Self { matcher })
    }

    /// Whether `relative` (slash-separated, below the synced directory) is left alone.
    pub fn ignores(&self, relative: &str, is_dir: bool) -> bool {
        self.matcher
            .matched_path_or_any_parents(relative, is_dir)
            .is_ignore()
    }
}

/// Something in the local directory a push does not send, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub why: String,
}

/// What one push pass does.
#[derive(Debug, Default)]
pub struct PushPlan {
    /// Directories the folder lacks, parents first.
    pub make_dirs: Vec<FolderPath>,
    /// Files to send: (on this computer, in the folder, size).
    pub uploads: Vec<(PathBuf, FolderPath, u64)>,
    /// Entries of the folder's path that the directory no longer has (empty unless asked).
    pub deletes: Vec<FolderPath>,
    pub skipped: Vec<Skipped>,
    /// Files already the same on both sides.
    pub unchanged: usize,
}

impl PushPlan {
    pub(crate) fn merge(&mut self, other: PushPlan) {
        self.make_dirs.extend(other.make_dirs);
        self.uploads.extend(other.uploads);
        self.deletes.extend(other.deletes);
        self.skipped.extend(other.skipped);
        self.unchanged += other.unchanged;
    }

    /// Whether the pass has nothing to do.
    pub fn is_empty(&self) -> bool {
        self.make_dirs.is_empty() && self.uploads.is_empty() && self.deletes.is_empty()
    }
}

/// Compares the pair's two sides: what a push pass must do.
pub async fn plan_push(
    engine: &dyn Engine,
    pair: &SyncPair,
    rules: &IgnoreRules,
    delete: bool,
) -> Result<PushPlan> {
    plan_push_in(engine, pair, rules, delete, "", true).await
}

/// What a push must do in directory `start` (relative to the pair, slash-separated) — only its
/// own entries unless `recursive`, but all of a directory the folder lacks: what a change
/// noticed in that directory needs, without walking the whole tree again.
pub async fn plan_push_in(
    engine: &dyn Engine,
    pair: &SyncPair,
    rules: &IgnoreRules,
    delete: bool,
    start: &str,
    recursive: bool,
) -> Result<PushPlan> {
    let mut plan = PushPlan::default();
    if !start.is_empty() && rules.ignores(start, true) {
        return Ok(plan);
    }
    let target = |relative: &str| below(&pair.path, relative);
    let here = std::fs::symlink_metadata(pair.local.join(start));
    if !start.is_empty() && !here.as_ref().is_ok_and(|m| m.is_dir()) {
        // Gone here (or no longer a directory): its parent's pass deals with it.
        return Ok(plan);
    }
    let Some(mut remote) = walk_remote(engine, &pair.folder, &pair.path, start, recursive).await?
    else {
        // The folder lacks the whole directory: make it and send everything in it.
        plan.make_dirs.push(target(start)?);
        let (local_dirs, local_files) =
            walk_local(&pair.local, start, true, rules, &mut plan.skipped)?;
        for dir in &local_dirs {
            plan.make_dirs.push(target(dir)?);
        }
        for (relative, file) in &local_files {
            plan.uploads
                .push((pair.local.join(relative), target(relative)?, file.size));
        }
        return Ok(plan);
    };
    let (local_dirs, local_files) =
        walk_local(&pair.local, start, recursive, rules, &mut plan.skipped)?;

    for dir in &local_dirs {
        match remote.get(dir).map(|e| e.kind) {
            // Below a directory the folder lacks, all is new: walk it whole.
            None if !recursive => {
                let inner = Box::pin(plan_push_in(engine, pair, rules, delete, dir, true)).await?;
                plan.merge(inner);
            }
            None => plan.make_dirs.push(target(dir)?),
            Some(FileKind::Directory) => {}
            Some(_) => plan.skipped.push(Skipped {
                path: dir.clone(),
                why: "the folder has a file or link by that name".to_string(),
            }),
        }
    }
    for (relative, file) in &local_files {
        let local = pair.local.join(relative);
        match remote.get(relative) {
            None => plan.uploads.push((local, target(relative)?, file.size)),
            Some(entry) if entry.kind == FileKind::File => {
                // Written there after the local file was last changed, at the same size: what
                // an earlier push left (an upload's time is when it arrived). At the same size
                // but changed here since (a checkout, an editor saving the same text), the
                // bytes decide: an identical file is not sent again.
                let sent = entry
                    .modified_ms
                    .zip(file.modified_ms)
                    .is_some_and(|(there, here)| there >= here);
                let same = entry.size == file.size
                    && (sent
                        || same_bytes(engine, pair, relative, *file, Signature::of_entry(entry))
                            .await?);
                if same {
                    plan.unchanged += 1;
                } else {
                    plan.uploads.push((local, target(relative)?, file.size));
                }
            }
            Some(_) => plan.skipped.push(Skipped {
                path: relative.clone(),
                why: "the folder has a directory or link by that name".to_string(),
            }),
        }
    }
    if delete {
        if !recursive {
            // A directory about to go may hold something ignored: look inside first.
            let kept: BTreeSet<&String> = local_dirs.iter().collect();
            let lost: Vec<String> = remote
                .iter()
                .filter(|(r, e)| e.kind == FileKind::Directory && !kept.contains(r))
                .map(|(r, _)| r.clone())
                .collect();
            for dir in lost {
                if let Some(inside) =
                    walk_remote(engine, &pair.folder, &pair.path, &dir, true).await?
                {
                    remote.extend(inside);
                }
            }
        }
        plan.deletes = deletions(&remote, &local_dirs, &local_files, rules, target)?;
    }
    Ok(plan)
}

/// What the folder's side has that the directory lost, as few paths as possible: a directory
/// whole, unless something ignored lies below it (a session's outputs), which is never
/// deleted — then what else is in it, one by one.
fn deletions(
    remote: &BTreeMap<String, FileEntry>,
    local_dirs: &[String],
    local_files: &BTreeMap<String, Signature>,
    rules: &IgnoreRules,
    target: impl Fn(&str) -> Result<FolderPath>,
) -> Result<Vec<FolderPath>> {
    let kept: BTreeSet<&String> = local_dirs.iter().chain(local_files.keys()).collect();
    let ignored: Vec<&String> = remote
        .iter()
        .filter(|(relative, entry)| rules.ignores(relative, entry.kind == FileKind::Directory))
        .map(|(relative, _)| relative)
        .collect();
    let mut deleted_dirs: Vec<&String> = Vec::new();
    let mut deletes = Vec::new();
    // In path order, so a directory comes before what is in it.
    for (relative, entry) in remote {
        if kept.contains(relative)
            || ignored.contains(&relative)
            || deleted_dirs.iter().any(|d| is_below(relative, d))
        {
            continue;
        }
        if entry.kind == FileKind::Directory {
            if ignored.iter().any(|i| is_below(i, relative)) {
                continue; // Its other contents are looked at one by one.
            }
            deleted_dirs.push(relative);
        }
        deletes.push(target(relative)?);
    }
    Ok(deletes)
}

/// `base` and then `relative`'s slash-separated components.
pub(crate) fn below(base: &FolderPath, relative: &str) -> Result<FolderPath> {
    relative
        .split('/')
        .filter(|c| !c.is_empty())
        .try_fold(base.clone(), |at, component| at.join(component))
}

pub(crate) fn is_below(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Directories and files under `root` (slash-separated paths relative to it), links and
/// ignored paths left out; what cannot be read is listed as skipped.
#[allow(clippy::type_complexity)]
pub(crate) fn walk_local(
    root: &Path,
    start: &str,
    recursive: bool,
    rules: &IgnoreRules,
    skipped: &mut Vec<Skipped>,
) -> Result<(Vec<String>, BTreeMap<String, Signature>)> {
    let mut dirs = Vec::new();
    let mut files = BTreeMap::new();
    let mut pending = vec![start.to_string()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(root.join(&dir)) {
            Ok(entries) => entries,
            Err(e) if dir == start => {
                return Err(Error::invalid_input(format!(
                    "Cannot read {}: {e}",
                    root.display()
                )));
            }
            Err(e) => {
                skipped.push(Skipped {
                    path: dir,
                    why: format!("cannot be read: {e}"),
                });
                continue;
            }
        };
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                skipped.push(Skipped {
                    path: format!("{dir}/{}", entry.file_name().to_string_lossy()),
                    why: "its name is not valid Unicode, which a folder cannot hold".to_string(),
                });
                continue;
            };
            let relative = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            // The entry itself, never what a link points to.
            let Ok(metadata) = entry.metadata() else {
                continue; // Gone since the directory was read: the next pass sees what is there.
            };
            let kind = metadata.file_type();
            if rules.ignores(&relative, kind.is_dir()) {
                continue;
            }
            if kind.is_symlink() {
                skipped.push(Skipped {
                    path: relative,
                    why: "a link, not followed".to_string(),
                });
            } else if kind.is_dir() {
                dirs.push(relative.clone());
                if recursive {
                    pending.push(relative);
                }
            } else if kind.is_file() {
                files.insert(relative, Signature::of_metadata(&metadata));
            }
        }
    }
    dirs.sort();
    Ok((dirs, files))
}

/// The entries of directory `start` below `path` of `folder` (every level below when
/// `recursive`), by their paths relative to `path` (slash-separated); `None` when `start` does
/// not exist there. Links are listed, never followed.
pub(crate) async fn walk_remote(
    engine: &dyn Engine,
    folder: &str,
    path: &FolderPath,
    start: &str,
    recursive: bool,
) -> Result<Option<BTreeMap<String, FileEntry>>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![start.to_string()];
    while let Some(dir) = pending.pop() {
        let at = below(path, &dir)?;
        let entries = match engine.list_files(folder, &at).await {
            Ok(entries) => entries,
            Err(e) if e.code == ErrorCode::NotFound && dir == start => return Ok(None),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let relative = if dir.is_empty() {
                entry.name.clone()
            } else {
                format!("{dir}/{}", entry.name)
            };
            if entry.kind == FileKind::Directory && recursive {
                pending.push(relative.clone());
            }
            found.insert(relative, entry);
        }
    }
    Ok(Some(found))
}
