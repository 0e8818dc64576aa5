//! The window's editor on the local engine: a save lands only over the version it read,
//! whole or not at all, never through a link or out of the folder.

use std::time::{Duration, SystemTime};

use berth_core::{
    Engine, ErrorCode, FolderPath, FolderPermission, LARGEST_EDIT, NewFolder, SaveMode,
};

use crate::engine;
use crate::files::scene;

fn p(text: &str) -> FolderPath {
    FolderPath::parse(text).unwrap()
}

/// Names in `dir` that a save left behind.
fn scratch_left(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("berth-save"))
        .collect()
}

#[tokio::test]
async fn a_save_lands_only_over_the_version_it_read() {
    let s = scene().await;
    let engine = &s.fx.engine;
    let notes = p("notes.txt");
    let opened = engine
        .read_for_edit("work", &notes, LARGEST_EDIT)
        .await
        .unwrap();
    assert_eq!(opened.bytes, b"hello");
    assert_eq!(opened.version.size, 5);

    let read = opened.version;
    let saved = engine
        .write_file(
            "work",
            &notes,
            b"hello, world\n".to_vec(),
            SaveMode::IfUnchanged { read },
        )
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(s.root.join("notes.txt")).unwrap(),
        b"hello, world\n"
    );
    assert_eq!(saved.size, 13);

    // A second editor still holding the first version is refused, and writes nothing.
    let stale = engine
        .write_file(
            "work",
            &notes,
            b"stale".to_vec(),
            SaveMode::IfUnchanged { read },
        )
        .await
        .unwrap_err();
    assert_eq!(stale.code, ErrorCode::FileChanged);
    assert!(
        stale
            .message
            .contains("\"notes.txt\" in folder \"work\" changed (now 13 bytes)"),
        "{}",
        stale.message
    );
    assert_eq!(
        std::fs::read(s.root.join("notes.txt")).unwrap(),
        b"hello, world\n"
    );

    // Another program changes it to the same size: the time tells.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(s.root.join("notes.txt"))
        .unwrap();
    std::io::Write::write_all(&mut &file, b"HELLO, WORLD\n").unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(2))
        .unwrap();
    drop(file);
    let error = engine
        .write_file(
            "work",
            &notes,
            b"mine".to_vec(),
            SaveMode::IfUnchanged { read: saved },
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::FileChanged);
    assert_eq!(
        std::fs::read(s.root.join("notes.txt")).unwrap(),
        b"HELLO, WORLD\n"
    );

    // The user chose to overwrite.
    engine
        .write_file("work", &notes, b"mine".to_vec(), SaveMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(std::fs::read(s.root.join("notes.txt")).unwrap(), b"mine");

    // Deleted meanwhile: said, and not silently recreated.
    let now = engine
        .read_for_edit("work", &notes, LARGEST_EDIT)
        .await
        .unwrap()
        .version;
    std::fs::remove_file(s.root.join("notes.txt")).unwrap();
    let gone = engine
        .write_file(
            "work",
            &notes,
            b"x".to_vec(),
            SaveMode::IfUnchanged { read: now },
        )
        .await
        .unwrap_err();
    assert_eq!(gone.code, ErrorCode::FileChanged);
    assert!(gone.message.contains("was deleted"), "{}", gone.message);
    assert!(!s.root.join("notes.txt").exists());

    // Save as a copy: a new name only.
    std::fs::write(s.root.join("notes.txt"), b"theirs").unwrap();
    let taken = engine
        .write_file("work", &notes, b"mine".to_vec(), SaveMode::CreateNew)
        .await
        .unwrap_err();
    assert_eq!(taken.code, ErrorCode::AlreadyExists);
    assert_eq!(std::fs::read(s.root.join("notes.txt")).unwrap(), b"theirs");
    engine
        .write_file(
            "work",
            &p("data/notes (1).txt"),
            b"mine".to_vec(),
            SaveMode::CreateNew,
        )
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(s.root.join("data/notes (1).txt")).unwrap(),
        b"mine"
    );

    assert!(
        scratch_left(&s.root).is_empty(),
        "{:?}",
        scratch_left(&s.root)
    );
    assert!(scratch_left(&s.root.join("data")).is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn a_saved_script_stays_executable() {
    use std::os::unix::fs::PermissionsExt;
    let s = scene().await;
    let script = s.root.join("run.sh");
    std::fs::write(&script, "#!/bin/sh\necho one\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o750)).unwrap();
    let opened =
        s.fx.engine
            .read_for_edit("work", &p("run.sh"), LARGEST_EDIT)
            .await
            .unwrap();
    s.fx.engine
        .write_file(
            "work",
            &p("run.sh"),
            b"#!/bin/sh\necho two\n".to_vec(),
            SaveMode::IfUnchanged {
                read: opened.version,
            },
        )
        .await
        .unwrap();
    let mode = std::fs::metadata(&script).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o750);
    let out = std::process::Command::new(&script).output().unwrap();
    assert_eq!(out.stdout, b"two\n");
}

/// Someone reading the file while saves go on sees the old text or the new one, whole: never
/// a file cut short under its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_never_sees_half_a_save() {
    let s = scene().await;
    let path = s.root.join("big.txt");
    let versions: Vec<Vec<u8>> = (b'a'..=b'd').map(|c| vec![c; 3 << 20]).collect();
    std::fs::write(&path, &versions[0]).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, done) = (path.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let seen = std::fs::read(&path).unwrap();
                assert_eq!(
                    seen.len(),
                    3 << 20,
                    "a read saw a file of {} bytes",
                    seen.len()
                );
                assert!(
                    seen.iter().all(|b| *b == seen[0]),
                    "a read saw two versions mixed"
                );
                reads += 1;
            }
            reads
        })
    };
    for round in 0..12 {
        s.fx.engine
            .write_file(
                "work",
                &p("big.txt"),
                versions[round % versions.len()].clone(),
                SaveMode::Overwrite,
            )
            .await
            .unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}

