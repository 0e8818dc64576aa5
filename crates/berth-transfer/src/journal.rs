//! The queue's memory on disk: one row per file transfer, written when a job is queued, changes
//! state, or makes progress (throttled). After a crash the rows still marked running are the
//! ones to resume.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_core::{Error, Result};
use rusqlite::{Connection, Row, config::DbConfig, params};

use crate::queue::{ConflictPolicy, Direction, Job, JobState, TransferSpec};

pub type JobId = i64;

const SCHEMA: &str = r#"
    CREATE TABLE IF NOT EXISTS transfers (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        batch         TEXT NOT NULL,
        direction     TEXT NOT NULL CHECK (direction IN ('upload', 'download')),
        folder        TEXT NOT NULL,
        remote_path   TEXT NOT NULL,
        local_path    TEXT NOT NULL,
        size          INTEGER NOT NULL,
        conflict      TEXT NOT NULL,
        state         TEXT NOT NULL,
        done_bytes    INTEGER NOT NULL DEFAULT 0,
        error         TEXT,
        final_path    TEXT,
        created_at_ms INTEGER NOT NULL
    );
"#;

/// Columns added after the first release, each with its definition: added on open to journals
/// that lack them (`ALTER TABLE ... ADD COLUMN` has no `IF NOT EXISTS`).
const ADDED_COLUMNS: &[(&str, &str)] = &[
    // A transport's resumable state for the job (see `checkpoint`), e.g. a tus upload's token.
    ("resume", "TEXT"),
];

/// Finished jobs kept for the panel and for reveal-after-download: the newest this many...
const KEEP_FINISHED: i64 = 1_000;
/// ...and none older than this. A journal that only grows would slow every start-up.
const KEEP_FINISHED_FOR_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// The states of a finished job in SQL (`JobState::is_finished`).
const FINISHED: &str = "('done', 'skipped', 'cancelled', 'failed')";

pub struct Journal {
    conn: Mutex<Connection>,
    /// Held for the journal's lifetime: two processes running one queue would write the same
    /// partial files.
    _owner: std::fs::File,
}

impl Journal {
    /// Opens (creating) the journal at `path`, exclusively: while one process (the app or a
    /// `berth` command) has it open, another gets `engine_unavailable` instead of a second queue
    /// resuming the same jobs. Prunes old finished jobs (see [`Journal::prune`]).
    pub fn open(path: &Path) -> Result<Self> {
        let owner = lock_owner(path)?;
        let unavailable = |e: rusqlite::Error| {
            Error::engine_unavailable(format!(
                "Cannot open the transfer journal {}: {e}",
                path.display()
            ))
        };
        let conn = Connection::open(path).map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        // WAL with NORMAL sync survives the app being killed (what the journal is for) without
        // an fsync per state change, which would make 10,000 small files crawl.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(unavailable)?;
        // Nor a checkpoint (and its fsyncs) each time a command ends: the log stays for the
        // next opening, and SQLite checkpoints when it grows. A few milliseconds of every
        // `berth upload`, a tenth of a 256 MiB copy from the page cache.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        add_missing_columns(&conn).map_err(unavailable)?;
        let journal = Self {
            conn: Mutex::new(conn),
            _owner: owner,
        };
        // A journal that cannot be pruned still works; it is only bigger than it should be.
        if let Err(error) = journal.prune(berth_core::clock::now_ms()) {
            tracing::warn!(%error, "cannot prune the transfer journal");
        }
        Ok(journal)
    }

