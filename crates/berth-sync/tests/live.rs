//! A live push on the real local engine, through a real transfer queue: what changes here
//! reaches the folder shortly after, ignored paths never, deletes only when asked; a sync
//! stopped and started again catches up on what changed meanwhile.

// Helpers here are test code too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_core::{Engine, FolderPath, NewFolder};
use berth_local::LocalEngine;

mod common;
use berth_sync::book::SyncDirection;
use berth_sync::live::{LiveOptions, SyncState, run_live};
use berth_sync::push::{IgnoreRules, SyncPair};
use berth_transfer::Queue;
use common::{holds, until};

struct Scene {
    root: tempfile::TempDir,
    engine: Arc<LocalEngine>,
    queue: Queue,
    local: PathBuf,
    code: PathBuf,
}

async fn scene() -> Scene {
    let common::FolderOnLocalEngine {
        root,
        engine,
        folder,
    } = common::engine_with_folder().await;
    let code = folder.join("code");
    let queue = common::queue(root.path(), &engine);
    let local = root.path().join("project");
    std::fs::create_dir_all(local.join("src")).unwrap();
    std::fs::write(local.join("train.py"), "v1\n").unwrap();
    std::fs::write(local.join("src/model.py"), "model\n").unwrap();
    Scene {
        root,
        engine,
        queue,
        local,
        code,
    }
}

struct Running {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<berth_core::Result<()>>,
    states: Arc<Mutex<Vec<SyncState>>>,
}

