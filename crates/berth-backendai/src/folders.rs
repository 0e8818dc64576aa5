//! Folders (vfolders) and their files over the manager's REST API (`/folders/...`), mapped onto
//! the same types the local engine fills, so the folders table, the explorer and the CLI work
//! unchanged. Paths are checked here before any request: the storage proxy answers a bad path
//! with a vague 400 or even a 500, and a client must never rely on it to refuse `..`.

use berth_core::folder::validate_name;
use berth_core::{
    Error, ErrorCode, FileEntry, FileKind, FileName, Folder, FolderPath, FolderPermission,
    FolderStatus, FolderUsage, NewFolder, Result, StorageHost, UsageMode,
};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::connection::Connection;

/// One row of `GET /folders` (26.8.1 shape; older servers send the same keys).
#[derive(Debug, Clone, Deserialize)]
pub struct RemoteFolder {
    pub id: String,
    pub name: String,
    pub host: String,
    #[serde(default)]
    pub usage_mode: String,
    #[serde(default)]
    pub permission: String,
    #[serde(default)]
    pub cloneable: bool,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub ownership_type: String,
    /// The owning project's name, for project (`group`) folders (26.8.1 leaves it empty in
    /// the list; [`remote_folders`] fills it from `group`).
    #[serde(default)]
    pub group_name: Option<String>,
    /// The owning project's id, for project folders.
    #[serde(default)]
    pub group: Option<String>,
}

impl RemoteFolder {
    fn is_live(&self) -> bool {
        !self.status.starts_with("delete")
    }

    fn is_trashed(&self) -> bool {
        // Only a pending deletion can be restored. `delete-ongoing` is a purge in progress (it
        // turns `delete-complete` a second or two later): gone from the user's point of view,
        // like `delete-complete` and `delete-error`.
        self.status == "delete-pending"
    }

    pub fn to_folder(&self) -> Folder {
        Folder {
            id: self.id.replace('-', ""),
            name: self.name.clone(),
            host: self.host.clone(),
            usage_mode: match self.usage_mode.as_str() {
                "model" => UsageMode::Model,
                "data" => UsageMode::Data,
                _ => UsageMode::General,
            },
            permission: permission_of(&self.permission),
            cloneable: self.cloneable,
            status: if self.is_live() {
                FolderStatus::Ready
            } else {
                FolderStatus::Trashed
            },
            created_at_ms: parse_time_ms(&self.created_at).unwrap_or(0),
            automount: berth_core::folder::is_automount_name(&self.name),
            project: if self.ownership_type == "group" {
                self.group_name.clone().filter(|name| !name.is_empty())
            } else {
                None
            },
        }
    }
}

fn permission_of(text: &str) -> FolderPermission {
    match text {
        "ro" => FolderPermission::Ro,
        "wd" => FolderPermission::Wd,
        _ => FolderPermission::Rw,
    }
}

fn permission_text(permission: FolderPermission) -> &'static str {
    match permission {
        FolderPermission::Ro => "ro",
        FolderPermission::Rw => "rw",
        FolderPermission::Wd => "wd",
    }
}

fn usage_text(mode: UsageMode) -> &'static str {
    match mode {
        UsageMode::General => "general",
        UsageMode::Model => "model",
        UsageMode::Data => "data",
    }
}

