//! `berth folder …`: storage folders on the local engine, the same calls the Data & Storage
//! page makes.

use berth_core::{Engine, Folder, FolderPermission, NewFolder, UsageMode};
use berth_local::LocalEngine;
use clap::Subcommand;
use serde::de::DeserializeOwned;

use crate::output::{Output, human_bytes, utc_minute};

#[derive(Subcommand)]
pub enum FolderCommand {
    /// Storage hosts folders can be created on, with their free space.
    Hosts {
        #[command(subcommand)]
        change: Option<HostChange>,
    },
    /// Folders that are not in the trash.
    List,
    /// One folder's fields (with --json, also its directory on this computer).
    Info { name: String },
    /// Create an empty folder.
    Create {
        name: String,
        #[command(flatten)]
        options: FolderOptions,
    },
    /// Rename a folder; its contents stay.
    Rename { old: String, new: String },
    /// Copy a cloneable folder into a new one.
    Clone {
        source: String,
        target: String,
        #[command(flatten)]
        options: FolderOptions,
    },
    /// Move a folder to the trash (restore it, or purge it for good, later).
    Delete { name: String },
    /// Bring a folder back from the trash (by name or id).
    Restore { name: String },
    /// Delete a trashed folder and its contents for good (by name or id).
    Purge { name: String },
    /// Folders in the trash.
    Trash,
    /// The projects you can create folders for (`--project`); none on this computer.
    Projects,
}

/// Adding and removing storage hosts (other disks) of the local engine.
#[derive(Subcommand)]
pub enum HostChange {
    /// Keep folders on another disk: adds host local:NAME storing them in DIR/berth-folders.
    Add {
        name: String,
        directory: std::path::PathBuf,
    },
    /// Remove an added host that holds no folders (its directory stays on disk).
    Remove { id: String },
}

/// What a new folder (created or cloned) is like.
#[derive(clap::Args)]
pub struct FolderOptions {
    /// Storage host id (see `berth folder hosts`); the default host when omitted.
    #[arg(long)]
    host: Option<String>,
    /// general, model or data.
    #[arg(long, default_value = "general", value_parser = parse_enum::<UsageMode>)]
    usage_mode: UsageMode,
    /// ro (read only), rw (read & write) or wd (read, write & delete).
    #[arg(long, default_value = "rw", value_parser = parse_enum::<FolderPermission>)]
    permission: FolderPermission,
    /// Let others clone this folder.
    #[arg(long)]
    cloneable: bool,
    /// Create it for this project (a cluster profile's; see `berth folder projects`) rather
    /// than for yourself.
    #[arg(long)]
    project: Option<String>,
}

impl FolderOptions {
    fn named(self, name: String) -> NewFolder {
        NewFolder {
            name,
            host: self.host,
            usage_mode: self.usage_mode,
            permission: self.permission,
            cloneable: self.cloneable,
            project: self.project,
        }
    }
}

/// Parses the snake_case names the IPC uses (`general`, `rw`, ...) into a domain enum.
fn parse_enum<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|e| e.to_string())
}

