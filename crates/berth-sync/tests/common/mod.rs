//! What every test here starts from: a real local engine on a fresh directory, with one folder.

// Not every test file uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// A real transfer queue on `engine`, its journal under `root`, started.
pub fn queue(root: &Path, engine: &Arc<LocalEngine>) -> berth_transfer::Queue {
    let queue = berth_transfer::Queue::open(
        berth_transfer::Journal::open(&root.join("transfers.sqlite3")).unwrap(),
        Arc::new(berth_local::transport::LocalTransport::new(engine.clone())),
        3,
    )
    .unwrap();
    queue.start();
    queue
}

/// Waits (up to 15 s) until `check` holds; how long it took.
pub async fn until(what: &str, check: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// Whether the file at `path` holds exactly `text`.
pub fn holds(path: &Path, text: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t == text)
}
