//! The one API every screen, the CLI and the tests use, implemented by the local engine
//! (`berth-local`) and the Backend.AI engine (`berth-backendai`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{
    Dotfile, Environment, Error, ErrorCode, FileEntry, FileName, Folder, FolderPath, FolderUsage,
    MountPreview, MountRequest, NewFolder, NewSession, Placements, ResourceLimits, Result, Session,
    SessionPlacement, SessionStats, StorageHost,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// Folders on this computer's disk, sessions in sandboxes on this computer.
    Local,
    /// A Backend.AI cluster reached over its manager API and storage proxy.
    BackendAi,
}

/// What the status bar says about the engine the app is talking to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct EngineInfo {
    pub kind: EngineKind,
    /// Short human name, e.g. "Local engine".
    pub label: String,
    /// Where the engine keeps its data: a directory for the local engine, an endpoint URL for a
    /// cluster.
    pub location: String,
    /// Whether this computer's own system, root file systems and imported images can run
    /// sessions here: only in bubblewrap sandboxes, so only on Linux's local engine. Elsewhere
    /// the launcher offers Docker images (or the cluster's) and nothing that would fail only
    /// at launch.
    pub runs_root_file_systems: bool,
}

#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    fn info(&self) -> EngineInfo;

    /// Where folders can be created, with their capacity.
    async fn list_hosts(&self) -> Result<Vec<StorageHost>>;

    /// Adds storage host `NAME` keeping its folders under `directory` on this computer (another
    /// disk). `invalid_input` for a bad name or a path that is not an existing directory,
    /// `already_exists` for a taken name. Engines whose hosts someone else administers (a
    /// cluster) answer `permission_denied`, which is what this default does.
    async fn add_host(&self, name: &str, directory: &Path) -> Result<StorageHost> {
        let _ = (name, directory);
        Err(Error::new(
            ErrorCode::PermissionDenied,
            "Storage hosts of this engine are set up by its administrator.",
        ))
    }

    /// Removes an added host; its directory stays on disk. Refused (`invalid_input`) while any
    /// folder, trashed ones included, lives on it; `not_found` for an unknown host.
    async fn remove_host(&self, id: &str) -> Result<()> {
        let _ = id;
        Err(Error::new(
            ErrorCode::PermissionDenied,
            "Storage hosts of this engine are set up by its administrator.",
        ))
    }

    /// The projects the user belongs to, by name: who a folder can be created for besides the
    /// user. Empty for engines without projects (the local engine).
    async fn list_projects(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Every folder the user can see that is not in the trash, oldest first.
    async fn list_folders(&self) -> Result<Vec<Folder>>;

    /// Folders in the trash, most recently deleted first.
    async fn list_trash(&self) -> Result<Vec<Folder>>;

    /// One live folder by name. `not_found` when there is none.
    async fn folder(&self, name: &str) -> Result<Folder>;

    /// What live folder `name` holds (bytes, files, directories), links not followed.
    async fn folder_usage(&self, name: &str) -> Result<FolderUsage>;

    /// Creates an empty folder. `invalid_input` for a name that breaks a rule or an unknown
    /// host, `already_exists` when a live folder has that name.
    async fn create_folder(&self, request: NewFolder) -> Result<Folder>;

    /// Creates folder `target` as a copy of cloneable folder `source`: directories, files and
    /// links (copied as links, never followed). `permission_denied` when `source` is not
    /// cloneable; `invalid_input` for a dot-named target (Backend.AI refuses those too).
    async fn clone_folder(&self, source: &str, target: NewFolder) -> Result<Folder>;

    /// Renames a live folder; its contents and id stay. Same errors as creating.
    async fn rename_folder(&self, name: &str, new_name: &str) -> Result<Folder>;

    /// Moves a live folder to the trash; its contents stay until it is purged.
    async fn trash_folder(&self, name: &str) -> Result<Folder>;

    /// Brings a trashed folder back. `already_exists` when a live folder took its name meanwhile.
    async fn restore_folder(&self, name: &str) -> Result<Folder>;

    /// Deletes a trashed folder and its contents for good. Only trashed folders can be purged,
    /// so one mistaken call never destroys live data.
    async fn purge_folder(&self, name: &str) -> Result<()>;

    /// The entries of directory `path` in folder `folder`, symlinks listed as links. Nothing is
    /// ever read outside the folder: a path through a link that leaves it is `invalid_input`.
    async fn list_files(&self, folder: &str, path: &FolderPath) -> Result<Vec<FileEntry>>;

    /// Names and kinds of directory `path`'s entries in the explorer's order (directories
    /// first, natural name order), without per-entry metadata: what opening a huge directory
    /// shows first. Same confinement as [`Engine::list_files`].
    async fn list_names(&self, folder: &str, path: &FolderPath) -> Result<Vec<FileName>>;

    /// Full entries for some `names` of directory `path` (the rows on screen).
    async fn stat_files(
        &self,
        folder: &str,
        path: &FolderPath,
        names: Vec<String>,
    ) -> Result<Vec<FileEntry>>;

    /// Up to `length` bytes (at most [`crate::LARGEST_RANGE`]) of file `path` from `offset`, and
    /// the file's size: what a preview reads, a screen at a time, so a 10 GB log opens as fast
    /// as a small one. Same confinement as [`Engine::list_files`]; `invalid_input` for a
    /// directory, `not_found` for a path that is not there.
    async fn read_file_range(
        &self,
        folder: &str,
        path: &FolderPath,
        offset: u64,
        length: u32,
    ) -> Result<crate::FileRange>;

    /// The whole of file `path`, at most `limit` bytes, for an editor (the window's, or the
    /// user's own on a copy), with the version a save checks against. The file is looked at
    /// before and after the read, so the version is the one the bytes came from. A link is
    /// not edited through: `invalid_input`, as for a directory or a file over `limit`.
    async fn read_for_edit(
        &self,
        folder: &str,
        path: &FolderPath,
        limit: u64,
    ) -> Result<crate::EditableFile> {
        let (parent, name) = split_file_path(path)?;
        let stat = |name: String| async {
            self.stat_files(folder, &parent, vec![name])
                .await
                .map(|found| found.into_iter().next())
        };
        for _ in 0..3 {
            let before = editable(folder, path, stat(name.clone()).await?, limit)?;
            let mut bytes = Vec::with_capacity(usize::try_from(before.size).unwrap_or(0));
            while (bytes.len() as u64) < before.size {
                let range = self
                    .read_file_range(folder, path, bytes.len() as u64, crate::LARGEST_RANGE)
                    .await?;
                if range.bytes.is_empty() || range.size != before.size {
                    break;
                }
                bytes.extend_from_slice(&range.bytes);
            }
            let after = stat(name.clone()).await?;
            if after.as_ref().map(crate::FileVersion::from) == Some(before)
                && bytes.len() as u64 == before.size
            {
                return Ok(crate::EditableFile {
                    bytes,
                    version: before,
                });
            }
        }
        Err(Error::internal(format!(
            "\"{path}\" in folder \"{folder}\" kept changing while it was read; try again when it is still."
        )))
    }

    /// Writes `bytes` as file `path` by `mode`, and returns the version now there. The bytes
    /// reach the path whole or not at all (never a half-written file under its name); the
    /// check of [`crate::SaveMode::IfUnchanged`] is made just before the file is replaced.
    /// `permission_denied` on a read-only folder; a link at `path` is not written through.
    async fn write_file(
        &self,
        folder: &str,
        path: &FolderPath,
        bytes: Vec<u8>,
        mode: crate::SaveMode,
    ) -> Result<crate::FileVersion>;

    /// Small files of this computer copied into `folder` at once, each replacing what is at its
    /// path (whole or not at all, as [`Engine::write_file`]), one result per file — where the
    /// engine does that faster than its transfer queue's per-file bookkeeping (a sync of
    /// 10,000 small files). `None` when it does not: the caller uses the queue.
    async fn put_files(
        &self,
        folder: &str,
        files: Vec<(std::path::PathBuf, FolderPath)>,
    ) -> Option<Vec<Result<()>>> {
        let _ = (folder, files);
        None
    }

    /// Where `folder`'s contents are on this computer, when they are (the local engine), so a
    /// sync can watch it for changes instead of listing it again and again. Only for
    /// watching: reads and writes still go through the engine and its confinement.
    async fn watchable_dir(&self, folder: &str) -> Option<std::path::PathBuf> {
        let _ = folder;
        None
    }

    /// Creates directory `path` and any missing parents. `permission_denied` on a read-only
    /// folder.
    async fn make_dir(&self, folder: &str, path: &FolderPath) -> Result<()>;

    /// Moves or renames `from` to `to` within the folder; never replaces an existing entry
    /// (`already_exists`).
    async fn move_path(&self, folder: &str, from: &FolderPath, to: &FolderPath) -> Result<()>;

    /// Deletes files, links and whole directory trees. A link is removed, never what it points to.
    async fn remove_paths(&self, folder: &str, paths: &[FolderPath]) -> Result<()>;

    /// Every session the engine knows of that has not been cleaned up, newest first. Sessions
    /// that ended on their own since the last call (a batch command finished, a sandbox died)
    /// show their final status here.
    async fn list_sessions(&self) -> Result<Vec<Session>>;

    /// Environments a session can run in, the default first.
    async fn list_environments(&self) -> Result<Vec<Environment>>;

    /// Where a new session can go: the user's projects, each with the resource groups it may
    /// use and what each has free now, and the engine's own pick. No projects (and so no
    /// picker) for engines without them, which is what this default says.
    async fn placements(&self) -> Result<Placements> {
        Ok(Placements::default())
    }

    /// What the launcher may offer a session placed at `placement` (engines without projects
    /// ignore it), and which limits this machine really enforces. `invalid_input` for a
    /// project or resource group the user may not use.
    async fn resource_limits(&self, placement: &SessionPlacement) -> Result<ResourceLimits>;

    /// Where `requests` (plus the user's automount folders) would be mounted, with every problem:
    /// what the launcher's Data & Storage step shows while the user types.
    async fn preview_mounts(&self, requests: Vec<MountRequest>) -> Result<MountPreview> {
        let folders = self.list_folders().await?;
        Ok(crate::mount::preview_mounts(&requests, &folders))
    }

    /// Starts a session and returns once it runs (or has failed to start, with the reason).
    /// Refused before anything starts when a mount, the name, a variable or the command breaks
    /// a rule. `spec.environ` is in the environment of every process of the session.
    async fn create_session(&self, spec: NewSession) -> Result<Session>;

    /// One session by id or name. `not_found` when there is none.
    async fn session(&self, id_or_name: &str) -> Result<Session>;

    /// Ends a session: its processes are killed and its scratch `/home/work` is gone; files
    /// written into mounted folders stay. Destroying an ended session is not an error.
    async fn destroy_session(&self, id_or_name: &str) -> Result<Session>;

    /// What the session's startup printed: a batch command's output, sandbox errors.
    async fn session_logs(&self, id_or_name: &str) -> Result<String>;

    /// What a running session uses now: CPU over a short interval, memory, storage I/O.
    /// `invalid_input` for a session that is not running. Engines that cannot tell say so.
    async fn session_stats(&self, id_or_name: &str) -> Result<SessionStats> {
        let _ = id_or_name;
        Err(Error::invalid_input(
            "This engine does not report a session's resource use yet.",
        ))
    }

    /// Gives a running session with limits more time: `by_secs` more lifetime (from now or
    /// its current end, whichever is later) and a fresh idle clock. Engines whose server has
    /// no way to do that say so.
    async fn extend_session(&self, id_or_name: &str, by_secs: u64) -> Result<Session> {
        let _ = (id_or_name, by_secs);
        Err(Error::invalid_input(
            "This engine has no way to extend a session: its server sets the limits.",
        ))
    }

    /// The user's dotfiles, placed in every new session's `/home/work`.
    async fn list_dotfiles(&self) -> Result<Vec<Dotfile>>;

    /// Adds or replaces one dotfile. `invalid_input` for a path that breaks a rule or a set
    /// that would exceed the size limit.
    async fn set_dotfile(&self, dotfile: Dotfile) -> Result<()>;

    /// `not_found` when there is no such dotfile.
    async fn remove_dotfile(&self, path: &str) -> Result<()>;

    /// The script every new session runs once at start; `None` when there is none.
    async fn bootstrap_script(&self) -> Result<Option<String>>;

    /// Sets (or, with `None`, clears) the bootstrap script.
    async fn set_bootstrap_script(&self, script: Option<String>) -> Result<()>;
}

