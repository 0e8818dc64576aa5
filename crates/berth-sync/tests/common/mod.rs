//! What every test here starts from: a real local engine on a fresh directory, with one folder.

use std::path::PathBuf;
use std::sync::Arc;

use berth_core::{Engine, NewFolder};
use berth_local::{DataDirs, LocalEngine};

pub struct FolderOnLocalEngine {
    pub root: tempfile::TempDir,
    pub engine: Arc<LocalEngine>,
    /// Folder `proj`'s directory.
    pub folder: PathBuf,
}

pub async fn engine_with_folder() -> FolderOnLocalEngine {
    let root = tempfile::tempdir().unwrap();
    let dirs = DataDirs {
        config: root.path().join("config"),
        data: root.path().join("data"),
        logs: root.path().join("logs"),
        runtime: root.path().join("run"),
    };
    let engine = Arc::new(LocalEngine::open(dirs).unwrap());
    let folder = engine
        .create_folder(NewFolder::named("proj"))
        .await
        .unwrap();
    let folder = engine.folder_path(&folder);
    FolderOnLocalEngine {
        root,
        engine,
        folder,
    }
}
