//! Uploads and downloads through the real storage proxy with the transfer queue, compared byte
//! for byte; and through a loopback TCP proxy written here (a stand-in for a flaky network
//! between Berth and the storage proxy) that cuts or holds connections mid-transfer. The
//! transport reaches it by rewriting the storage proxy address, as
//! `BACKEND_OVERRIDE_STORAGE_PROXY` does for Backend.AI's own client.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use berth_backendai::{BackendAiEngine, StorageProxyOverrides, StorageProxyTransport};
use berth_core::{Engine, ErrorCode, FileKind, FolderPath, NewFolder};
use berth_transfer::{ConflictPolicy, Job, JobState, Journal, PlanTransfers, Queue, TransferSpec};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::*;

const MIB: u64 = 1 << 20;
/// Where the peer's storage proxy serves clients (the URL the manager hands out).
const STORAGE_PROXY: &str = "127.0.0.1:6021";

fn root() -> FolderPath {
    FolderPath::root()
}

/// `size` bytes that differ from any other seed's, written in pieces.
fn write_random(path: &Path, size: u64, seed: u64) {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut left = size;
    let mut piece = vec![0u8; MIB as usize];
    while left > 0 {
        for word in piece.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        let n = left.min(MIB) as usize;
        file.write_all(&piece[..n]).unwrap();
        left -= n as u64;
    }
    file.flush().unwrap();
}

fn sha256(path: &Path) -> String {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).unwrap();
    format!("{:x}", hasher.finalize())
}

/// A fresh folder for one test.
pub(crate) async fn folder(engine: &BackendAiEngine, prefix: &str) -> String {
    let name = unique(prefix);
    engine.create_folder(NewFolder::named(&name)).await.unwrap();
    name
}

pub(crate) async fn remove_folder(engine: &BackendAiEngine, name: &str) {
    let _ = engine.trash_folder(name).await;
    let _ = engine.purge_folder(name).await;
}

/// Runs `specs` on a queue over `transport` with a journal of its own (in a directory under
/// `dir`); returns the jobs.
async fn run(
    dir: &Path,
    transport: Arc<StorageProxyTransport>,
    specs: Vec<TransferSpec>,
) -> Vec<Job> {
    let journal_dir = tempfile::tempdir_in(dir).unwrap();
    let journal = Journal::open(&journal_dir.path().join("transfers.sqlite3")).unwrap();
    let queue = Queue::open(journal, transport, 4).unwrap();
    let runner = queue.start();
    let ids = queue.enqueue(specs).unwrap();
    queue.wait_idle().await;
    runner.abort();
    let jobs = ids.iter().map(|&id| queue.job(id).unwrap()).collect();
    drop(queue);
    // The aborted scheduler may still hold the journal for a moment: its directory goes with
    // `dir` rather than now.
    std::mem::forget(journal_dir);
    jobs
}

fn assert_done(jobs: &[Job]) {
    for job in jobs {
        assert_eq!(
            job.state,
            JobState::Done,
            "{} ended {:?}: {:?}",
            job.spec.remote_path,
            job.state,
            job.error
        );
    }
}

fn direct(engine: &Arc<BackendAiEngine>) -> Arc<StorageProxyTransport> {
    Arc::new(StorageProxyTransport::new(engine.clone()))
}

fn through(engine: &Arc<BackendAiEngine>, proxy: &CuttingProxy) -> Arc<StorageProxyTransport> {
    let overrides =
        StorageProxyOverrides::parse(&format!("{STORAGE_PROXY}=127.0.0.1:{}", proxy.port)).unwrap();
    Arc::new(StorageProxyTransport::new(engine.clone()).with_overrides(overrides))
}

async fn upload(
    engine: &Arc<BackendAiEngine>,
    transport: Arc<StorageProxyTransport>,
    folder: &str,
    sources: &[PathBuf],
    dir: &Path,
) -> Vec<Job> {
    let specs = engine
        .plan_upload(folder, sources, &root(), ConflictPolicy::Fail, "up")
        .await
        .unwrap();
    run(dir, transport, specs).await
}

