//! "Edit in my editor" on the real local engine, with a scripted editor: a real process that
//! saves the copy the ways editors do (in place, or a new file renamed over it).

// Helpers here are test code too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth_core::FolderPath;
use berth_local::LocalEngine;
use berth_sync::{EditCopies, EditCopyStatus, EditCopyView, Resolution};

mod common;

struct Scene {
    _root: tempfile::TempDir,
    engine: Arc<LocalEngine>,
    folder: std::path::PathBuf,
    copies: EditCopies,
}

async fn scene() -> Scene {
    let common::FolderOnLocalEngine {
        root,
        engine,
        folder,
    } = common::engine_with_folder().await;
    std::fs::write(folder.join("notes.txt"), "one\n").unwrap();
    let copies = EditCopies::new(root.path().join("edit-copies"), || {});
    Scene {
        _root: root,
        engine,
        folder,
        copies,
    }
}

/// The scripted editor: saves `text` into `file` as an editor would, `renaming` a new file
/// over it (vim, VS Code's safe save) or writing in place (nano).
fn editor_saves(file: &str, text: &str, renaming: bool) {
    let script = if renaming {
        r#"printf '%s' "$2" > "$1.swp" && mv "$1.swp" "$1""#
    } else {
        r#"printf '%s' "$2" > "$1""#
    };
    let status = std::process::Command::new("sh")
        .args(["-c", script, "editor", file, text])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(found) = check() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn view(copies: &EditCopies, id: &str) -> EditCopyView {
    copies.views().into_iter().find(|v| v.id == id).unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

async fn open(s: &Scene, path: &str) -> EditCopyView {
    s.copies
        .open(
            s.engine.clone(),
            "Local engine",
            "proj",
            &FolderPath::parse(path).unwrap(),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_save_in_the_editor_reaches_the_folder() {
    let s = scene().await;
    let copy = open(&s, "notes.txt").await;
    assert_eq!(read(Path::new(&copy.local_path)), "one\n");
    assert!(
        copy.local_path.ends_with("notes.txt"),
        "the copy keeps the file's name for the editor"
    );
    assert_eq!(copy.status, EditCopyStatus::InStep { uploaded_ms: None });

    editor_saves(&copy.local_path, "two\n", false);
    until("the in-place save in the folder", || {
        (read(&s.folder.join("notes.txt")) == "two\n").then_some(())
    })
    .await;
    editor_saves(&copy.local_path, "three, renamed into place\n", true);
    until("the renaming save in the folder", || {
        (read(&s.folder.join("notes.txt")) == "three, renamed into place\n").then_some(())
    })
    .await;
    let now = until("the second upload counted", || {
        let v = view(&s.copies, &copy.id);
        (v.uploads == 2
            && matches!(
                v.status,
                EditCopyStatus::InStep {
                    uploaded_ms: Some(_)
                }
            ))
        .then_some(v)
    })
    .await;
    assert_eq!(now.path, "notes.txt");
    assert_eq!(s.copies.not_written_back(), 0);

    // Opening it again gives the same copy, not a second download over the user's edits.
    assert_eq!(open(&s, "notes.txt").await.id, copy.id);

    // Closing deletes the copy from this computer; the folder keeps what was written back.
    s.copies.close(&copy.id).unwrap();
    assert!(!Path::new(&copy.local_path).exists());
    assert!(s.copies.views().is_empty());
    assert_eq!(
        read(&s.folder.join("notes.txt")),
        "three, renamed into place\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_in_the_folder_meanwhile_waits_for_the_users_choice() {
    let s = scene().await;
    let copy = open(&s, "notes.txt").await;
    let in_folder = s.folder.join("notes.txt");

    // Someone (a session) changes the file; then the editor saves: nothing is overwritten.
    std::fs::write(&in_folder, "theirs\n").unwrap();
    editor_saves(&copy.local_path, "mine\n", true);
    let conflict = until("the conflict", || match view(&s.copies, &copy.id).status {
        EditCopyStatus::Conflict { message } => Some(message),
        _ => None,
    })
    .await;
    assert!(
        conflict.contains("\"notes.txt\" in folder \"proj\" changed"),
        "{conflict}"
    );
    assert_eq!(read(&in_folder), "theirs\n");
    assert_eq!(
        s.copies.not_written_back(),
        1,
        "quitting now would lose an edit"
    );
    // More saves while in conflict write nothing either.
    editor_saves(&copy.local_path, "mine, again\n", false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read(&in_folder), "theirs\n");

    // Save as a copy: beside the file, and the editor's later saves go there.
    let moved = s
        .copies
        .resolve(&copy.id, Resolution::SaveAsCopy)
        .await
        .unwrap();
    assert_eq!(moved.path, "notes (1).txt");
    assert_eq!(read(&s.folder.join("notes (1).txt")), "mine, again\n");
    assert_eq!(read(&in_folder), "theirs\n");
    editor_saves(&copy.local_path, "mine, later\n", true);
    until("the later save in the copy", || {
        (read(&s.folder.join("notes (1).txt")) == "mine, later\n").then_some(())
    })
    .await;

    // Overwrite: the user's word.
    std::fs::write(s.folder.join("notes (1).txt"), "theirs again\n").unwrap();
    editor_saves(&copy.local_path, "overwrite it\n", false);
    until("the second conflict", || {
        matches!(
            view(&s.copies, &copy.id).status,
            EditCopyStatus::Conflict { .. }
        )
        .then_some(())
    })
    .await;
    s.copies
        .resolve(&copy.id, Resolution::Overwrite)
        .await
        .unwrap();
    assert_eq!(read(&s.folder.join("notes (1).txt")), "overwrite it\n");

    // Reload: the folder's file replaces the copy, and is not sent back as a save.
    std::fs::write(s.folder.join("notes (1).txt"), "from a session\n").unwrap();
    editor_saves(&copy.local_path, "dropped\n", false);
    until("the third conflict", || {
        matches!(
            view(&s.copies, &copy.id).status,
            EditCopyStatus::Conflict { .. }
        )
        .then_some(())
    })
    .await;
    let reloaded = s
        .copies
        .resolve(&copy.id, Resolution::Reload)
        .await
        .unwrap();
    assert_eq!(
        reloaded.status,
        EditCopyStatus::InStep { uploaded_ms: None }
    );
    assert_eq!(read(Path::new(&copy.local_path)), "from a session\n");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read(&s.folder.join("notes (1).txt")), "from a session\n");
    assert_eq!(s.copies.not_written_back(), 0);
    // No reload leftovers beside the copy.
    let beside: Vec<_> = std::fs::read_dir(Path::new(&copy.local_path).parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["notes.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_edited_on_a_copy_is_refused_in_words() {
    let s = scene().await;
    let too_big = std::fs::File::create(s.folder.join("huge.bin")).unwrap();
    too_big.set_len(berth_core::LARGEST_EDIT_COPY + 1).unwrap();
    let open = |path: &'static str| {
        let (copies, engine) = (&s.copies, s.engine.clone());
        async move {
            copies
                .open(
                    engine,
                    "Local engine",
                    "proj",
                    &FolderPath::parse(path).unwrap(),
                )
                .await
                .unwrap_err()
        }
    };
    let error = open("huge.bin").await;
    assert!(
        error.message.contains("more than the 256 MiB"),
        "{}",
        error.message
    );
    assert_eq!(
        open("missing.txt").await.code,
        berth_core::ErrorCode::NotFound
    );
    assert!(s.copies.views().is_empty());
}
