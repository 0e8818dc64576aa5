//! Folder life cycle and the explorer's file operations on the real storage proxy.

use berth_core::{
    Engine, ErrorCode, FileKind, FolderPath, FolderPermission, FolderStatus, NewFolder,
};

use berth_backendai::BackendAiEngine;

use crate::*;

fn path(text: &str) -> FolderPath {
    FolderPath::parse(text).unwrap()
}

#[tokio::test]
async fn a_folder_is_created_renamed_trashed_restored_and_purged() {
    let engine = engine().await;
    let name = unique("crud");
    let hosts = engine.list_hosts().await.unwrap();
    let default_host = hosts.iter().find(|h| h.is_default).expect("a default host");
    assert_eq!(default_host.id, "local:volume1");
    // The manager reports how full the volume is as a percentage only: that, not bytes, and
    // not folded into the location's words.
    assert!(
        default_host.used_percent.is_some_and(|p| p <= 100)
            && default_host.total_bytes.is_none()
            && !default_host.location.contains('%'),
        "{default_host:?}"
    );

    let created = engine
        .create_folder(NewFolder {
            host: Some(default_host.id.clone()),
            ..NewFolder::named(&name)
        })
        .await
        .unwrap();
    assert_eq!(created.host, "local:volume1");
    assert_eq!(created.status, FolderStatus::Ready);
    assert!(created.created_at_ms > 1_700_000_000_000, "{created:?}");

    let again = engine
        .create_folder(NewFolder::named(&name))
        .await
        .unwrap_err();
    assert_eq!(again.code, ErrorCode::AlreadyExists, "{again}");

    let bad = engine
        .create_folder(NewFolder::named("a/b"))
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::InvalidInput, "{bad}");

    let renamed_name = format!("{name}-renamed");
    let renamed = engine.rename_folder(&name, &renamed_name).await.unwrap();
    assert_eq!(renamed.id, created.id, "a rename keeps the folder");
    assert_eq!(
        engine.folder(&name).await.unwrap_err().code,
        ErrorCode::NotFound
    );

    let trashed = engine.trash_folder(&renamed_name).await.unwrap();
    assert_eq!(trashed.status, FolderStatus::Trashed);
    assert!(
        !engine
            .list_folders()
            .await
            .unwrap()
            .iter()
            .any(|f| f.name == renamed_name)
    );
    assert!(
        engine
            .list_trash()
            .await
            .unwrap()
            .iter()
            .any(|f| f.name == renamed_name)
    );

    let restored = engine.restore_folder(&renamed_name).await.unwrap();
    assert_eq!(restored.status, FolderStatus::Ready);

    // Purging a live folder is refused: only the trash can be emptied.
    assert_eq!(
        engine.purge_folder(&renamed_name).await.unwrap_err().code,
        ErrorCode::NotFound
    );
    engine.trash_folder(&renamed_name).await.unwrap();
    engine.purge_folder(&renamed_name).await.unwrap();
    assert!(
        !engine
            .list_trash()
            .await
            .unwrap()
            .iter()
            .any(|f| f.name == renamed_name),
        "a purged folder leaves the trash"
    );
}