fn start(s: &Scene, delete: bool) -> Running {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let states = Arc::new(Mutex::new(Vec::new()));
    let seen = states.clone();
    let task = tokio::spawn(run_live(
        s.engine.clone(),
        s.queue.clone(),
        SyncPair::parse(&s.local, "proj:code").unwrap(),
        LiveOptions {
            way: SyncDirection::Push,
            delete,
            rules: IgnoreRules::new(&["*.log".to_string()], true).unwrap(),
            journal: s.root.path().join("journal.json"),
        },
        Arc::new(move |state| seen.lock().unwrap().push(state)),
        stopped,
    ));
    Running { stop, task, states }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_changes_here_reaches_the_folder_and_ignored_paths_never_do() {
    let s = scene().await;
    let running = start(&s, true);
    until("the first pass", || {
        holds(&s.code.join("src/model.py"), "model\n")
    })
    .await;
    until("in step", || {
        matches!(
            running.states.lock().unwrap().last(),
            Some(SyncState::InStep { .. })
        )
    })
    .await;

    std::fs::write(s.local.join("src/new.py"), "new\n").unwrap();
    let took = until("a new file", || holds(&s.code.join("src/new.py"), "new\n")).await;
    println!("a new file reached the folder in {took:?}");
    std::fs::write(s.local.join("train.py"), "v2, longer\n").unwrap();
    until("a changed file", || {
        holds(&s.code.join("train.py"), "v2, longer\n")
    })
    .await;
    std::fs::create_dir_all(s.local.join("data/raw")).unwrap();
    std::fs::write(s.local.join("data/raw/a.csv"), "x,y\n").unwrap();
    until("a new directory's file", || {
        holds(&s.code.join("data/raw/a.csv"), "x,y\n")
    })
    .await;
    std::fs::write(s.local.join("debug.log"), "noise").unwrap();
    std::fs::create_dir_all(s.local.join("node_modules/dep")).unwrap();
    std::fs::write(s.local.join("node_modules/dep/i.js"), "dep").unwrap();
    std::fs::remove_file(s.local.join("src/model.py")).unwrap();
    until("a delete", || !s.code.join("src/model.py").exists()).await;
    assert!(!s.code.join("debug.log").exists(), "ignored");
    assert!(!s.code.join("node_modules").exists(), "ignored by default");
    // A directory renamed here is renamed there (as a delete and a new one).
    std::fs::rename(s.local.join("data"), s.local.join("inputs")).unwrap();
    until("a renamed directory", || {
        holds(&s.code.join("inputs/raw/a.csv"), "x,y\n")
    })
    .await;
    until("the old name gone", || !s.code.join("data").exists()).await;

    running.stop.send(true).unwrap();
    running.task.await.unwrap().unwrap();
    assert_eq!(
        running.states.lock().unwrap().last(),
        Some(&SyncState::Stopped)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_started_again_catches_up_and_deletes_nothing_unasked() {
    let s = scene().await;
    let running = start(&s, false);
    until("the first pass", || holds(&s.code.join("train.py"), "v1\n")).await;
    // Stopped the hard way, as a kill would: nothing runs while the files change.
    running.task.abort();
    let _ = running.task.await;
    std::fs::write(s.local.join("train.py"), "changed while stopped\n").unwrap();
    std::fs::write(s.local.join("added.py"), "added while stopped\n").unwrap();
    std::fs::remove_file(s.local.join("src/model.py")).unwrap();

    let again = start(&s, false);
    until("the catch-up", || {
        holds(&s.code.join("train.py"), "changed while stopped\n")
            && holds(&s.code.join("added.py"), "added while stopped\n")
    })
    .await;
    until("in step", || {
        matches!(
            again.states.lock().unwrap().last(),
            Some(SyncState::InStep { .. })
        )
    })
    .await;
    assert!(
        s.code.join("src/model.py").exists(),
        "no --delete: the folder keeps it"
    );
    again.stop.send(true).unwrap();
    again.task.await.unwrap().unwrap();
    let _ = (&s.root, FolderPath::root());
}

/// A tmpfs this test mounts (the machine's own disk is not filled for a test), unmounted when
/// dropped.
struct SmallDisk(PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A full disk pauses the sync with the reason, leaves no half-written file under a final
/// name, and the sync goes on by itself once the space is there. (Needs root, as CI runs, to
/// mount a 1 MiB tmpfs as a storage host.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_pauses_the_sync_with_the_reason_and_it_resumes_by_itself() {
    let s = scene().await;
    let small = s.root.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "this test mounts a tmpfs: run it as root"
    );
    let _disk = SmallDisk(small.clone());
    Engine::add_host(s.engine.as_ref(), "small", &small)
        .await
        .unwrap();
    let folder = s
        .engine
        .create_folder(NewFolder {
            host: Some("local:small".to_string()),
            ..NewFolder::named("tiny")
        })
        .await
        .unwrap();
    let tiny = s.engine.folder_path(&folder);
    let local = s.root.path().join("tiny-project");
    std::fs::create_dir(&local).unwrap();
    std::fs::write(local.join("big.bin"), vec![7u8; 2 << 20]).unwrap();

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let states = Arc::new(Mutex::new(Vec::<SyncState>::new()));
    let seen = states.clone();
    let task = tokio::spawn(run_live(
        s.engine.clone(),
        s.queue.clone(),
        SyncPair::parse(&local, "tiny").unwrap(),
        LiveOptions {
            way: SyncDirection::Push,
            delete: false,
            rules: IgnoreRules::new(&[], true).unwrap(),
            journal: s.root.path().join("journal.json"),
        },
        Arc::new(move |state| seen.lock().unwrap().push(state)),
        stopped,
    ));
    let reason = {
        let started = Instant::now();
        loop {
            let waiting = states.lock().unwrap().iter().find_map(|s| match s {
                SyncState::Waiting { reason } => Some(reason.clone()),
                _ => None,
            });
            if let Some(reason) = waiting {
                break reason;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no pause: {:?}",
                states.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert!(reason.to_lowercase().contains("space"), "{reason}");
    let names: Vec<String> = std::fs::read_dir(&tiny)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.contains(&"big.bin".to_string()),
        "no half-written file under its name: {names:?}"
    );

    // Space again: the big file goes, a small one takes its place; the retry sends it.
    std::fs::remove_file(local.join("big.bin")).unwrap();
    std::fs::write(local.join("small.txt"), "fits").unwrap();
    until("the retry", || holds(&tiny.join("small.txt"), "fits")).await;
    until("in step", || {
        matches!(
            states.lock().unwrap().last(),
            Some(SyncState::InStep { .. })
        )
    })
    .await;
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}
