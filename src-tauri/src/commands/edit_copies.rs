//! "Edit in my editor": a folder's file copied here, opened in the user's editor, and written
//! back at each save (see [`berth_sync::EditCopies`]).

use berth_core::{Error, FolderPath};
use berth_sync::{EditCopies, EditCopyView, Resolution};
use tauri::State;
use tauri_specta::Event;

use crate::ActiveEngine;

/// The copies open in editors, sent whenever one changes (a save written back, a conflict).
#[derive(Debug, Clone, serde::Serialize, specta::Type, tauri_specta::Event)]
pub struct EditCopiesChanged {
    pub copies: Vec<EditCopyView>,
}

/// The app's copies, kept in `root` (under the data directory), telling the window of changes.
pub fn edit_copies<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    root: std::path::PathBuf,
) -> EditCopies {
    let app = app.clone();
    EditCopies::new(root, move || {
        use tauri::Manager;
        let copies = app.state::<EditCopies>().views();
        if let Err(error) = (EditCopiesChanged { copies }).emit(&app) {
            tracing::warn!(%error, "cannot tell the window about an edited copy");
        }
    })
}

/// Copies `path` of `folder` here and opens it in the user's editor: `BERTH_EDITOR` (a
/// program given the file) when set, else the system's app for the file's type.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, copies), err)]
pub async fn open_in_editor(
    state: State<'_, ActiveEngine>,
    copies: State<'_, EditCopies>,
    folder: String,
    path: String,
) -> Result<EditCopyView, Error> {
    let engine = state.get()?;
    let label = engine.info().label;
    let already = copies.views().len();
    let copy = copies
        .open(engine, &label, &folder, &FolderPath::parse(&path)?)
        .await?;
    if let Err(error) = launch_editor(&copy.local_path) {
        // A copy no editor has is not kept (one open before stays: its editor may have it).
        if copies.views().len() > already {
            let _ = copies.close(&copy.id);
        }
        return Err(error);
    }
    Ok(copy)
}

fn launch_editor(file: &str) -> Result<(), Error> {
    if let Some(editor) = std::env::var_os("BERTH_EDITOR").filter(|e| !e.is_empty()) {
        return std::process::Command::new(&editor)
            .arg(file)
            .spawn()
            .map(drop)
            .map_err(|e| {
                Error::invalid_input(format!(
                    "Cannot start the editor {} (BERTH_EDITOR): {e}",
                    std::path::Path::new(&editor).display()
                ))
            });
    }
    tauri_plugin_opener::open_path(file, None::<&str>).map_err(|error| {
        tracing::warn!(%error, file, "no app opened the copy");
        let kind = std::path::Path::new(file)
            .extension()
            .map(|e| format!(".{} files", e.to_string_lossy()))
            .unwrap_or_else(|| "files without an extension".to_string());
        Error::invalid_input(format!(
            "No app on this computer opens {kind}. Choose one for them in your system's settings (or set BERTH_EDITOR to an editor), then try again."
        ))
    })
}

/// The copies open in editors now.
#[tauri::command]
#[specta::specta]
pub fn edit_copies_open(copies: State<'_, EditCopies>) -> Vec<EditCopyView> {
    copies.views()
}

/// The user's choice for a copy in conflict or whose write-back failed.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(copies), err)]
pub async fn resolve_edit_copy(
    copies: State<'_, EditCopies>,
    id: String,
    resolution: Resolution,
) -> Result<EditCopyView, Error> {
    copies.resolve(&id, resolution).await
}

/// Stops writing a copy back and deletes it here (the window asks first when its latest save
/// is not in the folder).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(copies), err)]
pub fn close_edit_copy(copies: State<'_, EditCopies>, id: String) -> Result<(), Error> {
    copies.close(&id)
}
