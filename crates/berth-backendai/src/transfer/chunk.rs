//! How many bytes one tus PATCH carries. Large chunks keep a fast link busy (each PATCH costs
//! a round trip and an fsync on the storage proxy); small ones lose less when a connection is
//! cut (a 26.x proxy drops a PATCH it did not receive whole) and let a slow link report
//! progress. So the size follows the measured speed, aiming at a few seconds per chunk, and
//! a site's body-size limit (HTTP 413 from a reverse proxy) caps it for every later upload.

use std::time::Duration;

const MIB: u64 = 1 << 20;
/// What the first chunk of an upload carries.
pub const INITIAL: u64 = 64 * MIB;
/// Largest chunk: beyond this a cut costs more than the fewer round trips save.
pub const MAX: u64 = 256 * MIB;
/// Smallest chunk the speed-following shrinks to.
pub const MIN: u64 = 4 * MIB;
/// The ceiling after a first 413: Backend.AI's web UI's smallest chunk, and what the sample
/// nginx config in front of Backend.AI (`client_max_body_size 15M`) lets through.
pub const AFTER_TOO_LARGE: u64 = 15 * MIB;
/// Below this a site that still answers 413 is refusing uploads, not chunk sizes.
const SMALLEST_TOO_LARGE: u64 = MIB;
/// The time one chunk should take at the measured speed.
const TARGET: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSizer {
    size: u64,
    ceiling: u64,
}

impl ChunkSizer {
    /// Starts at `INITIAL`, or lower when `ceiling` (a site limit learnt earlier) says so.
    pub fn new(ceiling: u64) -> Self {
        Self {
            size: INITIAL.min(ceiling),
            ceiling,
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn ceiling(&self) -> u64 {
        self.ceiling
    }

    /// A full chunk of `bytes` went through in `took`: move towards the size that takes
    /// `TARGET`, at most doubling or halving at once so one odd chunk does not swing it.
    pub fn record(&mut self, bytes: u64, took: Duration) {
        if bytes < self.size {
            // The file's short last chunk says little about the link.
            return;
        }
        let seconds = took.as_secs_f64().max(0.001);
        let wanted = (bytes as f64 / seconds * TARGET.as_secs_f64()) as u64;
        let next = wanted.clamp(self.size / 2, self.size.saturating_mul(2));
        self.size = round_to_mib(next).clamp(MIN.min(self.ceiling), self.ceiling.min(MAX));
    }

    /// The connection broke mid-chunk: the next one is smaller, so a flaky link loses less.
    pub fn record_cut(&mut self) {
        self.size = (self.size / 2).max(MIN.min(self.ceiling));
    }

    /// The server (or a proxy before it) answered 413 to a chunk of the current size: caps it
    /// at 15 MiB, or at half the size if it was already that small. `false` when even 1 MiB
    /// is refused: uploads are not going to work there.
    pub fn record_too_large(&mut self) -> bool {
        let ceiling = if self.size > AFTER_TOO_LARGE {
            AFTER_TOO_LARGE
        } else {
            self.size / 2
        };
        if ceiling < SMALLEST_TOO_LARGE {
            return false;
        }
        self.ceiling = ceiling;
        self.size = self.size.min(ceiling);
        true
    }
}

fn round_to_mib(bytes: u64) -> u64 {
    (bytes / MIB).max(1) * MIB
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_link_grows_chunks_and_a_slow_one_shrinks_them_within_bounds() {
        let mut sizer = ChunkSizer::new(u64::MAX);
        assert_eq!(sizer.size(), INITIAL);
        // 64 MiB in 0.1 s: doubles, then doubles again, and stops at MAX.
        for _ in 0..5 {
            sizer.record(sizer.size(), Duration::from_millis(100));
        }
        assert_eq!(sizer.size(), MAX);
        // 1 MiB/s: halves step by step down to MIN.
        for _ in 0..10 {
            let size = sizer.size();
            sizer.record(size, Duration::from_secs(size / MIB));
        }
        assert_eq!(sizer.size(), MIN);
        // A short last chunk changes nothing.
        sizer.record(MIB, Duration::from_secs(100));
        assert_eq!(sizer.size(), MIN);
    }

    #[test]
    fn too_large_falls_back_to_15_mib_then_halves_then_gives_up() {
        let mut sizer = ChunkSizer::new(u64::MAX);
        assert!(sizer.record_too_large());
        assert_eq!(
            (sizer.size(), sizer.ceiling()),
            (AFTER_TOO_LARGE, AFTER_TOO_LARGE)
        );
        // Speed cannot lift it above the site's limit again.
        sizer.record(sizer.size(), Duration::from_millis(10));
        assert_eq!(sizer.size(), AFTER_TOO_LARGE);
        assert!(sizer.record_too_large());
        assert_eq!(sizer.size(), AFTER_TOO_LARGE / 2);
        while sizer.record_too_large() {}
        assert!(sizer.size() >= MIB);
        // A new upload starts under the learnt ceiling.
        assert_eq!(ChunkSizer::new(sizer.ceiling()).size(), sizer.ceiling());
    }

    #[test]
    fn a_cut_halves_the_next_chunk() {
        let mut sizer = ChunkSizer::new(u64::MAX);
        sizer.record_cut();
        assert_eq!(sizer.size(), INITIAL / 2);
    }
}
