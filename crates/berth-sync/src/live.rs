//! A sync that keeps going: one whole pass at the start (what changed while nothing watched,
//! after a restart or a kill), then a pass over each directory where the file system reports
//! a change, a moment after the changes settle — on this computer's side, and on the folder's
//! where the engine can tell (the local engine); a cluster's folder is listed whole now and
//! then instead. Large files go through the transfer queue, so they show in the transfer panel
//! and a cut transfer continues. A pass that fails (the connection lost, the disk full) pauses
//! the sync with the reason; it tries again, whole, a little later.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::clock::now_ms;
use berth_core::{Engine, Error, Result};
use berth_transfer::Queue;
use notify::Watcher;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::book::SyncDirection;
use crate::exchange::{PassRules, clear_leftovers, pass};
use crate::journal::Journal;
use crate::push::{IgnoreRules, PushPlan, SyncPair, plan_push, plan_push_in};
use crate::reconcile::Scope;
use crate::send::send_uploads;

/// How a sync's transfer batches are named: the app does not announce them one by one (the
/// sync's row says how it stands).
pub const BATCH_PREFIX: &str = "sync-";

/// Changes closer together than this are one pass.
const SETTLE: Duration = Duration::from_millis(200);
/// How long a failed pass waits before the next try.
const RETRY: Duration = Duration::from_secs(5);
/// How often a folder that cannot be watched (on a cluster) is listed again, at the least.
const REMOTE_POLL: Duration = Duration::from_secs(10);

/// Where a sync stands, as the window and `berth sync list` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    /// Not running (no app or `berth sync run` has it, or it was paused).
    Stopped,
    /// Comparing the two sides.
    Comparing,
    /// Sending `files` files.
    Syncing { files: u32 },
    /// Both sides agree (`at_ms`: since when); `skipped`: entries not sent (links, names);
    /// `conflicts`: copies of this computer's version of a file changed on both sides, kept
    /// beside it until the user deals with them.
    InStep {
        at_ms: i64,
        skipped: u32,
        #[serde(default)]
        conflicts: Vec<String>,
    },
    /// The last pass failed (`reason`); it is tried again shortly.
    Waiting { reason: String },
}

/// What a live sync is told to do besides its pair.
pub struct LiveOptions {
    pub way: SyncDirection,
    pub delete: bool,
    pub rules: IgnoreRules,
    /// Where a pull or two-way sync keeps its journal.
    pub journal: PathBuf,
}

/// Keeps `pair` in step until `stop` turns true, reporting each state change to `report`.
pub async fn run_live(
    engine: Arc<dyn Engine>,
    queue: Queue,
    pair: SyncPair,
    options: LiveOptions,
    report: Arc<dyn Fn(SyncState) + Send + Sync>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let root = std::fs::canonicalize(&pair.local)
        .map_err(|e| Error::invalid_input(format!("Cannot sync {}: {e}", pair.local.display())))?;
    let (changes, mut changed) = mpsc::unbounded_channel::<PathBuf>();
    // This computer's side, when its changes go anywhere; the folder's side where the engine
    // can tell (the local engine), else it is listed again now and then.
    let mut roots = Vec::new();
    if options.way != SyncDirection::Pull {
        roots.push(root.clone());
    }
    if options.way != SyncDirection::Push
        && let Some(dir) = engine.watchable_dir(&pair.folder).await
        && let Ok(there) = std::fs::canonicalize(dir.join(pair.path.as_str()))
    {
        roots.push(there);
    }
    let remote_watched = roots.len() > usize::from(options.way != SyncDirection::Pull);
    let polling = options.way != SyncDirection::Push && !remote_watched;
    let _watchers = roots
        .iter()
        .map(|dir| watch_dir(dir, changes.clone()))
        .collect::<Result<Vec<_>>>()?;

    clear_leftovers(&queue, &pair, &options.rules).await;
    let mut pass = Pass {
        engine: engine.as_ref(),
        queue: &queue,
        pair: &pair,
        journal: Journal::load(&options.journal),
        options: &options,
        report: report.as_ref(),
    };
    // Everything first; then only where something changed (and everything again now and
    // then where the folder's side cannot be watched).
    let mut whole = true;
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    let mut last_whole = Instant::now();
    let mut poll_every = REMOTE_POLL;
    loop {
        let mut wait = polling.then(|| poll_every.saturating_sub(last_whole.elapsed()));
        if whole || !dirs.is_empty() {
            let started = Instant::now();
            let done = match whole {
                true => pass.run(Scope::Whole).await,
                false => pass.run(Scope::Dirs(std::mem::take(&mut dirs))).await,
            };
            if whole {
                last_whole = started;
                // A huge tree is listed less often, so an idle sync stays cheap.
                poll_every = REMOTE_POLL.max(started.elapsed() * 50);
            }
            whole = false;
            wait = match done {
                Ok(true) => {
                    whole = true; // Something changed while it ran: all again, shortly.
                    Some(SETTLE)
                }
                Ok(false) => polling.then(|| poll_every.saturating_sub(last_whole.elapsed())),
                Err(error) => {
                    tracing::warn!(%error, local = %pair.local.display(), "sync pass failed");
                    report(SyncState::Waiting {
                        reason: error.message,
                    });
                    whole = true;
                    Some(RETRY)
                }
            };
        }
        // The next change (or, after a failure or when the folder is due a look, the time
        // for that), then the changes that follow it closely.
        let first = async {
            match wait {
                Some(wait) => tokio::time::timeout(wait, changed.recv())
                    .await
                    .ok()
                    .flatten(),
                None => changed.recv().await,
            }
        };
        tokio::select! {
            path = first => {
                if let Some(path) = path {
                    note(&roots, &path, &mut dirs);
                }
                while let Ok(Some(path)) = tokio::time::timeout(SETTLE, changed.recv()).await {
                    note(&roots, &path, &mut dirs);
                }
            }
            // The guard `wait_for` returns is not `Send`: dropped inside.
            () = async { drop(stop.wait_for(|stopped| *stopped).await) } => break,
        }
        if *stop.borrow() {
            break;
        }
        whole |= polling && last_whole.elapsed() >= poll_every;
    }
    report(SyncState::Stopped);
    Ok(())
}