/// `path`'s directory and name; `invalid_input` for the folder's root.
pub fn split_file_path(path: &FolderPath) -> Result<(FolderPath, String)> {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name.to_string())),
        _ => Err(Error::invalid_input(
            "A file path is needed here, not the folder itself.",
        )),
    }
}

/// The version of `found` at `path` if the window can edit it in place; why not otherwise.
fn editable(
    folder: &str,
    path: &FolderPath,
    found: Option<crate::FileEntry>,
    limit: u64,
) -> Result<crate::FileVersion> {
    use crate::FileKind;
    let entry = found.ok_or_else(|| {
        Error::new(
            crate::ErrorCode::NotFound,
            format!("There is no file \"{path}\" in folder \"{folder}\"."),
        )
    })?;
    let refused = |why: String| {
        Err(Error::invalid_input(format!(
            "\"{path}\" in folder \"{folder}\" {why}"
        )))
    };
    match entry.kind {
        FileKind::File if entry.size > limit => refused(format!(
            "is {} MiB, more than the {} MiB that can be edited this way.",
            entry.size.div_ceil(1 << 20),
            limit >> 20
        )),
        FileKind::File => Ok(crate::FileVersion::from(&entry)),
        FileKind::Symlink => refused(format!(
            "is a link{}; open the file it points to to edit it.",
            entry
                .link_target
                .map(|t| format!(" to \"{t}\""))
                .unwrap_or_default()
        )),
        FileKind::Directory => refused("is a directory, not a file.".to_string()),
        FileKind::Other => refused("is not a regular file.".to_string()),
    }
}
