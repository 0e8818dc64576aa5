//! App-wide state: the engine the window is talking to.

use std::sync::Arc;

use berth_core::{Engine, Error};
use berth_local::{DataDirs, LocalEngine};

/// The engine the UI's commands go to. When the local engine cannot open (an unwritable data
/// directory, say) the window still opens and every command answers with that error, so the
/// user reads what is wrong and how to fix it instead of seeing nothing.
pub struct ActiveEngine(Result<Arc<dyn Engine>, Error>);

impl ActiveEngine {
    pub fn open_local(dirs: berth_core::Result<DataDirs>) -> Self {
        let opened = dirs
            .and_then(LocalEngine::open)
            .map(|engine| Arc::new(engine) as Arc<dyn Engine>);
        if let Err(error) = &opened {
            tracing::error!(%error, "the local engine is unavailable");
        }
        Self(opened)
    }

    pub fn get(&self) -> Result<Arc<dyn Engine>, Error> {
        self.0.clone()
    }
}
