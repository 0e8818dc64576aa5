//! One pass of a pull (folder → this computer) or two-way sync: what each side needs, decided
//! file by file against the [`Journal`] — the sizes and modified times both sides had when they
//! last agreed. A side that no longer matches the journal changed; a file changed on both sides
//! is a conflict: the folder's version keeps the name and this computer's is kept beside it as
//! a conflict copy, never overwritten. A deletion is mirrored only when the user asked for it,
//! and only of what the other side left unchanged; without the journal (a first pass) nothing
//! is deleted and two different files are a conflict. Links are never followed; ignore rules
//! apply to both sides alike.

use std::collections::{BTreeMap, BTreeSet};

use berth_core::{Engine, Error, ErrorCode, FileEntry, FileKind, Result};

use crate::book::SyncDirection;
use crate::journal::{Agreed, Journal, Signature};
use crate::push::{IgnoreRules, Skipped, SyncPair, below, is_below, walk_local, walk_remote};
use crate::receive::Fetch;

/// Files larger than this are not read back to tell whether two unjournaled copies match:
/// they are a conflict (both kept) instead.
const LARGEST_COMPARED: u64 = 64 << 20;

/// Which part of the tree a pass looks at.
#[derive(Debug, Clone)]
pub enum Scope {
    Whole,
    /// These directories' own entries (and all of a subdirectory only one side has): where a
    /// change was noticed.
    Dirs(BTreeSet<String>),
}

/// What one pass does, by paths relative to the pair (slash-separated).
#[derive(Debug, Default)]
pub struct Reconcile {
    /// Files to bring here.
    pub downloads: Vec<Fetch>,
    /// Files to send, with this computer's signature they were planned against.
    pub uploads: Vec<(String, Signature)>,
    /// Files changed on both sides: this computer's copy (its signature then) is renamed
    /// aside, then the folder's version is brought here.
    pub conflicts: Vec<(String, Signature, Signature)>,
    /// Files and (emptied) directories to delete here, deepest last.
    pub delete_local: Vec<String>,
    /// Files and whole directories to delete in the folder.
    pub delete_remote: Vec<String>,
    pub make_local_dirs: Vec<String>,
    pub make_remote_dirs: Vec<String>,
    /// Files found the same on both sides: only the journal learns it.
    pub agreed: Vec<(String, Agreed)>,
    /// Journal entries of files and directories both sides lost.
    pub forget: Vec<String>,
    /// Directories both sides have.
    pub dirs_in_step: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub unchanged: usize,
}

impl Reconcile {
    /// Whether the pass has nothing to do but update the journal.
    pub fn is_idle(&self) -> bool {
        self.downloads.is_empty()
            && self.uploads.is_empty()
            && self.conflicts.is_empty()
            && self.delete_local.is_empty()
            && self.delete_remote.is_empty()
            && self.make_local_dirs.is_empty()
            && self.make_remote_dirs.is_empty()
    }

    /// How many files the pass moves.
    pub fn files(&self) -> usize {
        self.downloads.len() + self.uploads.len() + self.conflicts.len()
    }
}

/// Both sides' entries in a pass's scope.
#[derive(Default)]
struct Listing {
    local_dirs: BTreeSet<String>,
    local_files: BTreeMap<String, Signature>,
    /// The folder's entries, ignored ones left out.
    remote: BTreeMap<String, FileEntry>,
    /// The folder's ignored entries: a directory holding one is never deleted whole.
    remote_ignored: Vec<String>,
    /// Subtrees looked at whole ("" for everything).
    trees: Vec<String>,
    /// Directories whose own entries were looked at.
    dirs: Vec<String>,
}

impl Listing {
    fn covers(&self, path: &str) -> bool {
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
        self.trees
            .iter()
            .any(|t| t.is_empty() || path == t || is_below(path, t))
            || self.dirs.iter().any(|d| d == parent)
    }
}