#[tokio::test]
async fn an_edit_never_goes_through_a_link_or_out_of_the_folder() {
    let s = scene().await;
    let engine = &s.fx.engine;
    let read = |path: &'static str| async move {
        engine.read_for_edit("work", &p(path), LARGEST_EDIT).await
    };
    let write = |path: &'static str, mode: SaveMode| async move {
        engine
            .write_file("work", &p(path), b"pwned".to_vec(), mode)
            .await
    };

    let link = read("escape-file").await.unwrap_err();
    assert_eq!(link.code, ErrorCode::InvalidInput);
    assert!(link.message.contains("is a link to"), "{}", link.message);
    for mode in [SaveMode::Overwrite, SaveMode::CreateNew] {
        assert!(write("escape-file", mode).await.is_err());
    }
    for escaping in [
        "escape-dir/secret.txt",
        "escape-dir/new.txt",
        "dotdot/passwd",
    ] {
        let error = write(escaping, SaveMode::Overwrite).await.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput, "{escaping}: {error:?}");
        assert!(read(escaping).await.is_err());
    }
    s.untouched_outside();
    assert!(
        s.root.join("escape-file").is_symlink(),
        "the link itself is still a link"
    );

    // Through a link that stays inside: the file it leads to is edited.
    std::fs::write(s.root.join("data/in/x.txt"), b"inside").unwrap();
    let inside = read("inside-link/in/x.txt").await.unwrap();
    write(
        "inside-link/in/x.txt",
        SaveMode::IfUnchanged {
            read: inside.version,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read(s.root.join("data/in/x.txt")).unwrap(),
        b"pwned"
    );

    let directory = read("data").await.unwrap_err();
    assert_eq!(directory.code, ErrorCode::InvalidInput);
    assert!(write("data", SaveMode::Overwrite).await.is_err());
    assert!(s.root.join("data").is_dir());
    assert_eq!(
        read("nothing.txt").await.unwrap_err().code,
        ErrorCode::NotFound
    );
    let nowhere = write("no-dir/new.txt", SaveMode::CreateNew)
        .await
        .unwrap_err();
    assert_eq!(nowhere.code, ErrorCode::NotFound);

    let big = std::fs::File::create(s.root.join("big.log")).unwrap();
    big.set_len(LARGEST_EDIT + 1).unwrap();
    let too_big = read("big.log").await.unwrap_err();
    assert_eq!(too_big.code, ErrorCode::InvalidInput);
    assert!(
        too_big
            .message
            .contains("is 5 MiB, more than the 4 MiB that can be edited this way"),
        "{}",
        too_big.message
    );
}

#[tokio::test]
async fn a_read_only_folder_is_not_saved_to() {
    let fx = engine();
    let request = NewFolder {
        permission: FolderPermission::Ro,
        ..NewFolder::named("reference")
    };
    let folder = fx.engine.create_folder(request).await.unwrap();
    let file = fx.engine.folder_path(&folder).join("notes.md");
    std::fs::write(&file, b"# read me").unwrap();
    let opened = fx
        .engine
        .read_for_edit("reference", &p("notes.md"), LARGEST_EDIT)
        .await
        .unwrap();
    let error = fx
        .engine
        .write_file(
            "reference",
            &p("notes.md"),
            b"changed".to_vec(),
            SaveMode::IfUnchanged {
                read: opened.version,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::PermissionDenied);
    assert_eq!(std::fs::read(&file).unwrap(), b"# read me");
}

/// Small files put straight into a folder (what a sync does with them): each lands whole, a
/// link on this computer's side is not followed, and a directory in the way is not replaced.
#[cfg(unix)]
#[tokio::test]
async fn files_put_in_one_go_land_whole_and_follow_no_link() {
    let s = scene().await;
    let here = s.fx.root.path().join("here");
    std::fs::create_dir(&here).unwrap();
    std::fs::write(here.join("a.py"), "a").unwrap();
    std::fs::write(here.join("b.py"), "b").unwrap();
    std::fs::write(s.fx.root.path().join("secret"), "secret").unwrap();
    std::os::unix::fs::symlink(s.fx.root.path().join("secret"), here.join("link.py")).unwrap();
    let results =
        s.fx.engine
            .put_files(
                "work",
                vec![
                    (here.join("a.py"), p("data/a.py")),
                    (here.join("link.py"), p("data/link.py")),
                    (here.join("b.py"), p("data")),
                    (here.join("b.py"), p("notes.txt")),
                ],
            )
            .await
            .expect("the local engine puts files itself");
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(results[1].is_err(), "a link is not followed");
    assert!(results[2].is_err(), "a directory is not replaced by a file");
    assert!(results[3].is_ok());
    assert_eq!(
        std::fs::read_to_string(s.root.join("data/a.py")).unwrap(),
        "a"
    );
    assert!(!s.root.join("data/link.py").exists());
    assert!(s.root.join("data/in").is_dir());
    assert_eq!(
        std::fs::read_to_string(s.root.join("notes.txt")).unwrap(),
        "b"
    );
    assert!(scratch_left(&s.root).is_empty() && scratch_left(&s.root.join("data")).is_empty());
}
