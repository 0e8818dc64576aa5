//! Runs a profile's syncs from the list (the app while it is open, `berth sync run` in a
//! shell — the same code, so they behave the same): each unpaused sync gets its running lock
//! and a live sync; a sync paused, removed or added in the list (by the other process too) is
//! stopped or started within a second.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use berth_core::{Engine, Result};
use berth_transfer::Queue;
use tokio::sync::watch;

use crate::book::{RunningLock, SyncBook, SyncRecord};
use crate::live::{LiveOptions, SyncState, run_live};
use crate::push::{IgnoreRules, SyncPair};

/// How often the list is read again for changes made elsewhere.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// Told of every sync's new state (once the list holds it), and of a sync this process cannot
/// run (why).
pub trait SyncEvents: Send + Sync {
    fn state(&self, record: &SyncRecord, state: &SyncState);
    fn refused(&self, record: &SyncRecord, why: &berth_core::Error);
}

struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<()>>,
    _lock: RunningLock,
}

/// Runs `profile`'s syncs on `engine` until `stop` turns true; then stops them all.
pub async fn run_syncs(
    book: Arc<SyncBook>,
    profile: String,
    engine: Arc<dyn Engine>,
    queue: Queue,
    events: Arc<dyn SyncEvents>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut refused: HashSet<String> = HashSet::new();
    loop {
        let wanted: Vec<SyncRecord> = book
            .list()?
            .into_iter()
            .filter(|r| r.profile == profile && !r.paused)
            .collect();
        let gone: Vec<String> = running
            .keys()
            .filter(|id| !wanted.iter().any(|r| &r.id == *id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(sync) = running.remove(&id) {
                finish(sync).await;
            }
        }
        for record in wanted {
            if running.contains_key(&record.id) {
                continue;
            }
            match start(&book, &record, &engine, &queue, &events) {
                Ok(sync) => {
                    refused.remove(&record.id);
                    running.insert(record.id.clone(), sync);
                }
                Err(why) => {
                    if refused.insert(record.id.clone()) {
                        events.refused(&record, &why);
                    }
                }
            }
        }
        tokio::select! {
            () = async { drop(stop.wait_for(|stopped| *stopped).await) } => break,
            () = tokio::time::sleep(LOOK_AGAIN) => {}
        }
    }
    for (_, sync) in running {
        finish(sync).await;
    }
    Ok(())
}

fn start(
    book: &Arc<SyncBook>,
    record: &SyncRecord,
    engine: &Arc<dyn Engine>,
    queue: &Queue,
    events: &Arc<dyn SyncEvents>,
) -> Result<Running> {
    let lock = book.lock_running(&record.id)?;
    let pair = SyncPair::parse(&record.local, &record.target())?;
    let rules = IgnoreRules::new(&record.ignore, record.default_ignores)?;
    let (stop, stopped) = watch::channel(false);
    let report = {
        let (book, events, record) = (book.clone(), events.clone(), record.clone());
        // The list first, so whoever is told reads the new state there.
        Arc::new(move |state: SyncState| {
            let _ = book.update(&record.id, |r| r.state = state.clone());
            events.state(&record, &state);
        })
    };
    let task = tokio::spawn(run_live(
        engine.clone(),
        queue.clone(),
        pair,
        LiveOptions {
            way: record.direction,
            delete: record.delete,
            rules,
            journal: book.journal_path(&record.id),
        },
        report,
        stopped,
    ));
    Ok(Running {
        stop,
        task,
        _lock: lock,
    })
}

async fn finish(sync: Running) {
    let _ = sync.stop.send(true);
    let _ = sync.task.await;
}