/// Compares the pair's two sides in `scope` against `journal`: what a pull (`Pull`) or
/// two-way (`Both`) pass must do.
pub async fn plan_reconcile(
    engine: &dyn Engine,
    pair: &SyncPair,
    rules: &IgnoreRules,
    journal: &Journal,
    way: SyncDirection,
    delete: bool,
    scope: &Scope,
) -> Result<Reconcile> {
    let mut plan = Reconcile::default();
    let listing = match scope {
        Scope::Whole => {
            let mut listing = Listing::default();
            if add_tree(engine, pair, rules, "", &mut listing, &mut plan.skipped).await? {
                if way == SyncDirection::Pull {
                    return Err(Error::new(
                        ErrorCode::NotFound,
                        format!(
                            "Folder \"{}\" has no \"{}\" to pull from.",
                            pair.folder, pair.path
                        ),
                    ));
                }
                plan.make_remote_dirs.push(String::new());
            }
            listing
        }
        Scope::Dirs(dirs) => list_dirs(engine, pair, rules, dirs, &mut plan.skipped).await?,
    };
    decide_files(engine, pair, journal, way, delete, &listing, &mut plan).await?;
    decide_dirs(journal, way, delete, &listing, &mut plan);
    make_room_for_uploads(&listing, &mut plan);
    Ok(plan)
}

/// The folder's directories an upload needs and the folder lacks (one it deleted, while the
/// file in it changed here), made first; and none of them emptied here.
fn make_room_for_uploads(listing: &Listing, plan: &mut Reconcile) {
    let there = |dir: &str| {
        listing.dirs.iter().any(|d| d == dir)
            || listing
                .remote
                .get(dir)
                .is_some_and(|e| e.kind == FileKind::Directory)
    };
    let mut needed: BTreeSet<String> = BTreeSet::new();
    for (path, _) in &plan.uploads {
        let mut at = path.as_str();
        while let Some((parent, _)) = at.rsplit_once('/') {
            if there(parent) {
                break;
            }
            needed.insert(parent.to_string());
            at = parent;
        }
    }
    plan.delete_local.retain(|d| !needed.contains(d));
    for dir in needed {
        if !plan.make_remote_dirs.contains(&dir) {
            plan.make_remote_dirs.push(dir);
        }
    }
    plan.make_remote_dirs.sort();
}

/// Lists the subtree `tree` on both sides into `listing`; true when the folder lacks it.
async fn add_tree(
    engine: &dyn Engine,
    pair: &SyncPair,
    rules: &IgnoreRules,
    tree: &str,
    listing: &mut Listing,
    skipped: &mut Vec<Skipped>,
) -> Result<bool> {
    listing.trees.push(tree.to_string());
    let here_is_dir = std::fs::symlink_metadata(pair.local.join(tree)).is_ok_and(|m| m.is_dir());
    if here_is_dir {
        let (dirs, files) = walk_local(&pair.local, tree, true, rules, skipped)?;
        listing.local_dirs.extend(dirs);
        listing.local_files.extend(files);
    }
    let remote = walk_remote(engine, &pair.folder, &pair.path, tree, true).await?;
    let missing = remote.is_none();
    add_remote(remote.unwrap_or_default(), rules, listing);
    Ok(missing)
}

fn add_remote(entries: BTreeMap<String, FileEntry>, rules: &IgnoreRules, listing: &mut Listing) {
    for (relative, entry) in entries {
        if rules.ignores(&relative, entry.kind == FileKind::Directory) {
            listing.remote_ignored.push(relative);
        } else {
            listing.remote.insert(relative, entry);
        }
    }
}

/// Lists directories `dirs` on both sides (each one's own entries), and whole any
/// subdirectory only one side has.
async fn list_dirs(
    engine: &dyn Engine,
    pair: &SyncPair,
    rules: &IgnoreRules,
    dirs: &BTreeSet<String>,
    skipped: &mut Vec<Skipped>,
) -> Result<Listing> {
    let mut listing = Listing::default();
    for dir in dirs {
        let walked = |t: &String| t.is_empty() || t == dir || is_below(dir, t);
        if listing.trees.iter().any(walked) {
            continue;
        }
        if !dir.is_empty() && rules.ignores(dir, true) {
            continue;
        }
        let here_is_dir = std::fs::symlink_metadata(pair.local.join(dir)).is_ok_and(|m| m.is_dir());
        let there = match engine
            .list_files(&pair.folder, &below(&pair.path, dir)?)
            .await
        {
            Ok(entries) => Some(entries),
            Err(e) if e.code == ErrorCode::NotFound => None,
            Err(e) => return Err(e),
        };
        let (true, Some(there)) = (here_is_dir, there) else {
            // One side lacks the directory itself: all of it is new, or all of it gone.
            add_tree(engine, pair, rules, dir, &mut listing, skipped).await?;
            continue;
        };
        listing.dirs.push(dir.clone());
        let (local_dirs, local_files) = walk_local(&pair.local, dir, false, rules, skipped)?;
        let join = |name: &str| match dir.is_empty() {
            true => name.to_string(),
            false => format!("{dir}/{name}"),
        };
        let remote: BTreeMap<String, FileEntry> =
            there.into_iter().map(|e| (join(&e.name), e)).collect();
        let remote_dirs: BTreeSet<&String> = remote
            .iter()
            .filter(|(_, e)| e.kind == FileKind::Directory)
            .map(|(r, _)| r)
            .collect();
        let one_sided: Vec<String> = local_dirs
            .iter()
            .filter(|d| !remote.contains_key(*d))
            .chain(
                remote_dirs
                    .iter()
                    .copied()
                    .filter(|d| !local_dirs.contains(d)),
            )
            .filter(|d| !rules.ignores(d, true))
            .cloned()
            .collect();
        listing.local_dirs.extend(local_dirs);
        listing.local_files.extend(local_files);
        add_remote(remote, rules, &mut listing);
        for sub in one_sided {
            add_tree(engine, pair, rules, &sub, &mut listing, skipped).await?;
        }
    }
    Ok(listing)
}

