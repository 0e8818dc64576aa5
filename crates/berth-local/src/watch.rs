//! Telling an open explorer that its directory changed underneath it (a session wrote a file,
//! another program deleted one), so it re-lists without the user pressing Refresh.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_core::{Error, FileKind, FolderPath, Result};
use notify::{RecursiveMode, Watcher};

use crate::LocalEngine;

/// Changes closer together than this are reported once: unpacking an archive is one refresh,
/// not ten thousand.
const SETTLE: Duration = Duration::from_millis(250);

/// Watches one directory while it lives; dropping it stops the watch.
pub struct DirectoryWatch {
    _watcher: notify::RecommendedWatcher,
    stopped: Arc<AtomicBool>,
}

impl Drop for DirectoryWatch {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

impl LocalEngine {
    /// Calls `changed` (at most every 250 ms) when entries of directory `path` in `folder` are
    /// created, removed, renamed or written. The directory is checked through the confined
    /// file API first, so a path through a link out of the folder is refused, not watched.
    pub fn watch_directory(
        &self,
        folder: &str,
        path: &FolderPath,
        changed: impl Fn() + Send + Sync + 'static,
    ) -> Result<DirectoryWatch> {
        let (record, files) = self.files(folder)?;
        if !path.is_root() && files.kind_following_links(path)? != Some(FileKind::Directory) {
            return Err(Error::invalid_input(format!(
                "\"{path}\" in folder \"{folder}\" is not a directory."
            )));
        }
        let host_dir = self.folder_path(&record).join(path.as_str());
        let stopped = Arc::new(AtomicBool::new(false));
        let pending = Arc::new(AtomicBool::new(false));
        let changed = Arc::new(changed);
        let (stop_flag, pending_flag) = (stopped.clone(), pending.clone());
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_err()
                    || stop_flag.load(Ordering::Relaxed)
                    || pending_flag.swap(true, Ordering::AcqRel)
                {
                    return;
                }
                // First change of a burst: report it once the burst has settled.
                let (stop_flag, pending_flag, changed) =
                    (stop_flag.clone(), pending_flag.clone(), changed.clone());
                std::thread::spawn(move || {
                    std::thread::sleep(SETTLE);
                    pending_flag.store(false, Ordering::Release);
                    if !stop_flag.load(Ordering::Relaxed) {
                        changed();
                    }
                });
            })
            .map_err(|e| Error::internal(format!("Cannot watch \"{path}\" for changes: {e}")))?;
        watcher
            .watch(&host_dir, RecursiveMode::NonRecursive)
            .map_err(|e| Error::internal(format!("Cannot watch \"{path}\" for changes: {e}")))?;
        Ok(DirectoryWatch {
            _watcher: watcher,
            stopped,
        })
    }
}
