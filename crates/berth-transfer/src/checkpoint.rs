//! A job's resumable state that cannot be read back from the destination: a tus upload's token,
//! URL and offset on a storage proxy, a download's validator. The transport owns its meaning
//! (opaque text, JSON in practice); the queue only keeps it in the journal next to the job, so
//! it survives the app being killed, and forgets it when the job is done or cancelled.
//!
//! A local copy needs none of this: its partial file *is* its state.

use std::sync::{Arc, Mutex, PoisonError};

use berth_core::Result;

/// Writes a job's state to wherever it outlives the process (`None` forgets it).
pub type SaveFn = Arc<dyn Fn(Option<&str>) -> Result<()> + Send + Sync>;

/// One job's resumable state, as handed to [`crate::Transport::run_with_checkpoint`]. Cheap to
/// clone; clones share the state.
#[derive(Clone)]
pub struct Checkpoint {
    current: Arc<Mutex<Option<String>>>,
    save: Option<SaveFn>,
}

impl Checkpoint {
    /// A checkpoint whose saves go to `save` (the queue's journal), starting from `saved`.
    pub fn persisted(saved: Option<String>, save: SaveFn) -> Self {
        Self {
            current: Arc::new(Mutex::new(saved)),
            save: Some(save),
        }
    }

    /// A checkpoint that lives only as long as the job runs: for running a transport without a
    /// queue (benchmarks, one-off calls).
    pub fn in_memory(saved: Option<String>) -> Self {
        Self {
            current: Arc::new(Mutex::new(saved)),
            save: None,
        }
    }

    /// What the last save stored (or what the journal held when the job started).
    pub fn load(&self) -> Option<String> {
        self.lock().clone()
    }

    /// Stores `state` durably before returning, so a crash right after it still finds it.
    /// Errors: the journal could not be written (the transfer can go on; only a resume after a
    /// crash would start over).
    pub fn save(&self, state: &str) -> Result<()> {
        *self.lock() = Some(state.to_string());
        match &self.save {
            Some(save) => save(Some(state)),
            None => Ok(()),
        }
    }

    /// Forgets the state (it no longer applies, e.g. the server dropped the upload session).
    pub fn clear(&self) -> Result<()> {
        *self.lock() = None;
        match &self.save {
            Some(save) => save(None),
            None => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Checkpoint {
    // The state may hold an upload token: it stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("saved", &self.lock().is_some())
            .field("persisted", &self.save.is_some())
            .finish()
    }
}