    /// Deletes finished jobs (done, skipped, cancelled, failed) queued before `now_ms` minus
    /// 30 days or beyond the newest 1,000 finished ones. Unfinished jobs (queued, running,
    /// paused) are always kept: they are what a restart resumes. Returns how many went.
    pub fn prune(&self, now_ms: i64) -> Result<usize> {
        self.lock()
            .execute(
                &format!(
                    "DELETE FROM transfers
                     WHERE state IN {FINISHED}
                       AND (created_at_ms < ?1
                            OR id NOT IN (SELECT id FROM transfers
                                          WHERE state IN {FINISHED}
                                          ORDER BY id DESC LIMIT ?2))"
                ),
                params![now_ms - KEEP_FINISHED_FOR_MS, KEEP_FINISHED],
            )
            .map_err(failed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records new jobs in one transaction and returns their ids, in order.
    pub fn insert_all(&self, specs: &[TransferSpec], now_ms: i64) -> Result<Vec<JobId>> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(failed)?;
        let mut ids = Vec::with_capacity(specs.len());
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO transfers (batch, direction, folder, remote_path, local_path, size, conflict, state, created_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8)",
                )
                .map_err(failed)?;
            for spec in specs {
                insert
                    .execute(params![
                        spec.batch,
                        text(&spec.direction),
                        spec.folder,
                        spec.remote_path,
                        spec.local_path.to_string_lossy(),
                        spec.size as i64,
                        text(&spec.conflict),
                        now_ms
                    ])
                    .map_err(failed)?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit().map_err(failed)?;
        Ok(ids)
    }

    pub fn set_state(&self, id: JobId, state: JobState, error: Option<&str>) -> Result<()> {
        self.lock()
            .prepare_cached(
                // A cancelled job starts over if it is retried: its resumable state goes.
                "UPDATE transfers SET state = ?2, error = ?3,
                        resume = CASE WHEN ?2 = 'cancelled' THEN NULL ELSE resume END
                 WHERE id = ?1",
            )
            .and_then(|mut statement| statement.execute(params![id, text(&state), error]))
            .map_err(failed)?;
        Ok(())
    }

    pub fn set_progress(&self, id: JobId, done_bytes: u64) -> Result<()> {
        self.lock()
            .prepare_cached("UPDATE transfers SET done_bytes = ?2 WHERE id = ?1")
            .and_then(|mut statement| statement.execute(params![id, done_bytes as i64]))
            .map_err(failed)?;
        Ok(())
    }

    pub fn set_done(&self, id: JobId, final_path: &str, size: u64) -> Result<()> {
        self.lock()
            .prepare_cached(
                "UPDATE transfers SET state = 'done', error = NULL, done_bytes = ?2, size = ?2, final_path = ?3, resume = NULL WHERE id = ?1",
            )
            .and_then(|mut statement| statement.execute(params![id, size as i64, final_path]))
            .map_err(failed)?;
        Ok(())
    }

    /// The transport's resumable state for job `id` (see [`crate::Checkpoint`]), if any.
    pub fn resume_state(&self, id: JobId) -> Result<Option<String>> {
        self.lock()
            .prepare_cached("SELECT resume FROM transfers WHERE id = ?1")
            .and_then(|mut statement| statement.query_row(params![id], |row| row.get(0)))
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(failed)
    }

    /// Stores (or with `None` forgets) the transport's resumable state for job `id`.
    pub fn set_resume_state(&self, id: JobId, state: Option<&str>) -> Result<()> {
        self.lock()
            .prepare_cached("UPDATE transfers SET resume = ?2 WHERE id = ?1")
            .and_then(|mut statement| statement.execute(params![id, state]))
            .map_err(failed)?;
        Ok(())
    }

    /// Every job, oldest first.
    pub fn jobs(&self) -> Result<Vec<Job>> {
        self.select_jobs("")
    }

    /// The jobs not finished yet (queued, running, paused), oldest first.
    pub fn unfinished_jobs(&self) -> Result<Vec<Job>> {
        self.select_jobs(&format!("WHERE state NOT IN {FINISHED}"))
    }

    fn select_jobs(&self, filter: &str) -> Result<Vec<Job>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT id, batch, direction, folder, remote_path, local_path, size, conflict, state, done_bytes, error, final_path
                 FROM transfers {filter} ORDER BY id"
            ))
            .map_err(failed)?;
        let rows = stmt.query_map([], job_from_row).map_err(failed)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(failed)
    }

    /// Forgets finished jobs (done, skipped, cancelled); keeps failed and unfinished ones.
    pub fn clear_finished(&self) -> Result<usize> {
        self.lock()
            .execute(
                "DELETE FROM transfers WHERE state IN ('done', 'skipped', 'cancelled')",
                [],
            )
            .map_err(failed)
    }
}

fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    for (name, definition) in ADDED_COLUMNS {
        let present: bool = conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('transfers') WHERE name = ?1",
            params![name],
            |row| row.get(0),
        )?;
        if !present {
            conn.execute_batch(&format!(
                "ALTER TABLE transfers ADD COLUMN {name} {definition}"
            ))?;
        }
    }
    Ok(())
}

fn lock_owner(journal: &Path) -> Result<std::fs::File> {
    let path = journal.with_extension("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::engine_unavailable(format!("Cannot open {}: {e}", path.display())))?;
    // The OS's own exclusive lock (flock on Unix, LockFileEx on Windows), released when the
    // file closes, also if the process dies.
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Error::engine_unavailable(
                "Another Berth process (the app or a berth command) is running transfers for this \
                 data directory. Wait for it, or close it, and try again.",
            ));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(Error::engine_unavailable(format!(
                "Cannot lock {}: {e}",
                path.display()
            )));
        }
    }
    Ok(file)
}

fn failed(e: rusqlite::Error) -> Error {
    Error::internal(format!("Transfer journal query failed: {e}"))
}

