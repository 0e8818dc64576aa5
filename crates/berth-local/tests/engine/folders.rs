use berth_core::{Engine, ErrorCode, FolderPermission, FolderStatus, NewFolder, UsageMode};

use crate::{engine, store_entries};

#[tokio::test]
async fn a_created_folder_is_listed_with_its_fields_and_has_a_directory() {
    let fx = engine();
    let request = NewFolder {
        name: "user1-ml-test".into(),
        host: None,
        usage_mode: UsageMode::Model,
        permission: FolderPermission::Ro,
        cloneable: true,
        project: None,
    };
    let created = fx.engine.create_folder(request).await.unwrap();
    assert_eq!(created.host, "local:default");
    assert_eq!(created.status, FolderStatus::Ready);
    assert!(!created.automount);
    assert_eq!(
        created.id.len(),
        32,
        "Backend.AI-style hex id: {}",
        created.id
    );
    assert!(fx.engine.folder_path(&created).is_dir());

    let listed = fx.engine.list_folders().await.unwrap();
    assert_eq!(listed, vec![created.clone()]);
    assert_eq!(fx.engine.folder("user1-ml-test").await.unwrap(), created);
}

#[tokio::test]
async fn a_bad_name_is_refused_and_nothing_is_written() {
    let fx = engine();
    for name in ["", "a/b", "..", ".bashrc", &"x".repeat(65)] {
        let error = fx
            .engine
            .create_folder(NewFolder::named(name))
            .await
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput, "{name:?}: {error:?}");
    }
    assert!(fx.engine.list_folders().await.unwrap().is_empty());
    assert!(store_entries(&fx).is_empty(), "no directory was created");
}

#[tokio::test]
async fn a_duplicate_name_is_refused_and_leaves_no_directory() {
    let fx = engine();
    fx.engine
        .create_folder(NewFolder::named("data"))
        .await
        .unwrap();
    let error = fx
        .engine
        .create_folder(NewFolder::named("data"))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::AlreadyExists);
    assert!(
        error.message.contains("\"data\" already exists"),
        "{}",
        error.message
    );
    assert_eq!(store_entries(&fx).len(), 1);
}

#[tokio::test]
async fn an_unknown_host_is_refused_by_name() {
    let fx = engine();
    let request = NewFolder {
        host: Some("nfs:far".into()),
        ..NewFolder::named("x")
    };
    let error = fx.engine.create_folder(request).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    assert!(error.message.contains("nfs:far"), "{}", error.message);
}

#[tokio::test]
async fn dot_folders_are_flagged_automount() {
    let fx = engine();
    let folder = fx
        .engine
        .create_folder(NewFolder::named(".local"))
        .await
        .unwrap();
    assert!(folder.automount);
}

