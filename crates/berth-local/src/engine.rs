//! [`LocalEngine`]: the [`Engine`] API over the catalog, folder directories on this disk, and
//! this computer's sandboxes.

use berth_core::clock::now_ms;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use berth_core::folder::{is_automount_name, validate_name};
use berth_core::{
    Engine, EngineInfo, EngineKind, Environment, Error, ErrorCode, FileEntry, FileName, Folder,
    FolderPath, FolderPermission, FolderStatus, FolderUsage, NewFolder, NewSession, ResourceLimits,
    Result, Session, SessionPlacement, StorageHost,
};

use crate::files::FolderFiles;
use crate::{Catalog, DataDirs, disk};

/// Where the catalog keeps the bootstrap script.
pub(crate) const BOOTSTRAP_KEY: &str = "bootstrap_script";

/// The host every local folder lives on until users can add their own disks.
pub const DEFAULT_HOST: &str = "local:default";

pub struct LocalEngine {
    dirs: DataDirs,
    catalog: Catalog,
    /// Where `berth-supervisor` is, when not next to the running program (tests).
    supervisor: std::sync::Mutex<Option<PathBuf>>,
    /// The Docker-API socket, when not found the usual way (tests).
    docker: std::sync::Mutex<Option<crate::docker_host::DockerHost>>,
    /// How long a new session's supervisor may take to report its sandbox up, in ms.
    start_timeout_ms: std::sync::atomic::AtomicU64,
}

impl LocalEngine {
    /// Opens the engine on `dirs`, creating the data directory, catalog and default host on
    /// first use.
    pub fn open(dirs: DataDirs) -> Result<Self> {
        let catalog = Catalog::open(&dirs.data)?;
        let engine = Self {
            dirs,
            catalog,
            supervisor: std::sync::Mutex::new(None),
            docker: std::sync::Mutex::new(None),
            start_timeout_ms: std::sync::atomic::AtomicU64::new(
                crate::sessions::START_TIMEOUT.as_millis() as u64,
            ),
        };
        let root = engine.default_root();
        std::fs::create_dir_all(&root).map_err(|e| {
            Error::engine_unavailable(format!(
                "Cannot create the folder store {}: {e}",
                root.display()
            ))
        })?;
        tracing::info!(data_dir = %engine.dirs.data.display(), "local engine opened");
        Ok(engine)
    }

    pub fn dirs(&self) -> &DataDirs {
        &self.dirs
    }

    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Uses `program` as the session supervisor instead of the one next to this program.
    pub fn set_supervisor(&self, program: PathBuf) {
        *self.supervisor.lock().unwrap_or_else(|p| p.into_inner()) = Some(program);
    }