pub async fn run(
    engine: &dyn Engine,
    // Where a local folder is on disk; other engines' folders are not on this computer.
    local: Option<&LocalEngine>,
    command: FolderCommand,
    out: &Output,
) -> berth_core::Result<()> {
    match command {
        FolderCommand::Hosts {
            change: Some(HostChange::Add { name, directory }),
        } => {
            let directory = std::path::absolute(&directory).unwrap_or(directory);
            let host = engine.add_host(&name, &directory).await?;
            out.print(&host, || {
                format!("Added storage host {} at {}.\n", host.id, host.location)
            });
        }
        FolderCommand::Hosts {
            change: Some(HostChange::Remove { id }),
        } => {
            engine.remove_host(&id).await?;
            out.print(&serde_json::json!({ "removed": id }), || {
                format!("Removed storage host {id}.\n")
            });
        }
        FolderCommand::Hosts { change: None } => {
            let hosts = engine.list_hosts().await?;
            out.print(&hosts, || {
                let mut text = format!(
                    "{:<16} {:>10} {:>10}  {}\n",
                    "HOST", "FREE", "TOTAL", "LOCATION"
                );
                for host in &hosts {
                    let size = |b: Option<u64>| b.map(human_bytes).unwrap_or_else(|| "?".into());
                    text += &format!(
                        "{:<16} {:>10} {:>10}  {}{}\n",
                        host.id,
                        size(host.free_bytes),
                        size(host.total_bytes),
                        host.location,
                        if host.is_default { " (default)" } else { "" }
                    );
                }
                text
            });
        }
        FolderCommand::List => {
            let folders = engine.list_folders().await?;
            out.print(&folders, || {
                folder_table(
                    &folders,
                    "No storage folders yet. Create one with `berth folder create NAME`.\n",
                )
            });
        }
        FolderCommand::Projects => {
            let projects = engine.list_projects().await?;
            out.print(&projects, || {
                if projects.is_empty() {
                    "No projects: folders here are your own.\n".to_string()
                } else {
                    projects.iter().map(|p| format!("{p}\n")).collect()
                }
            });
        }
        FolderCommand::Trash => {
            let folders = engine.list_trash().await?;
            out.print(&folders, || folder_table(&folders, "The trash is empty.\n"));
        }
        FolderCommand::Info { name } => {
            let folder = engine.folder(&name).await?;
            let path = local
                .map(|local| local.folder_path(&folder).display().to_string())
                .unwrap_or_else(|| "(on the cluster)".to_string());
            let mut value = serde_json::to_value(&folder).unwrap_or_default();
            if local.is_some() {
                value["path"] = serde_json::Value::String(path.clone());
            }
            out.print(&value, || {
                format!(
                    "name        {}\nid          {}\nhost        {}\nusage mode  {}\npermission  {}\ncloneable   {}\nautomount   {}\ncreated     {}\npath        {}\n",
                    folder.name,
                    folder.id,
                    folder.host,
                    enum_text(&folder.usage_mode),
                    enum_text(&folder.permission),
                    folder.cloneable,
                    folder.automount,
                    utc_minute(folder.created_at_ms),
                    path
                )
            });
        }
        FolderCommand::Create { name, options } => {
            let folder = engine.create_folder(options.named(name)).await?;
            out.print(&folder, || {
                format!("Created folder \"{}\" on {}.\n", folder.name, folder.host)
            });
        }
        FolderCommand::Clone {
            source,
            target,
            options,
        } => {
            let folder = engine.clone_folder(&source, options.named(target)).await?;
            out.print(&folder, || {
                format!("Cloned \"{source}\" into \"{}\".\n", folder.name)
            });
        }
        FolderCommand::Rename { old, new } => {
            let folder = engine.rename_folder(&old, &new).await?;
            out.print(&folder, || {
                format!("Renamed \"{old}\" to \"{}\".\n", folder.name)
            });
        }
        FolderCommand::Delete { name } => {
            let folder = engine.trash_folder(&name).await?;
            out.print(&folder, || {
                format!(
                    "Moved \"{}\" to the trash. `berth folder restore {}` brings it back.\n",
                    folder.name, folder.name
                )
            });
        }
        FolderCommand::Restore { name } => {
            let folder = engine.restore_folder(&name).await?;
            out.print(&folder, || format!("Restored \"{}\".\n", folder.name));
        }
        FolderCommand::Purge { name } => {
            engine.purge_folder(&name).await?;
            out.print(&serde_json::json!({ "purged": name }), || {
                format!("Deleted \"{name}\" for good.\n")
            });
        }
    }
    Ok(())
}

fn enum_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn folder_table(folders: &[Folder], empty: &str) -> String {
    if folders.is_empty() {
        return empty.to_string();
    }
    let width = folders
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut text = format!(
        "{:<width$}  {:<8} {:<14} {:<4} {}\n",
        "NAME", "USAGE", "HOST", "PERM", "CREATED"
    );
    for folder in folders {
        text += &format!(
            "{:<width$}  {:<8} {:<14} {:<4} {}{}\n",
            folder.name,
            enum_text(&folder.usage_mode),
            folder.host,
            enum_text(&folder.permission),
            utc_minute(folder.created_at_ms),
            match (&folder.project, folder.automount) {
                (Some(project), _) => format!("  (project {project})"),
                (None, true) => "  (auto-mount)".to_string(),
                (None, false) => String::new(),
            }
        );
    }
    text
}
