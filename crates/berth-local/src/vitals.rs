//! Running sessions' vitals: what each uses, sampled every few seconds into a ring of the
//! last hour, and the idle and lifetime limits kept from those samples.
//!
//! Idle means nobody typed into the session (a terminal's keys, an exec: the input mark's
//! modified time, which the app and the CLI both touch) and its CPU stayed under the idle
//! threshold. The idle clock starts when a sampler first sees the session: one that starts
//! after an hour away has no history to judge by, and ending a session on a guess is worse
//! than ending it late. A session whose use cannot be read counts as busy, for the same reason.

use berth_core::clock::now_ms;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_core::limits::{SessionVitals, first_end};
use berth_core::{Result, Session, SessionStats, SessionStatus};

use crate::LocalEngine;
use crate::sessions::usage::{self, Reading};

/// How often the app samples.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Samples kept per session: an hour at [`SAMPLE_EVERY`].
pub const HISTORY: usize = 720;
/// How often typing re-marks the input file: enough for minutes-long limits, and no write per
/// key.
const MARK_EVERY_MS: i64 = 2000;

/// One sampling round: the sessions still running, and those a limit has just ended.
#[derive(Debug, Default)]
pub struct Tick {
    pub vitals: Vec<SessionVitals>,
    pub ended: Vec<Session>,
}

/// The samples and idle clocks of the running sessions, between rounds.
#[derive(Default)]
pub struct Vitals {
    tracks: Mutex<HashMap<String, Track>>,
}

struct Track {
    history: VecDeque<SessionStats>,
    /// The latest sample at or over the idle threshold, or when the session was first seen.
    last_busy_ms: i64,
    /// The last round's reading, which the next one's CPU use is measured against.
    previous: Option<Reading>,
}

impl Vitals {
    /// Samples every running session of `engine`, and ends those a limit has reached (with
    /// the reason recorded, folders intact).
    pub async fn tick(&self, engine: &LocalEngine) -> Result<Tick> {
        let running: Vec<Session> = engine
            .list_reconciled()?
            .into_iter()
            .filter(|s| s.status == SessionStatus::Running)
            .collect();
        // One reading per session, compared with its previous round's; a session seen for
        // the first time is read twice, half a second apart.
        let new: Vec<Session> = {
            let tracks = self.tracks.lock().unwrap_or_else(|p| p.into_inner());
            running
                .iter()
                .filter(|s| tracks.get(&s.id).is_none_or(|t| t.previous.is_none()))
                .cloned()
                .collect()
        };
        let mut firsts: HashMap<String, Reading> = HashMap::new();
        if !new.is_empty() {
            for (session, reading) in new.iter().zip(engine.usage_readings(&new).await) {
                if let Ok(reading) = reading {
                    firsts.insert(session.id.clone(), reading);
                }
            }
            tokio::time::sleep(usage::INTERVAL).await;
        }
        let readings = engine.usage_readings(&running).await;
        let now = now_ms();
        let mut tick = Tick::default();
        let mut due = Vec::new();
        {
            let mut tracks = self.tracks.lock().unwrap_or_else(|p| p.into_inner());
            tracks.retain(|id, _| running.iter().any(|s| &s.id == id));
            for (session, reading) in running.iter().zip(readings) {
                let track = tracks.entry(session.id.clone()).or_insert_with(|| Track {
                    history: VecDeque::with_capacity(HISTORY),
                    last_busy_ms: now,
                    previous: None,
                });
                let stats = match reading {
                    Ok(reading) => {
                        let stats = firsts
                            .get(&session.id)
                            .copied()
                            .or(track.previous)
                            .map(|before| reading.since(&before));
                        track.previous = Some(reading);
                        stats
                    }
                    Err(_) => None,
                };
                let threshold = f64::from(session.limits.idle_cpu_percent());
                match stats {
                    Some(stats) => {
                        if track.history.len() == HISTORY {
                            track.history.pop_front();
                        }
                        track.history.push_back(stats);
                        if stats.cpu_percent >= threshold {
                            track.last_busy_ms = stats.sampled_at_ms;
                        }
                    }
                    None => track.last_busy_ms = now,
                }
                let last_input = read_mark(&engine.input_mark(&session.id)).unwrap_or(0);
                let last_active = track.last_busy_ms.max(last_input);
                let ends = first_end(&session.limits, session.lifetime_ends_at_ms, last_active);
                match ends {
                    Some(end) if end.at_ms <= now => {
                        tracks.remove(&session.id);
                        due.push((session.id.clone(), end.reason()));
                    }
                    _ => tick.vitals.push(SessionVitals {
                        session_id: session.id.clone(),
                        stats,
                        ends,
                    }),
                }
            }
        }
        for (id, reason) in due {
            match engine.end_for_limit(&id, reason).await {
                Ok(ended) => {
                    tracing::info!(id, detail = ?ended.status_detail, "a limit ended a session");
                    tick.ended.push(ended);
                }
                Err(error) => tracing::warn!(id, %error, "cannot end a session at its limit"),
            }
        }
        Ok(tick)
    }

    /// Session `id`'s samples over the last hour, oldest first.
    pub fn history(&self, id: &str) -> Vec<SessionStats> {
        self.tracks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .map(|t| t.history.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Marks input now at `mark` (see [`LocalEngine::input_mark`]); a session whose runtime
/// directory is gone has nothing left to mark.
pub fn mark_input(mark: &Path) {
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(mark)
    };
    // A Docker session has no supervisor to have made its runtime directory.
    let file = open().or_else(|e| match mark.parent() {
        Some(dir) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).and_then(|()| open())
        }
        _ => Err(e),
    });
    let touched = file.and_then(|file| file.set_modified(SystemTime::now()));
    if let Err(error) = touched {
        tracing::debug!(mark = %mark.display(), %error, "cannot mark input");
    }
}

fn read_mark(mark: &Path) -> Option<i64> {
    let modified = std::fs::metadata(mark).ok()?.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// A terminal's input mark, touched at most every [`MARK_EVERY_MS`].
pub struct InputMark {
    path: PathBuf,
    last_ms: AtomicI64,
}

impl InputMark {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            last_ms: AtomicI64::new(0),
        }
    }

    pub fn touch(&self) {
        let now = now_ms();
        if now - self.last_ms.load(Ordering::Relaxed) >= MARK_EVERY_MS {
            self.last_ms.store(now, Ordering::Relaxed);
            mark_input(&self.path);
        }
    }
}
