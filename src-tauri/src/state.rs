//! App-wide state: the engine the window talks to, its transfer queue and the app's settings.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_backendai::transfer::StorageProxyTransport;
use berth_backendai::{BackendAiEngine, Profiles};
use berth_core::{Engine, Error, ErrorCode};
use berth_local::templates::Templates;
use berth_local::transport::LocalTransport;
use berth_local::{DataDirs, LocalEngine};
use berth_transfer::{Journal, PlanTransfers, Queue};

use crate::settings::Settings;

/// The engine the UI's commands go to, and its transfer queue. When the local engine cannot
/// open (an unwritable data directory, say) the window still opens and every command answers
/// with that error, so the user reads what is wrong and how to fix it instead of seeing nothing.
pub struct ActiveEngine {
    local: Result<Arc<LocalEngine>, Error>,
    /// The Backend.AI profile the window works with instead of the local engine, once the user
    /// switched to it (and it logged in); `None` is the local engine.
    cluster: Mutex<Option<Arc<BackendAiEngine>>>,
    profiles: Option<Profiles>,
    transfers: Result<Queue, Error>,
    /// Each cluster profile's own queue and journal, opened when the window first switches to
    /// the profile and kept running when it switches away: a transfer never stops because the
    /// user looked at another engine.
    cluster_transfers: Mutex<HashMap<String, Queue>>,
    /// Where the journals live; `None` when the data directory is unusable.
    data_dir: Option<PathBuf>,
    /// Where the settings are saved; `None` when there is no config directory to save in.
    settings_path: Option<PathBuf>,
    settings: Mutex<Settings>,
    /// Launch templates in the config directory; `None` when there is none.
    templates: Option<Templates>,
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
        let profiles = dirs.as_ref().ok().map(|d| Profiles::open(&d.config));
        let templates = dirs.as_ref().ok().map(|d| Templates::open(&d.config));
        let data_dir = dirs.as_ref().ok().map(|d| d.data.clone());
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
            cluster: Mutex::new(None),
            profiles,
            transfers,
            cluster_transfers: Mutex::new(HashMap::new()),
            data_dir,
            settings_path,
            settings: Mutex::new(settings),
            templates,
        }
    }

    pub fn settings(&self) -> Settings {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes how many transfers run at once: saved first, then applied to the queue, so
    /// what the panel shows is what the next start uses.
    pub fn set_transfer_concurrency(&self, limit: u32) -> Result<Settings, Error> {
        let changed = self.change_settings(|s| s.with_concurrency(limit))?;
        for queue in self.all_queues() {
            queue.set_limit(limit as usize);
        }
        Ok(changed)
    }

    /// Changes how many lines terminal tabs keep for scrolling back; saved for the next start.
    pub fn set_terminal_scrollback(&self, lines: u32) -> Result<Settings, Error> {
        self.change_settings(|s| s.with_scrollback(lines))
    }

    /// Applies `change` to the settings and saves them; nothing changes when either fails.
    fn change_settings(
        &self,
        change: impl FnOnce(Settings) -> Result<Settings, Error>,
    ) -> Result<Settings, Error> {
        let mut settings = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        let changed = change(*settings)?;
        let path = self.settings_path.as_deref().ok_or_else(|| {
            Error::engine_unavailable("There is no config directory to save settings in.")
        })?;
        changed.save(path)?;
        *settings = changed;
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

    /// The engine the window works with: the connected profile's cluster, else this computer.
    pub fn get(&self) -> Result<Arc<dyn Engine>, Error> {
        if let Some(cluster) = self.cluster() {
            return Ok(cluster);
        }
        self.local.clone().map(|engine| engine as Arc<dyn Engine>)
    }

    /// Planning uploads and downloads on the engine the window works with.
    pub fn planner(&self) -> Result<Arc<dyn PlanTransfers>, Error> {
        if let Some(cluster) = self.cluster() {
            return Ok(cluster);
        }
        self.local
            .clone()
            .map(|engine| engine as Arc<dyn PlanTransfers>)
    }

    pub fn cluster(&self) -> Option<Arc<BackendAiEngine>> {
        self.cluster
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Switches the window to `engine` (a logged-in profile) or back to the local engine.
    pub fn set_cluster(&self, engine: Option<Arc<BackendAiEngine>>) {
        *self.cluster.lock().unwrap_or_else(|p| p.into_inner()) = engine;
    }

    pub fn templates(&self) -> Result<&Templates, Error> {
        self.templates.as_ref().ok_or_else(|| {
            Error::engine_unavailable("There is no config directory to keep templates in.")
        })
    }

    pub fn profiles(&self) -> Result<&Profiles, Error> {
        self.profiles.as_ref().ok_or_else(|| {
            Error::engine_unavailable("There is no config directory to keep profiles in.")
        })
    }

    /// This computer's engine whatever the window shows (copying dotfiles between the two).
    pub fn this_computer(&self) -> Result<Arc<LocalEngine>, Error> {
        self.local.clone()
    }

    /// The local engine, for what only it does (its environments, sandboxed terminals). While a cluster profile is in use this refuses, naming `what`,
    /// rather than quietly acting on this computer instead.
    pub fn local(&self, what: &str) -> Result<Arc<LocalEngine>, Error> {
        if let Some(cluster) = self.cluster() {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!(
                    "{what} on a Backend.AI cluster are not available in this version of Berth yet; switch to the local engine in the status bar ({}).",
                    cluster.info().label
                ),
            ));
        }
        self.local.clone()
    }

    /// The transfer queue of the engine the window works with.
    pub fn transfers(&self) -> Result<Queue, Error> {
        if let Some(cluster) = self.cluster() {
            return self
                .cluster_transfers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(cluster.profile())
                .cloned()
                .ok_or_else(|| Error::internal("The cluster's transfer queue is not open."));
        }
        self.transfers.clone()
    }

    /// Every open queue, this computer's and each cluster profile's.
    pub fn all_queues(&self) -> Vec<Queue> {
        let clusters = self
            .cluster_transfers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        self.transfers
            .iter()
            .cloned()
            .chain(clusters.values().cloned())
            .collect()
    }

    /// Opens `engine`'s profile's queue (its own journal, `transfers-<profile>.sqlite3`) unless
    /// it is open already; `Some` when it was opened now and must be started.
    pub fn open_cluster_transfers(
        &self,
        engine: &Arc<BackendAiEngine>,
    ) -> Result<Option<Queue>, Error> {
        let mut queues = self
            .cluster_transfers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if queues.contains_key(engine.profile()) {
            return Ok(None);
        }
        let data = self.data_dir.as_ref().ok_or_else(|| {
            Error::engine_unavailable("There is no data directory to keep the transfer journal in.")
        })?;
        let journal = Journal::open(&data.join(format!("transfers-{}.sqlite3", engine.profile())))?;
        // Sites behind NAT rewrite the storage proxy's address, as Backend.AI's own client does.
        let overrides = berth_backendai::transfer::StorageProxyOverrides::from_env()?;
        let transport = StorageProxyTransport::new(engine.clone()).with_overrides(overrides);
        let queue = Queue::open(
            journal,
            Arc::new(transport),
            self.settings().transfer_concurrency as usize,
        )?;
        queues.insert(engine.profile().to_string(), queue.clone());
        Ok(Some(queue))
    }
}
