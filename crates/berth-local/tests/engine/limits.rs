//! Idle timeouts and lifetimes on real sandboxes, kept by the sampler the app runs
//! (`Vitals::tick`) and by each session's supervisor, with limits short enough for a test.
//! What is asserted is what happened to the sessions (ended or not, the reason recorded,
//! folders intact), never how long it took.

use std::time::{Duration, Instant};

use berth_core::{
    Engine, ErrorCode, MountRequest, NewFolder, NewSession, SessionLimits, SessionStatus,
};
use berth_local::terminal::Terminal;
use berth_local::vitals::Vitals;

use crate::{Fixture, Running, engine, runtime};

fn start(fixture: &Fixture, limits: SessionLimits, mounts: Vec<MountRequest>) -> Running<'_> {
    let mut spec = NewSession::interactive("host", mounts);
    spec.limits = limits;
    let session = runtime()
        .block_on(fixture.engine.create_session(spec))
        .unwrap();
    assert_eq!(session.status, SessionStatus::Running);
    Running {
        fixture,
        id: session.id,
    }
}

fn idle_after(secs: u64) -> SessionLimits {
    SessionLimits {
        idle_timeout_secs: Some(secs),
        ..Default::default()
    }
}

fn status(fixture: &Fixture, id: &str) -> berth_core::Session {
    runtime().block_on(fixture.engine.session(id)).unwrap()
}

