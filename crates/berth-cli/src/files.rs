//! `berth files …`: a folder's contents, the same calls the explorer makes.

use berth_core::{Engine, FileEntry, FileKind, FolderPath};
use clap::Subcommand;

use crate::output::{Output, human_bytes, utc_minute};

#[derive(Subcommand)]
pub enum FilesCommand {
    /// List a directory of a folder (its top level when PATH is omitted).
    Ls {
        folder: String,
        path: Option<String>,
    },
    /// Create a directory, with any missing parents.
    Mkdir { folder: String, path: String },
    /// Move or rename an entry within the folder; never replaces an existing one.
    Mv {
        folder: String,
        from: String,
        to: String,
    },
    /// Delete files, links and directory trees (a link is removed, never its target).
    #[command(name = "rm")]
    Rm {
        folder: String,
        #[arg(required = true)]
        paths: Vec<String>,
    },
}

pub async fn run(
    engine: &dyn Engine,
    command: FilesCommand,
    out: &Output,
) -> berth_core::Result<()> {
    match command {
        FilesCommand::Ls { folder, path } => {
            let path = FolderPath::parse(path.as_deref().unwrap_or(""))?;
            let entries = engine.list_files(&folder, &path).await?;
            out.print(&entries, || listing(&entries));
        }
        FilesCommand::Mkdir { folder, path } => {
            let path = FolderPath::parse(&path)?;
            engine.make_dir(&folder, &path).await?;
            out.print(&serde_json::json!({ "created": path }), || {
                format!("Created {folder}/{path}\n")
            });
        }
        FilesCommand::Mv { folder, from, to } => {
            let (from, to) = (FolderPath::parse(&from)?, FolderPath::parse(&to)?);
            engine.move_path(&folder, &from, &to).await?;
            out.print(&serde_json::json!({ "from": from, "to": to }), || {
                format!("Moved {from} to {to}\n")
            });
        }
        FilesCommand::Rm { folder, paths } => {
            let paths = FolderPath::parse_all(&paths)?;
            engine.remove_paths(&folder, &paths).await?;
            out.print(&serde_json::json!({ "removed": paths }), || {
                format!("Deleted {} entries\n", paths.len())
            });
        }
    }
    Ok(())
}

fn listing(entries: &[FileEntry]) -> String {
    entries
        .iter()
        .map(|entry| {
            let size = match entry.kind {
                FileKind::File => human_bytes(entry.size),
                FileKind::Directory => "dir".into(),
                FileKind::Symlink => "link".into(),
                FileKind::Other => "other".into(),
            };
            let modified = entry.modified_ms.map(utc_minute).unwrap_or_default();
            let suffix = match (&entry.kind, &entry.link_target) {
                (FileKind::Directory, _) => "/".to_string(),
                (FileKind::Symlink, Some(target)) => format!(" -> {target}"),
                _ => String::new(),
            };
            format!("{size:>10}  {modified:<20}  {}{suffix}\n", entry.name)
        })
        .collect()
}