#[tokio::test]
async fn the_explorer_makes_lists_moves_renames_and_deletes() {
    let engine = engine().await;
    let name = unique("explorer");
    engine.create_folder(NewFolder::named(&name)).await.unwrap();

    engine.make_dir(&name, &path("data/raw")).await.unwrap();
    engine.make_dir(&name, &path("data/raw")).await.unwrap(); // exists: fine
    engine.make_dir(&name, &path("results")).await.unwrap();

    let root = engine.list_names(&name, &FolderPath::root()).await.unwrap();
    let names: Vec<&str> = root.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["data", "results"]);
    assert!(root.iter().all(|n| n.kind == FileKind::Directory));

    // Rename in place, then move across directories.
    engine
        .move_path(&name, &path("data/raw"), &path("data/cleaned"))
        .await
        .unwrap();
    engine
        .move_path(&name, &path("data/cleaned"), &path("results/cleaned"))
        .await
        .unwrap();
    let results = engine.list_files(&name, &path("results")).await.unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].name, "cleaned");
    assert_eq!(results[0].kind, FileKind::Directory);
    assert!(results[0].modified_ms.is_some());
    assert!(
        engine
            .list_files(&name, &path("data"))
            .await
            .unwrap()
            .is_empty()
    );

    // Never over an existing entry, never from nowhere, never into itself.
    engine
        .make_dir(&name, &path("results/other"))
        .await
        .unwrap();
    let over = engine
        .move_path(&name, &path("results/other"), &path("results/cleaned"))
        .await
        .unwrap_err();
    assert_eq!(over.code, ErrorCode::AlreadyExists, "{over}");
    let missing = engine
        .move_path(&name, &path("nope"), &path("results/nope"))
        .await
        .unwrap_err();
    assert_eq!(missing.code, ErrorCode::NotFound, "{missing}");
    let into_itself = engine
        .move_path(&name, &path("results"), &path("results/cleaned/results"))
        .await
        .unwrap_err();
    assert_eq!(into_itself.code, ErrorCode::InvalidInput, "{into_itself}");

    let absent = engine
        .list_files(&name, &path("no/such"))
        .await
        .unwrap_err();
    assert_eq!(absent.code, ErrorCode::NotFound, "{absent}");
    assert!(absent.message.contains("no/such"), "{absent}");

    engine
        .remove_paths(&name, &[path("results"), path("data")])
        .await
        .unwrap();
    assert!(
        engine
            .list_files(&name, &FolderPath::root())
            .await
            .unwrap()
            .is_empty()
    );

    engine.trash_folder(&name).await.unwrap();
    engine.purge_folder(&name).await.unwrap();
}

#[tokio::test]
async fn a_read_only_folder_refuses_changes_before_the_server_does() {
    let engine = engine().await;
    let name = unique("readonly");
    engine
        .create_folder(NewFolder {
            permission: FolderPermission::Ro,
            ..NewFolder::named(&name)
        })
        .await
        .unwrap();
    let refused = engine.make_dir(&name, &path("x")).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::PermissionDenied, "{refused}");
    assert!(refused.message.contains(&name), "{refused}");
    engine.trash_folder(&name).await.unwrap();
    engine.purge_folder(&name).await.unwrap();
}

#[tokio::test]
async fn project_folders_are_listed_as_the_projects_and_created_where_allowed() {
    let user = engine().await;
    assert!(
        user.list_projects()
            .await
            .unwrap()
            .contains(&"default".to_string())
    );

    // An ordinary member may not create project folders on this cluster: the server's refusal
    // reaches the user as it is. An unknown project never reaches the server.
    let name = unique("project");
    let refused = user
        .create_folder(NewFolder {
            project: Some("default".into()),
            ..NewFolder::named(&name)
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::PermissionDenied, "{refused}");
    let unknown = user
        .create_folder(NewFolder {
            project: Some("no-such-project".into()),
            ..NewFolder::named(&name)
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code, ErrorCode::InvalidInput, "{unknown}");
    assert!(unknown.message.contains("no-such-project"), "{unknown}");

    // The administrator creates one for the project; its members see it as the project's.
    let admin = BackendAiEngine::new(
        "admin",
        berth_backendai::Connection::open(MANAGER, admin_keypair())
            .await
            .unwrap(),
    );
    let created = admin
        .create_folder(NewFolder {
            project: Some("default".into()),
            ..NewFolder::named(&name)
        })
        .await
        .unwrap();
    assert_eq!(created.project.as_deref(), Some("default"));
    let seen = user.folder(&name).await.unwrap();
    assert_eq!(seen.project.as_deref(), Some("default"), "{seen:?}");
    let mine = unique("mine");
    user.create_folder(NewFolder::named(&mine)).await.unwrap();
    assert_eq!(
        user.folder(&mine).await.unwrap().project,
        None,
        "the user's own"
    );
    user.trash_folder(&mine).await.unwrap();
    user.purge_folder(&mine).await.unwrap();
    admin.trash_folder(&name).await.unwrap();
    admin.purge_folder(&name).await.unwrap();
}
