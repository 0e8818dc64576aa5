use crate::symlink;
use std::path::PathBuf;

use berth_core::{Engine, ErrorCode, FileKind, FolderPath, FolderPermission, NewFolder};

use crate::{Fixture, engine};

fn p(text: &str) -> FolderPath {
    FolderPath::parse(text).unwrap()
}

/// A folder `work` with a file, a nested dir, and links: one inside the folder, two escaping it
/// (to a directory and to a file outside, both holding things that must never be touched).
pub(crate) struct Scene {
    pub fx: Fixture,
    pub root: PathBuf,
    outside: PathBuf,
}

pub(crate) async fn scene() -> Scene {
    let fx = engine();
    let folder = fx
        .engine
        .create_folder(NewFolder::named("work"))
        .await
        .unwrap();
    let root = fx.engine.folder_path(&folder);
    let outside = fx.root.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
    std::fs::write(root.join("notes.txt"), b"hello").unwrap();
    std::fs::create_dir_all(root.join("data/in")).unwrap();
    symlink("data", root.join("inside-link")).unwrap();
    symlink(&outside, root.join("escape-dir")).unwrap();
    symlink(outside.join("secret.txt"), root.join("escape-file")).unwrap();
    symlink("../../../../../../../../etc", root.join("dotdot")).unwrap();
    Scene { fx, root, outside }
}

impl Scene {
    pub fn untouched_outside(&self) {
        let names: Vec<_> = std::fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            ["secret.txt"],
            "nothing was created outside the folder"
        );
        assert_eq!(
            std::fs::read(self.outside.join("secret.txt")).unwrap(),
            b"secret"
        );
    }
}

#[tokio::test]
async fn listing_shows_links_as_links_with_their_target_text() {
    let s = scene().await;
    let entries =
        s.fx.engine
            .list_files("work", &FolderPath::root())
            .await
            .unwrap();
    let summary: Vec<_> = entries.iter().map(|e| (e.name.as_str(), e.kind)).collect();
    assert_eq!(
        summary,
        [
            ("data", FileKind::Directory),
            ("dotdot", FileKind::Symlink),
            ("escape-dir", FileKind::Symlink),
            ("escape-file", FileKind::Symlink),
            ("inside-link", FileKind::Symlink),
            ("notes.txt", FileKind::File),
        ]
    );
    let notes = entries.iter().find(|e| e.name == "notes.txt").unwrap();
    assert_eq!(notes.size, 5);
    assert!(notes.modified_ms.unwrap() > 1_700_000_000_000);
    let escape = entries.iter().find(|e| e.name == "escape-dir").unwrap();
    assert_eq!(
        escape.link_target.as_deref(),
        Some(s.outside.to_str().unwrap())
    );
    assert_eq!(escape.size, 0, "the target's size is not read");
}

#[tokio::test]
async fn a_link_that_stays_inside_the_folder_can_be_browsed() {
    let s = scene().await;
    let entries =
        s.fx.engine
            .list_files("work", &p("inside-link"))
            .await
            .unwrap();
    assert_eq!(
        entries.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["in"]
    );
}

#[tokio::test]
async fn no_operation_follows_a_link_out_of_the_folder() {
    let s = scene().await;
    let engine = &s.fx.engine;
    for link in ["escape-dir", "dotdot"] {
        let listed = engine.list_files("work", &p(link)).await.unwrap_err();
        assert_eq!(listed.code, ErrorCode::InvalidInput, "{link}: {listed:?}");
        assert!(
            listed.message.contains("leads outside folder \"work\""),
            "{}",
            listed.message
        );

        let made = engine
            .make_dir("work", &p(&format!("{link}/planted")))
            .await
            .unwrap_err();
        assert_eq!(made.code, ErrorCode::InvalidInput, "{link}: {made:?}");

        let moved = engine
            .move_path("work", &p("notes.txt"), &p(&format!("{link}/notes.txt")))
            .await
            .unwrap_err();
        assert_eq!(moved.code, ErrorCode::InvalidInput, "{link}: {moved:?}");

        let removed = engine
            .remove_paths("work", &[p(&format!("{link}/secret.txt"))])
            .await
            .unwrap_err();
        assert_eq!(removed.code, ErrorCode::InvalidInput, "{link}: {removed:?}");
    }
    s.untouched_outside();
    assert!(
        s.root.join("notes.txt").exists(),
        "the failed move left the file in place"
    );
}

