//! App-wide state: the engine the window talks to and its transfer queue.

use std::sync::Arc;

use berth_core::{Engine, Error};
use berth_local::transport::LocalTransport;
use berth_local::{DataDirs, LocalEngine};
use berth_transfer::{Journal, Queue};

/// Files moved at once by default: enough to overlap per-file costs on two cores.
const TRANSFER_CONCURRENCY: usize = 3;

/// The engine the UI's commands go to, and its transfer queue. When the local engine cannot
/// open (an unwritable data directory, say) the window still opens and every command answers
/// with that error, so the user reads what is wrong and how to fix it instead of seeing nothing.
pub struct ActiveEngine {
    local: Result<Arc<LocalEngine>, Error>,
    transfers: Result<Queue, Error>,
}

impl ActiveEngine {
    /// Opens the local engine and its queue; unfinished transfers from the last run are queued
    /// again once [`ActiveEngine::start_transfers`] runs.
    pub fn open_local(dirs: berth_core::Result<DataDirs>) -> Self {
        let local = dirs.and_then(LocalEngine::open).map(Arc::new);
        let transfers = local.clone().and_then(|engine| {
            let journal = Journal::open(&engine.dirs().data.join("transfers.sqlite3"))?;
            Queue::open(
                journal,
                Arc::new(LocalTransport::new(engine)),
                TRANSFER_CONCURRENCY,
            )
        });
        for error in [local.as_ref().err(), transfers.as_ref().err()]
            .into_iter()
            .flatten()
        {
            tracing::error!(%error, "the local engine is unavailable");
        }
        Self { local, transfers }
    }

    /// Starts running queued transfers on Tauri's async runtime.
    pub fn start_transfers(&self) {
        if let Ok(queue) = self.transfers.clone() {
            tauri::async_runtime::spawn(async move {
                queue.start();
            });
        }
    }

    pub fn get(&self) -> Result<Arc<dyn Engine>, Error> {
        self.local.clone().map(|engine| engine as Arc<dyn Engine>)
    }

    /// The local engine itself, for what the `Engine` trait does not cover yet (planning
    /// transfers of trees).
    pub fn local(&self) -> Result<Arc<LocalEngine>, Error> {
        self.local.clone()
    }

    pub fn transfers(&self) -> Result<Queue, Error> {
        self.transfers.clone()
    }
}