async fn download(
    engine: &Arc<BackendAiEngine>,
    transport: Arc<StorageProxyTransport>,
    folder: &str,
    paths: &[&str],
    to: &Path,
    dir: &Path,
) -> Vec<Job> {
    let paths = FolderPath::parse_all(paths).unwrap();
    let specs = engine
        .plan_download(folder, &paths, to, ConflictPolicy::Fail, "down")
        .await
        .unwrap();
    run(dir, transport, specs).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_of_0_b_1_b_and_100_mib_go_up_and_come_back_identical() {
    let engine = Arc::new(engine().await);
    let name = folder(&engine, "xfer-sizes").await;
    let work = tempfile::tempdir().unwrap();
    let sources: Vec<PathBuf> = [("empty.bin", 0), ("one.bin", 1), ("big.bin", 100 * MIB)]
        .iter()
        .enumerate()
        .map(|(i, (file, size))| {
            let path = work.path().join(file);
            write_random(&path, *size, i as u64);
            path
        })
        .collect();

    let jobs = upload(&engine, direct(&engine), &name, &sources, work.path()).await;
    assert_eq!(jobs.len(), 3);
    assert_done(&jobs);
    let listed = engine.list_files(&name, &root()).await.unwrap();
    for (file, size) in [("empty.bin", 0), ("one.bin", 1), ("big.bin", 100 * MIB)] {
        let entry = listed.iter().find(|e| e.name == file).expect(file);
        assert_eq!((entry.kind, entry.size), (FileKind::File, size), "{file}");
    }

    let back = work.path().join("back");
    let jobs = download(
        &engine,
        direct(&engine),
        &name,
        &["empty.bin", "one.bin", "big.bin"],
        &back,
        work.path(),
    )
    .await;
    assert_done(&jobs);
    for source in &sources {
        let copy = back.join(source.file_name().unwrap());
        assert_eq!(sha256(&copy), sha256(source), "{}", copy.display());
    }
    let leftovers: Vec<_> = std::fs::read_dir(&back)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("berth-part"))
        .collect();
    assert!(leftovers.is_empty(), "no partial files stay: {leftovers:?}");

    // The same files again with keep-both and skip: nothing is overwritten.
    let specs = engine
        .plan_upload(
            &name,
            &sources[1..2],
            &root(),
            ConflictPolicy::KeepBoth,
            "again",
        )
        .await
        .unwrap();
    assert_eq!(
        engine.existing_destinations(&specs).await.unwrap(),
        ["one.bin"]
    );
    assert_done(&run(work.path(), direct(&engine), specs).await);
    let specs = engine
        .plan_upload(&name, &sources[..1], &root(), ConflictPolicy::Skip, "skip")
        .await
        .unwrap();
    let skipped = run(work.path(), direct(&engine), specs).await;
    assert_eq!(skipped[0].state, JobState::Skipped);
    let mut names: Vec<String> = engine
        .list_files(&name, &root())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(names, ["big.bin", "empty.bin", "one (1).bin", "one.bin"]);
    remove_folder(&engine, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_folder_tree_goes_up_and_comes_back_as_a_tree_of_files() {
    let engine = Arc::new(engine().await);
    let name = folder(&engine, "xfer-tree").await;
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("project");
    let files = [
        ("README.md", 1_000),
        ("src/main.py", 20_000),
        ("src/lib/util.py", 3),
        ("data/raw/a.csv", 3 * MIB + 17),
        ("data/raw/b.csv", 0),
        ("data/.hidden", 42),
    ];
    for (i, (file, size)) in files.iter().enumerate() {
        let path = tree.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_random(&path, *size, 100 + i as u64);
    }
    std::fs::create_dir_all(tree.join("results/empty")).unwrap();

    let jobs = upload(
        &engine,
        direct(&engine),
        &name,
        std::slice::from_ref(&tree),
        work.path(),
    )
    .await;
    assert_eq!(jobs.len(), files.len());
    assert_done(&jobs);
    let results = engine
        .list_files(&name, &FolderPath::parse("project/results").unwrap())
        .await
        .unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(
        (results[0].name.as_str(), results[0].kind),
        ("empty", FileKind::Directory),
        "an empty directory is made too"
    );

    let back = work.path().join("back");
    let jobs = download(
        &engine,
        direct(&engine),
        &name,
        &["project"],
        &back,
        work.path(),
    )
    .await;
    assert_eq!(jobs.len(), files.len(), "one job per file, not one ZIP");
    assert_done(&jobs);
    for (file, _) in files {
        assert_eq!(
            sha256(&back.join("project").join(file)),
            sha256(&tree.join(file)),
            "{file}"
        );
    }
    assert!(back.join("project/results/empty").is_dir());
    remove_folder(&engine, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_cut_in_the_middle_of_a_patch_resumes_from_the_servers_offset() {
    let engine = Arc::new(engine().await);
    let name = folder(&engine, "xfer-cut-up").await;
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("cut.bin");
    let size = 100 * MIB;
    write_random(&source, size, 7);
    // The first chunk (64 MiB) goes through; the connection dies 16 MiB into the second.
    let proxy = CuttingProxy::start(Rule::CutUpAfter(80 * MIB));

    let jobs = upload(
        &engine,
        through(&engine, &proxy),
        &name,
        std::slice::from_ref(&source),
        work.path(),
    )
    .await;
    assert_done(&jobs);
    assert_eq!(proxy.cuts(), 1, "the proxy cut one PATCH");
    let sent = proxy.up();
    assert!(
        sent < size + 50 * MIB,
        "{} MiB went up: the upload continued from the server's offset instead of starting over",
        sent / MIB
    );

    let back = work.path().join("back");
    assert_done(
        &download(
            &engine,
            direct(&engine),
            &name,
            &["cut.bin"],
            &back,
            work.path(),
        )
        .await,
    );
    assert_eq!(sha256(&back.join("cut.bin")), sha256(&source));
    remove_folder(&engine, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_download_cut_midway_resumes_with_a_range_request() {
    let engine = Arc::new(engine().await);
    let name = folder(&engine, "xfer-cut-down").await;
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("cut.bin");
    let size = 100 * MIB;
    write_random(&source, size, 8);
    assert_done(
        &upload(
            &engine,
            direct(&engine),
            &name,
            std::slice::from_ref(&source),
            work.path(),
        )
        .await,
    );

    let proxy = CuttingProxy::start(Rule::CutDownAfter(30 * MIB));
    let back = work.path().join("back");
    let jobs = download(
        &engine,
        through(&engine, &proxy),
        &name,
        &["cut.bin"],
        &back,
        work.path(),
    )
    .await;
    assert_done(&jobs);
    assert_eq!(proxy.cuts(), 1, "the proxy cut one download");
    let received = proxy.down();
    assert!(
        received < size + 15 * MIB,
        "{} MiB came down: the download continued from the partial file instead of starting over",
        received / MIB
    );
    assert_eq!(sha256(&back.join("cut.bin")), sha256(&source));
    remove_folder(&engine, &name).await;
}

/// Downloads a file of `size` through a proxy that holds the connection after `hold` bytes,
/// pauses the job there, replaces the file on the server (same name and size, other bytes)
/// when `replace` says so, resumes the job and checks it ends with the server's version.
/// Returns the bytes that came down after the resume.
async fn pause_and_resume_a_download(size: u64, hold: u64, replace: bool) -> u64 {
    let engine = Arc::new(engine().await);
    let name = folder(&engine, "xfer-paused").await;
    let work = tempfile::tempdir().unwrap();
    let (old, new) = (work.path().join("old"), work.path().join("new"));
    std::fs::create_dir_all(&old).unwrap();
    std::fs::create_dir_all(&new).unwrap();
    let (old, new) = (old.join("data.bin"), new.join("data.bin"));
    write_random(&old, size, 12);
    write_random(&new, size, 13);
    assert_done(
        &upload(
            &engine,
            direct(&engine),
            &name,
            std::slice::from_ref(&old),
            work.path(),
        )
        .await,
    );

    let proxy = CuttingProxy::start(Rule::HoldDownAfter(hold));
    let journal_dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(
        Journal::open(&journal_dir.path().join("transfers.sqlite3")).unwrap(),
        through(&engine, &proxy),
        4,
    )
    .unwrap();
    let runner = queue.start();
    let back = work.path().join("back");
    let specs = engine
        .plan_download(
            &name,
            &[FolderPath::parse("data.bin").unwrap()],
            &back,
            ConflictPolicy::Fail,
            "d",
        )
        .await
        .unwrap();
    let id = queue.enqueue(specs).unwrap()[0];
    wait_until("the proxy holds the download", || proxy.holding()).await;
    queue.pause(id).unwrap();
    wait_until("the job paused", || {
        queue.job(id).is_some_and(|j| j.state == JobState::Paused)
    })
    .await;
    proxy.release();

    if replace {
        // Same name, same size, other bytes: only the server's validators tell them apart.
        let specs = engine
            .plan_upload(
                &name,
                std::slice::from_ref(&new),
                &root(),
                ConflictPolicy::Replace,
                "replace",
            )
            .await
            .unwrap();
        assert_done(&run(work.path(), direct(&engine), specs).await);
    }

    let before = proxy.down();
    queue.resume(id).unwrap();
    queue.wait_idle().await;
    runner.abort();
    let job = queue.job(id).unwrap();
    assert_eq!(job.state, JobState::Done, "{:?}", job.error);
    let expected = if replace { &new } else { &old };
    assert_eq!(
        sha256(&back.join("data.bin")),
        sha256(expected),
        "the download holds the server's current version whole"
    );
    remove_folder(&engine, &name).await;
    proxy.down() - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_download_of_a_file_replaced_on_the_server_meanwhile_starts_over() {
    // One GET (below the size for segments), then in segments.
    for size in [50 * MIB, 100 * MIB] {
        let after = pause_and_resume_a_download(size, 20 * MIB, true).await;
        assert!(
            after >= size,
            "{size}: only {after} bytes came down after the resume: parts of the old version were kept"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_download_in_segments_continues_where_its_segments_ended() {
    let size = 100 * MIB;
    let after = pause_and_resume_a_download(size, 40 * MIB, false).await;
    assert!(
        after < size - 20 * MIB,
        "{} MiB came down after the resume: the segments written before the pause must stay",
        after / MIB
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_site_that_refuses_large_bodies_gets_15_mib_chunks_from_then_on() {
    let engine = Arc::new(engine().await);
    let name = folder(&engine, "xfer-413").await;
    let work = tempfile::tempdir().unwrap();
    let (first, second) = (
        work.path().join("first.bin"),
        work.path().join("second.bin"),
    );
    write_random(&first, 40 * MIB, 10);
    write_random(&second, 20 * MIB, 11);
    // A reverse proxy with nginx's `client_max_body_size 16m` in front of the storage proxy.
    let proxy = CuttingProxy::start(Rule::RefuseBodiesOver(16 * MIB));
    let transport = through(&engine, &proxy);

    assert_done(
        &upload(
            &engine,
            transport.clone(),
            &name,
            std::slice::from_ref(&first),
            work.path(),
        )
        .await,
    );
    assert_eq!(proxy.refusals(), 1, "the first 64 MiB chunk was refused");
    assert_eq!(
        proxy.largest_body(),
        15 * MIB,
        "then 15 MiB chunks went through"
    );
    // The transport remembers the site's limit: the next upload is not refused at all.
    assert_done(
        &upload(
            &engine,
            transport,
            &name,
            std::slice::from_ref(&second),
            work.path(),
        )
        .await,
    );
    assert_eq!(proxy.refusals(), 1);

    let back = work.path().join("back");
    let jobs = download(
        &engine,
        direct(&engine),
        &name,
        &["first.bin", "second.bin"],
        &back,
        work.path(),
    )
    .await;
    assert_done(&jobs);
    assert_eq!(sha256(&back.join("first.bin")), sha256(&first));
    assert_eq!(sha256(&back.join("second.bin")), sha256(&second));
    remove_folder(&engine, &name).await;
}

/// An app restart: the first queue stops the upload mid-way and goes away with its runtime;
/// a new queue on the same journal, with a new login, continues from the journal's token and
/// offset (checked with HEAD) instead of uploading again from byte 0.
#[test]
fn an_upload_stopped_and_resumed_by_a_new_queue_continues_from_the_journals_offset() {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap()
    };
    let work = tempfile::tempdir().unwrap();
    let journal_path = work.path().join("transfers.sqlite3");
    let source = work.path().join("restart.bin");
    let size = 100 * MIB;
    write_random(&source, size, 9);
    // Holds the connection after 80 MiB: the first 64 MiB chunk is acknowledged, the second
    // hangs until the queue is told to stop.
    let proxy = CuttingProxy::start(Rule::HoldUpAfter(80 * MIB));

    let (name, id) = runtime().block_on(async {
        let engine = Arc::new(engine().await);
        let name = folder(&engine, "xfer-restart").await;
        let queue = Queue::open(
            Journal::open(&journal_path).unwrap(),
            through(&engine, &proxy),
            4,
        )
        .unwrap();
        queue.start();
        let specs = engine
            .plan_upload(
                &name,
                std::slice::from_ref(&source),
                &root(),
                ConflictPolicy::Fail,
                "r",
            )
            .await
            .unwrap();
        let id = queue.enqueue(specs).unwrap()[0];
        wait_until("the proxy holds the second chunk", || proxy.holding()).await;
        queue.pause(id).unwrap();
        wait_until("the job paused", || {
            queue.job(id).is_some_and(|j| j.state == JobState::Paused)
        })
        .await;
        (name, id)
    });
    proxy.release();

    let journal = Journal::open(&journal_path).unwrap();
    let saved: serde_json::Value =
        serde_json::from_str(&journal.resume_state(id).unwrap().expect("a resume state")).unwrap();
    assert_eq!(
        saved["offset"],
        64 * MIB,
        "the journal has the acknowledged offset: {saved}"
    );
    assert!(saved["token"].is_string() && saved["url"].is_string());
    drop(journal);

    let sent_before = proxy.up();
    runtime().block_on(async {
        let engine = Arc::new(engine().await);
        let queue = Queue::open(
            Journal::open(&journal_path).unwrap(),
            through(&engine, &proxy),
            4,
        )
        .unwrap();
        queue.start();
        assert_eq!(queue.job(id).unwrap().state, JobState::Paused);
        queue.resume(id).unwrap();
        queue.wait_idle().await;
        let job = queue.job(id).unwrap();
        assert_eq!(job.state, JobState::Done, "{:?}", job.error);

        let resent = proxy.up() - sent_before;
        assert!(
            resent < size - 60 * MIB,
            "{} MiB went up after the restart: it must continue at 64 MiB, not at 0",
            resent / MIB
        );
        let back = work.path().join("back");
        assert_done(
            &download(
                &engine,
                direct(&engine),
                &name,
                &["restart.bin"],
                &back,
                work.path(),
            )
            .await,
        );
        assert_eq!(sha256(&back.join("restart.bin")), sha256(&source));
        remove_folder(&engine, &name).await;
    });
}

async fn wait_until(what: &str, mut probe: impl FnMut() -> bool) {
    for _ in 0..6_000 {
        if probe() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// What the proxy does to traffic once the total in one direction passes a count of bytes.
#[derive(Clone, Copy)]
enum Rule {
    /// Closes the connection carrying client → storage proxy bytes at that point, once.
    CutUpAfter(u64),
    /// Closes the connection carrying storage proxy → client bytes at that point, once.
    CutDownAfter(u64),
    /// Stops forwarding client → storage proxy bytes at that point until `release`, then
    /// closes that connection.
    HoldUpAfter(u64),
    /// Stops forwarding storage proxy → client bytes at that point until `release`, then
    /// closes that connection.
    HoldDownAfter(u64),
    /// Answers a request whose body is larger than this with 413, as nginx does with
    /// `client_max_body_size` (the response first, then the body read and dropped).
    RefuseBodiesOver(u64),
}

/// A loopback TCP proxy in front of the peer's storage proxy, on a thread of its own so it
/// outlives the runtimes of the test that uses it.
struct CuttingProxy {
    port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    rule: Rule,
    armed: AtomicBool,
    up: AtomicU64,
    down: AtomicU64,
    cuts: AtomicU32,
    holding: AtomicBool,
    released: AtomicBool,
    refusals: AtomicU32,
    /// The largest request body forwarded.
    largest_body: AtomicU64,
}

impl CuttingProxy {
    fn start(rule: Rule) -> Self {
        let shared = Arc::new(Shared {
            rule,
            armed: AtomicBool::new(true),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            cuts: AtomicU32::new(0),
            holding: AtomicBool::new(false),
            released: AtomicBool::new(false),
            refusals: AtomicU32::new(0),
            largest_body: AtomicU64::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let for_thread = shared.clone();
        // The thread ends with the test process; its runtime only forwards bytes.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(forward(client, for_thread.clone()));
                }
            });
        });
        Self { port, shared }
    }

    fn up(&self) -> u64 {
        self.shared.up.load(Ordering::SeqCst)
    }

    fn down(&self) -> u64 {
        self.shared.down.load(Ordering::SeqCst)
    }

    fn cuts(&self) -> u32 {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    fn holding(&self) -> bool {
        self.shared.holding.load(Ordering::SeqCst)
    }

    fn release(&self) {
        self.shared.released.store(true, Ordering::SeqCst);
    }

    fn refusals(&self) -> u32 {
        self.shared.refusals.load(Ordering::SeqCst)
    }

    fn largest_body(&self) -> u64 {
        self.shared.largest_body.load(Ordering::SeqCst)
    }
}

/// Request boundaries on one connection, for [`Rule::RefuseBodiesOver`].
#[derive(Default)]
struct BodyLimit {
    head: Vec<u8>,
    body_left: u64,
}

enum Fed {
    Forward(Vec<u8>),
    /// Forward these, answer 413, and drop this many more bytes of the refused body.
    Refuse {
        forward: Vec<u8>,
        discard: u64,
    },
}

impl BodyLimit {
    fn feed(&mut self, input: &[u8], limit: u64, largest: &AtomicU64) -> Fed {
        let mut data = input.to_vec();
        let mut out = Vec::new();
        loop {
            if self.body_left > 0 {
                let n = self.body_left.min(data.len() as u64) as usize;
                out.extend(data.drain(..n));
                self.body_left -= n as u64;
            }
            if data.is_empty() {
                return Fed::Forward(out);
            }
            self.head.append(&mut data);
            let Some(end) = self.head.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Fed::Forward(out);
            };
            let head: Vec<u8> = self.head.drain(..end + 4).collect();
            data = std::mem::take(&mut self.head);
            let length = String::from_utf8_lossy(&head)
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<u64>().ok())?
                })
                .unwrap_or(0);
            if length > limit {
                return Fed::Refuse {
                    forward: out,
                    discard: length.saturating_sub(data.len() as u64),
                };
            }
            largest.fetch_max(length, Ordering::SeqCst);
            out.extend_from_slice(&head);
            self.body_left = length;
        }
    }
}

/// How many of `n` bytes about to pass in one direction may go before the rule fires, given
/// the direction's total so far; `None` when the rule does not fire within them.
fn fires(shared: &Shared, limit: u64, total: &AtomicU64, n: usize) -> Option<usize> {
    if !shared.armed.load(Ordering::SeqCst) {
        return None;
    }
    let before = total.load(Ordering::SeqCst);
    (before + n as u64 > limit).then(|| limit.saturating_sub(before) as usize)
}

async fn forward(mut client: TcpStream, shared: Arc<Shared>) {
    let Ok(mut server) = TcpStream::connect(STORAGE_PROXY).await else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (mut client_in, mut client_out) = client.split();
    let (mut server_in, mut server_out) = server.split();
    let (mut up, mut down) = (vec![0u8; 256 << 10], vec![0u8; 256 << 10]);
    let mut requests = BodyLimit::default();
    loop {
        tokio::select! {
            read = client_in.read(&mut up) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                if let Rule::RefuseBodiesOver(limit) = shared.rule {
                    match requests.feed(&up[..n], limit, &shared.largest_body) {
                        Fed::Forward(bytes) => {
                            shared.up.fetch_add(bytes.len() as u64, Ordering::SeqCst);
                            if server_out.write_all(&bytes).await.is_err() { return; }
                        }
                        Fed::Refuse { forward, mut discard } => {
                            shared.refusals.fetch_add(1, Ordering::SeqCst);
                            let _ = server_out.write_all(&forward).await;
                            let _ = client_out.write_all(
                                b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                            ).await;
                            while discard > 0 {
                                match tokio::time::timeout(Duration::from_secs(10), client_in.read(&mut up)).await {
                                    Ok(Ok(n)) if n > 0 => discard = discard.saturating_sub(n as u64),
                                    _ => break,
                                }
                            }
                            return;
                        }
                    }
                    continue;
                }
                let (limit, hold) = match shared.rule {
                    Rule::CutUpAfter(limit) => (Some(limit), false),
                    Rule::HoldUpAfter(limit) => (Some(limit), true),
                    Rule::CutDownAfter(_) | Rule::HoldDownAfter(_) | Rule::RefuseBodiesOver(_) => {
                        (None, false)
                    }
                };
                let pass = limit.and_then(|limit| fires(&shared, limit, &shared.up, n));
                let Some(pass) = pass else {
                    shared.up.fetch_add(n as u64, Ordering::SeqCst);
                    if server_out.write_all(&up[..n]).await.is_err() { return; }
                    continue;
                };
                shared.armed.store(false, Ordering::SeqCst);
                shared.up.fetch_add(pass as u64, Ordering::SeqCst);
                let _ = server_out.write_all(&up[..pass]).await;
                if hold {
                    shared.holding.store(true, Ordering::SeqCst);
                    while !shared.released.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                } else {
                    shared.cuts.fetch_add(1, Ordering::SeqCst);
                }
                return;
            }
            read = server_in.read(&mut down) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                let (pass, hold) = match shared.rule {
                    Rule::CutDownAfter(limit) => (fires(&shared, limit, &shared.down, n), false),
                    Rule::HoldDownAfter(limit) => (fires(&shared, limit, &shared.down, n), true),
                    _ => (None, false),
                };
                let Some(pass) = pass else {
                    shared.down.fetch_add(n as u64, Ordering::SeqCst);
                    if client_out.write_all(&down[..n]).await.is_err() { return; }
                    continue;
                };
                shared.armed.store(false, Ordering::SeqCst);
                shared.down.fetch_add(pass as u64, Ordering::SeqCst);
                let _ = client_out.write_all(&down[..pass]).await;
                if hold {
                    shared.holding.store(true, Ordering::SeqCst);
                    while !shared.released.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                } else {
                    shared.cuts.fetch_add(1, Ordering::SeqCst);
                }
                return;
            }
        }
    }
}

/// A preview's reads of a cluster file: a screen from the start, one from the middle, the
/// tail (fewer bytes than asked), past the end (none), each with the file's size — and a
/// path that is not a file refused in words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_reads_ranges_of_a_cluster_file() {
    let engine = Arc::new(engine().await);
    let name = folder(&engine, "xfer-range").await;
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("log.bin");
    write_random(&source, 3 * MIB + 17, 7);
    let whole = std::fs::read(&source).unwrap();
    let jobs = upload(&engine, direct(&engine), &name, &[source], work.path()).await;
    assert_done(&jobs);
    engine
        .make_dir(&name, &FolderPath::parse("a-dir").unwrap())
        .await
        .unwrap();
    let file = FolderPath::parse("log.bin").unwrap();
    let size = whole.len() as u64;
    for (offset, length, expected) in [
        (0u64, 65_536u32, &whole[..65_536]),
        (
            MIB + 5,
            1000,
            &whole[(MIB + 5) as usize..(MIB + 1005) as usize],
        ),
        (size - 10, 4096, &whole[(size - 10) as usize..]),
        (size + 100, 4096, &whole[..0]),
    ] {
        let range = engine
            .read_file_range(&name, &file, offset, length)
            .await
            .unwrap();
        assert_eq!(range.size, size, "at {offset}");
        assert_eq!(range.offset, offset);
        assert!(
            range.bytes == expected,
            "at {offset}: {} bytes",
            range.bytes.len()
        );
    }
    for (path, code, said) in [
        (
            "a-dir",
            ErrorCode::InvalidInput,
            format!("\"a-dir\" in folder \"{name}\" is not a regular file."),
        ),
        (
            "no-such-file",
            ErrorCode::NotFound,
            format!("There is no file \"no-such-file\" in folder \"{name}\"."),
        ),
    ] {
        let error = engine
            .read_file_range(&name, &FolderPath::parse(path).unwrap(), 0, 100)
            .await
            .err()
            .unwrap_or_else(|| panic!("{path} is not a file to read"));
        assert_eq!((error.code, error.message), (code, said));
    }
    remove_folder(&engine, &name).await;
}
