//! What Berth writes into a folder while a session has it mounted read-write stays writable by
//! that session (issue 12, item 2). When Berth runs as root, sessions run as `nobody` and a
//! folder is handed over at session start; an upload or a new directory made afterwards was
//! left to root, and `echo x >> file` in the session said "Permission denied".

use std::path::Path;
use std::sync::Arc;

use berth_core::{Engine, FolderPath};
use berth_local::LocalEngine;
use berth_local::supervisor::client::ExecOutput;
use berth_local::transport::LocalTransport;
use berth_transfer::{ConflictPolicy, JobState, Journal, Queue};

use crate::{Fixture, runtime};

/// Writes into `folder` as the explorer and the transfer queue do (an upload of a file and of a
/// tree through the real queue, a nested new directory, a directory moved into another), then
/// asks the session, through `exec` (a shell script of builtins only: the Docker test image is
/// tiny), to append to each file and create a file in each directory.
pub(crate) fn assert_engine_writes_are_writable_inside(
    fixture: &Fixture,
    folder: &str,
    target: &str,
    exec: impl Fn(&str) -> ExecOutput,
) {
    let rt = runtime();
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("uploaded.txt"), "from this computer\n").unwrap();
    std::fs::create_dir_all(local.path().join("tree/inner")).unwrap();
    std::fs::write(local.path().join("tree/inner/deep.txt"), "deep\n").unwrap();

    // The app's queue, on an engine of its own over the same data directory, as the app has.
    let engine = Arc::new(LocalEngine::open(fixture.engine.dirs().clone()).unwrap());
    let journal = Journal::open(&engine.dirs().data.join("transfers.sqlite3")).unwrap();
    let queue = Queue::open(journal, Arc::new(LocalTransport::new(engine.clone())), 2).unwrap();
    // The queue's workers are tasks on this runtime; they run while `block_on` drives it.
    let _inside = rt.enter();
    queue.start();
    let sources = [local.path().join("uploaded.txt"), local.path().join("tree")];
    let specs = engine
        .plan_upload(
            folder,
            &sources,
            &FolderPath::root(),
            ConflictPolicy::Fail,
            "upload-while-running",
        )
        .unwrap();
    queue.enqueue(specs).unwrap();
    rt.block_on(queue.wait_idle());
    assert!(
        queue.jobs().iter().all(|j| j.state == JobState::Done),
        "{:?}",
        queue.jobs()
    );
    let path = |p: &str| FolderPath::parse(p).unwrap();
    rt.block_on(fixture.engine.make_dir(folder, &path("made/in/explorer")))
        .unwrap();
    rt.block_on(fixture.engine.make_dir(folder, &path("to-move")))
        .unwrap();
    rt.block_on(
        fixture
            .engine
            .move_path(folder, &path("to-move"), &path("made/moved")),
    )
    .unwrap();

    let script = format!(
        "cd {target} && echo more >> uploaded.txt && echo more >> tree/inner/deep.txt && \
         echo new > tree/inner/new.txt && echo new > made/in/explorer/new.txt && \
         echo new > made/in/new.txt && echo new > made/moved/new.txt && echo ALL-WRITTEN"
    );
    let out = exec(&script);
    assert_eq!(
        (out.code, out.stdout_text().trim()),
        (0, "ALL-WRITTEN"),
        "the session could not write what Berth wrote: {}",
        out.stderr_text()
    );
    let on_disk = |p: &str| -> String {
        let record = rt.block_on(fixture.engine.folder(folder)).unwrap();
        std::fs::read_to_string(Path::new(&fixture.engine.folder_path(&record)).join(p)).unwrap()
    };
    assert_eq!(on_disk("uploaded.txt"), "from this computer\nmore\n");
    assert_eq!(on_disk("made/moved/new.txt"), "new\n");
}