async fn decide_files(
    engine: &dyn Engine,
    pair: &SyncPair,
    journal: &Journal,
    way: SyncDirection,
    delete: bool,
    listing: &Listing,
    plan: &mut Reconcile,
) -> Result<()> {
    let both = way == SyncDirection::Both;
    let remote_files: BTreeMap<&String, Signature> = listing
        .remote
        .iter()
        .filter(|(_, e)| e.kind == FileKind::File)
        .map(|(r, e)| (r, Signature::of_entry(e)))
        .collect();
    let mut paths: BTreeSet<&String> = listing.local_files.keys().collect();
    paths.extend(remote_files.keys().copied());
    paths.extend(
        journal
            .files
            .keys()
            .filter(|p| listing.covers(p) && !paths_hold_dir(listing, p)),
    );
    for path in paths {
        let local = listing.local_files.get(path).copied();
        let remote = remote_files.get(path).copied();
        let known = journal.files.get(path);
        // A file on one side and a directory or link by its name on the other.
        let clash = match (local, remote) {
            (Some(_), None) => listing.remote.get(path).map(|e| e.kind),
            (None, Some(_)) if listing.local_dirs.contains(path) => Some(FileKind::Directory),
            _ => None,
        };
        if let Some(kind) = clash {
            plan.skipped.push(Skipped {
                path: path.clone(),
                why: format!(
                    "a file on one side and a {} on the other",
                    match kind {
                        FileKind::Directory => "directory",
                        _ => "link",
                    }
                ),
            });
            continue;
        }
        match (local, remote, known) {
            (None, None, Some(_)) => plan.forget.push(path.clone()),
            (None, None, None) => {}
            (Some(l), Some(r), Some(j)) => {
                let (local_changed, remote_changed) = (l != j.local, r != j.remote);
                match (local_changed, remote_changed) {
                    (false, false) => plan.unchanged += 1,
                    (true, false) if both => plan.uploads.push((path.clone(), l)),
                    (true, false) => plan.unchanged += 1, // A pull leaves local edits alone.
                    (false, true) => plan.downloads.push(Fetch {
                        path: path.clone(),
                        remote: r,
                        local: Some(l),
                    }),
                    (true, true) => {
                        let agree = same_bytes(engine, pair, path, l, r).await?;
                        agree_or_conflict(plan, path, l, r, agree);
                    }
                }
            }
            (Some(l), Some(r), None) => {
                // Never journaled (a first pass, or a pass cut short): the same when the
                // times match, else when the bytes do.
                let agree = l.size == r.size
                    && (l.modified_ms.is_some() && l.modified_ms == r.modified_ms
                        || same_bytes(engine, pair, path, l, r).await?);
                agree_or_conflict(plan, path, l, r, agree);
            }
            (Some(l), None, None) => {
                if both {
                    plan.uploads.push((path.clone(), l));
                }
            }
            (Some(l), None, Some(j)) => {
                // Deleted in the folder.
                if l != j.local {
                    if both {
                        plan.uploads.push((path.clone(), l)); // Changed here: kept, sent again.
                    }
                } else if delete {
                    plan.delete_local.push(path.clone());
                }
            }
            (None, Some(r), None) => plan.downloads.push(Fetch {
                path: path.clone(),
                remote: r,
                local: None,
            }),
            (None, Some(r), Some(j)) => {
                // Deleted here.
                if r != j.remote {
                    plan.downloads.push(Fetch {
                        path: path.clone(),
                        remote: r,
                        local: None,
                    }); // Changed there: brought back.
                } else if delete && both {
                    plan.delete_remote.push(path.clone());
                }
            }
        }
    }
    Ok(())
}