/// ISO-8601 with an offset, as the server writes times, to milliseconds since the epoch.
/// The folder list writes Python's `str(datetime)` (a space, not `T`); the file listing
/// writes ISO-8601 proper.
pub(crate) fn parse_time_ms(text: &str) -> Option<i64> {
    let iso = text.replacen(' ', "T", 1);
    let parsed = time::OffsetDateTime::parse(
        &iso,
        &time::format_description::well_known::Iso8601::DEFAULT,
    )
    .ok()?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `segment` made safe for one path segment of a URL.
pub(crate) fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn query(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub async fn list_hosts(connection: &Connection) -> Result<Vec<StorageHost>> {
    #[derive(Deserialize)]
    struct Hosts {
        default: Option<String>,
        #[serde(default)]
        allowed: Vec<String>,
        #[serde(default)]
        volume_info: serde_json::Map<String, serde_json::Value>,
    }
    let hosts: Hosts = connection
        .call_json(Method::GET, "folders/_/hosts", None)
        .await?;
    Ok(hosts
        .allowed
        .iter()
        .map(|id| {
            let info = hosts.volume_info.get(id);
            let backend = info
                .and_then(|i| i["backend"].as_str())
                .unwrap_or("storage volume");
            // The manager reports a percentage only; bytes stay unknown rather than invented.
            let used_percent = info
                .and_then(|i| i["usage"]["percentage"].as_f64())
                .filter(|p| p.is_finite())
                .map(|p| p.round().clamp(0.0, 100.0) as u8);
            StorageHost {
                id: id.clone(),
                location: format!("{backend} volume"),
                is_default: hosts.default.as_deref() == Some(id.as_str()),
                total_bytes: None,
                free_bytes: None,
                used_percent,
            }
        })
        .collect())
}

/// Every folder row the user can see, trashed ones included, project folders named by their
/// project.
pub async fn remote_folders(connection: &Connection) -> Result<Vec<RemoteFolder>> {
    let mut folders: Vec<RemoteFolder> = connection.call_json(Method::GET, "folders", None).await?;
    let unnamed = |f: &RemoteFolder| {
        f.ownership_type == "group" && f.group_name.as_deref().unwrap_or_default().is_empty()
    };
    if folders.iter().any(unnamed) {
        let projects = projects(connection).await?;
        let same = |a: &str, b: &str| a.replace('-', "") == b.replace('-', "");
        for folder in folders.iter_mut().filter(|f| unnamed(f)) {
            folder.group_name = folder.group.as_deref().and_then(|id| {
                projects
                    .iter()
                    .find(|p| same(&p.id, id))
                    .map(|p| p.name.clone())
            });
        }
    }
    Ok(folders)
}

pub async fn list_folders(connection: &Connection) -> Result<Vec<Folder>> {
    let mut folders: Vec<Folder> = remote_folders(connection)
        .await?
        .iter()
        .filter(|f| f.is_live())
        .map(RemoteFolder::to_folder)
        .collect();
    folders.sort_by(|a, b| (a.created_at_ms, &a.name).cmp(&(b.created_at_ms, &b.name)));
    Ok(folders)
}

pub async fn list_trash(connection: &Connection) -> Result<Vec<Folder>> {
    Ok(remote_folders(connection)
        .await?
        .iter()
        .filter(|f| f.is_trashed())
        .map(RemoteFolder::to_folder)
        .collect())
}

/// The live folder `name`, as the server lists it.
pub async fn live(connection: &Connection, name: &str) -> Result<RemoteFolder> {
    remote_folders(connection)
        .await?
        .into_iter()
        .find(|f| f.name == name && f.is_live())
        .ok_or_else(|| no_folder(name))
}

async fn trashed(connection: &Connection, name: &str) -> Result<RemoteFolder> {
    remote_folders(connection)
        .await?
        .into_iter()
        // By name, or by the id `berth folder trash` lists, where two trashed folders share a name.
        .find(|f| {
            (f.name == name || f.id.replace('-', "") == name.replace('-', "")) && f.is_trashed()
        })
        .ok_or_else(|| {
            Error::new(
                ErrorCode::NotFound,
                format!("There is no folder \"{name}\" in the trash."),
            )
        })
}

fn no_folder(name: &str) -> Error {
    Error::new(
        ErrorCode::NotFound,
        format!("There is no folder named \"{name}\"."),
    )
}

pub async fn folder_usage(connection: &Connection, name: &str) -> Result<FolderUsage> {
    let info: serde_json::Value = connection
        .call_json(Method::GET, &format!("folders/{}", segment(name)), None)
        .await?;
    Ok(FolderUsage {
        bytes: info["used_bytes"].as_u64().unwrap_or(0),
        files: info["numFiles"].as_u64().unwrap_or(0),
        // The manager counts files only.
        directories: 0,
    })
}

#[derive(Deserialize)]
struct Project {
    id: String,
    name: String,
}

async fn projects(connection: &Connection) -> Result<Vec<Project>> {
    #[derive(Deserialize)]
    struct Me {
        user: Option<Groups>,
    }
    #[derive(Deserialize)]
    struct Groups {
        #[serde(default)]
        groups: Vec<Project>,
    }
    let me: Me = connection
        .graphql("query { user { groups { id name } } }", json!({}))
        .await?;
    Ok(me.user.map(|u| u.groups).unwrap_or_default())
}

/// The projects the user belongs to, by name.
pub async fn list_projects(connection: &Connection) -> Result<Vec<String>> {
    let mut names: Vec<String> = projects(connection)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    Ok(names)
}

pub async fn create_folder(connection: &Connection, request: NewFolder) -> Result<Folder> {
    validate_name(&request.name)?;
    // The manager wants the project's id; people pick it by name.
    let project_id = match &request.project {
        None => None,
        Some(project) => {
            if berth_core::folder::is_automount_name(&request.name) && request.name != ".local" {
                return Err(Error::invalid_input(format!(
                    "Folder name \"{}\" starts with '.': a project folder cannot be an automount folder (only .local can).",
                    request.name
                )));
            }
            let found = projects(connection)
                .await?
                .into_iter()
                .find(|p| &p.name == project)
                .ok_or_else(|| {
                    Error::invalid_input(format!(
                        "You are not a member of a project named \"{project}\"."
                    ))
                })?;
            Some(found.id)
        }
    };
    let mut body = json!({
        "name": request.name,
        "usage_mode": usage_text(request.usage_mode),
        "permission": permission_text(request.permission),
        "cloneable": request.cloneable,
    });
    if let Some(host) = &request.host {
        body["host"] = json!(host);
    }
    if let Some(id) = project_id {
        body["group"] = json!(id);
    }
    let created: RemoteFolder = connection
        .call_json(Method::POST, "folders", Some(&body))
        .await?;
    // The create answer leaves `created_at` empty; the list has it.
    Ok(live(connection, &created.name)
        .await
        .map(|f| f.to_folder())
        .unwrap_or_else(|_| created.to_folder()))
}

pub async fn clone_folder(
    connection: &Connection,
    source: &str,
    target: NewFolder,
) -> Result<Folder> {
    validate_name(&target.name)?;
    if berth_core::folder::is_automount_name(&target.name) {
        return Err(Error::invalid_input(format!(
            "Folder name \"{}\" starts with '.': a clone cannot be an automount folder.",
            target.name
        )));
    }
    let source_folder = live(connection, source).await?;
    if !source_folder.cloneable {
        return Err(Error::new(
            ErrorCode::PermissionDenied,
            format!("Folder \"{source}\" is not cloneable."),
        ));
    }
    let body = json!({
        "target_name": target.name,
        "target_host": target.host.unwrap_or(source_folder.host),
        "usage_mode": usage_text(target.usage_mode),
        "permission": permission_text(target.permission),
        "cloneable": target.cloneable,
    });
    connection
        .call(
            Method::POST,
            &format!("folders/{}/clone", segment(source)),
            Some(&body),
        )
        .await?;
    // Cloning runs as a background task on the server; the clone is usable once it is ready.
    for _ in 0..600 {
        if let Ok(folder) = live(connection, &target.name).await
            && folder.status == "ready"
        {
            return Ok(folder.to_folder());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(Error::internal(format!(
        "Cloning \"{source}\" into \"{}\" did not finish within two minutes; it may still appear later.",
        target.name
    )))
}

pub async fn rename_folder(connection: &Connection, name: &str, new_name: &str) -> Result<Folder> {
    validate_name(new_name)?;
    connection
        .call(
            Method::POST,
            &format!("folders/{}/rename", segment(name)),
            Some(&json!({ "new_name": new_name })),
        )
        .await?;
    Ok(live(connection, new_name).await?.to_folder())
}

pub async fn trash_folder(connection: &Connection, name: &str) -> Result<Folder> {
    let folder = live(connection, name).await?;
    connection
        .call(
            Method::DELETE,
            "folders",
            Some(&json!({ "vfolder_id": folder.id })),
        )
        .await?;
    Ok(trashed(connection, name).await?.to_folder())
}

pub async fn restore_folder(connection: &Connection, name: &str) -> Result<Folder> {
    let folder = trashed(connection, name).await?;
    if live(connection, &folder.name).await.is_ok() {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!(
                "A folder named \"{}\" exists again; rename it before restoring this one.",
                folder.name
            ),
        ));
    }
    connection
        .call(
            Method::POST,
            "folders/restore-from-trash-bin",
            Some(&json!({ "vfolder_id": folder.id })),
        )
        .await?;
    Ok(live(connection, &folder.name).await?.to_folder())
}

pub async fn purge_folder(connection: &Connection, name: &str) -> Result<()> {
    let folder = trashed(connection, name).await?;
    connection
        .call(
            Method::POST,
            "folders/delete-from-trash-bin",
            Some(&json!({ "vfolder_id": folder.id })),
        )
        .await?;
    Ok(())
}

#[derive(Deserialize)]
struct Listing {
    items: Vec<RemoteEntry>,
}

#[derive(Deserialize)]
struct RemoteEntry {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    modified: String,
}

impl RemoteEntry {
    fn kind(&self) -> FileKind {
        match self.kind.as_str() {
            "FILE" => FileKind::File,
            "DIRECTORY" => FileKind::Directory,
            "SYMLINK" => FileKind::Symlink,
            _ => FileKind::Other,
        }
    }

    fn to_entry(&self) -> FileEntry {
        let kind = self.kind();
        FileEntry {
            name: self.name.clone(),
            kind,
            size: if kind == FileKind::Directory {
                0
            } else {
                self.size
            },
            modified_ms: parse_time_ms(&self.modified),
            // The storage proxy does not say where a link points.
            link_target: None,
        }
    }
}

pub async fn list_files(
    connection: &Connection,
    folder: &str,
    path: &FolderPath,
) -> Result<Vec<FileEntry>> {
    let listing: Listing = connection
        .call_json(
            Method::GET,
            &format!(
                "folders/{}/files?path={}",
                segment(folder),
                query(path.as_str())
            ),
            None,
        )
        .await
        .map_err(|e| path_error(e, folder, path))?;
    Ok(listing.items.iter().map(RemoteEntry::to_entry).collect())
}

/// The storage proxy says only "Bad request" for a path that is not there; say which.
fn path_error(error: Error, folder: &str, path: &FolderPath) -> Error {
    if error.code == ErrorCode::InvalidInput && error.message.contains("storage proxy") {
        Error::new(
            ErrorCode::NotFound,
            format!(
                "There is no directory \"{}\" in folder \"{folder}\" (the server said: {}).",
                path.as_str(),
                error.message
            ),
        )
    } else {
        error
    }
}

pub async fn list_names(
    connection: &Connection,
    folder: &str,
    path: &FolderPath,
) -> Result<Vec<FileName>> {
    let mut names: Vec<FileName> = list_files(connection, folder, path)
        .await?
        .into_iter()
        .map(|e| FileName {
            name: e.name,
            kind: e.kind,
        })
        .collect();
    berth_core::files::sort_for_explorer(&mut names);
    Ok(names)
}

pub async fn stat_files(
    connection: &Connection,
    folder: &str,
    path: &FolderPath,
    names: Vec<String>,
) -> Result<Vec<FileEntry>> {
    let wanted: std::collections::HashSet<String> = names.into_iter().collect();
    Ok(list_files(connection, folder, path)
        .await?
        .into_iter()
        .filter(|e| wanted.contains(&e.name))
        .collect())
}

pub async fn make_dir(connection: &Connection, folder: &str, path: &FolderPath) -> Result<()> {
    if path.is_root() {
        return Ok(());
    }
    writable(connection, folder).await?;
    connection
        .call(
            Method::POST,
            &format!("folders/{}/mkdir", segment(folder)),
            Some(&json!({ "path": path.as_str(), "parents": true, "exist_ok": true })),
        )
        .await?;
    Ok(())
}

pub async fn move_path(
    connection: &Connection,
    folder: &str,
    from: &FolderPath,
    to: &FolderPath,
) -> Result<()> {
    let (Some(from_name), Some(to_name)) = (from.file_name(), to.file_name()) else {
        return Err(Error::invalid_input(
            "The folder's root cannot be moved or replaced.",
        ));
    };
    if to.as_str().starts_with(&format!("{}/", from.as_str())) {
        return Err(Error::invalid_input(format!(
            "\"{}\" cannot be moved into itself (\"{}\").",
            from.as_str(),
            to.as_str()
        )));
    }
    writable(connection, folder).await?;
    let from_parent = from.parent().unwrap_or_else(FolderPath::root);
    let to_parent = to.parent().unwrap_or_else(FolderPath::root);
    let source_there = list_files(connection, folder, &from_parent)
        .await?
        .iter()
        .any(|e| e.name == from_name);
    if !source_there {
        return Err(Error::new(
            ErrorCode::NotFound,
            format!("There is no \"{}\" in folder \"{folder}\".", from.as_str()),
        ));
    }
    // The server replaces an existing destination; Berth never does, so it looks first.
    let taken = list_files(connection, folder, &to_parent)
        .await
        .map(|entries| entries.iter().any(|e| e.name == to_name))
        .unwrap_or(false);
    if taken {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("\"{}\" already exists in folder \"{folder}\".", to.as_str()),
        ));
    }
    if from_parent == to_parent {
        connection
            .call(
                Method::POST,
                &format!("folders/{}/rename-file", segment(folder)),
                Some(&json!({ "target_path": from.as_str(), "new_name": to_name })),
            )
            .await?;
    } else {
        connection
            .call(
                Method::POST,
                &format!("folders/{}/move-file", segment(folder)),
                Some(&json!({ "src": from.as_str(), "dst": to.as_str() })),
            )
            .await?;
    }
    Ok(())
}

