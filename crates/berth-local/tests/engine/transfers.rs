use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_core::{Engine, ErrorCode, FolderPath, FolderPermission, NewFolder};
use berth_local::LocalEngine;
use berth_local::transport::LocalTransport;
use berth_transfer::{ConflictPolicy, JobState, Journal, Queue};
use sha2::{Digest, Sha256};

struct Setup {
    _root: tempfile::TempDir,
    home: PathBuf,
    engine: Arc<LocalEngine>,
    queue: Queue,
}

async fn setup(limit: usize) -> Setup {
    let fx = crate::engine();
    let home = fx.root.path().to_path_buf();
    let engine = Arc::new(fx.engine);
    engine.create_folder(NewFolder::named("w")).await.unwrap();
    let queue = queue_on(&engine, limit);
    Setup {
        _root: fx.root,
        home,
        engine,
        queue,
    }
}

fn queue_on(engine: &Arc<LocalEngine>, limit: usize) -> Queue {
    let journal = Journal::open(&engine.dirs().data.join("transfers.sqlite3")).unwrap();
    let queue = Queue::open(
        journal,
        Arc::new(LocalTransport::new(engine.clone())),
        limit,
    )
    .unwrap();
    queue.start();
    queue
}

fn root_of(s: &Setup) -> PathBuf {
    s.home
        .join("data/folders")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn sha(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

/// Every regular file under `dir` with its relative path, and every directory (with a `/`).
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                found.push(format!("{relative}/"));
                pending.push(path);
            } else {
                found.push(relative);
            }
        }
    }
    found.sort();
    found
}

fn make_source_tree(at: &Path) {
    std::fs::create_dir_all(at.join("empty dir")).unwrap();
    std::fs::create_dir_all(at.join("데이터/データ")).unwrap();
    std::fs::write(at.join("zero bytes"), b"").unwrap();
    std::fs::write(at.join("데이터/データ/表.csv"), "a,b\n1,2\n").unwrap();
    std::fs::write(at.join("with space.txt"), "x".repeat(100_000)).unwrap();
    std::fs::write(at.join(".DS_Store"), b"junk").unwrap();
}

#[tokio::test]
async fn a_tree_goes_up_and_comes_back_byte_for_byte_with_its_empty_dirs() {
    let s = setup(4).await;
    let source = s.home.join("project");
    make_source_tree(&source);
    let specs = s
        .engine
        .plan_upload(
            "w",
            std::slice::from_ref(&source),
            &FolderPath::root(),
            ConflictPolicy::Fail,
            "b1",
        )
        .unwrap();
    assert_eq!(
        specs.len(),
        3,
        "three files; the .DS_Store is left out: {specs:?}"
    );
    s.queue.enqueue(specs).unwrap();
    s.queue.wait_idle().await;
    assert!(
        s.queue.jobs().iter().all(|j| j.state == JobState::Done),
        "{:?}",
        s.queue.jobs()
    );
    let uploaded = root_of(&s).join("project");
    let mut expected = tree(&source);
    expected.retain(|p| p != ".DS_Store");
    assert_eq!(tree(&uploaded), expected);

    let back = s.home.join("back");
    let specs = s
        .engine
        .plan_download(
            "w",
            &[FolderPath::parse("project").unwrap()],
            &back,
            ConflictPolicy::Fail,
            "b2",
        )
        .unwrap();
    s.queue.enqueue(specs).unwrap();
    s.queue.wait_idle().await;
    assert_eq!(tree(&back.join("project")), expected);
    for file in ["zero bytes", "데이터/データ/表.csv", "with space.txt"] {
        assert_eq!(
            sha(&back.join("project").join(file)),
            sha(&source.join(file)),
            "{file}"
        );
    }
}

#[tokio::test]
async fn a_sparse_multi_gib_file_uploads_at_its_full_size() {
    let s = setup(2).await;
    let source = s.home.join("sparse.img");
    let file = std::fs::File::create(&source).unwrap();
    file.set_len(2 << 30).unwrap();
    drop(file);
    let specs = s
        .engine
        .plan_upload(
            "w",
            std::slice::from_ref(&source),
            &FolderPath::root(),
            ConflictPolicy::Fail,
            "b",
        )
        .unwrap();
    s.queue.enqueue(specs).unwrap();
    s.queue.wait_idle().await;
    let job = &s.queue.jobs()[0];
    assert_eq!(job.state, JobState::Done, "{job:?}");
    assert_eq!(
        std::fs::metadata(root_of(&s).join("sparse.img"))
            .unwrap()
            .len(),
        2 << 30
    );
}