#[tokio::test]
async fn renaming_keeps_the_contents_and_refuses_taken_or_bad_names() {
    let fx = engine();
    let folder = fx
        .engine
        .create_folder(NewFolder::named("old"))
        .await
        .unwrap();
    std::fs::write(fx.engine.folder_path(&folder).join("kept.txt"), b"kept").unwrap();
    fx.engine
        .create_folder(NewFolder::named("taken"))
        .await
        .unwrap();

    assert_eq!(
        fx.engine
            .rename_folder("old", "taken")
            .await
            .unwrap_err()
            .code,
        ErrorCode::AlreadyExists
    );
    assert_eq!(
        fx.engine
            .rename_folder("old", "a/b")
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidInput
    );
    assert_eq!(
        fx.engine
            .rename_folder("missing", "x")
            .await
            .unwrap_err()
            .code,
        ErrorCode::NotFound
    );

    let renamed = fx.engine.rename_folder("old", ".new").await.unwrap();
    assert!(renamed.automount);
    assert_eq!(renamed.id, folder.id);
    let reread = fx.engine.folder(".new").await.unwrap();
    assert_eq!(
        std::fs::read(fx.engine.folder_path(&reread).join("kept.txt")).unwrap(),
        b"kept"
    );
    assert_eq!(
        fx.engine.folder("old").await.unwrap_err().code,
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn trash_restore_and_purge_follow_the_folder_lifecycle() {
    let fx = engine();
    let folder = fx
        .engine
        .create_folder(NewFolder::named("scratch"))
        .await
        .unwrap();
    let file = fx.engine.folder_path(&folder).join("result.csv");
    std::fs::write(&file, b"1,2,3").unwrap();

    // A live folder cannot be purged: deleting forever takes two deliberate steps.
    assert_eq!(
        fx.engine.purge_folder("scratch").await.unwrap_err().code,
        ErrorCode::NotFound
    );

    let trashed = fx.engine.trash_folder("scratch").await.unwrap();
    assert_eq!(trashed.status, FolderStatus::Trashed);
    assert!(fx.engine.list_folders().await.unwrap().is_empty());
    assert_eq!(fx.engine.list_trash().await.unwrap().len(), 1);
    assert!(file.exists(), "trash keeps the contents");

    // The name is free again while the folder is in the trash, and restoring it then collides.
    let newcomer = fx
        .engine
        .create_folder(NewFolder::named("scratch"))
        .await
        .unwrap();
    let error = fx.engine.restore_folder("scratch").await.unwrap_err();
    assert_eq!(error.code, ErrorCode::AlreadyExists);
    fx.engine.trash_folder("scratch").await.unwrap();

    // Restore by id picks the right one of two trashed folders with one name.
    let restored = fx.engine.restore_folder(&folder.id).await.unwrap();
    assert_eq!(restored.id, folder.id);
    assert_eq!(std::fs::read(&file).unwrap(), b"1,2,3");

    fx.engine.purge_folder("scratch").await.unwrap();
    assert!(
        !fx.engine.folder_path(&newcomer).exists(),
        "purge removes the directory"
    );
    assert!(fx.engine.list_trash().await.unwrap().is_empty());
    assert_eq!(
        fx.engine.list_folders().await.unwrap().len(),
        1,
        "the live one is untouched"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn purging_a_folder_never_deletes_what_a_symlink_inside_points_to() {
    let fx = engine();
    let outside = fx.root.path().join("precious");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep.txt"), b"keep").unwrap();
    let folder = fx
        .engine
        .create_folder(NewFolder::named("linky"))
        .await
        .unwrap();
    crate::symlink(&outside, fx.engine.folder_path(&folder).join("escape")).unwrap();

    fx.engine.trash_folder("linky").await.unwrap();
    fx.engine.purge_folder("linky").await.unwrap();
    assert_eq!(std::fs::read(outside.join("keep.txt")).unwrap(), b"keep");
}

#[tokio::test]
async fn the_default_host_reports_its_disk() {
    let fx = engine();
    let hosts = fx.engine.list_hosts().await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert!(hosts[0].is_default);
    assert!(hosts[0].total_bytes.unwrap() >= hosts[0].free_bytes.unwrap());
}

#[tokio::test]
async fn folders_survive_reopening_the_engine() {
    let fx = engine();
    fx.engine
        .create_folder(NewFolder::named("persist"))
        .await
        .unwrap();
    let dirs = fx.engine.dirs().clone();
    drop(fx.engine);
    let reopened = berth_local::LocalEngine::open(dirs).unwrap();
    assert_eq!(reopened.folder("persist").await.unwrap().name, "persist");
}

#[cfg(unix)]
#[tokio::test]
async fn a_clone_copies_the_tree_and_links_as_links_and_leaves_the_original_alone() {
    let fx = engine();
    let request = NewFolder {
        cloneable: true,
        usage_mode: UsageMode::Model,
        ..NewFolder::named("model-v1")
    };
    let original = fx.engine.create_folder(request).await.unwrap();
    let root = fx.engine.folder_path(&original);
    std::fs::create_dir_all(root.join("weights/empty")).unwrap();
    std::fs::write(root.join("weights/layer.bin"), vec![7u8; 100_000]).unwrap();
    std::fs::write(root.join("README"), b"v1").unwrap();
    let outside = fx.root.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    crate::symlink(&outside, root.join("escape")).unwrap();

    let target = NewFolder {
        cloneable: false,
        ..NewFolder::named("model-v2")
    };
    let clone = fx.engine.clone_folder("model-v1", target).await.unwrap();
    assert_ne!(clone.id, original.id);
    let copy = fx.engine.folder_path(&clone);
    assert_eq!(
        std::fs::read(copy.join("weights/layer.bin")).unwrap(),
        vec![7u8; 100_000]
    );
    assert_eq!(std::fs::read(copy.join("README")).unwrap(), b"v1");
    assert!(copy.join("weights/empty").is_dir());
    assert_eq!(
        std::fs::read_link(copy.join("escape")).unwrap(),
        outside,
        "a link is copied as a link"
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );

    std::fs::write(copy.join("README"), b"v2").unwrap();
    assert_eq!(
        std::fs::read(root.join("README")).unwrap(),
        b"v1",
        "the clone is independent"
    );
}

#[tokio::test]
async fn cloning_is_refused_for_non_cloneable_sources_dot_targets_and_taken_names() {
    let fx = engine();
    fx.engine
        .create_folder(NewFolder::named("private"))
        .await
        .unwrap();
    let shared = NewFolder {
        cloneable: true,
        ..NewFolder::named("shared")
    };
    fx.engine.create_folder(shared).await.unwrap();

    let error = fx
        .engine
        .clone_folder("private", NewFolder::named("copy"))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::PermissionDenied);
    let error = fx
        .engine
        .clone_folder("shared", NewFolder::named(".local"))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    let error = fx
        .engine
        .clone_folder("shared", NewFolder::named("private"))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::AlreadyExists);
    let error = fx
        .engine
        .clone_folder("missing", NewFolder::named("x"))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::NotFound);
    assert_eq!(
        fx.engine.list_folders().await.unwrap().len(),
        2,
        "no folder was created by a refusal"
    );
}

#[tokio::test]
async fn folders_can_live_on_an_added_host_which_cannot_go_while_it_holds_any() {
    let fx = engine();
    let disk = tempfile::tempdir().unwrap();
    let host = fx.engine.add_host("scratch", disk.path()).unwrap();
    assert_eq!(host.id, "local:scratch");
    assert!(host.free_bytes.is_some());
    let hosts = fx.engine.list_hosts().await.unwrap();
    assert_eq!(
        hosts.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["local:default", "local:scratch"]
    );

    let request = NewFolder {
        host: Some("local:scratch".into()),
        ..NewFolder::named("big-data")
    };
    let folder = fx.engine.create_folder(request).await.unwrap();
    let path = fx.engine.folder_path(&folder);
    assert!(
        path.starts_with(disk.path()),
        "{} lives on the added disk",
        path.display()
    );
    assert!(path.is_dir());

    let error = fx.engine.remove_host("local:scratch").unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    assert!(error.message.contains("1 folder"), "{}", error.message);
    fx.engine.trash_folder("big-data").await.unwrap();
    assert!(
        fx.engine.remove_host("local:scratch").is_err(),
        "trashed folders count too"
    );
    fx.engine.purge_folder("big-data").await.unwrap();
    fx.engine.remove_host("local:scratch").unwrap();
    assert_eq!(fx.engine.list_hosts().await.unwrap().len(), 1);
}

#[tokio::test]
async fn bad_host_names_and_paths_are_refused_by_rule() {
    let fx = engine();
    let disk = tempfile::tempdir().unwrap();
    let file = disk.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let cases: [(&str, &std::path::Path, &str); 6] = [
        ("Bad Name", disk.path(), "a-z, 0-9"),
        ("ok", std::path::Path::new(""), "Choose the directory"),
        (
            "ok",
            &disk.path().join("missing"),
            "not an existing directory",
        ),
        (
            "ok",
            std::path::Path::new("relative/dir"),
            "not an absolute path",
        ),
        ("ok", &file, "not an existing directory"),
        ("default", disk.path(), "already exists"),
    ];
    for (name, path, rule) in cases {
        let error = fx.engine.add_host(name, path).unwrap_err();
        assert!(
            error.message.contains(rule),
            "{name} {}: {}",
            path.display(),
            error.message
        );
    }
    // The window reaches the same rules through the Engine trait.
    let engine: &dyn Engine = &fx.engine;
    let error = engine.add_host("ok", &file).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput, "{error}");
    engine.add_host("twice", disk.path()).await.unwrap();
    let error = engine.add_host("twice", disk.path()).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::AlreadyExists, "{error}");
    engine.remove_host("local:twice").await.unwrap();
    assert_eq!(
        fx.engine.remove_host("local:default").unwrap_err().code,
        ErrorCode::InvalidInput
    );
    assert_eq!(
        fx.engine.remove_host("local:nope").unwrap_err().code,
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn this_computer_has_no_projects_and_says_so() {
    let fx = engine();
    assert!(fx.engine.list_projects().await.unwrap().is_empty());
    let refused = fx
        .engine
        .create_folder(NewFolder {
            project: Some("team".into()),
            ..NewFolder::named("shared")
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::InvalidInput);
    assert!(refused.message.contains("\"team\""), "{refused}");
    assert!(fx.engine.list_folders().await.unwrap().is_empty());
}
