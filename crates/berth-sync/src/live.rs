//! A push that keeps going: one whole pass at the start (what changed while nothing watched,
//! after a restart or a kill), then a pass over each directory where the file system reports
//! a change, a moment after the changes settle. Files go through the transfer queue, so they
//! show in the transfer panel and a cut upload continues. A pass that fails (the connection
//! lost, the disk full) pauses the sync with the reason; it tries again, whole, a little later.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_core::{Engine, Error, Result};
use berth_transfer::Queue;
use notify::Watcher;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::push::{IgnoreRules, PushPlan, SyncPair, plan_push, plan_push_in};
use crate::send::send_uploads;

/// How a sync's transfer batches are named: the app does not announce them one by one (the
/// sync's row says how it stands).
pub const BATCH_PREFIX: &str = "sync-";

/// Changes closer together than this are one pass.
const SETTLE: Duration = Duration::from_millis(200);
/// How long a failed pass waits before the next try.
const RETRY: Duration = Duration::from_secs(5);

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
    /// Both sides agree (`at_ms`: since when); `skipped`: entries not sent (links, names).
    InStep { at_ms: i64, skipped: u32 },
    /// The last pass failed (`reason`); it is tried again shortly.
    Waiting { reason: String },
}

/// What a live sync is told to do besides its pair.
pub struct LiveOptions {
    pub delete: bool,
    pub rules: IgnoreRules,
}

/// Keeps `pair` pushed until `stop` turns true, reporting each state change to `report`.
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
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            for path in event.paths {
                let _ = changes.send(path);
            }
        }
    })
    .map_err(|e| Error::internal(format!("Cannot watch {}: {e}", root.display())))?;
    watcher
        .watch(&root, notify::RecursiveMode::Recursive)
        .map_err(|e| Error::internal(format!("Cannot watch {}: {e}", root.display())))?;

    let pass = Pass {
        engine: engine.as_ref(),
        queue: &queue,
        pair: &pair,
        options: &options,
        report: report.as_ref(),
    };
    // Everything first; then only where something changed.
    let mut whole = true;
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    loop {
        let done = match whole {
            true => pass.run(None).await,
            false => pass.run(Some(std::mem::take(&mut dirs))).await,
        };
        whole = done.is_err();
        let wait = match done {
            Ok(()) => None,
            Err(error) => {
                tracing::warn!(%error, local = %pair.local.display(), "sync pass failed");
                report(SyncState::Waiting {
                    reason: error.message,
                });
                Some(RETRY)
            }
        };
        // The next change (or, after a failure, the retry's time), then the changes that
        // follow it closely.
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
                    note(&root, &path, &mut dirs);
                }
                while let Ok(Some(path)) = tokio::time::timeout(SETTLE, changed.recv()).await {
                    note(&root, &path, &mut dirs);
                }
            }
            // The guard `wait_for` returns is not `Send`: dropped inside.
            () = async { drop(stop.wait_for(|stopped| *stopped).await) } => break,
        }
        if *stop.borrow() {
            break;
        }
    }
    drop(watcher);
    report(SyncState::Stopped);
    Ok(())
}

/// Adds the directory to look at again for a change at `path` (its parent, and itself if it
/// is a directory now).
fn note(root: &Path, path: &Path, dirs: &mut BTreeSet<String>) {
    let Ok(relative) = path.strip_prefix(root) else {
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
    options: &'a LiveOptions,
    report: &'a (dyn Fn(SyncState) + Send + Sync),
}

impl Pass<'_> {
    /// One pass: the whole tree (`None`) or directories `dirs`.
    async fn run(&self, dirs: Option<BTreeSet<String>>) -> Result<()> {
        let (pair, rules, delete) = (self.pair, &self.options.rules, self.options.delete);
        let plan = match dirs {
            None => {
                (self.report)(SyncState::Comparing);
                plan_push(self.engine, pair, rules, delete).await?
            }
            Some(dirs) => {
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
        (self.report)(SyncState::InStep {
            at_ms: crate::now_ms(),
            skipped: u32::try_from(plan.skipped.len()).unwrap_or(u32::MAX),
        });
        Ok(())
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
