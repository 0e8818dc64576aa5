//! [`BackendAiEngine`]: the engine API over one logged-in [`Connection`]: folders and files,
//! sessions and their environments, and the user's dotfiles and bootstrap script (the cluster's
//! user config).

use std::sync::Arc;

use berth_core::{
    Dotfile, Engine, EngineInfo, EngineKind, Environment, FileEntry, FileName, Folder, FolderPath,
    FolderUsage, NewFolder, NewSession, Placements, ResourceLimits, Result, Session,
    SessionPlacement, StorageHost,
};

use crate::connection::Connection;
use crate::folders;
use crate::sessions::{self, MountMemory};
use crate::user_config;

/// Cloning is cheap and shares the login: what outlives a call (an open terminal, a port
/// forward) keeps a clone to ask after its session.
#[derive(Clone)]
pub struct BackendAiEngine {
    connection: Arc<Connection>,
    /// The profile's name, shown in the status bar.
    profile: String,
    /// Where the sessions this engine started mount their folders.
    mounts: Arc<MountMemory>,
}

impl BackendAiEngine {
    pub fn new(profile: impl Into<String>, connection: Connection) -> Self {
        Self {
            connection: Arc::new(connection),
            profile: profile.into(),
            mounts: Arc::default(),
        }
    }

    /// Keeps where this profile's sessions mount their folders in `file`, so every process
    /// using the profile shows the same places (see [`MountMemory`]).
    pub fn with_mount_memory(mut self, file: std::path::PathBuf) -> Self {
        self.mounts = Arc::new(MountMemory::in_file(file));
        self
    }

    pub fn connection(&self) -> &Arc<Connection> {
        &self.connection
    }

    /// The name of the profile this engine logged in with.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The transfers' own grants and storage-proxy addresses (with the same overrides), for a
    /// preview's read or an editor's save.
    fn transport(&self) -> Result<crate::transfer::StorageProxyTransport> {
        Ok(
            crate::transfer::StorageProxyTransport::new(Arc::new(self.clone()))
                .with_overrides(crate::transfer::StorageProxyOverrides::from_env()?),
        )
    }
}

#[async_trait::async_trait]
impl Engine for BackendAiEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: EngineKind::BackendAi,
            label: format!("Backend.AI · {}", self.profile),
            location: self.connection.endpoint().to_string(),
            runs_root_file_systems: false,
        }
    }

    async fn list_hosts(&self) -> Result<Vec<StorageHost>> {
        folders::list_hosts(&self.connection).await
    }

    async fn list_projects(&self) -> Result<Vec<String>> {
        folders::list_projects(&self.connection).await
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        folders::list_folders(&self.connection).await
    }

    async fn list_trash(&self) -> Result<Vec<Folder>> {
        folders::list_trash(&self.connection).await
    }

    async fn folder(&self, name: &str) -> Result<Folder> {
        Ok(folders::live(&self.connection, name).await?.to_folder())
    }

    async fn folder_usage(&self, name: &str) -> Result<FolderUsage> {
        folders::folder_usage(&self.connection, name).await
    }

    async fn create_folder(&self, request: NewFolder) -> Result<Folder> {
        folders::create_folder(&self.connection, request).await
    }

    async fn clone_folder(&self, source: &str, target: NewFolder) -> Result<Folder> {
        folders::clone_folder(&self.connection, source, target).await
    }

    async fn rename_folder(&self, name: &str, new_name: &str) -> Result<Folder> {
        folders::rename_folder(&self.connection, name, new_name).await
    }

    async fn trash_folder(&self, name: &str) -> Result<Folder> {
        folders::trash_folder(&self.connection, name).await
    }

    async fn restore_folder(&self, name: &str) -> Result<Folder> {
        folders::restore_folder(&self.connection, name).await
    }

    async fn purge_folder(&self, name: &str) -> Result<()> {
        folders::purge_folder(&self.connection, name).await
    }

    async fn list_files(&self, folder: &str, path: &FolderPath) -> Result<Vec<FileEntry>> {
        folders::list_files(&self.connection, folder, path).await
    }

    async fn list_names(&self, folder: &str, path: &FolderPath) -> Result<Vec<FileName>> {
        folders::list_names(&self.connection, folder, path).await
    }

    async fn read_file_range(
        &self,
        folder: &str,
        path: &FolderPath,
        offset: u64,
        length: u32,
    ) -> Result<berth_core::FileRange> {
        self.transport()?
            .read_range(folder, path, offset, length)
            .await
    }

    async fn stat_files(
        &self,
        folder: &str,
        path: &FolderPath,
        names: Vec<String>,
    ) -> Result<Vec<FileEntry>> {
        folders::stat_files(&self.connection, folder, path, names).await
    }

    async fn write_file(
        &self,
        folder: &str,
        path: &FolderPath,
        bytes: Vec<u8>,
        mode: berth_core::SaveMode,
    ) -> Result<berth_core::FileVersion> {
        self.transport()?.save(folder, path, bytes, mode).await
    }

    async fn make_dir(&self, folder: &str, path: &FolderPath) -> Result<()> {
        folders::make_dir(&self.connection, folder, path).await
    }

    async fn move_path(&self, folder: &str, from: &FolderPath, to: &FolderPath) -> Result<()> {
        folders::move_path(&self.connection, folder, from, to).await
    }

    async fn remove_paths(&self, folder: &str, paths: &[FolderPath]) -> Result<()> {
        folders::remove_paths(&self.connection, folder, paths).await
    }

    async fn list_sessions(&self) -> Result<Vec<Session>> {
        sessions::list_sessions(&self.connection, &self.mounts).await
    }

    async fn list_environments(&self) -> Result<Vec<Environment>> {
        sessions::list_environments(&self.connection).await
    }

    async fn placements(&self) -> Result<Placements> {
        sessions::placements(&self.connection).await
    }

    async fn resource_limits(&self, placement: &SessionPlacement) -> Result<ResourceLimits> {
        sessions::resource_limits(&self.connection, placement).await
    }

    async fn create_session(&self, spec: NewSession) -> Result<Session> {
        sessions::create_session(&self.connection, &self.mounts, spec).await
    }

    async fn session_stats(&self, id_or_name: &str) -> Result<berth_core::SessionStats> {
        sessions::stats(&self.connection, id_or_name).await
    }

    async fn session(&self, id_or_name: &str) -> Result<Session> {
        sessions::session(&self.connection, &self.mounts, id_or_name).await
    }

    async fn destroy_session(&self, id_or_name: &str) -> Result<Session> {
        sessions::destroy_session(&self.connection, &self.mounts, id_or_name).await
    }

    async fn session_logs(&self, id_or_name: &str) -> Result<String> {
        sessions::session_logs(&self.connection, id_or_name).await
    }

    async fn list_dotfiles(&self) -> Result<Vec<Dotfile>> {
        user_config::list_dotfiles(&self.connection).await
    }

    async fn set_dotfile(&self, dotfile: Dotfile) -> Result<()> {
        user_config::set_dotfile(&self.connection, dotfile).await
    }

    async fn remove_dotfile(&self, path: &str) -> Result<()> {
        user_config::remove_dotfile(&self.connection, path).await
    }

    async fn bootstrap_script(&self) -> Result<Option<String>> {
        user_config::bootstrap_script(&self.connection).await
    }

    async fn set_bootstrap_script(&self, script: Option<String>) -> Result<()> {
        user_config::set_bootstrap_script(&self.connection, script).await
    }
}