fn text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn parse<T: serde::de::DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let value: String = row.get(index)?;
    serde_json::from_value(serde_json::Value::String(value)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Job> {
    let local: String = row.get(5)?;
    Ok(Job {
        id: row.get(0)?,
        spec: TransferSpec {
            batch: row.get(1)?,
            direction: parse::<Direction>(row, 2)?,
            folder: row.get(3)?,
            remote_path: row.get(4)?,
            local_path: PathBuf::from(local),
            size: row.get::<_, i64>(6)? as u64,
            conflict: parse::<ConflictPolicy>(row, 7)?,
        },
        state: parse(row, 8)?,
        done_bytes: row.get::<_, i64>(9)? as u64,
        error: row.get(10)?,
        final_path: row.get(11)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 24 * 60 * 60 * 1000;

    fn spec(name: &str) -> TransferSpec {
        TransferSpec {
            batch: "b".into(),
            direction: Direction::Upload,
            folder: "w".into(),
            remote_path: name.into(),
            local_path: PathBuf::from("/src").join(name),
            size: 1,
            conflict: ConflictPolicy::Fail,
        }
    }

    fn insert(journal: &Journal, count: usize, state: JobState, at_ms: i64) -> Vec<JobId> {
        let specs: Vec<TransferSpec> = (0..count).map(|i| spec(&format!("f{i}"))).collect();
        let ids = journal.insert_all(&specs, at_ms).unwrap();
        for &id in &ids {
            journal.set_state(id, state, None).unwrap();
        }
        ids
    }

    #[test]
    fn a_journal_from_before_resume_states_gains_the_column_and_keeps_its_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transfers.sqlite3");
        {
            // The table as the first release created it.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute(
                "INSERT INTO transfers (batch, direction, folder, remote_path, local_path, size, conflict, state, created_at_ms)
                 VALUES ('b', 'upload', 'w', 'a.bin', '/src/a.bin', 7, 'fail', 'paused', 1)",
                [],
            )
            .unwrap();
        }
        for _ in 0..2 {
            // Opening twice proves the migration is idempotent.
            let journal = Journal::open(&path).unwrap();
            let jobs = journal.jobs().unwrap();
            assert_eq!(jobs.len(), 1);
            assert_eq!(jobs[0].state, JobState::Paused);
            assert_eq!(jobs[0].spec.size, 7);
            if journal.resume_state(jobs[0].id).unwrap().is_none() {
                journal
                    .set_resume_state(jobs[0].id, Some(r#"{"offset":3}"#))
                    .unwrap();
            } else {
                assert_eq!(
                    journal.resume_state(jobs[0].id).unwrap().as_deref(),
                    Some(r#"{"offset":3}"#)
                );
            }
        }
    }

    #[test]
    fn done_and_cancelled_jobs_forget_their_resume_state_and_others_keep_it() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("transfers.sqlite3")).unwrap();
        let ids = insert(&journal, 4, JobState::Running, 1);
        for &id in &ids {
            journal.set_resume_state(id, Some("state")).unwrap();
        }
        journal.set_done(ids[0], "/dst/f0", 1).unwrap();
        journal
            .set_state(ids[1], JobState::Cancelled, None)
            .unwrap();
        journal.set_state(ids[2], JobState::Paused, None).unwrap();
        journal
            .set_state(ids[3], JobState::Failed, Some("cut"))
            .unwrap();
        let states: Vec<Option<String>> = ids
            .iter()
            .map(|&id| journal.resume_state(id).unwrap())
            .collect();
        assert_eq!(
            states,
            [None, None, Some("state".into()), Some("state".into())],
            "done and cancelled forget; paused and failed (retry resumes) keep"
        );
        assert_eq!(journal.resume_state(9_999).unwrap(), None);
    }

    #[test]
    fn opening_prunes_old_and_surplus_finished_jobs_and_keeps_unfinished_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transfers.sqlite3");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let (old_done, old_paused, old_queued, finished, recent_queued);
        {
            let journal = Journal::open(&path).unwrap();
            old_done = insert(&journal, 3, JobState::Done, now - 31 * DAY_MS);
            old_paused = insert(&journal, 2, JobState::Paused, now - 90 * DAY_MS);
            old_queued = insert(&journal, 1, JobState::Queued, now - 40 * DAY_MS);
            let mut mixed = insert(&journal, 400, JobState::Done, now - DAY_MS);
            mixed.extend(insert(&journal, 400, JobState::Failed, now - DAY_MS));
            mixed.extend(insert(&journal, 300, JobState::Cancelled, now));
            mixed.extend(insert(&journal, 5, JobState::Skipped, now));
            finished = mixed;
            recent_queued = insert(&journal, 2, JobState::Running, now);
        }
        let journal = Journal::open(&path).unwrap();
        let kept: Vec<JobId> = journal.jobs().unwrap().iter().map(|j| j.id).collect();
        for id in old_done {
            assert!(!kept.contains(&id), "a job done 31 days ago is pruned");
        }
        for id in old_paused.iter().chain(&old_queued).chain(&recent_queued) {
            assert!(
                kept.contains(id),
                "unfinished job {id} is kept whatever its age"
            );
        }
        // 1,105 recent finished jobs: the newest 1,000 stay, the oldest 105 go.
        assert_eq!(finished.len(), 1_105);
        for id in &finished[..105] {
            assert!(!kept.contains(id), "surplus finished job {id} is pruned");
        }
        for id in &finished[105..] {
            assert!(kept.contains(id), "recent finished job {id} is kept");
        }
        assert_eq!(kept.len(), 1_000 + 2 + 1 + 2);
        assert_eq!(
            journal.prune(now).unwrap(),
            0,
            "pruning again finds nothing"
        );
    }
}