#[tokio::test]
async fn cancelling_one_of_500_queued_uploads_lets_the_other_499_finish() {
    let s = setup(4).await;
    let source = s.home.join("many");
    std::fs::create_dir(&source).unwrap();
    for i in 0..500 {
        std::fs::write(source.join(format!("f{i:03}")), format!("file {i}")).unwrap();
    }
    let specs = s
        .engine
        .plan_upload(
            "w",
            &[source],
            &FolderPath::root(),
            ConflictPolicy::Fail,
            "b",
        )
        .unwrap();
    let ids = s.queue.enqueue(specs).unwrap();
    let victim = ids[400];
    s.queue.cancel(victim).await.unwrap();
    s.queue.wait_idle().await;
    let jobs = s.queue.jobs();
    let done = jobs.iter().filter(|j| j.state == JobState::Done).count();
    assert_eq!(done, 499);
    assert_eq!(s.queue.job(victim).unwrap().state, JobState::Cancelled);
    let cancelled_name = Path::new(&s.queue.job(victim).unwrap().spec.remote_path).to_path_buf();
    assert!(!root_of(&s).join(cancelled_name).exists());
    assert_eq!(
        std::fs::read_dir(root_of(&s).join("many")).unwrap().count(),
        499,
        "no partial files left"
    );
}

#[tokio::test]
async fn a_paused_upload_resumes_where_it_stopped_and_ends_identical() {
    let s = setup(1).await;
    let source = s.home.join("big.bin");
    let block: Vec<u8> = (0..(1 << 20))
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut content = Vec::with_capacity(300 << 20);
    for i in 0..300u32 {
        content.extend(block.iter().map(|b| b ^ (i as u8)));
    }
    std::fs::write(&source, &content).unwrap();
    let specs = s
        .engine
        .plan_upload(
            "w",
            std::slice::from_ref(&source),
            &FolderPath::root(),
            ConflictPolicy::Fail,
            "b",
        )
        .unwrap();
    let id = s.queue.enqueue(specs).unwrap()[0];
    // Pause once the first 32 MiB chunk is through: the stop is seen at the next chunk
    // boundary, long before 300 MiB are, so the partial holds a part to continue from.
    while s.queue.job(id).unwrap().done_bytes == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    s.queue.pause(id).unwrap();
    s.queue.wait_idle().await;
    let job = s.queue.job(id).unwrap();
    assert_eq!(job.state, JobState::Paused, "{job:?}");
    assert!(
        !root_of(&s).join("big.bin").exists(),
        "no file under the final name while paused"
    );
    let partial = root_of(&s).join(format!(".big.bin.berth-part-{id}"));
    let kept = std::fs::metadata(&partial)
        .expect("the partial file stays for the resume")
        .len();
    assert!(
        kept > 0 && kept < 300 << 20,
        "paused mid-way, {kept} bytes in"
    );
    // The same file before and after (its inode; Windows has no such number in std).
    #[cfg(unix)]
    let partial_inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&partial).unwrap());
    let mut events = s.queue.subscribe();
    s.queue.resume(id).unwrap();
    s.queue.wait_idle().await;
    assert_eq!(s.queue.job(id).unwrap().state, JobState::Done);
    let done = root_of(&s).join("big.bin");
    assert_eq!(sha(&done), sha(&source));
    // Continued, not started over: the copy after the resume starts at the partial's length
    // less its last few 128 KiB pieces (four, and part of one), which two threads copying side
    // by side may have left with a gap (its first report), never below that, into the very
    // file the pause left.
    let mut reported = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let berth_transfer::QueueEvent::Progress {
            id: job,
            done_bytes,
            ..
        } = event
            && job == id
        {
            reported.push(done_bytes);
        }
    }
    let first = *reported.first().expect("progress after the resume");
    assert!(
        first <= kept && kept - first <= 5 << 17,
        "continued from {first} of the {kept} bytes kept: {reported:?}"
    );
    assert!(reported.iter().all(|&at| at >= first), "{reported:?}");
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&done).unwrap()),
        partial_inode,
        "the paused partial became the file"
    );
}