pub async fn remove_paths(
    connection: &Connection,
    folder: &str,
    paths: &[FolderPath],
) -> Result<()> {
    if paths.iter().any(FolderPath::is_root) {
        return Err(Error::invalid_input(
            "The folder's root cannot be deleted from the explorer; move the folder to the trash instead.",
        ));
    }
    if paths.is_empty() {
        return Ok(());
    }
    writable(connection, folder).await?;
    let files: Vec<&str> = paths.iter().map(FolderPath::as_str).collect();
    connection
        .call(
            Method::DELETE,
            &format!("folders/{}/delete-files", segment(folder)),
            Some(&json!({ "files": files, "recursive": true })),
        )
        .await?;
    Ok(())
}

/// Refuses a change to a read-only folder with the same words as the local engine, before the
/// server's less helpful refusal.
pub(crate) async fn writable(connection: &Connection, folder: &str) -> Result<RemoteFolder> {
    let remote = live(connection, folder).await?;
    if remote.permission == "ro" {
        return Err(Error::new(
            ErrorCode::PermissionDenied,
            format!("Folder \"{folder}\" is read-only."),
        ));
    }
    Ok(remote)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_times_become_epoch_milliseconds() {
        assert_eq!(
            parse_time_ms("2026-11-27T10:00:00.5+00:00"),
            Some(1_795_773_600_500)
        );
        assert_eq!(
            parse_time_ms("2026-11-27T19:00:00+09:00"),
            Some(1_795_773_600_000)
        );
        assert_eq!(
            parse_time_ms("2026-11-27 10:00:00.500000+00:00"),
            Some(1_795_773_600_500),
            "as GET /folders writes it"
        );
        assert_eq!(parse_time_ms(""), None);
    }

    #[test]
    fn names_are_escaped_for_a_url_path() {
        assert_eq!(segment("my data/x?"), "my%20data%2Fx%3F");
        assert_eq!(segment("데이터"), "%EB%8D%B0%EC%9D%B4%ED%84%B0");
    }

    #[test]
    fn trashed_and_live_rows_are_told_apart() {
        let row = |status: &str| RemoteFolder {
            id: "a1b2".into(),
            name: "x".into(),
            host: "local:volume1".into(),
            usage_mode: "general".into(),
            permission: "rw".into(),
            cloneable: false,
            status: status.into(),
            created_at: String::new(),
            ownership_type: "user".into(),
            group_name: None,
            group: None,
        };
        assert!(row("ready").is_live());
        assert!(row("delete-pending").is_trashed());
        assert!(!row("delete-complete").is_live() && !row("delete-complete").is_trashed());
        // A purge in progress is not in the trash any more: it cannot be restored.
        assert!(!row("delete-ongoing").is_live() && !row("delete-ongoing").is_trashed());
        assert_eq!(
            row("delete-pending").to_folder().status,
            FolderStatus::Trashed
        );
    }
}