#[test]
fn an_idle_session_is_ended_with_the_reason_and_busy_or_typed_in_ones_are_not() {
    let fixture = engine();
    runtime()
        .block_on(fixture.engine.create_folder(NewFolder::named("results")))
        .unwrap();
    let idle = start(
        &fixture,
        idle_after(10),
        vec![MountRequest::folder("results")],
    );
    idle.ok("echo kept > /home/work/results/out.txt");
    let busy = start(&fixture, idle_after(10), vec![]);
    busy.ok("setsid sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 &");
    let typed_in = start(&fixture, idle_after(10), vec![]);
    let (_, client) = fixture.engine.session_client(&typed_in).unwrap();
    let (terminal, reader) = Terminal::open(&client, 80, 24).unwrap();
    std::thread::spawn(move || reader.run(|_| true));

    let vitals = Vitals::default();
    let started = Instant::now();
    let mut busy_cpu = 0.0_f64;
    while status(&fixture, &idle).status == SessionStatus::Running
        && started.elapsed() < Duration::from_secs(60)
    {
        // Someone typing: a key every second into one session's terminal.
        terminal.input(b" ").unwrap();
        let tick = runtime().block_on(vitals.tick(&fixture.engine)).unwrap();
        if let Some(v) = tick.vitals.iter().find(|v| v.session_id == *busy) {
            busy_cpu = busy_cpu.max(v.stats.map(|s| s.cpu_percent).unwrap_or(0.0));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let ended = status(&fixture, &idle);
    assert_eq!(ended.status, SessionStatus::Terminated, "{ended:?}");
    assert_eq!(
        ended.status_detail.as_deref(),
        Some("Ended by Berth: idle for 10 s.")
    );
    let folder = runtime()
        .block_on(fixture.engine.folder("results"))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(fixture.engine.folder_path(&folder).join("out.txt")).unwrap(),
        "kept\n"
    );
    // More than ten seconds after the idle one's clock started, the others still run.
    assert_eq!(status(&fixture, &busy).status, SessionStatus::Running);
    assert!(busy_cpu > 50.0, "the busy loop showed {busy_cpu}% CPU");
    assert_eq!(status(&fixture, &typed_in).status, SessionStatus::Running);
    // And the sampler kept their history; an ended session's is let go by the next round
    // (its supervisor may have ended it before the sampler did).
    runtime().block_on(vitals.tick(&fixture.engine)).unwrap();
    assert!(vitals.history(&busy).len() >= 2);
    assert!(
        vitals.history(&idle).is_empty(),
        "an ended session's samples are let go"
    );
    terminal.close();
}

#[test]
fn a_lifetime_ends_a_session_unless_it_is_extended() {
    let fixture = engine();
    let lifetime = |secs| SessionLimits {
        lifetime_secs: Some(secs),
        ..Default::default()
    };
    let short = start(&fixture, lifetime(2), vec![]);
    let extended = start(&fixture, lifetime(2), vec![]);
    let before = status(&fixture, &extended).lifetime_ends_at_ms.unwrap();
    let after = runtime()
        .block_on(fixture.engine.extend_session(&extended, 600))
        .unwrap()
        .lifetime_ends_at_ms
        .unwrap();
    assert!(after >= before + 600_000, "{before} → {after}");

    let vitals = Vitals::default();
    let started = Instant::now();
    while status(&fixture, &short).status == SessionStatus::Running
        && started.elapsed() < Duration::from_secs(30)
    {
        let tick = runtime().block_on(vitals.tick(&fixture.engine)).unwrap();
        if let Some(ended) = tick.ended.first() {
            assert_eq!(ended.id, *short);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let ended = status(&fixture, &short);
    assert_eq!(ended.status, SessionStatus::Terminated);
    assert_eq!(
        ended.status_detail.as_deref(),
        Some("Ended by Berth: its lifetime of 2 s was reached.")
    );
    let tick = runtime().block_on(vitals.tick(&fixture.engine)).unwrap();
    let kept = tick
        .vitals
        .iter()
        .find(|v| v.session_id == *extended)
        .expect("the extended session is still sampled");
    assert_eq!(kept.ends.map(|e| e.at_ms), Some(after));
    // An ended session cannot be extended; one without limits has nothing to extend.
    let error = runtime()
        .block_on(fixture.engine.extend_session(&short, 60))
        .unwrap_err();
    assert!(error.message.contains("not running"), "{}", error.message);
    let plain = start(&fixture, SessionLimits::default(), vec![]);
    let error = runtime()
        .block_on(fixture.engine.extend_session(&plain, 60))
        .unwrap_err();
    assert!(
        error.message.contains("no idle timeout or lifetime"),
        "{}",
        error.message
    );
}

#[test]
fn limits_out_of_range_launch_nothing() {
    let fixture = engine();
    for (limits, field) in [
        (
            SessionLimits {
                lifetime_secs: Some(0),
                ..Default::default()
            },
            "Lifetime",
        ),
        (
            SessionLimits {
                idle_timeout_secs: Some(60),
                idle_cpu_percent: Some(250),
                ..Default::default()
            },
            "Idle CPU threshold",
        ),
    ] {
        let mut spec = NewSession::interactive("host", vec![]);
        spec.limits = limits;
        let error = runtime()
            .block_on(fixture.engine.create_session(spec))
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert!(error.message.starts_with(field), "{}", error.message);
    }
    assert!(
        runtime()
            .block_on(fixture.engine.list_sessions())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_supervisor_keeps_the_limits_with_no_app_running() {
    // Nothing samples here (no `Vitals`): what ends these sessions is their supervisors, as for
    // a session started from the CLI with the window closed.
    let fixture = engine();
    let lifetime = start(
        &fixture,
        SessionLimits {
            lifetime_secs: Some(3),
            ..Default::default()
        },
        vec![],
    );
    let idle = start(&fixture, idle_after(10), vec![]);
    let extended = start(
        &fixture,
        SessionLimits {
            lifetime_secs: Some(3),
            ..Default::default()
        },
        vec![],
    );
    runtime()
        .block_on(fixture.engine.extend_session(&extended, 600))
        .unwrap();
    let started = Instant::now();
    while [&lifetime, &idle]
        .iter()
        .any(|id| status(&fixture, id).status == SessionStatus::Running)
        && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(500));
    }
    let ended = status(&fixture, &lifetime);
    assert_eq!(
        (ended.status, ended.status_detail.as_deref()),
        (
            SessionStatus::Terminated,
            Some("Ended by Berth: its lifetime of 3 s was reached.")
        )
    );
    let ended = status(&fixture, &idle);
    assert_eq!(
        (ended.status, ended.status_detail.as_deref()),
        (
            SessionStatus::Terminated,
            Some("Ended by Berth: idle for 10 s.")
        )
    );
    // The extension reached the supervisor: its session outlived the first lifetime.
    assert_eq!(status(&fixture, &extended).status, SessionStatus::Running);
}

#[test]
fn berth_looking_for_apps_keeps_no_session_alive_and_typing_over_ssh_does() {
    use std::io::Write;
    let fixture = engine();
    let looked_at = start(&fixture, idle_after(10), vec![]);
    let over_ssh = start(&fixture, idle_after(10), vec![]);
    // A runtime whose threads serve the SSH connection while the test waits.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let forward = rt
        .block_on(fixture.engine.open_ssh(&over_ssh, None))
        .unwrap();
    let access = fixture
        .engine
        .ssh_access(&forward.record.session_name, forward.local.port())
        .unwrap();
    let mut words: Vec<String> = access
        .command
        .split(' ')
        .map(|w| w.trim_matches('"').to_owned())
        .collect();
    let program = words.remove(0);
    let mut ssh = std::process::Command::new(program)
        .args(["-o", "BatchMode=yes"])
        .args(&words)
        .arg("cat > /dev/null")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut typed = ssh.stdin.take().unwrap();

    let vitals = Vitals::default();
    let started = Instant::now();
    while status(&fixture, &looked_at).status == SessionStatus::Running
        && started.elapsed() < Duration::from_secs(60)
    {
        // The window's details open on one (Berth looks for its apps); someone types into the
        // other over SSH.
        rt.block_on(fixture.engine.session_apps(&looked_at))
            .unwrap();
        typed.write_all(b"x").unwrap();
        typed.flush().unwrap();
        rt.block_on(vitals.tick(&fixture.engine)).unwrap();
        std::thread::sleep(Duration::from_millis(500));
    }
    let ended = status(&fixture, &looked_at);
    assert_eq!(
        ended.status_detail.as_deref(),
        Some("Ended by Berth: idle for 10 s."),
        "{ended:?}"
    );
    assert_eq!(status(&fixture, &over_ssh).status, SessionStatus::Running);
    drop(typed);
    let _ = ssh.wait();
    drop(forward);
}