#[tokio::test]
async fn an_upload_whose_source_is_gone_says_which_file_and_why() {
    let s = setup(1).await;
    let source = s.home.join("picked.txt");
    std::fs::write(&source, b"soon gone").unwrap();
    let specs = s
        .engine
        .plan_upload(
            "w",
            std::slice::from_ref(&source),
            &FolderPath::root(),
            ConflictPolicy::Fail,
            "b",
        )
        .unwrap();
    std::fs::remove_file(&source).unwrap();
    let id = s.queue.enqueue(specs).unwrap()[0];
    s.queue.wait_idle().await;
    let job = s.queue.job(id).unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(
        job.error.as_deref(),
        Some(
            format!(
                "Cannot read {} on this computer: it does not exist (moved or deleted since it \
                 was picked?)",
                source.display()
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn conflict_policies_replace_skip_keep_both_and_fail() {
    let s = setup(1).await;
    let root = root_of(&s);
    let source = s.home.join("report.pdf");
    std::fs::write(&source, b"new").unwrap();
    let run = |policy| {
        let specs = s
            .engine
            .plan_upload(
                "w",
                std::slice::from_ref(&source),
                &FolderPath::root(),
                policy,
                "b",
            )
            .unwrap();
        let queue = s.queue.clone();
        async move {
            let id = queue.enqueue(specs).unwrap()[0];
            queue.wait_idle().await;
            queue.job(id).unwrap()
        }
    };
    std::fs::write(root.join("report.pdf"), b"old").unwrap();
    assert_eq!(run(ConflictPolicy::Skip).await.state, JobState::Skipped);
    assert_eq!(std::fs::read(root.join("report.pdf")).unwrap(), b"old");
    let failed = run(ConflictPolicy::Fail).await;
    assert_eq!(failed.state, JobState::Failed);
    assert!(failed.error.unwrap().contains("already exists"));
    assert_eq!(std::fs::read(root.join("report.pdf")).unwrap(), b"old");
    let kept = run(ConflictPolicy::KeepBoth).await;
    assert_eq!(kept.final_path.as_deref(), Some("report (1).pdf"));
    assert_eq!(std::fs::read(root.join("report (1).pdf")).unwrap(), b"new");
    assert_eq!(run(ConflictPolicy::Replace).await.state, JobState::Done);
    assert_eq!(std::fs::read(root.join("report.pdf")).unwrap(), b"new");
    let leftovers: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("berth-part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn transfers_never_follow_a_link_out_of_the_folder() {
    let s = setup(2).await;
    let root = root_of(&s);
    let outside = s.home.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"secret").unwrap();
    crate::symlink(&outside, root.join("escape")).unwrap();
    std::fs::create_dir(root.join("tree")).unwrap();
    std::fs::write(root.join("tree/ok.txt"), b"ok").unwrap();
    crate::symlink(outside.join("secret"), root.join("tree/leak")).unwrap();
    let source = s.home.join("planted");
    std::fs::write(&source, b"planted").unwrap();

    // Uploading into the link is refused before anything is written.
    let error = s
        .engine
        .plan_upload(
            "w",
            &[source],
            &FolderPath::parse("escape").unwrap(),
            ConflictPolicy::Fail,
            "b",
        )
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput, "{error:?}");
    // Downloading through the link is refused.
    let error = s
        .engine
        .plan_download(
            "w",
            &[FolderPath::parse("escape/secret").unwrap()],
            &s.home.join("d1"),
            ConflictPolicy::Fail,
            "b",
        )
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput, "{error:?}");
    // A tree with a link in it downloads without the link's target.
    let specs = s
        .engine
        .plan_download(
            "w",
            &[FolderPath::parse("tree").unwrap()],
            &s.home.join("d2"),
            ConflictPolicy::Fail,
            "b",
        )
        .unwrap();
    assert_eq!(specs.len(), 1);
    s.queue.enqueue(specs).unwrap();
    s.queue.wait_idle().await;
    assert_eq!(tree(&s.home.join("d2")), ["tree/", "tree/ok.txt"]);
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        1,
        "nothing written outside"
    );
}

#[tokio::test]
async fn a_read_only_folder_refuses_uploads_before_anything_is_written() {
    let s = setup(1).await;
    let request = NewFolder {
        permission: FolderPermission::Ro,
        ..NewFolder::named("ro")
    };
    s.engine.create_folder(request).await.unwrap();
    let source = s.home.join("f");
    std::fs::write(&source, b"x").unwrap();
    let error = s
        .engine
        .plan_upload(
            "ro",
            &[source],
            &FolderPath::root(),
            ConflictPolicy::Fail,
            "b",
        )
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::PermissionDenied);
}

#[tokio::test]
async fn a_second_queue_on_the_same_journal_is_refused_while_the_first_runs() {
    let s = setup(1).await;
    let error = Journal::open(&s.engine.dirs().data.join("transfers.sqlite3"))
        .err()
        .expect("exclusive");
    assert_eq!(error.code, ErrorCode::EngineUnavailable);
    assert!(
        error.message.contains("Another Berth process"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_batch_is_announced_finished_exactly_once_with_its_counts() {
    let s = setup(4).await;
    let source = s.home.join("batch");
    std::fs::create_dir(&source).unwrap();
    for i in 0..40 {
        std::fs::write(source.join(format!("f{i}")), "x").unwrap();
    }
    let mut events = s.queue.subscribe();
    let specs = s
        .engine
        .plan_upload(
            "w",
            &[source],
            &FolderPath::root(),
            ConflictPolicy::Fail,
            "only",
        )
        .unwrap();
    s.queue.enqueue(specs).unwrap();
    s.queue.wait_idle().await;
    let mut announced = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let berth_transfer::QueueEvent::BatchFinished {
            batch,
            done,
            failed,
        } = event
        {
            announced.push((batch, done, failed));
        }
    }
    assert_eq!(announced, [("only".to_string(), 40, 0)]);
}