#[tokio::test]
async fn deleting_links_removes_the_links_not_their_targets() {
    let s = scene().await;
    s.fx.engine
        .remove_paths(
            "work",
            &[p("escape-dir"), p("escape-file"), p("inside-link")],
        )
        .await
        .unwrap();
    s.untouched_outside();
    assert!(
        s.root.join("data/in").is_dir(),
        "the inside link's target stays too"
    );
    assert!(!s.root.join("escape-dir").exists());
}

#[tokio::test]
async fn mkdir_mv_and_rm_work_on_nested_paths_with_any_names() {
    let s = scene().await;
    let engine = &s.fx.engine;
    engine
        .make_dir("work", &p("결과/run 1/logs"))
        .await
        .unwrap();
    assert!(s.root.join("결과/run 1/logs").is_dir());
    engine
        .make_dir("work", &p("결과/run 1/logs"))
        .await
        .unwrap(); // already there: fine

    engine
        .move_path("work", &p("notes.txt"), &p("결과/run 1/notes.txt"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(s.root.join("결과/run 1/notes.txt")).unwrap(),
        b"hello"
    );

    let into_itself = engine
        .move_path("work", &p("결과"), &p("결과/run 1/x"))
        .await
        .unwrap_err();
    assert_eq!(into_itself.code, ErrorCode::InvalidInput);

    std::fs::write(s.root.join("other.txt"), b"other").unwrap();
    let clash = engine
        .move_path("work", &p("other.txt"), &p("결과/run 1/notes.txt"))
        .await
        .unwrap_err();
    assert_eq!(clash.code, ErrorCode::AlreadyExists);
    assert_eq!(
        std::fs::read(s.root.join("결과/run 1/notes.txt")).unwrap(),
        b"hello",
        "nothing replaced"
    );

    engine
        .remove_paths("work", &[p("결과"), p("other.txt")])
        .await
        .unwrap();
    assert!(!s.root.join("결과").exists());
    let missing = engine.remove_paths("work", &[p("결과")]).await.unwrap_err();
    assert_eq!(missing.code, ErrorCode::NotFound);
}

#[tokio::test]
async fn a_read_only_folder_lists_but_refuses_changes() {
    let fx = engine();
    let request = NewFolder {
        permission: FolderPermission::Ro,
        ..NewFolder::named("reference")
    };
    let folder = fx.engine.create_folder(request).await.unwrap();
    std::fs::write(fx.engine.folder_path(&folder).join("paper.pdf"), b"%PDF").unwrap();
    assert_eq!(
        fx.engine
            .list_files("reference", &FolderPath::root())
            .await
            .unwrap()
            .len(),
        1
    );
    let error = fx
        .engine
        .make_dir("reference", &p("new"))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::PermissionDenied);
    assert!(error.message.contains("read-only"), "{}", error.message);
    let error = fx
        .engine
        .remove_paths("reference", &[p("paper.pdf")])
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::PermissionDenied);
    assert!(fx.engine.folder_path(&folder).join("paper.pdf").exists());
}

#[tokio::test]
async fn the_folder_itself_cannot_be_moved_or_deleted_through_files() {
    let s = scene().await;
    let error =
        s.fx.engine
            .remove_paths("work", &[FolderPath::root()])
            .await
            .unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    assert!(s.root.join("notes.txt").exists());
}

