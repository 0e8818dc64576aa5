//! The window's editor on a cluster folder (the peer's real storage proxy): a save lands only
//! over the version it read, and what is refused writes nothing.

use berth_core::{Engine, ErrorCode, FolderPath, LARGEST_EDIT, SaveMode};

use crate::engine;
use crate::transfers::{folder, remove_folder};

fn p(text: &str) -> FolderPath {
    FolderPath::parse(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_save_lands_only_over_the_version_it_read() {
    let engine = engine().await;
    let name = folder(&engine, "edit").await;
    let notes = p("notes.txt");
    let contents = |engine: &berth_backendai::BackendAiEngine| {
        let (name, notes) = (name.clone(), notes.clone());
        let engine = engine.clone();
        async move {
            engine
                .read_file_range(&name, &notes, 0, 1 << 20)
                .await
                .unwrap()
                .bytes
        }
    };

    let created = engine
        .write_file(&name, &notes, b"hello\n".to_vec(), SaveMode::CreateNew)
        .await
        .unwrap();
    assert_eq!(created.size, 6);
    let opened = engine
        .read_for_edit(&name, &notes, LARGEST_EDIT)
        .await
        .unwrap();
    assert_eq!(
        (opened.bytes.as_slice(), opened.version),
        (&b"hello\n"[..], created)
    );

    let read = opened.version;
    let saved = engine
        .write_file(
            &name,
            &notes,
            b"hello, cluster\n".to_vec(),
            SaveMode::IfUnchanged { read },
        )
        .await
        .unwrap();
    assert_eq!(saved.size, 15);
    assert_eq!(contents(&engine).await, b"hello, cluster\n");

    // An editor still holding the first version is refused and writes nothing.
    let stale = engine
        .write_file(
            &name,
            &notes,
            b"stale".to_vec(),
            SaveMode::IfUnchanged { read },
        )
        .await
        .unwrap_err();
    assert_eq!(stale.code, ErrorCode::FileChanged, "{stale:?}");
    assert!(
        stale.message.contains(&format!(
            "\"notes.txt\" in folder \"{name}\" changed (now 15 bytes)"
        )),
        "{}",
        stale.message
    );
    assert_eq!(contents(&engine).await, b"hello, cluster\n");

    // Save as a copy onto a taken name: refused; the file stays.
    let taken = engine
        .write_file(&name, &notes, b"mine".to_vec(), SaveMode::CreateNew)
        .await
        .unwrap_err();
    assert_eq!(taken.code, ErrorCode::AlreadyExists);
    assert_eq!(contents(&engine).await, b"hello, cluster\n");

    // Overwrite, down to nothing: an empty file is a file too.
    let emptied = engine
        .write_file(&name, &notes, Vec::new(), SaveMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(emptied.size, 0);
    assert_eq!(contents(&engine).await, b"");

    // Deleted meanwhile: said, and not recreated.
    engine
        .remove_paths(&name, std::slice::from_ref(&notes))
        .await
        .unwrap();
    let gone = engine
        .write_file(
            &name,
            &notes,
            b"x".to_vec(),
            SaveMode::IfUnchanged { read: emptied },
        )
        .await
        .unwrap_err();
    assert_eq!(gone.code, ErrorCode::FileChanged);
    assert!(gone.message.contains("was deleted"), "{}", gone.message);
    let listed = engine.list_files(&name, &FolderPath::root()).await.unwrap();
    assert!(listed.iter().all(|e| e.name != "notes.txt"), "{listed:?}");

    engine.make_dir(&name, &p("a-dir")).await.unwrap();
    let directory = engine
        .read_for_edit(&name, &p("a-dir"), LARGEST_EDIT)
        .await
        .unwrap_err();
    assert_eq!(directory.code, ErrorCode::InvalidInput);
    let over_dir = engine
        .write_file(&name, &p("a-dir"), b"x".to_vec(), SaveMode::Overwrite)
        .await
        .unwrap_err();
    assert_eq!(over_dir.code, ErrorCode::InvalidInput, "{over_dir:?}");
    assert_eq!(
        engine
            .read_for_edit(&name, &p("none.txt"), LARGEST_EDIT)
            .await
            .unwrap_err()
            .code,
        ErrorCode::NotFound
    );
    remove_folder(&engine, &name).await;
}
