use std::sync::Mutex;

use berth_core::{Error, FileEntry, FileKind, FileName, FolderPath};
use berth_local::DirectoryWatch;
use tauri::State;
use tauri::ipc::Channel;

use crate::ActiveEngine;

/// The directory the explorer shows, watched for changes made by sessions or other programs.
/// One explorer, one watch: opening another directory replaces it.
#[derive(Default)]
pub struct ExplorerWatch(Mutex<Option<DirectoryWatch>>);

/// The explorer's listing of one directory.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn list_files(
    state: State<'_, ActiveEngine>,
    folder: String,
    path: String,
) -> Result<Vec<FileEntry>, Error> {
    state
        .get()?
        .list_files(&folder, &FolderPath::parse(&path)?)
        .await
}

/// Names and kinds in a compact shape for the IPC: a list of strings parses several times
/// faster in the webview than as many small objects, which matters at 100,000 entries.
#[derive(Debug, Clone, serde::Serialize, specta::Type)]
pub struct NameList {
    pub names: Vec<String>,
    /// One letter per name: `d` directory, `f` file, `l` symbolic link, `o` other.
    pub kinds: String,
}

impl From<Vec<FileName>> for NameList {
    fn from(entries: Vec<FileName>) -> Self {
        let kinds = entries
            .iter()
            .map(|e| match e.kind {
                FileKind::Directory => 'd',
                FileKind::File => 'f',
                FileKind::Symlink => 'l',
                FileKind::Other => 'o',
            })
            .collect();
        Self {
            names: entries.into_iter().map(|e| e.name).collect(),
            kinds,
        }
    }
}

/// What opening a directory shows first: every entry's name and kind, in the explorer's order.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn list_names(
    state: State<'_, ActiveEngine>,
    folder: String,
    path: String,
) -> Result<NameList, Error> {
    Ok(state
        .get()?
        .list_names(&folder, &FolderPath::parse(&path)?)
        .await?
        .into())
}

/// Part of a file, for the preview: up to `length` bytes from `offset` (a screen at a time),
/// and the file's size.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn read_file_range(
    state: State<'_, ActiveEngine>,
    folder: String,
    path: String,
    offset: u64,
    length: u32,
) -> Result<berth_core::FileRange, Error> {
    state
        .get()?
        .read_file_range(&folder, &FolderPath::parse(&path)?, offset, length)
        .await
}

/// A text file as the window's editor holds it, and the version a save checks against.
#[derive(Debug, Clone, serde::Serialize, specta::Type)]
pub struct EditableText {
    pub text: String,
    pub version: berth_core::FileVersion,
}

/// The whole of a text file for the window's editor (up to [`berth_core::LARGEST_EDIT`] bytes,
/// UTF-8).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn read_text_for_edit(
    state: State<'_, ActiveEngine>,
    folder: String,
    path: String,
) -> Result<EditableText, Error> {
    let file = state
        .get()?
        .read_for_edit(
            &folder,
            &FolderPath::parse(&path)?,
            berth_core::LARGEST_EDIT,
        )
        .await?;
    let text = String::from_utf8(file.bytes).map_err(|e| {
        Error::invalid_input(format!(
            "\"{path}\" in folder \"{folder}\" is not UTF-8 text (byte {} is not); the window edits UTF-8 text only.",
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(EditableText {
        text,
        version: file.version,
    })
}

/// Saves the editor's text as file `path` by `mode`: `file_changed` when the file is no longer
/// the version the editor read, and nothing written.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, text), fields(bytes = text.len()), err)]
pub async fn save_text(
    state: State<'_, ActiveEngine>,
    folder: String,
    path: String,
    text: String,
    mode: berth_core::SaveMode,
) -> Result<berth_core::FileVersion, Error> {
    state
        .get()?
        .write_file(&folder, &FolderPath::parse(&path)?, text.into_bytes(), mode)
        .await
}

/// Sizes, times and link targets for the rows on screen.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, names), err)]
pub async fn stat_files(
    state: State<'_, ActiveEngine>,
    folder: String,
    path: String,
    names: Vec<String>,
) -> Result<Vec<FileEntry>, Error> {
    state
        .get()?
        .stat_files(&folder, &FolderPath::parse(&path)?, names)
        .await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn make_dir(
    state: State<'_, ActiveEngine>,
    folder: String,
    path: String,
) -> Result<(), Error> {
    state
        .get()?
        .make_dir(&folder, &FolderPath::parse(&path)?)
        .await
}

/// Rename or move within a folder.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn move_path(
    state: State<'_, ActiveEngine>,
    folder: String,
    from: String,
    to: String,
) -> Result<(), Error> {
    let (from, to) = (FolderPath::parse(&from)?, FolderPath::parse(&to)?);
    state.get()?.move_path(&folder, &from, &to).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err)]
pub async fn remove_paths(
    state: State<'_, ActiveEngine>,
    folder: String,
    paths: Vec<String>,
) -> Result<(), Error> {
    let paths = FolderPath::parse_all(&paths)?;
    state.get()?.remove_paths(&folder, &paths).await
}

/// Sends a message on `changed` whenever directory `path` of `folder` changes underneath the
/// explorer, until another directory is watched or [`unwatch_directory`] is called.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, watch, changed), err)]
pub fn watch_directory(
    state: State<'_, ActiveEngine>,
    watch: State<'_, ExplorerWatch>,
    folder: String,
    path: String,
    changed: Channel<()>,
) -> Result<(), Error> {
    let mut current = watch.0.lock().unwrap_or_else(|p| p.into_inner());
    // Stop the old watch first: its late events must not refresh the new directory.
    *current = None;
    let path = FolderPath::parse(&path)?;
    // A cluster's storage proxy has no change feed: its explorer refreshes on demand.
    if state.cluster().is_some() {
        return Ok(());
    }
    *current = Some(state.local("Live folder updates")?.watch_directory(
        &folder,
        &path,
        move || {
            let _ = changed.send(());
        },
    )?);
    Ok(())
}

#[tauri::command]
#[specta::specta]
pub fn unwatch_directory(watch: State<'_, ExplorerWatch>) {
    *watch.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
}
