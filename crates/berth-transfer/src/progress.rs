//! Speed and ETA from a stream of "bytes done at time t" samples. Speed is an exponentially
//! weighted average so one slow chunk does not make the ETA jump, while a real slowdown shows
//! within a few seconds.

use std::time::Duration;

use serde::Serialize;

/// How much of the previous speed survives one second: 0.7 means a change of speed is mostly
/// reflected after ~3 s, the horizon a person watching a progress bar expects.
const CARRY_PER_SECOND: f64 = 0.7;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, specta::Type)]
pub struct Progress {
    pub done_bytes: u64,
    pub total_bytes: u64,
    /// Bytes per second, smoothed; 0 until a second sample arrives.
    pub bytes_per_second: f64,
    /// Seconds left at the current speed; `None` while the speed is unknown.
    pub eta_seconds: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Meter {
    total_bytes: u64,
    last: Option<(Duration, u64)>,
    speed: Option<f64>,
}

impl Meter {
    pub fn new(total_bytes: u64) -> Self {
        Self {
            total_bytes,
            last: None,
            speed: None,
        }
    }

    /// Records that `done_bytes` were done at `elapsed` since the transfer began and returns the
    /// figures to show. Samples at the same instant, or going backwards (a retry restarted a
    /// chunk), keep the previous speed.
    pub fn record(&mut self, elapsed: Duration, done_bytes: u64) -> Progress {
        if let Some((then, before)) = self.last {
            let seconds = elapsed.saturating_sub(then).as_secs_f64();
            if seconds > 0.0 && done_bytes >= before {
                let instant = (done_bytes - before) as f64 / seconds;
                let carry = CARRY_PER_SECOND.powf(seconds);
                self.speed = Some(match self.speed {
                    Some(previous) => previous * carry + instant * (1.0 - carry),
                    None => instant,
                });
            }
        }
        self.last = Some((elapsed, done_bytes));
        let left = self.total_bytes.saturating_sub(done_bytes) as f64;
        let speed = self.speed.unwrap_or(0.0);
        Progress {
            done_bytes,
            total_bytes: self.total_bytes,
            bytes_per_second: speed,
            eta_seconds: (speed > 0.0).then(|| left / speed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_steady_transfer_reports_its_speed_and_time_left() {
        let mut meter = Meter::new(100 * MIB);
        assert_eq!(meter.record(Duration::ZERO, 0).eta_seconds, None);
        let mut last = None;
        for second in 1..=10 {
            last = Some(meter.record(Duration::from_secs(second), second * 5 * MIB));
        }
        let progress = last.unwrap();
        assert!((progress.bytes_per_second - (5 * MIB) as f64).abs() < 1.0);
        assert!((progress.eta_seconds.unwrap() - 10.0).abs() < 1e-6);
    }

    #[test]
    fn one_stalled_second_does_not_make_the_eta_jump_to_infinity() {
        let mut meter = Meter::new(100 * MIB);
        meter.record(Duration::ZERO, 0);
        for second in 1..=5 {
            meter.record(Duration::from_secs(second), second * 10 * MIB);
        }
        let stalled = meter.record(Duration::from_secs(6), 50 * MIB);
        assert!(stalled.bytes_per_second > 5.0 * MIB as f64, "{stalled:?}");
        assert!(stalled.eta_seconds.unwrap() < 15.0);
    }

    #[test]
    fn a_restarted_chunk_keeps_the_previous_speed() {
        let mut meter = Meter::new(10 * MIB);
        meter.record(Duration::ZERO, 0);
        let before = meter.record(Duration::from_secs(1), 4 * MIB);
        let after = meter.record(Duration::from_secs(2), 2 * MIB);
        assert_eq!(after.bytes_per_second, before.bytes_per_second);
        assert_eq!(after.done_bytes, 2 * MIB);
    }
}
