//! [`LocalEngine`]: the [`Engine`] API over the catalog and this computer's sandboxes.

use async_trait::async_trait;
use berth_core::{Engine, EngineInfo, EngineKind, Folder, Result, Session};

use crate::{Catalog, DataDirs};

pub struct LocalEngine {
    dirs: DataDirs,
    catalog: Catalog,
}

impl LocalEngine {
    /// Opens the engine on `dirs`, creating the data directory and catalog on first use.
    pub fn open(dirs: DataDirs) -> Result<Self> {
        let catalog = Catalog::open(&dirs.data)?;
        tracing::info!(data_dir = %dirs.data.display(), "local engine opened");
        Ok(Self { dirs, catalog })
    }

    pub fn dirs(&self) -> &DataDirs {
        &self.dirs
    }
}

#[async_trait]
impl Engine for LocalEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: EngineKind::Local,
            label: "Local engine".into(),
            location: self.dirs.data.display().to_string(),
        }
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        self.catalog.folders()
    }

    async fn list_sessions(&self) -> Result<Vec<Session>> {
        self.catalog.sessions()
    }
}
