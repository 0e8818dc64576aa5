//! Carrying out a pull or two-way pass ([`Reconcile`]) and teaching the journal what both
//! sides now agree on: a file moved is journaled with the signature it was planned against on
//! the side it came from (so a change made while it travelled is seen next pass) and what it
//! became on the other.

use std::collections::BTreeMap;
use std::path::Path;

use berth_core::{Engine, Error, FileKind, FolderPath, Result};
use berth_transfer::Queue;

use crate::book::SyncDirection;
use crate::journal::{Agreed, Journal, Signature};
use crate::push::{IgnoreRules, Skipped, SyncPair, below};
use crate::receive::{Fetch, local_place, receive_files};
use crate::reconcile::{Reconcile, Scope, plan_reconcile};
use crate::send::send_uploads;

/// What a pass did.
#[derive(Debug, Default)]
pub struct Exchanged {
    pub downloaded: usize,
    pub uploaded: usize,
    pub bytes: u64,
    /// Paths deleted on this computer and in the folder (relative to the pair).
    pub deleted_here: Vec<String>,
    pub deleted_there: Vec<String>,
    /// Conflict copies made this pass (relative paths here).
    pub conflicts: Vec<String>,
    /// Files not moved (path, why); the next pass tries again.
    pub failed: Vec<(String, String)>,
    /// Something changed while the pass ran: another pass should follow at once.
    pub again: bool,
}

/// How a pull or two-way pass is told to run.
pub struct PassRules<'a> {
    pub way: SyncDirection,
    pub delete: bool,
    pub rules: &'a IgnoreRules,
    /// The transfer batch its queued files go in.
    pub batch: &'a str,
}

/// What one pass found and did.
#[derive(Debug, Default)]
pub struct PassDone {
    pub done: Exchanged,
    pub skipped: Vec<Skipped>,
    pub unchanged: usize,
}

/// One pull or two-way pass over `scope`: planned against `journal`, carried out, and the
/// journal taught the outcome (also of a pass that failed part way). `on_plan` hears how many
/// files are about to move.
pub async fn pass(
    engine: &dyn Engine,
    queue: &Queue,
    pair: &SyncPair,
    how: &PassRules<'_>,
    scope: &Scope,
    journal: &mut Journal,
    on_plan: impl FnOnce(usize),
) -> Result<PassDone> {
    let plan = plan_reconcile(engine, pair, how.rules, journal, how.way, how.delete, scope).await?;
    let (skipped, unchanged) = (plan.skipped.clone(), plan.unchanged);
    if plan.files() > 0 {
        on_plan(plan.files());
    }
    let done = exchange(engine, queue, pair, plan, journal, how.batch).await?;
    Ok(PassDone {
        done,
        skipped,
        unchanged,
    })
}

/// Carries out `plan` between `pair`'s sides and records the outcome in `journal`.
pub async fn exchange(
    engine: &dyn Engine,
    queue: &Queue,
    pair: &SyncPair,
    plan: Reconcile,
    journal: &mut Journal,
    batch: &str,
) -> Result<Exchanged> {
    let mut done = Exchanged::default();
    let folder = &pair.folder;
    for dir in &plan.make_remote_dirs {
        engine.make_dir(folder, &below(&pair.path, dir)?).await?;
        journal.dirs.insert(dir.clone());
    }
    journal.dirs.remove("");
    for dir in &plan.make_local_dirs {
        match local_place(&pair.local, dir).and_then(|place| {
            std::fs::create_dir_all(&place)
                .map_err(|e| Error::internal(format!("Cannot make {}: {e}", place.display())))
        }) {
            Ok(()) => {
                journal.dirs.insert(dir.clone());
            }
            Err(e) => done.failed.push((dir.clone(), e.message)),
        }
    }

    let mut fetches = plan.downloads;
    for (path, remote, local) in plan.conflicts {
        match set_aside(&pair.local, &path, local) {
            Ok(copy) => {
                journal.conflicts.insert(copy.clone());
                done.conflicts.push(copy);
                fetches.push(Fetch {
                    path,
                    remote,
                    local: None,
                });
            }
            Err(e) => done.failed.push((path, e.message)),
        }
    }
    if !fetches.is_empty() {
        let received = receive_files(engine, queue, pair, fetches, batch).await?;
        for (fetch, here) in received.done {
            journal.files.insert(
                fetch.path,
                Agreed {
                    local: here,
                    remote: fetch.remote,
                },
            );
            done.downloaded += 1;
        }
        done.bytes += received.bytes;
        done.failed.extend(received.failed);
        done.again |= !received.changed.is_empty();
    }

    if !plan.uploads.is_empty() {
        let uploads: Vec<_> = plan
            .uploads
            .iter()
            .map(|(path, local)| Ok((pair.local.join(path), below(&pair.path, path)?, local.size)))
            .collect::<Result<_>>()?;
        let sent = send_uploads(engine, queue, folder, &uploads, batch).await?;
        let failed: std::collections::HashSet<&str> =
            sent.failed.iter().map(|(p, _)| p.as_str()).collect();
        let arrived: Vec<&(String, Signature)> = plan
            .uploads
            .iter()
            .zip(&uploads)
            .filter(|(_, (_, there, _))| !failed.contains(there.as_str()))
            .map(|(upload, _)| upload)
            .collect();
        let there =
            remote_signatures(engine, pair, arrived.iter().map(|(p, _)| p.as_str())).await?;
        for (path, local) in arrived {
            if let Some(remote) = there.get(path) {
                journal.files.insert(
                    path.clone(),
                    Agreed {
                        local: *local,
                        remote: *remote,
                    },
                );
            }
        }
        done.uploaded += sent.files;
        done.bytes += sent.bytes;
        done.failed.extend(sent.failed);
    }

    if !plan.delete_remote.is_empty() {
        let paths: Vec<FolderPath> = plan
            .delete_remote
            .iter()
            .map(|p| below(&pair.path, p))
            .collect::<Result<_>>()?;
        engine.remove_paths(folder, &paths).await?;
        for path in &plan.delete_remote {
            journal.forget(path);
        }
        done.deleted_there.extend(plan.delete_remote);
    }
    for path in &plan.delete_local {
        // A file only if it is still as journaled; a directory only once empty (what is
        // ignored or changed in it stays, and so does it).
        let Ok(place) = local_place(&pair.local, path) else {
            continue;
        };
        let removed = match (std::fs::symlink_metadata(&place), journal.files.get(path)) {
            (Ok(m), Some(known)) if m.is_file() => {
                Signature::of_metadata(&m) == known.local && std::fs::remove_file(&place).is_ok()
            }
            (Ok(m), None) if m.is_dir() => std::fs::remove_dir(&place).is_ok(),
            _ => false,
        };
        if removed {
            journal.forget(path);
            done.deleted_here.push(path.clone());
        } else {
            done.again = true;
        }
    }

    for (path, agreed) in plan.agreed {
        journal.files.insert(path, agreed);
    }
    for path in &plan.forget {
        journal.forget(path);
    }
    journal.dirs.extend(plan.dirs_in_step);
    journal
        .conflicts
        .retain(|copy| std::fs::symlink_metadata(pair.local.join(copy)).is_ok());
    Ok(done)
}

