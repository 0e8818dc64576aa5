//! The supervisor keeps its session's idle timeout and lifetime itself, so a limit set from the
//! CLI holds with no app running. Every [`CHECK_EVERY`] it reads the limits file (the engine
//! rewrites it when the session is extended), the input mark's time, and the CPU time of the
//! sandbox's processes; at a limit it asks `end` to end the session with the reason. The app's
//! sampler applies the same rule (`berth_core::limits::first_end`) for its warnings, and
//! whichever comes first ends the session with the same words.

use berth_core::clock::now_ms;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use berth_core::limits::first_end;

use super::protocol::{INPUT_MARK_NAME, LIMITS_NAME, LimitsFile};
use crate::sessions::process_usage;

const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Watches the limits of the sandbox whose first process is `sandbox_pid` until they end it
/// (then `end` is called once, with the reason) or the sandbox is gone.
pub(super) fn keep(runtime_dir: PathBuf, sandbox_pid: u32, end: impl FnOnce(String)) {
    let started = now_ms();
    let mut last_busy = started;
    let mut previous = process_usage::read_tree(sandbox_pid).ok();
    loop {
        std::thread::sleep(CHECK_EVERY);
        let Ok(reading) = process_usage::read_tree(sandbox_pid) else {
            return; // The sandbox has ended.
        };
        let Some(file) = read_limits(&runtime_dir) else {
            previous = Some(reading);
            continue;
        };
        let threshold = f64::from(file.limits.idle_cpu_percent());
        // Unknown use counts as busy, as in the app's sampler.
        let busy = previous.is_none_or(|before| reading.since(&before).cpu_percent >= threshold);
        previous = Some(reading);
        let now = now_ms();
        if busy {
            last_busy = now;
        }
        let last_input = modified_ms(&runtime_dir.join(INPUT_MARK_NAME)).unwrap_or(0);
        let ends = first_end(
            &file.limits,
            file.lifetime_ends_at_ms,
            last_busy.max(last_input),
        );
        if let Some(due) = ends
            && due.at_ms <= now
        {
            end(due.reason());
            return;
        }
    }
}

fn read_limits(dir: &Path) -> Option<LimitsFile> {
    serde_json::from_slice(&std::fs::read(dir.join(LIMITS_NAME)).ok()?).ok()
}

fn modified_ms(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}