    /// How long a new session's supervisor may take to report its sandbox up before the start
    /// counts as failed (and the supervisor, told so, ends the sandbox). 20 s unless changed;
    /// tests shorten it.
    pub fn set_start_timeout(&self, timeout: std::time::Duration) {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.start_timeout_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// (Sandboxes only: a container starts as the Docker API answers.)
    #[cfg(target_os = "linux")]
    pub(crate) fn start_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.start_timeout_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Uses the Docker-API engine at `host` for the Docker runtime, whatever the environment
    /// says.
    pub fn set_docker_host(&self, host: crate::docker_host::DockerHost) {
        *self.docker.lock().unwrap_or_else(|p| p.into_inner()) = Some(host);
    }

    pub(crate) fn docker_override(&self) -> Option<crate::docker_host::DockerHost> {
        self.docker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    #[cfg(target_os = "linux")]
    pub(crate) fn supervisor_override(&self) -> Option<PathBuf> {
        self.supervisor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Where the default host keeps folder directories. Each folder is a directory named by its
    /// id, not its name, so renaming never moves data and no name can reach outside the host.
    fn default_root(&self) -> PathBuf {
        self.dirs.data.join("folders")
    }

    /// Every host with the directory its folders live in, the default first.
    fn host_roots(&self) -> Result<Vec<(String, PathBuf)>> {
        let mut hosts = vec![(DEFAULT_HOST.to_string(), self.default_root())];
        hosts.extend(self.catalog.hosts()?);
        Ok(hosts)
    }

    /// The directory holding `folder`'s contents. Hosts cannot be removed while folders live
    /// on them, so a folder's host is always known; the default root stands in if the catalog
    /// cannot be read.
    pub fn folder_path(&self, folder: &Folder) -> PathBuf {
        let root = (folder.host != DEFAULT_HOST)
            .then(|| self.catalog.hosts().ok())
            .flatten()
            .and_then(|hosts| hosts.into_iter().find(|(id, _)| *id == folder.host))
            .map(|(_, root)| root)
            .unwrap_or_else(|| self.default_root());
        root.join(&folder.id)
    }

    /// Adds a storage host `local:NAME` keeping its folders in `DIR/berth-folders`, for
    /// folders on another disk. `DIR` must be an existing, writable directory given as an
    /// absolute path.
    pub fn add_host(&self, name: &str, directory: &Path) -> Result<StorageHost> {
        let valid = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid {
            return Err(Error::invalid_input(format!(
                "Host name \"{name}\" must be 1 to 32 characters of a-z, 0-9, '-' or '_'."
            )));
        }
        if directory.as_os_str().is_empty() {
            return Err(Error::invalid_input(
                "Choose the directory where the host keeps its folders.",
            ));
        }
        if !directory.is_absolute() {
            return Err(Error::invalid_input(format!(
                "\"{}\" is not an absolute path; give the full path of a directory on the other disk.",
                directory.display()
            )));
        }
        if !directory.is_dir() {
            return Err(Error::invalid_input(format!(
                "\"{}\" is not an existing directory.",
                directory.display()
            )));
        }
        let id = format!("local:{name}");
        if id == DEFAULT_HOST {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("Storage host \"{id}\" already exists."),
            ));
        }
        let root = directory.join("berth-folders");
        std::fs::create_dir_all(&root).map_err(|e| crate::plan::host_error(&root, e))?;
        self.catalog.insert_host(&id, &root, now_ms())?;
        Ok(self.describe_host(&id, &root))
    }

    /// Removes an added host. Refused while any folder (trashed ones included) lives on it; its
    /// directory is left on disk.
    pub fn remove_host(&self, id: &str) -> Result<()> {
        if id == DEFAULT_HOST {
            return Err(Error::invalid_input(
                "The default storage host cannot be removed.",
            ));
        }
        if !self.catalog.hosts()?.iter().any(|(known, _)| known == id) {
            return Err(Error::new(
                ErrorCode::NotFound,
                format!("Storage host \"{id}\" does not exist."),
            ));
        }
        let count = self.catalog.folders_on_host(id)?;
        if count > 0 {
            return Err(Error::invalid_input(format!(
                "Storage host \"{id}\" still holds {count} folder(s) (trash included); purge or move them first."
            )));
        }
        self.catalog.delete_host(id)
    }

    fn describe_host(&self, id: &str, root: &Path) -> StorageHost {
        let capacity = disk::capacity(root).ok();
        StorageHost {
            id: id.to_string(),
            location: root.display().to_string(),
            is_default: id == DEFAULT_HOST,
            total_bytes: capacity.map(|c| c.total_bytes),
            free_bytes: capacity.map(|c| c.free_bytes),
            used_percent: None,
        }
    }

    /// The live folder `name`'s contents, confined beneath its directory.
    pub(crate) fn files(&self, name: &str) -> Result<(Folder, FolderFiles)> {
        let folder = self.catalog.live_folder(name)?;
        let files = FolderFiles::open(&self.folder_path(&folder), &folder.name)?
            .new_entries_owned_by(crate::sessions::session_identity());
        Ok((folder, files))
    }

    /// The live folder `name`'s contents, for a change: refused on a read-only folder.
    pub(crate) fn writable_files(&self, name: &str) -> Result<FolderFiles> {
        let (folder, files) = self.files(name)?;
        if folder.permission == FolderPermission::Ro {
            return Err(Error::new(
                ErrorCode::PermissionDenied,
                format!("Folder \"{name}\" is read-only: its contents cannot be changed."),
            ));
        }
        Ok(files)
    }

    fn check_host(&self, host: Option<&str>) -> Result<String> {
        let Some(wanted) = host else {
            return Ok(DEFAULT_HOST.to_string());
        };
        let hosts = self.host_roots()?;
        if hosts.iter().any(|(id, _)| id == wanted) {
            return Ok(wanted.to_string());
        }
        let known: Vec<&str> = hosts.iter().map(|(id, _)| id.as_str()).collect();
        Err(Error::invalid_input(format!(
            "Storage host \"{wanted}\" does not exist. This engine has: {}.",
            known.join(", ")
        )))
    }
}

/// Runs disk work that can take long (big directories, deep trees) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::internal(format!("The disk operation stopped: {e}")))?
}

