//! One reading of what a session has used so far — CPU time, resident memory, storage I/O —
//! from either runtime. CPU use is the difference of two readings: the CLI's `session stats`
//! takes two half a second apart, the app's sampler one per round against the round before,
//! which costs half the reads and measures over seconds (a 100 Hz tick clock over half a
//! second is only good to ±2%).

use std::time::{Duration, Instant};

use berth_core::SessionStats;

/// How long a one-off CPU measurement lasts: long enough to be steady, short enough for a click.
pub const INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// CPU time of every process so far, in seconds.
    pub cpu_seconds: f64,
    pub memory_bytes: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub at: Instant,
}

impl Reading {
    /// What was used between `before` and this reading.
    pub fn since(&self, before: &Reading) -> SessionStats {
        let seconds = self.at.duration_since(before.at).as_secs_f64();
        let cpu_percent = if seconds > 0.0 {
            (self.cpu_seconds - before.cpu_seconds).max(0.0) / seconds * 100.0
        } else {
            0.0
        };
        SessionStats {
            cpu_percent,
            memory_bytes: self.memory_bytes,
            read_bytes: self.read_bytes,
            write_bytes: self.write_bytes,
            sampled_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or_default(),
            gpu_percent: None,
            gpu_memory_bytes: None,
        }
    }
}