/// Whether `path` is a directory on either side (a journaled file that became one).
fn paths_hold_dir(listing: &Listing, path: &str) -> bool {
    listing.local_dirs.contains(path)
        || listing
            .remote
            .get(path)
            .is_some_and(|e| e.kind == FileKind::Directory)
}

fn agree_or_conflict(plan: &mut Reconcile, path: &str, l: Signature, r: Signature, agree: bool) {
    match agree {
        true => plan.agreed.push((
            path.to_string(),
            Agreed {
                local: l,
                remote: r,
            },
        )),
        false => plan.conflicts.push((path.to_string(), r, l)),
    }
}

/// Whether this computer's file and the folder's hold the same bytes (read in ranges, up to
/// [`LARGEST_COMPARED`]); a file that changes or vanishes meanwhile does not match.
pub(crate) async fn same_bytes(
    engine: &dyn Engine,
    pair: &SyncPair,
    path: &str,
    local: Signature,
    remote: Signature,
) -> Result<bool> {
    use std::io::Read;
    if local.size != remote.size || local.size > LARGEST_COMPARED {
        return Ok(false);
    }
    let Ok(mut file) = std::fs::File::open(pair.local.join(path)) else {
        return Ok(false);
    };
    let at = below(&pair.path, path)?;
    let mut offset = 0u64;
    let mut here = Vec::new();
    while offset < remote.size {
        let range = match engine
            .read_file_range(&pair.folder, &at, offset, berth_core::LARGEST_RANGE)
            .await
        {
            Ok(range) => range,
            Err(e) if e.code == ErrorCode::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        if range.bytes.is_empty() || range.size != remote.size {
            return Ok(false);
        }
        here.resize(range.bytes.len(), 0);
        if file.read_exact(&mut here).is_err() || here != range.bytes {
            return Ok(false);
        }
        offset += range.bytes.len() as u64;
    }
    Ok(true)
}

fn decide_dirs(
    journal: &Journal,
    way: SyncDirection,
    delete: bool,
    listing: &Listing,
    plan: &mut Reconcile,
) {
    let both = way == SyncDirection::Both;
    let remote_dirs: BTreeSet<&String> = listing
        .remote
        .iter()
        .filter(|(_, e)| e.kind == FileKind::Directory)
        .map(|(r, _)| r)
        .collect();
    for dir in &listing.local_dirs {
        if remote_dirs.contains(dir) {
            plan.dirs_in_step.push(dir.clone());
        } else if listing.remote.contains_key(dir) {
            // A file or link by its name there: the file decisions said so.
        } else if journal.dirs.contains(dir) {
            // Deleted in the folder: emptied here (what was changed or is ignored stays).
            if delete {
                plan.delete_local.push(dir.clone());
            }
        } else if both {
            plan.make_remote_dirs.push(dir.clone());
        }
    }
    // Deepest last, so each directory is tried after what was in it.
    plan.delete_local.sort_by_key(|p| p.matches('/').count());
    plan.delete_local.reverse();

    let deleted: BTreeSet<String> = plan.delete_remote.iter().cloned().collect();
    let mut whole: Vec<String> = Vec::new();
    for dir in remote_dirs {
        if listing.local_dirs.contains(dir) || listing.local_files.contains_key(dir) {
            continue;
        }
        if !journal.dirs.contains(dir) {
            plan.make_local_dirs.push(dir.clone());
        } else if delete && both && !whole.iter().any(|w| is_below(dir, w)) {
            // Deleted here: gone whole from the folder, unless something below it is kept
            // (changed there, never synced, or ignored).
            let kept = listing.remote.iter().any(|(p, e)| {
                is_below(p, dir) && e.kind != FileKind::Directory && !deleted.contains(p)
            }) || listing.remote_ignored.iter().any(|p| is_below(p, dir));
            if !kept {
                whole.push(dir.clone());
            }
        }
    }
    if !whole.is_empty() {
        plan.delete_remote
            .retain(|p| !whole.iter().any(|w| is_below(p, w)));
        plan.delete_remote.extend(whole);
    }
    for dir in &journal.dirs {
        if listing.covers(dir)
            && !listing.local_dirs.contains(dir)
            && !listing.remote.contains_key(dir)
        {
            plan.forget.push(dir.clone());
        }
    }
}