#[async_trait]
impl Engine for LocalEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: EngineKind::Local,
            label: "Local engine".into(),
            location: self.dirs.data.display().to_string(),
            runs_root_file_systems: crate::sessions::sandboxes_run_here(),
        }
    }

    async fn list_hosts(&self) -> Result<Vec<StorageHost>> {
        Ok(self
            .host_roots()?
            .iter()
            .map(|(id, root)| self.describe_host(id, root))
            .collect())
    }

    async fn add_host(&self, name: &str, directory: &Path) -> Result<StorageHost> {
        LocalEngine::add_host(self, name, directory)
    }

    async fn remove_host(&self, id: &str) -> Result<()> {
        LocalEngine::remove_host(self, id)
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        self.catalog.folders()
    }

    async fn list_trash(&self) -> Result<Vec<Folder>> {
        self.catalog.trash()
    }

    async fn folder(&self, name: &str) -> Result<Folder> {
        self.catalog.live_folder(name)
    }

    async fn folder_usage(&self, name: &str) -> Result<FolderUsage> {
        let (_, files) = self.files(name)?;
        blocking(move || files.usage()).await
    }

    async fn create_folder(&self, request: NewFolder) -> Result<Folder> {
        validate_name(&request.name)?;
        if let Some(project) = &request.project {
            return Err(Error::invalid_input(format!(
                "This computer has no projects (asked for \"{project}\"): create the folder for yourself."
            )));
        }
        let host = self.check_host(request.host.as_deref())?;
        let folder = Folder {
            id: uuid::Uuid::new_v4().simple().to_string(),
            automount: is_automount_name(&request.name),
            name: request.name,
            host,
            usage_mode: request.usage_mode,
            permission: request.permission,
            cloneable: request.cloneable,
            status: FolderStatus::Ready,
            created_at_ms: now_ms(),
            project: None,
        };
        // Directory first, row second: a crash in between leaves an unlisted empty directory,
        // never a listed folder without one.
        let path = self.folder_path(&folder);
        std::fs::create_dir(&path).map_err(|e| {
            Error::internal(format!(
                "Cannot create the folder directory {}: {e}",
                path.display()
            ))
        })?;
        if let Err(error) = self.catalog.insert_folder(&folder) {
            let _ = std::fs::remove_dir(&path);
            return Err(error);
        }
        tracing::info!(id = %folder.id, name = %folder.name, "folder created");
        Ok(folder)
    }

    async fn clone_folder(&self, source: &str, target: NewFolder) -> Result<Folder> {
        let (original, from) = self.files(source)?;
        if !original.cloneable {
            return Err(Error::new(
                ErrorCode::PermissionDenied,
                format!(
                    "Folder \"{source}\" does not allow cloning (it was created without \"cloneable\")."
                ),
            ));
        }
        if is_automount_name(&target.name) {
            return Err(Error::invalid_input(format!(
                "A clone cannot be an auto-mount folder: \"{}\" starts with a dot.",
                target.name
            )));
        }
        let clone = self.create_folder(target).await?;
        let to = FolderFiles::open(&self.folder_path(&clone), &clone.name)?
            .new_entries_owned_by(crate::sessions::session_identity());
        if let Err(error) = blocking(move || from.copy_all_into(&to)).await {
            // No half-made clone stays behind under the name the user chose.
            let _ = self.trash_folder(&clone.name).await;
            let _ = self.purge_folder(&clone.id).await;
            return Err(error);
        }
        tracing::info!(source, clone = %clone.name, "folder cloned");
        Ok(clone)
    }

    async fn rename_folder(&self, name: &str, new_name: &str) -> Result<Folder> {
        validate_name(new_name)?;
        let folder = self.catalog.live_folder(name)?;
        self.catalog.rename_folder(&folder.id, new_name)?;
        Ok(Folder {
            name: new_name.to_string(),
            automount: is_automount_name(new_name),
            ..folder
        })
    }

    async fn trash_folder(&self, name: &str) -> Result<Folder> {
        let folder = self.catalog.live_folder(name)?;
        self.catalog
            .set_trashed(&folder.id, &folder.name, Some(now_ms()))?;
        Ok(Folder {
            status: FolderStatus::Trashed,
            ..folder
        })
    }

    async fn restore_folder(&self, name: &str) -> Result<Folder> {
        let folder = self.catalog.trashed_folder(name)?;
        self.catalog.set_trashed(&folder.id, &folder.name, None)?;
        Ok(Folder {
            status: FolderStatus::Ready,
            ..folder
        })
    }

    async fn purge_folder(&self, name: &str) -> Result<()> {
        let folder = self.catalog.trashed_folder(name)?;
        let path = self.folder_path(&folder);
        // Contents first: if removal fails half-way the folder stays in the trash and purging
        // again finishes the job. `remove_dir_all` does not follow symlinks inside the folder.
        let removed = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::internal(format!(
                "Could not delete {}: {e}. The folder stays in the trash; try again.",
                path.display()
            ))),
            _ => Ok(()),
        })
        .await
        .map_err(|e| Error::internal(format!("Deleting the folder stopped: {e}")))?;
        removed?;
        self.catalog.delete_folder(&folder.id)?;
        tracing::info!(id = %folder.id, name = %folder.name, "folder purged");
        Ok(())
    }

    async fn list_files(&self, folder: &str, path: &FolderPath) -> Result<Vec<FileEntry>> {
        let (_, files) = self.files(folder)?;
        let path = path.clone();
        blocking(move || files.list(&path)).await
    }

    async fn list_names(&self, folder: &str, path: &FolderPath) -> Result<Vec<FileName>> {
        let (_, files) = self.files(folder)?;
        let path = path.clone();
        blocking(move || files.names(&path)).await
    }

    async fn read_file_range(
        &self,
        folder: &str,
        path: &FolderPath,
        offset: u64,
        length: u32,
    ) -> Result<berth_core::FileRange> {
        let (_, files) = self.files(folder)?;
        let path = path.clone();
        blocking(move || files.read_range(&path, offset, length)).await
    }

    async fn stat_files(
        &self,
        folder: &str,
        path: &FolderPath,
        names: Vec<String>,
    ) -> Result<Vec<FileEntry>> {
        let (_, files) = self.files(folder)?;
        let path = path.clone();
        blocking(move || files.stat(&path, &names)).await
    }

    async fn write_file(
        &self,
        folder: &str,
        path: &FolderPath,
        bytes: Vec<u8>,
        mode: berth_core::SaveMode,
    ) -> Result<berth_core::FileVersion> {
        let files = self.writable_files(folder)?;
        let path = path.clone();
        blocking(move || files.save(&path, &bytes, mode)).await
    }

    async fn put_files(
        &self,
        folder: &str,
        files: Vec<(std::path::PathBuf, FolderPath)>,
    ) -> Option<Vec<Result<()>>> {
        let count = files.len();
        let all_failed = |error: Error| (0..count).map(|_| Err(error.clone())).collect();
        let target = match self.writable_files(folder) {
            Ok(target) => target,
            Err(error) => return Some(all_failed(error)),
        };
        let put = blocking(move || {
            Ok(files
                .iter()
                .map(|(source, path)| target.put_from(source, path))
                .collect())
        });
        Some(put.await.unwrap_or_else(all_failed))
    }

    async fn watchable_dir(&self, folder: &str) -> Option<std::path::PathBuf> {
        let folder = self.folder(folder).await.ok()?;
        Some(self.folder_path(&folder))
    }

    async fn make_dir(&self, folder: &str, path: &FolderPath) -> Result<()> {
        self.writable_files(folder)?.make_dir(path)
    }

    async fn move_path(&self, folder: &str, from: &FolderPath, to: &FolderPath) -> Result<()> {
        self.writable_files(folder)?.move_path(from, to)
    }

    async fn remove_paths(&self, folder: &str, paths: &[FolderPath]) -> Result<()> {
        let files = self.writable_files(folder)?;
        let paths = paths.to_vec();
        blocking(move || paths.iter().try_for_each(|path| files.remove(path))).await
    }

    async fn list_sessions(&self) -> Result<Vec<Session>> {
        self.list_reconciled()
    }

    async fn list_environments(&self) -> Result<Vec<Environment>> {
        self.environments()
    }

    async fn resource_limits(&self, _placement: &SessionPlacement) -> Result<ResourceLimits> {
        // This computer has no projects or resource groups: the launcher shows no picker.
        Ok(self.limits())
    }

    async fn create_session(&self, spec: NewSession) -> Result<Session> {
        self.start_session(spec).await
    }

    async fn session(&self, id_or_name: &str) -> Result<Session> {
        self.find_session(id_or_name)
    }

    async fn destroy_session(&self, id_or_name: &str) -> Result<Session> {
        self.end_session(id_or_name).await
    }

    async fn list_dotfiles(&self) -> Result<Vec<berth_core::Dotfile>> {
        self.catalog.dotfiles()
    }

    async fn set_dotfile(&self, dotfile: berth_core::Dotfile) -> Result<()> {
        let mut all = self.catalog.dotfiles()?;
        all.retain(|d| d.path != dotfile.path);
        all.push(dotfile.clone());
        berth_core::dotfiles::validate_dotfile_path(&dotfile.path)?;
        // The set's own rules (size together, modes) name no single file; say which one was
        // refused.
        berth_core::dotfiles::validate_dotfiles(&all).map_err(|e| {
            Error::new(
                e.code,
                format!("Dotfile \"{}\" was not saved: {}", dotfile.path, e.message),
            )
        })?;
        self.catalog.save_dotfile(&dotfile)
    }

    async fn remove_dotfile(&self, path: &str) -> Result<()> {
        if self.catalog.delete_dotfile(path)? {
            Ok(())
        } else {
            Err(Error::new(
                ErrorCode::NotFound,
                format!("There is no dotfile \"{path}\"."),
            ))
        }
    }

    async fn bootstrap_script(&self) -> Result<Option<String>> {
        self.catalog.setting(BOOTSTRAP_KEY)
    }

    async fn set_bootstrap_script(&self, script: Option<String>) -> Result<()> {
        let script = script.filter(|s| !s.trim().is_empty());
        if script
            .as_ref()
            .is_some_and(|s| s.len() > berth_core::dotfiles::MAX_DOTFILES_BYTES)
        {
            return Err(Error::invalid_input(format!(
                "The bootstrap script is larger than {} bytes.",
                berth_core::dotfiles::MAX_DOTFILES_BYTES
            )));
        }
        self.catalog.set_setting(BOOTSTRAP_KEY, script.as_deref())
    }

    async fn session_stats(&self, id_or_name: &str) -> Result<berth_core::SessionStats> {
        self.usage(id_or_name).await
    }

    async fn extend_session(&self, id_or_name: &str, by_secs: u64) -> Result<Session> {
        self.extend(id_or_name, by_secs)
    }

    async fn session_logs(&self, id_or_name: &str) -> Result<String> {
        let session = self.find_session(id_or_name)?;
        if session.runtime == berth_core::SessionRuntime::Docker {
            let host = self.docker_host()?;
            let name = crate::sessions::docker::container_name(&session.id);
            return crate::sessions::docker::logs(&crate::sessions::docker::connect(&host)?, &name)
                .await;
        }
        self.read_log(&session.id)
    }
}