/// Renames this computer's `path` aside as `name (conflict DATE TIME).ext`, if it is still
/// as planned; returns the copy's relative path.
fn set_aside(root: &Path, path: &str, planned: Signature) -> Result<String> {
    let place = local_place(root, path)?;
    let now = std::fs::symlink_metadata(&place)
        .map_err(|e| Error::internal(format!("Cannot look at {}: {e}", place.display())))?;
    if !now.is_file() || Signature::of_metadata(&now) != planned {
        return Err(Error::new(
            berth_core::ErrorCode::FileChanged,
            "changed again while the conflict was handled; compared again next pass".to_string(),
        ));
    }
    let name = place
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name.as_str(), ""),
    };
    let when = berth_core::clock::utc_for_name(berth_core::clock::now_ms());
    for n in 1.. {
        let suffix = match n {
            1 => String::new(),
            n => format!(" {n}"),
        };
        let copy_name = format!("{stem} (conflict {when}{suffix}){ext}");
        let copy = place.with_file_name(&copy_name);
        if std::fs::symlink_metadata(&copy).is_err() {
            // Not over anything: a hard link then the old name's removal, never a replace.
            std::fs::hard_link(&place, &copy)
                .and_then(|()| std::fs::remove_file(&place))
                .map_err(|e| Error::internal(format!("Cannot keep {}: {e}", place.display())))?;
            return Ok(match path.rsplit_once('/') {
                Some((dir, _)) => format!("{dir}/{copy_name}"),
                None => copy_name,
            });
        }
    }
    unreachable!("some numbered name is free")
}

/// The folder's signatures of `paths` now, read per directory.
async fn remote_signatures(
    engine: &dyn Engine,
    pair: &SyncPair,
    paths: impl Iterator<Item = &str>,
) -> Result<BTreeMap<String, Signature>> {
    let mut by_dir: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in paths {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        by_dir
            .entry(dir.to_string())
            .or_default()
            .push(name.to_string());
    }
    let mut found = BTreeMap::new();
    for (dir, names) in by_dir {
        let entries = engine
            .stat_files(&pair.folder, &below(&pair.path, &dir)?, names)
            .await?;
        for entry in entries.into_iter().filter(|e| e.kind == FileKind::File) {
            let path = match dir.is_empty() {
                true => entry.name.clone(),
                false => format!("{dir}/{}", entry.name),
            };
            found.insert(path, Signature::of_entry(&entry));
        }
    }
    Ok(found)
}

/// What an earlier run of this pair left behind when it was killed mid-pass: its unfinished
/// transfers are cancelled (the queue would otherwise finish them behind this run's back; their
/// partial files go with them) and its scratch files here removed. Called before a sync's
/// first pass; the pass then does again whatever is still needed.
pub async fn clear_leftovers(queue: &Queue, pair: &SyncPair, rules: &IgnoreRules) {
    let root = pair.local.as_path();
    let in_pair = |job: &berth_transfer::Job| {
        job.spec.batch.starts_with(crate::live::BATCH_PREFIX)
            && match job.spec.direction {
                berth_transfer::Direction::Download => job.spec.local_path.starts_with(root),
                berth_transfer::Direction::Upload => {
                    job.spec.folder == pair.folder
                        && FolderPath::parse(&job.spec.remote_path).is_ok_and(|p| {
                            pair.path.as_str().is_empty()
                                || p.as_str() == pair.path.as_str()
                                || crate::push::is_below(p.as_str(), pair.path.as_str())
                        })
                }
            }
    };
    for job in queue.jobs() {
        if !job.state.is_finished() && in_pair(&job) {
            let _ = queue.cancel(job.id).await;
        }
    }
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, relative)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = match relative.is_empty() {
                true => name.clone(),
                false => format!("{relative}/{name}"),
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && !rules.ignores(&path, true) {
                pending.push((entry.path(), path));
            } else if kind.is_file() && name.starts_with('.') && name.contains(".berth-sync-") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}
