//! App-wide state: the engine the window talks to, its transfer queue and the app's settings.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_core::{Engine, Error};
use berth_local::transport::LocalTransport;
use berth_local::{DataDirs, LocalEngine};
use berth_transfer::{Journal, Queue};

use crate::settings::Settings;

/// The engine the UI's commands go to, and its transfer queue. When the local engine cannot
/// open (an unwritable data directory, say) the window still opens and every command answers
/// with that error, so the user reads what is wrong and how to fix it instead of seeing nothing.
pub struct ActiveEngine {
    local: Result<Arc<LocalEngine>, Error>,
    transfers: Result<Queue, Error>,
    /// Where the settings are saved; `None` when there is no config directory to save in.
    settings_path: Option<PathBuf>,
    settings: Mutex<Settings>,
}

impl ActiveEngine {
    /// Opens the local engine and its queue; unfinished transfers from the last run are queued
    /// again once [`ActiveEngine::start_transfers`] runs.
    pub fn open_local(dirs: berth_core::Result<DataDirs>) -> Self {
        let settings_path = dirs.as_ref().ok().map(|d| Settings::path_in(&d.config));
        let settings = settings_path
            .as_deref()
            .map(Settings::load)
            .unwrap_or_default();
        let local = dirs.and_then(LocalEngine::open).map(Arc::new);
        let transfers = local.clone().and_then(|engine| {
            let journal = Journal::open(&engine.dirs().data.join("transfers.sqlite3"))?;
            Queue::open(
                journal,
                Arc::new(LocalTransport::new(engine)),
                settings.transfer_concurrency as usize,
            )
        });
        for error in [local.as_ref().err(), transfers.as_ref().err()]
            .into_iter()
            .flatten()
        {
            tracing::error!(%error, "the local engine is unavailable");
        }
        Self {
            local,
            transfers,
            settings_path,
            settings: Mutex::new(settings),
        }
    }

    pub fn settings(&self) -> Settings {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes how many transfers run at once: saved first, then applied to the queue, so
    /// what the panel shows is what the next start uses.
    pub fn set_transfer_concurrency(&self, limit: u32) -> Result<Settings, Error> {
        let mut settings = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        let changed = settings.with_concurrency(limit)?;
        let path = self.settings_path.as_deref().ok_or_else(|| {
            Error::engine_unavailable("There is no config directory to save settings in.")
        })?;
        changed.save(path)?;
        *settings = changed;
        self.transfers()?.set_limit(limit as usize);
        Ok(changed)
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
