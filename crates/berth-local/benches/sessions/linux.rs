//! The figures themselves (bubblewrap: Linux only).

#[path = "../common/mod.rs"]
mod common;

use berth_core::frames::FrameStream;
use std::io::Read;
use std::time::{Duration, Instant};

use berth_core::{Engine, NetworkMode, NewSession};
use berth_local::supervisor::protocol::{Frame, read_frame, write_frame};
use common::{engine, knob, median};

fn percentile(mut values: Vec<f64>, p: f64) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[((values.len() as f64 - 1.0) * p).round() as usize]
}

/// Reads frames until one carries output, and returns its bytes.
fn next_output(stream: &mut FrameStream) -> Vec<u8> {
    let mut payload = Vec::new();
    loop {
        match read_frame(stream, &mut payload).unwrap() {
            Some(Frame::Output) => return payload,
            Some(_) => {}
            None => panic!("terminal closed"),
        }
    }
}

/// The raw sandbox with the same isolation a session gets, running `true` — as the same user:
/// when this runs as root, sessions run as `nobody`, and so does the baseline.
fn raw_bwrap() -> Duration {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new("bwrap");
    if let Some((uid, gid)) = berth_local::sessions::session_identity() {
        command.uid(uid).gid(gid);
    }
    let start = Instant::now();
    let status = command
        .args([
            "--unshare-user",
            "--uid",
            "1000",
            "--gid",
            "1000",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--unshare-net",
            "--disable-userns",
            "--die-with-parent",
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/home/work",
            "true",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    start.elapsed()
}

pub fn main() {
    let runs: usize = knob("RUNS", 15);
    let keys: usize = knob("KEYS", 500);
    let root = tempfile::tempdir().unwrap();
    let engine = engine(&root);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(engine.create_folder(berth_core::NewFolder::named("data")))
        .unwrap();

    // Session create → first shell output, for one network mode.
    let shell_ready = |network: NetworkMode| {
        let start = Instant::now();
        let mut spec =
            NewSession::interactive("host", vec![berth_core::MountRequest::folder("data")]);
        spec.network = network;
        let session = rt.block_on(engine.create_session(spec)).unwrap();
        let created = start.elapsed().as_secs_f64() * 1000.0;
        let (_, client) = engine.session_client(&session.id).unwrap();
        let mut terminal = client.terminal(80, 24).unwrap();
        next_output(&mut terminal);
        let ready = start.elapsed().as_secs_f64() * 1000.0;
        drop(terminal);
        rt.block_on(engine.destroy_session(&session.id)).unwrap();
        (created, ready)
    };
    let (mut baseline, mut isolated, mut created, mut networked) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        // Interleaved, so a noisy moment hurts every side alike.
        baseline.push(raw_bwrap().as_secs_f64() * 1000.0);
        let (made, ready) = shell_ready(NetworkMode::None);
        created.push(made);
        isolated.push(ready);
        networked.push(shell_ready(NetworkMode::Outbound).1);
    }
    let (b, s, n) = (median(baseline), median(isolated), median(networked));
    let who = match berth_local::sessions::session_identity() {
        Some((uid, _)) => format!("both as uid {uid}, the session user of a root-run Berth"),
        None => "both as this user".to_owned(),
    };
    println!(
        "session create → shell ready (no network): {s:.1} ms vs raw bwrap … true {b:.1} ms → {:.2}× (goal ≤ 3×), medians of {runs}, {who}",
        s / b
    );
    println!(
        "  of which the sandbox running (create_session returned): {:.1} ms",
        median(created)
    );
    println!(
        "session create → shell ready with outbound network (slirp4netns): {n:.1} ms vs {s:.1} ms without → +{:.1} ms (goal ≤ +20 ms)",
        n - s
    );

    let session = rt
        .block_on(engine.create_session(NewSession::interactive("host", vec![])))
        .unwrap();
    let (_, client) = engine.session_client(&session.id).unwrap();
    let mut terminal = client.terminal(200, 50).unwrap();
    // Let the login shell settle: wait for the prompt, then for silence.
    next_output(&mut terminal);
    terminal
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut sink = [0u8; 4096];
    while terminal.read(&mut sink).map(|n| n > 0).unwrap_or(false) {}
    terminal.set_read_timeout(None).unwrap();
    let mut latencies = Vec::with_capacity(keys);
    for i in 0..keys {
        if i % 100 == 99 {
            // Ctrl-U keeps the line short so readline never redraws a long one.
            write_frame(&mut terminal, Frame::Input, b"\x15").unwrap();
            terminal
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            while terminal.read(&mut sink).map(|n| n > 0).unwrap_or(false) {}
            terminal.set_read_timeout(None).unwrap();
        }
        let start = Instant::now();
        write_frame(&mut terminal, Frame::Input, b"x").unwrap();
        next_output(&mut terminal);
        latencies.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "keystroke → echo through the bridge: p50 {:.3} ms, p99 {:.3} ms over {keys} keys (goal p50 ≤ 2 ms, p99 ≤ 10 ms)",
        percentile(latencies.clone(), 0.5),
        percentile(latencies, 0.99)
    );
    drop(terminal);
    rt.block_on(engine.destroy_session(&session.id)).unwrap();
}
