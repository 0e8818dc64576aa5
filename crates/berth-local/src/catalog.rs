//! The local engine's metadata store: one SQLite database in the data directory holding the
//! folders and sessions the engine knows of. Folder *contents* are plain directories; only what
//! a directory cannot say (id, usage mode, permission, trash state, ...) lives here.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use berth_core::{
    Error, ErrorCode, Folder, FolderPermission, FolderStatus, Result, Session,
    folder::is_automount_name,
};
use rusqlite::{Connection, OptionalExtension, Row, config::DbConfig};

pub const FILE_NAME: &str = "berth.sqlite3";

/// Each entry upgrades the schema by one version; `PRAGMA user_version` records how many ran.
/// Never edit a shipped entry: append a new one.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE folders (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        host          TEXT NOT NULL,
        usage_mode    TEXT NOT NULL CHECK (usage_mode IN ('general', 'model', 'data')),
        permission    TEXT NOT NULL CHECK (permission IN ('ro', 'rw', 'wd')),
        cloneable     INTEGER NOT NULL DEFAULT 0,
        status        TEXT NOT NULL CHECK (status IN ('ready', 'trashed')),
        created_at_ms INTEGER NOT NULL,
        trashed_at_ms INTEGER
    );
    -- Backend.AI's rule: a name is unique among a user's live folders.
    CREATE UNIQUE INDEX folders_live_name ON folders(name) WHERE status = 'ready';

    CREATE TABLE sessions (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        session_type  TEXT NOT NULL CHECK (session_type IN ('interactive', 'batch')),
        status        TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
"#,
    r#"
    -- Storage hosts the user added (other disks); local:default lives in the data dir and
    -- needs no row.
    CREATE TABLE hosts (
        id            TEXT PRIMARY KEY,
        root          TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
"#,
    r#"
    -- The whole session as the UI shows it (mounts, resources, exit code), as JSON: it is
    -- written once at launch and once when it ends, and only ever read whole.
    ALTER TABLE sessions ADD COLUMN record TEXT NOT NULL DEFAULT '{}';
    CREATE INDEX sessions_status ON sessions(status);
"#,
    r#"
    -- Environments besides the host's own: registered root file systems and imported images.
    CREATE TABLE environments (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        kind          TEXT NOT NULL CHECK (kind IN ('rootfs', 'image')),
        root          TEXT NOT NULL,
        description   TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
"#,
    r#"
    -- The user's dotfiles and one-value settings such as the bootstrap script.
    CREATE TABLE dotfiles (
        path    TEXT PRIMARY KEY,
        content TEXT NOT NULL,
        mode    INTEGER NOT NULL
    );
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
"#,
];

pub struct Catalog {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Catalog {
    /// Opens (creating if needed) the catalog in `data_dir` and brings its schema up to date.
    ///
    /// Errors with `engine_unavailable` when the directory or database cannot be used, and
    /// refuses a database written by a newer Berth rather than guessing at its schema.
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            Error::engine_unavailable(format!(
                "Cannot create the data directory {}: {e}. Pick a writable directory with \
                 --data-dir or BERTH_DATA_DIR.",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(FILE_NAME);
        let unavailable = |e: rusqlite::Error| {
            Error::engine_unavailable(format!(
                "Cannot open the folder catalog {}: {e}.",
                path.display()
            ))
        };
        let mut conn = Connection::open(&path).map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        // WAL with NORMAL stays consistent after a crash and skips an fsync per write: a
        // session start writes its row twice, and each fsync cost more than bwrap itself.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(unavailable)?;
        // Nor a checkpoint (and its fsyncs) each time a command ends: the log stays for the
        // next opening, and SQLite checkpoints when it grows.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(unavailable)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        migrate(&mut conn, &path)?;
        Ok(Self {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Live folders (not in the trash), oldest first.
    pub fn folders(&self) -> Result<Vec<Folder>> {
        self.select_folders("WHERE status = 'ready' ORDER BY created_at_ms, name", [])
    }

    /// Trashed folders, most recently trashed first.
    pub fn trash(&self) -> Result<Vec<Folder>> {
        self.select_folders(
            "WHERE status = 'trashed' ORDER BY trashed_at_ms DESC, name",
            [],
        )
    }

    /// The live folder called `name`.
    pub fn live_folder(&self, name: &str) -> Result<Folder> {
        self.select_folders("WHERE status = 'ready' AND name = ?1", [name])?
            .pop()
            .ok_or_else(|| not_found(&format!("No folder is called \"{name}\".")))
    }

    /// The trashed folder with id `key`, or else the most recently trashed one named `key`.
    pub fn trashed_folder(&self, key: &str) -> Result<Folder> {
        self.select_folders(
            "WHERE status = 'trashed' AND (id = ?1 OR name = ?1)
             ORDER BY id = ?1 DESC, trashed_at_ms DESC LIMIT 1",
            [key],
        )?
        .pop()
        .ok_or_else(|| not_found(&format!("No folder called \"{key}\" is in the trash.")))
    }

    /// Records a new live folder. `already_exists` when a live folder has its name.
    pub fn insert_folder(&self, folder: &Folder) -> Result<()> {
        self.lock()
            .execute(
                "INSERT INTO folders (id, name, host, usage_mode, permission, cloneable, status, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'ready', ?7)",
                rusqlite::params![
                    folder.id,
                    folder.name,
                    folder.host,
                    column_text(&folder.usage_mode),
                    column_text(&folder.permission),
                    folder.cloneable,
                    folder.created_at_ms
                ],
            )
            .map_err(|e| name_taken_or(e, &folder.name))?;
        Ok(())
    }

    /// Renames folder `id`. `already_exists` when a live folder has the new name.
    pub fn rename_folder(&self, id: &str, new_name: &str) -> Result<()> {
        self.lock()
            .execute("UPDATE folders SET name = ?2 WHERE id = ?1", [id, new_name])
            .map_err(|e| name_taken_or(e, new_name))?;
        Ok(())
    }

    /// Moves folder `id` to the trash (`trashed_at_ms` set) or back out of it (`None`).
    /// Restoring fails with `already_exists` when a live folder took its name meanwhile.
    pub fn set_trashed(&self, id: &str, name: &str, trashed_at_ms: Option<i64>) -> Result<()> {
        let status = if trashed_at_ms.is_some() {
            "trashed"
        } else {
            "ready"
        };
        self.lock()
            .execute(
                "UPDATE folders SET status = ?2, trashed_at_ms = ?3 WHERE id = ?1",
                rusqlite::params![id, status, trashed_at_ms],
            )
            .map_err(|e| name_taken_or(e, name))?;
        Ok(())
    }

    pub fn delete_folder(&self, id: &str) -> Result<()> {
        self.lock()
            .execute("DELETE FROM folders WHERE id = ?1", [id])
            .map_err(query_error)?;
        Ok(())
    }

    fn select_folders<P: rusqlite::Params>(&self, filter: &str, params: P) -> Result<Vec<Folder>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT id, name, host, usage_mode, permission, cloneable, status, created_at_ms
                 FROM folders {filter}"
            ))
            .map_err(query_error)?;
        let rows = stmt
            .query_map(params, folder_from_row)
            .map_err(query_error)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(query_error)
    }

    /// Added storage hosts: id and the directory their folders live in, oldest first.
    pub fn hosts(&self) -> Result<Vec<(String, PathBuf)>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT id, root FROM hosts ORDER BY created_at_ms, id")
            .map_err(query_error)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    PathBuf::from(row.get::<_, String>(1)?),
                ))
            })
            .map_err(query_error)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(query_error)
    }

    pub fn insert_host(&self, id: &str, root: &Path, now_ms: i64) -> Result<()> {
        self.lock()
            .execute(
                "INSERT INTO hosts (id, root, created_at_ms) VALUES (?1, ?2, ?3)",
                rusqlite::params![id, root.to_string_lossy(), now_ms],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(ref f, _)
                    if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
                {
                    Error::new(
                        ErrorCode::AlreadyExists,
                        format!("Storage host \"{id}\" already exists."),
                    )
                }
                other => query_error(other),
            })?;
        Ok(())
    }

    pub fn delete_host(&self, id: &str) -> Result<()> {
        self.lock()
            .execute("DELETE FROM hosts WHERE id = ?1", [id])
            .map_err(query_error)?;
        Ok(())
    }

    /// How many folders, live or trashed, live on host `id`.
    pub fn folders_on_host(&self, id: &str) -> Result<i64> {
        self.lock()
            .query_row(
                "SELECT count(*) FROM folders WHERE host = ?1",
                [id],
                |row| row.get(0),
            )
            .map_err(query_error)
    }

    /// Sessions that have not been cleaned up, newest first.
    pub fn sessions(&self) -> Result<Vec<Session>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT record FROM sessions ORDER BY created_at_ms DESC, name")
            .map_err(query_error)?;
        let rows = stmt.query_map([], session_from_row).map_err(query_error)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(query_error)
    }

    /// The session with id `key`, or else the newest one named `key`.
    pub fn session(&self, key: &str) -> Result<Session> {
        let conn = self.lock();
        conn.query_row(
            "SELECT record FROM sessions WHERE id = ?1 OR name = ?1
             ORDER BY id = ?1 DESC, created_at_ms DESC LIMIT 1",
            [key],
            session_from_row,
        )
        .optional()
        .map_err(query_error)?
        .ok_or_else(|| not_found(&format!("No session is called \"{key}\".")))
    }

    /// Records a session or its new state (written whole: the record is the truth).
    pub fn save_session(&self, session: &Session) -> Result<()> {
        let record = serde_json::to_string(session)
            .map_err(|e| Error::internal(format!("Cannot record the session: {e}")))?;
        let kind = serde_json::to_value(session.session_type)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let status = serde_json::to_value(session.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.lock()
            .execute(
                "INSERT INTO sessions (id, name, session_type, status, created_at_ms, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET status = excluded.status, record = excluded.record",
                rusqlite::params![
                    session.id,
                    session.name,
                    kind,
                    status,
                    session.created_at_ms,
                    record
                ],
            )
            .map_err(query_error)?;
        Ok(())
    }

    /// Records how a live session ended, unless its end is already recorded: two readers can
    /// find the same end (the CLI's destroy and the app's sampler), and the first one's
    /// account, made while the supervisor's final state was still there, is the true one.
    /// Returns whether this one was recorded.
    pub fn record_end(&self, session: &Session) -> Result<bool> {
        let record = serde_json::to_string(session)
            .map_err(|e| Error::internal(format!("Cannot record the session: {e}")))?;
        let status = serde_json::to_value(session.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let changed = self
            .lock()
            .execute(
                "UPDATE sessions SET status = ?2, record = ?3
                 WHERE id = ?1 AND status IN ('preparing', 'running', 'terminating')",
                rusqlite::params![session.id, status, record],
            )
            .map_err(query_error)?;
        Ok(changed == 1)
    }

    /// Registered environments with their root directories, oldest first.
    pub fn environments(&self) -> Result<Vec<(berth_core::Environment, PathBuf)>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT id, name, kind, description, root FROM environments ORDER BY created_at_ms",
            )
            .map_err(query_error)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    berth_core::Environment {
                        id: row.get(0)?,
                        name: row.get(1)?,
                        kind: parse_column(row, 2)?,
                        description: row.get(3)?,
                    },
                    PathBuf::from(row.get::<_, String>(4)?),
                ))
            })
            .map_err(query_error)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(query_error)
    }

    /// Records an environment. `already_exists` when one has its name.
    pub fn insert_environment(
        &self,
        environment: &berth_core::Environment,
        root: &Path,
        created_at_ms: i64,
    ) -> Result<()> {
        let kind = match environment.kind {
            berth_core::EnvironmentKind::Image => "image",
            _ => "rootfs",
        };
        self.lock()
            .execute(
                "INSERT INTO environments (id, name, kind, root, description, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    environment.id,
                    environment.name,
                    kind,
                    root.to_string_lossy(),
                    environment.description,
                    created_at_ms
                ],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Error::new(
                        ErrorCode::AlreadyExists,
                        format!("An environment is already called \"{}\".", environment.name),
                    )
                }
                other => query_error(other),
            })?;
        Ok(())
    }

    pub fn delete_environment(&self, id: &str) -> Result<()> {
        self.lock()
            .execute("DELETE FROM environments WHERE id = ?1", [id])
            .map_err(query_error)?;
        Ok(())
    }

    pub fn dotfiles(&self) -> Result<Vec<berth_core::Dotfile>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT path, content, mode FROM dotfiles ORDER BY path")
            .map_err(query_error)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(berth_core::Dotfile {
                    path: row.get(0)?,
                    content: row.get(1)?,
                    mode: row.get(2)?,
                })
            })
            .map_err(query_error)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(query_error)
    }

    pub fn save_dotfile(&self, dotfile: &berth_core::Dotfile) -> Result<()> {
        self.lock()
            .execute(
                "INSERT INTO dotfiles (path, content, mode) VALUES (?1, ?2, ?3)
                 ON CONFLICT(path) DO UPDATE SET content = excluded.content, mode = excluded.mode",
                rusqlite::params![dotfile.path, dotfile.content, dotfile.mode],
            )
            .map_err(query_error)?;
        Ok(())
    }

    /// Whether a dotfile was there to delete.
    pub fn delete_dotfile(&self, path: &str) -> Result<bool> {
        let deleted = self
            .lock()
            .execute("DELETE FROM dotfiles WHERE path = ?1", [path])
            .map_err(query_error)?;
        Ok(deleted > 0)
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.lock()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(query_error)
    }

    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        let conn = self.lock();
        match value {
            Some(value) => conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [key, value],
            ),
            None => conn.execute("DELETE FROM settings WHERE key = ?1", [key]),
        }
        .map_err(query_error)?;
        Ok(())
    }

    /// Forgets an ended session.
    pub fn delete_session(&self, id: &str) -> Result<()> {
        self.lock()
            .execute("DELETE FROM sessions WHERE id = ?1", [id])
            .map_err(query_error)?;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (it is transactional), so a
        // poisoned lock is safe to keep using.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let applied: usize = conn
        .query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))
        .optional()
        .map_err(query_error)?
        .unwrap_or(0)
        .try_into()
        .unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(Error::engine_unavailable(format!(
            "The folder catalog {} was written by a newer Berth (schema {applied}, this one knows \
             {}). Update Berth, or point --data-dir elsewhere.",
            path.display(),
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction().map_err(query_error)?;
        tx.execute_batch(sql).map_err(query_error)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .map_err(query_error)?;
        tx.commit().map_err(query_error)?;
    }
    Ok(())
}

fn not_found(message: &str) -> Error {
    Error::new(ErrorCode::NotFound, message)
}

/// The unique index on live names is the one place a duplicate is decided, so two racing
/// creates cannot both win.
fn name_taken_or(e: rusqlite::Error, name: &str) -> Error {
    match e {
        rusqlite::Error::SqliteFailure(ref failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            Error::new(
                ErrorCode::AlreadyExists,
                format!("A folder called \"{name}\" already exists. Pick another name."),
            )
        }
        other => query_error(other),
    }
}

/// The snake_case string serde gives an enum: the same text the IPC uses.
fn column_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

fn query_error(e: rusqlite::Error) -> Error {
    Error::internal(format!("Folder catalog query failed: {e}"))
}

fn folder_from_row(row: &Row<'_>) -> rusqlite::Result<Folder> {
    let name: String = row.get(1)?;
    Ok(Folder {
        id: row.get(0)?,
        automount: is_automount_name(&name),
        name,
        host: row.get(2)?,
        usage_mode: parse_column(row, 3)?,
        permission: parse_column::<FolderPermission>(row, 4)?,
        cloneable: row.get(5)?,
        status: parse_column::<FolderStatus>(row, 6)?,
        created_at_ms: row.get(7)?,
        project: None,
    })
}

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    let record: String = row.get(0)?;
    serde_json::from_str(&record).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Enum columns hold the same snake_case strings as the IPC, so serde parses both.
fn parse_column<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde::de::Deserialize::deserialize(
        serde::de::value::StrDeserializer::<serde::de::value::Error>::new(&text),
    )
    .map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_catalog_is_empty_and_reopens_at_the_same_schema() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        assert!(catalog.folders().unwrap().is_empty());
        assert!(catalog.sessions().unwrap().is_empty());
        drop(catalog);
        let again = Catalog::open(dir.path()).unwrap();
        assert!(again.folders().unwrap().is_empty());
    }

    #[test]
    fn rows_written_outside_the_app_are_listed_with_their_fields() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        let conn = Connection::open(catalog.path()).unwrap();
        conn.execute_batch(
            "INSERT INTO folders VALUES ('f1','.local','local:default','general','rw',0,'ready',10,NULL);
             INSERT INTO folders VALUES ('f2','old','local:default','data','ro',1,'trashed',5,7);",
        )
        .unwrap();
        let folders = catalog.folders().unwrap();
        assert_eq!(
            folders.len(),
            1,
            "trashed folders are not listed: {folders:?}"
        );
        assert_eq!(folders[0].name, ".local");
        assert!(folders[0].automount);
        assert_eq!(folders[0].permission, FolderPermission::Rw);
    }

    #[test]
    fn a_catalog_from_a_newer_berth_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let error = Catalog::open(dir.path()).err().expect("must refuse");
        assert_eq!(error.code, berth_core::ErrorCode::EngineUnavailable);
        assert!(error.message.contains("newer Berth"), "{}", error.message);
    }

    #[test]
    fn the_first_account_of_a_sessions_end_stands() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        let session: Session = serde_json::from_value(serde_json::json!({
            "id": "s1", "name": "s1", "session_type": "interactive", "status": "running",
            "created_at_ms": 1, "ended_at_ms": null, "environment": "host", "runtime": "bwrap",
            "network": "none", "resources": {"cpus": null, "memory_bytes": null, "scratch_bytes": null},
            "mounts": [], "command": null, "exit_code": null, "status_detail": null
        }))
        .unwrap();
        catalog.save_session(&session).unwrap();
        let destroyed = Session {
            status: berth_core::SessionStatus::Terminated,
            status_detail: Some("Destroyed.".into()),
            ..session.clone()
        };
        assert!(catalog.record_end(&destroyed).unwrap());
        // A second reader that found the runtime directory already cleaned.
        let guessed = Session {
            status: berth_core::SessionStatus::Error,
            status_detail: Some("Its supervisor stopped unexpectedly".into()),
            ..session
        };
        assert!(!catalog.record_end(&guessed).unwrap());
        assert_eq!(catalog.session("s1").unwrap(), destroyed);
    }

    #[test]
    fn an_unwritable_data_dir_is_reported_as_engine_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let error = Catalog::open(&file.join("sub")).err().expect("must refuse");
        assert_eq!(error.code, berth_core::ErrorCode::EngineUnavailable);
        assert!(error.message.contains("not-a-dir"), "{}", error.message);
    }
}