/// Watches `dir` and all below it, sending each changed path to `changes`.
fn watch_dir(
    dir: &Path,
    changes: mpsc::UnboundedSender<PathBuf>,
) -> Result<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            for path in event.paths {
                let _ = changes.send(path);
            }
        }
    })
    .map_err(|e| Error::internal(format!("Cannot watch {}: {e}", dir.display())))?;
    watcher
        .watch(dir, notify::RecursiveMode::Recursive)
        .map_err(|e| Error::internal(format!("Cannot watch {}: {e}", dir.display())))?;
    Ok(watcher)
}

/// Adds the directory to look at again for a change at `path` under one of `roots` (its
/// parent, and itself if it is a directory now), relative to the pair.
fn note(roots: &[PathBuf], path: &Path, dirs: &mut BTreeSet<String>) {
    let Some(relative) = roots.iter().find_map(|root| path.strip_prefix(root).ok()) else {
        return;
    };
    let relative: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let parent = relative[..relative.len().saturating_sub(1)].join("/");
    dirs.insert(parent);
    if path.is_dir() {
        dirs.insert(relative.join("/"));
    }
}

struct Pass<'a> {
    engine: &'a dyn Engine,
    queue: &'a Queue,
    pair: &'a SyncPair,
    journal: Journal,
    options: &'a LiveOptions,
    report: &'a (dyn Fn(SyncState) + Send + Sync),
}

impl Pass<'_> {
    /// One pass over `scope`; true when something changed meanwhile and another should follow.
    async fn run(&mut self, scope: Scope) -> Result<bool> {
        if matches!(scope, Scope::Whole) {
            (self.report)(SyncState::Comparing);
        }
        let (skipped, again) = match self.options.way {
            SyncDirection::Push => (self.push(scope).await?, false),
            way => self.reconcile(way, scope).await?,
        };
        (self.report)(SyncState::InStep {
            at_ms: now_ms(),
            skipped: u32::try_from(skipped).unwrap_or(u32::MAX),
            conflicts: self.journal.conflicts.iter().cloned().collect(),
        });
        Ok(again)
    }

    /// A push pass; how many entries it skipped.
    async fn push(&self, scope: Scope) -> Result<usize> {
        let (pair, rules, delete) = (self.pair, &self.options.rules, self.options.delete);
        let plan = match scope {
            Scope::Whole => plan_push(self.engine, pair, rules, delete).await?,
            Scope::Dirs(dirs) => {
                let mut plan = PushPlan::default();
                for dir in dirs {
                    plan.merge(plan_push_in(self.engine, pair, rules, delete, &dir, false).await?);
                }
                plan
            }
        };
        if !plan.is_empty() {
            self.carry_out(&plan).await?;
        }
        Ok(plan.skipped.len())
    }

    /// A pull or two-way pass: how many entries it skipped, and whether another should follow.
    async fn reconcile(&mut self, way: SyncDirection, scope: Scope) -> Result<(usize, bool)> {
        let options = self.options;
        let batch = format!("{BATCH_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let how = PassRules {
            way,
            delete: options.delete,
            rules: &options.rules,
            batch: &batch,
        };
        let report = self.report;
        let passed = pass(
            self.engine,
            self.queue,
            self.pair,
            &how,
            &scope,
            &mut self.journal,
            |files| {
                report(SyncState::Syncing {
                    files: u32::try_from(files).unwrap_or(u32::MAX),
                })
            },
        )
        .await;
        // What did happen is kept even when part failed.
        self.journal.save(&options.journal)?;
        let passed = passed?;
        if let Some((path, why)) = passed.done.failed.first() {
            return Err(Error::internal(format!(
                "{} file(s) were not synced, e.g. {path}: {why}",
                passed.done.failed.len()
            )));
        }
        Ok((passed.skipped.len(), passed.done.again))
    }

    async fn carry_out(&self, plan: &PushPlan) -> Result<()> {
        let folder = &self.pair.folder;
        for dir in &plan.make_dirs {
            self.engine.make_dir(folder, dir).await?;
        }
        if !plan.uploads.is_empty() {
            (self.report)(SyncState::Syncing {
                files: u32::try_from(plan.uploads.len()).unwrap_or(u32::MAX),
            });
            let batch = format!("{BATCH_PREFIX}{}", uuid::Uuid::new_v4().simple());
            let sent = send_uploads(self.engine, self.queue, folder, &plan.uploads, &batch).await?;
            if let Some((path, why)) = sent.failed.first() {
                return Err(Error::internal(format!(
                    "{} file(s) were not sent, e.g. {path}: {why}",
                    sent.failed.len()
                )));
            }
        }
        if !plan.deletes.is_empty() {
            self.engine.remove_paths(folder, &plan.deletes).await?;
        }
        Ok(())
    }
}