#[tokio::test]
async fn names_come_in_explorer_order_and_details_follow_for_the_names_asked() {
    let s = scene().await;
    for name in ["f10.txt", "F2.txt", "f1.txt"] {
        std::fs::write(s.root.join(name), b"x").unwrap();
    }
    let names =
        s.fx.engine
            .list_names("work", &FolderPath::root())
            .await
            .unwrap();
    let order: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        order,
        [
            "data",
            "dotdot",
            "escape-dir",
            "escape-file",
            "f1.txt",
            "F2.txt",
            "f10.txt",
            "inside-link",
            "notes.txt"
        ],
        "directories first (links are not directories), then natural order"
    );
    let details =
        s.fx.engine
            .stat_files(
                "work",
                &FolderPath::root(),
                vec!["notes.txt".into(), "escape-dir".into(), "gone".into()],
            )
            .await
            .unwrap();
    assert_eq!(details.len(), 2, "a name that is gone is left out");
    assert_eq!(details[0].size, 5);
    assert_eq!(details[1].kind, FileKind::Symlink);
    assert_eq!(
        details[1].link_target.as_deref(),
        Some(s.outside.to_str().unwrap())
    );

    let error =
        s.fx.engine
            .list_names("work", &p("escape-dir"))
            .await
            .unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    let error =
        s.fx.engine
            .stat_files("work", &FolderPath::root(), vec!["../x".into()])
            .await
            .unwrap_err();
    assert_eq!(
        error.code,
        ErrorCode::InvalidInput,
        "names are single components"
    );
    s.untouched_outside();
}

#[tokio::test]
async fn usage_counts_files_and_directories_without_following_links() {
    let s = scene().await;
    std::fs::write(s.outside.join("huge"), vec![0u8; 1 << 20]).unwrap();
    let usage = s.fx.engine.folder_usage("work").await.unwrap();
    // notes.txt (5 bytes); data/ and data/in/; the four links count as nothing.
    assert_eq!(
        usage,
        berth_core::FolderUsage {
            bytes: 5,
            files: 1,
            directories: 2
        }
    );
}

/// A preview's reads: a screen from the start and from the middle of a 10 GiB file (sparse, so
/// the test is quick) with its size, the tail, past the end, and the paths that are not a file
/// in the folder: a directory, a missing file, links that leave the folder.
#[tokio::test]
async fn a_preview_reads_ranges_and_never_leaves_the_folder() {
    let s = scene().await;
    let big = std::fs::File::create(s.root.join("big.log")).unwrap();
    big.set_len(10 << 30).unwrap();
    drop(big);
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut big = std::fs::OpenOptions::new()
            .write(true)
            .open(s.root.join("big.log"))
            .unwrap();
        big.write_all(b"first line\n").unwrap();
        big.seek(SeekFrom::Start((10 << 30) - 5)).unwrap();
        big.write_all(b"end.\n").unwrap();
    }
    let read = |path: &str, offset: u64, length: u32| {
        let engine = &s.fx.engine;
        let path = p(path);
        async move { engine.read_file_range("work", &path, offset, length).await }
    };
    let first = read("big.log", 0, 11).await.unwrap();
    assert_eq!(
        (first.bytes.as_slice(), first.size),
        (&b"first line\n"[..], 10 << 30)
    );
    let middle = read("big.log", 5 << 30, 4).await.unwrap();
    assert_eq!(middle.bytes, [0, 0, 0, 0]);
    let tail = read("big.log", (10 << 30) - 5, 4096).await.unwrap();
    assert_eq!(tail.bytes, b"end.\n");
    let past = read("big.log", 11 << 30, 4096).await.unwrap();
    assert!(past.bytes.is_empty());
    // A screen at most, however much is asked.
    let capped = read("big.log", 0, u32::MAX).await.unwrap();
    assert_eq!(capped.bytes.len(), berth_core::LARGEST_RANGE as usize);
    // Through a link that stays inside: allowed.
    std::fs::write(s.root.join("data/in/x.txt"), b"inside").unwrap();
    assert_eq!(
        read("inside-link/in/x.txt", 0, 100).await.unwrap().bytes,
        b"inside"
    );

    let refused = |path: &'static str| async move { read(path, 0, 100).await.err().unwrap() };
    assert_eq!(refused("data").await.code, ErrorCode::InvalidInput);
    assert_eq!(refused("missing.txt").await.code, ErrorCode::NotFound);
    for escaping in ["escape-file", "escape-dir/secret.txt", "dotdot/passwd"] {
        let error = refused(escaping).await;
        assert_eq!(error.code, ErrorCode::InvalidInput, "{escaping}: {error:?}");
        assert!(
            error.message.contains("leads outside folder \"work\""),
            "{escaping}: {}",
            error.message
        );
    }
    s.untouched_outside();
}
