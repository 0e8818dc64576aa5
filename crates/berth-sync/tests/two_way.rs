//! Pull and two-way syncs on the real local engine, through a real transfer queue: what
//! changed on one side reaches the other, a file changed on both sides is kept twice and the
//! conflict named, deletes travel only when asked and only over what the other side left
//! alone, and the journal carries all this across a restart. The folder's side is changed by
//! writing into the folder's directory, as a session would.

// Helpers here are test code too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_local::LocalEngine;

mod common;
use berth_sync::book::SyncDirection;
use berth_sync::exchange::{PassDone, PassRules, pass};
use berth_sync::journal::Journal;
use berth_sync::live::{LiveOptions, SyncState, run_live};
use berth_sync::push::{IgnoreRules, SyncPair};
use berth_sync::reconcile::Scope;
use berth_transfer::Queue;
use common::{holds, until};

struct Scene {
    root: tempfile::TempDir,
    engine: Arc<LocalEngine>,
    queue: Queue,
    /// The directory on this computer.
    here: PathBuf,
    /// `proj:code`'s directory: the folder's side.
    there: PathBuf,
}

impl Scene {
    fn journal(&self) -> PathBuf {
        self.root.path().join("sync.journal.json")
    }
}

async fn scene() -> Scene {
    let common::FolderOnLocalEngine {
        root,
        engine,
        folder,
    } = common::engine_with_folder().await;
    let queue = common::queue(root.path(), &engine);
    let here = root.path().join("project");
    let there = folder.join("code");
    std::fs::create_dir_all(&here).unwrap();
    std::fs::create_dir_all(&there).unwrap();
    Scene {
        root,
        engine,
        queue,
        here,
        there,
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Names in `dir` that start with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// One whole pass, as `berth sync once` makes it (journal read and written).
async fn once(s: &Scene, way: SyncDirection, delete: bool) -> PassDone {
    let rules = IgnoreRules::new(&["*.log".to_string()], true).unwrap();
    let mut journal = Journal::load(&s.journal());
    let how = PassRules {
        way,
        delete,
        rules: &rules,
        batch: "sync-test",
    };
    let pair = SyncPair::parse(&s.here, "proj:code").unwrap();
    let done = pass(
        s.engine.as_ref(),
        &s.queue,
        &pair,
        &how,
        &Scope::Whole,
        &mut journal,
        |_| {},
    )
    .await;
    journal.save(&s.journal()).unwrap();
    done.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_brings_the_folder_here_and_leaves_local_edits_alone() {
    let s = scene().await;
    write(&s.there.join("results/run1.csv"), "a,b\n");
    write(&s.there.join("notes.md"), "v1\n");
    write(&s.there.join("train.log"), "ignored\n");
    std::fs::create_dir_all(s.there.join("empty")).unwrap();
    write(&s.here.join("mine.txt"), "only here\n");

    let first = once(&s, SyncDirection::Pull, true).await;
    assert_eq!(first.done.downloaded, 2, "{first:?}");
    assert_eq!(read(&s.here.join("results/run1.csv")).unwrap(), "a,b\n");
    assert!(s.here.join("empty").is_dir(), "an empty directory too");
    assert!(!s.here.join("train.log").exists(), "ignored");
    assert!(
        !s.there.join("mine.txt").exists(),
        "a pull sends nothing to the folder"
    );
    // The folder's modified time comes with the file (to the millisecond, as engines say it).
    let times = |p: &Path| {
        let at = std::fs::metadata(p).unwrap().modified().unwrap();
        at.duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    };
    assert_eq!(
        times(&s.here.join("notes.md")),
        times(&s.there.join("notes.md"))
    );

    // Edited here only: a pull keeps the edit. Changed there only: it comes here.
    write(&s.here.join("notes.md"), "my edit\n");
    write(&s.there.join("results/run1.csv"), "a,b\n1,2\n");
    let second = once(&s, SyncDirection::Pull, true).await;
    assert_eq!(read(&s.here.join("notes.md")).unwrap(), "my edit\n");
    assert_eq!(
        read(&s.here.join("results/run1.csv")).unwrap(),
        "a,b\n1,2\n"
    );
    assert!(second.done.conflicts.is_empty());

    // Deleted there: deleted here (asked for), but never what was changed here.
    std::fs::remove_dir_all(s.there.join("results")).unwrap();
    std::fs::remove_file(s.there.join("notes.md")).unwrap();
    let third = once(&s, SyncDirection::Pull, true).await;
    assert!(!s.here.join("results").exists(), "{third:?}");
    assert_eq!(read(&s.here.join("notes.md")).unwrap(), "my edit\n");
    assert_eq!(read(&s.here.join("mine.txt")).unwrap(), "only here\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_on_both_sides_is_kept_twice_and_the_conflict_named() {
    let s = scene().await;
    write(&s.here.join("src/model.py"), "v1\n");
    once(&s, SyncDirection::Both, false).await;
    assert_eq!(read(&s.there.join("src/model.py")).unwrap(), "v1\n");

    write(&s.here.join("src/model.py"), "edited here\n");
    write(&s.there.join("src/model.py"), "edited in the session\n");
    let passed = once(&s, SyncDirection::Both, false).await;
    assert_eq!(passed.done.conflicts.len(), 1, "{passed:?}");
    let copy = &passed.done.conflicts[0];
    assert!(
        copy.starts_with("src/model (conflict ") && copy.ends_with(").py"),
        "{copy}"
    );
    // The folder's version has the name on both sides; this computer's is beside it, and a
    // two-way sync sends the copy too: nothing of either edit is lost anywhere.
    assert_eq!(
        read(&s.here.join("src/model.py")).unwrap(),
        "edited in the session\n"
    );
    assert_eq!(read(&s.here.join(copy)).unwrap(), "edited here\n");
    let next = once(&s, SyncDirection::Both, false).await;
    assert_eq!(read(&s.there.join(copy)).unwrap(), "edited here\n");
    assert_eq!(
        read(&s.there.join("src/model.py")).unwrap(),
        "edited in the session\n"
    );
    assert!(next.done.conflicts.is_empty(), "no new conflict: {next:?}");
    // The conflict is shown until its copy is gone.
    assert_eq!(Journal::load(&s.journal()).conflicts.len(), 1);
    std::fs::remove_file(s.here.join(copy)).unwrap();
    once(&s, SyncDirection::Both, false).await;
    assert!(Journal::load(&s.journal()).conflicts.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_pass_matches_equal_files_and_keeps_both_of_different_ones() {
    let s = scene().await;
    // Two copies made apart (different times), the same bytes; and two that differ.
    write(&s.here.join("same.txt"), "identical\n");
    write(&s.there.join("same.txt"), "identical\n");
    write(&s.here.join("differs.txt"), "laptop\n");
    write(&s.there.join("differs.txt"), "cluster\n");
    write(&s.there.join("only-there.txt"), "there\n");
    write(&s.here.join("only-here.txt"), "here\n");
    let passed = once(&s, SyncDirection::Both, true).await;
    assert_eq!(passed.done.conflicts.len(), 1, "{passed:?}");
    assert!(passed.done.conflicts[0].starts_with("differs (conflict "));
    assert_eq!(read(&s.here.join("differs.txt")).unwrap(), "cluster\n");
    assert_eq!(read(&s.here.join("only-there.txt")).unwrap(), "there\n");
    assert_eq!(read(&s.there.join("only-here.txt")).unwrap(), "here\n");
    assert_eq!(
        passed.done.deleted_here.len() + passed.done.deleted_there.len(),
        0
    );
    // Matched by their bytes: nothing moves next time.
    let next = once(&s, SyncDirection::Both, true).await;
    assert_eq!(
        next.done.downloaded + next.done.uploaded,
        1,
        "the copy: {next:?}"
    );
    let still = once(&s, SyncDirection::Both, true).await;
    assert_eq!(still.done.downloaded + still.done.uploaded, 0, "{still:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_travel_both_ways_only_when_asked_and_never_over_a_change() {
    let s = scene().await;
    for name in ["a.txt", "b.txt", "c.txt", "d.txt", "dir/e.txt"] {
        write(&s.here.join(name), name);
    }
    write(&s.here.join("gone/f.txt"), "f");
    once(&s, SyncDirection::Both, false).await;
    assert!(s.there.join("gone/f.txt").exists());

    // Without --delete a deletion stays where it was made, and is not undone either.
    std::fs::remove_file(s.here.join("a.txt")).unwrap();
    std::fs::remove_file(s.there.join("b.txt")).unwrap();
    once(&s, SyncDirection::Both, false).await;
    assert!(s.there.join("a.txt").exists() && !s.here.join("a.txt").exists());
    assert!(s.here.join("b.txt").exists() && !s.there.join("b.txt").exists());

    // With it: deleted here → deleted there, and the other way; a whole directory too, but
    // not a file the other side changed (it comes back instead), nor anything ignored.
    std::fs::remove_file(s.here.join("c.txt")).unwrap();
    std::fs::remove_file(s.there.join("d.txt")).unwrap();
    std::fs::remove_dir_all(s.here.join("gone")).unwrap();
    std::fs::remove_dir_all(s.there.join("dir")).unwrap();
    write(&s.there.join("dir-kept/x.txt"), "x"); // New there: arrives, not deleted.
    once(&s, SyncDirection::Both, true).await;
    assert!(!s.there.join("c.txt").exists());
    assert!(!s.here.join("d.txt").exists());
    assert!(!s.there.join("gone").exists(), "a directory whole");
    assert!(!s.here.join("dir").exists());
    assert_eq!(read(&s.here.join("dir-kept/x.txt")).unwrap(), "x");

    write(&s.here.join("keep/changed.txt"), "v1");
    once(&s, SyncDirection::Both, true).await;
    std::fs::remove_dir_all(s.here.join("keep")).unwrap();
    write(&s.there.join("keep/changed.txt"), "changed in the session");
    write(&s.there.join("keep/run.log"), "a session's log");
    once(&s, SyncDirection::Both, true).await;
    assert_eq!(
        read(&s.here.join("keep/changed.txt")).unwrap(),
        "changed in the session",
        "changed there: brought back, not deleted"
    );
    assert_eq!(
        read(&s.there.join("keep/run.log")).unwrap(),
        "a session's log"
    );

    // The folder lost a directory while a file in it changed here: the file goes back, in the
    // directory made again.
    write(&s.here.join("edited/f.txt"), "v1");
    once(&s, SyncDirection::Both, true).await;
    std::fs::remove_dir_all(s.there.join("edited")).unwrap();
    write(&s.here.join("edited/f.txt"), "v2, changed here");
    once(&s, SyncDirection::Both, true).await;
    assert_eq!(
        read(&s.there.join("edited/f.txt")).unwrap(),
        "v2, changed here"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_never_writes_through_a_link_here() {
    let s = scene().await;
    let outside = s.root.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    write(&s.there.join("linked/secret.txt"), "from the folder");
    write(&s.there.join("file-link"), "from the folder");
    std::os::unix::fs::symlink(&outside, s.here.join("linked")).unwrap();
    std::os::unix::fs::symlink(outside.join("target"), s.here.join("file-link")).unwrap();
    let passed = once(&s, SyncDirection::Pull, false).await;
    assert!(
        !outside.join("secret.txt").exists() && !outside.join("target").exists(),
        "nothing written outside the directory: {passed:?}"
    );
    assert!(
        std::fs::symlink_metadata(s.here.join("file-link"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is left as it is"
    );
}

struct Live {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<berth_core::Result<()>>,
    states: Arc<Mutex<Vec<SyncState>>>,
}

fn live(s: &Scene, way: SyncDirection, delete: bool) -> Live {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let states = Arc::new(Mutex::new(Vec::new()));
    let seen = states.clone();
    let task = tokio::spawn(run_live(
        s.engine.clone(),
        s.queue.clone(),
        SyncPair::parse(&s.here, "proj:code").unwrap(),
        LiveOptions {
            way,
            delete,
            rules: IgnoreRules::new(&[], true).unwrap(),
            journal: s.journal(),
        },
        Arc::new(move |state| seen.lock().unwrap().push(state)),
        stopped,
    ));
    Live { stop, task, states }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_two_way_sync_follows_both_sides_and_survives_a_kill() {
    let s = scene().await;
    write(&s.here.join("train.py"), "v1\n");
    let running = live(&s, SyncDirection::Both, true);
    until("the first pass", || {
        holds(&s.there.join("train.py"), "v1\n")
    })
    .await;

    // The folder's side is watched on the local engine: a session's new file arrives soon.
    write(&s.there.join("out/metrics.json"), "{}\n");
    let took = until("the session's file here", || {
        holds(&s.here.join("out/metrics.json"), "{}\n")
    })
    .await;
    println!("a file written in the folder arrived here in {took:?}");
    write(&s.here.join("train.py"), "v2\n");
    until("an edit there", || holds(&s.there.join("train.py"), "v2\n")).await;
    until("in step", || {
        matches!(
            running.states.lock().unwrap().last(),
            Some(SyncState::InStep { .. })
        )
    })
    .await;

    // Killed: both sides change while nothing runs; the journal tells what changed where.
    running.task.abort();
    let _ = running.task.await;
    write(&s.here.join("train.py"), "v3 here\n");
    std::fs::remove_file(s.there.join("out/metrics.json")).unwrap();
    write(&s.there.join("README.md"), "new there\n");
    let again = live(&s, SyncDirection::Both, true);
    until("the catch-up", || {
        holds(&s.there.join("train.py"), "v3 here\n")
            && holds(&s.here.join("README.md"), "new there\n")
            && !s.here.join("out/metrics.json").exists()
    })
    .await;
    until("in step", || {
        matches!(
            again.states.lock().unwrap().last(),
            Some(SyncState::InStep { conflicts, .. }) if conflicts.is_empty()
        )
    })
    .await;
    assert!(
        named(&s.here, "train (conflict").is_empty(),
        "no false conflict"
    );

    // A conflict while it runs is shown in its state.
    again.stop.send(true).unwrap();
    again.task.await.unwrap().unwrap();
    write(&s.here.join("README.md"), "mine\n");
    write(&s.there.join("README.md"), "theirs\n");
    let third = live(&s, SyncDirection::Both, true);
    until("the conflict shown", || {
        matches!(
            third.states.lock().unwrap().last(),
            Some(SyncState::InStep { conflicts, .. }) if conflicts.len() == 1
        )
    })
    .await;
    assert_eq!(named(&s.here, "README (conflict").len(), 1);
    third.stop.send(true).unwrap();
    third.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_vanishes_or_changes_during_a_pass_is_left_for_the_next_one() {
    let s = scene().await;
    write(&s.there.join("vanishes.txt"), "soon gone");
    write(&s.there.join("edited.txt"), "folder v1");
    write(&s.here.join("edited.txt"), "folder v1");
    once(&s, SyncDirection::Both, false).await;
    write(&s.there.join("edited.txt"), "folder v2, longer");
    std::fs::remove_file(s.here.join("vanishes.txt")).unwrap();
    write(
        &s.there.join("vanishes.txt"),
        "changed there: to be brought back",
    );

    let rules = IgnoreRules::new(&[], true).unwrap();
    let pair = SyncPair::parse(&s.here, "proj:code").unwrap();
    let mut journal = Journal::load(&s.journal());
    let plan = berth_sync::reconcile::plan_reconcile(
        s.engine.as_ref(),
        &pair,
        &rules,
        &journal,
        SyncDirection::Both,
        false,
        &Scope::Whole,
    )
    .await
    .unwrap();
    assert_eq!(plan.downloads.len(), 2, "{plan:?}");
    // Between the listing and the transfer: one file goes in the folder, the user saves the
    // other here.
    std::fs::remove_file(s.there.join("vanishes.txt")).unwrap();
    write(&s.here.join("edited.txt"), "my edit meanwhile");
    let done = berth_sync::exchange::exchange(
        s.engine.as_ref(),
        &s.queue,
        &pair,
        plan,
        &mut journal,
        "sync-test",
    )
    .await
    .unwrap();
    assert!(done.failed.is_empty(), "not a failure: {done:?}");
    assert!(done.again, "another pass follows");
    assert_eq!(
        read(&s.here.join("edited.txt")).unwrap(),
        "my edit meanwhile"
    );
    journal.save(&s.journal()).unwrap();
    // The next pass sees the edit on both sides: kept twice.
    let next = once(&s, SyncDirection::Both, false).await;
    assert_eq!(next.done.conflicts.len(), 1, "{next:?}");
    assert!(!s.here.join("vanishes.txt").exists());
}
