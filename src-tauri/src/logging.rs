//! Logs go to a daily-rotated file in the OS log directory (or `BERTH_LOG_DIR`), a week kept.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::EnvFilter;

const KEEP_DAYS: usize = 7;

/// Installs the global subscriber. Returns the guard that flushes the file on drop, or `None`
/// when the log directory is unusable, in which case the app runs without a log file rather
/// than not at all.
pub fn init(dir: &Path) -> Option<WorkerGuard> {
    // The appender prunes old files by listing the directory, so it must exist first.
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("Berth: no log file in {}: {e}", dir.display());
        return None;
    }
    let appender = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("berth")
        .filename_suffix("log")
        .max_log_files(KEEP_DAYS)
        .build(dir)
        .map_err(|e| eprintln!("Berth: no log file in {}: {e}", dir.display()))
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .init();
    Some(guard)
}
