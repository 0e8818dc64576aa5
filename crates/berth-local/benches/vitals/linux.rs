//! The figures themselves (bubblewrap: Linux only).

#[path = "../common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use berth_core::{Engine, NetworkMode, NewSession, SessionLimits};
use berth_local::supervisor::protocol::{STATE_NAME, SupervisorState};
use berth_local::vitals::{HISTORY, SAMPLE_EVERY, Vitals};
use common::{engine, knob};

/// CPU time of this process (all threads) and of its reaped children, in seconds.
fn own_cpu() -> (f64, f64) {
    let read = |who| {
        // SAFETY: getrusage fills the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut usage) };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        secs(usage.ru_utime) + secs(usage.ru_stime)
    };
    (read(libc::RUSAGE_SELF), read(libc::RUSAGE_CHILDREN))
}

/// CPU seconds `pids` have used so far (utime + stime from `/proc/PID/stat`).
fn cpu_of(pids: &[u32]) -> f64 {
    // SAFETY: sysconf only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|line| {
            let rest = &line[line.rfind(')')? + 1..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?)
        })
        .sum::<f64>()
        / hz
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn main() {
    let sessions: usize = knob("SESSIONS", 20);
    let rounds: usize = knob("ROUNDS", 60);
    let root = tempfile::tempdir().unwrap();
    let engine = engine(&root);
    let runtime_dir = root.path().join("run");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..sessions {
        let mut spec = NewSession::interactive("host", vec![]);
        spec.network = NetworkMode::None;
        // Limits, so every round also keeps them (a day: nothing ends during the run).
        spec.limits = SessionLimits {
            idle_timeout_secs: Some(86_400),
            lifetime_secs: Some(86_400),
            idle_cpu_percent: None,
        };
        ids.push(rt.block_on(engine.create_session(spec)).unwrap().id);
    }
    let supervisors: Vec<u32> = ids
        .iter()
        .map(|id| {
            let state = std::fs::read(runtime_dir.join(id).join(STATE_NAME)).unwrap();
            serde_json::from_slice::<SupervisorState>(&state)
                .unwrap()
                .supervisor_pid
        })
        .collect();

    let vitals = Vitals::default();
    // The first round reads each session twice; the steady rounds once.
    let first = rt.block_on(vitals.tick(&engine)).unwrap();
    assert_eq!(first.vitals.len(), sessions);
    let (mut berth, mut ps) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // Interleaved, so a noisy moment hurts both sides alike.
        let (own, _) = own_cpu();
        let answering = cpu_of(&supervisors);
        let tick = rt.block_on(vitals.tick(&engine)).unwrap();
        assert_eq!(tick.vitals.len(), sessions);
        berth.push(own_cpu().0 - own + cpu_of(&supervisors) - answering);
        let (_, children) = own_cpu();
        let out = std::process::Command::new("ps")
            .args(["-eo", "pid,ppid,rss,time"])
            .output()
            .unwrap();
        assert!(out.status.success());
        ps.push(own_cpu().1 - children);
        std::thread::sleep(Duration::from_millis(50));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let every = SAMPLE_EVERY.as_secs_f64();
    let (b, p) = (mean(&berth), mean(&ps));
    println!(
        "sampling {sessions} sessions, one round every {every:.0} s: {:.3}% of one core ({:.1} ms CPU a round) vs one `ps -eo pid,ppid,rss,time` a round {:.3}% → {:.2}× (goal ≤ 1% of one core), means of {rounds} rounds",
        b / every * 100.0,
        b * 1000.0,
        p / every * 100.0,
        b / p
    );

    // Two simulated hours of rounds, back to back: the rings fill in the first and stay full.
    let started = Instant::now();
    let mut after_minutes = 0;
    for round in 1..=2 * HISTORY {
        rt.block_on(vitals.tick(&engine)).unwrap();
        if round == HISTORY / 12 {
            after_minutes = resident_kib();
        }
    }
    let after_hour = {
        let rss = resident_kib();
        for _ in 0..HISTORY {
            rt.block_on(vitals.tick(&engine)).unwrap();
        }
        (rss, resident_kib())
    };
    assert_eq!(vitals.history(&ids[0]).len(), HISTORY);
    println!(
        "sampler memory over simulated hours ({} rounds in {:.0} s): {after_minutes} KiB after 5 min, {} KiB after 2 h, {} KiB after 3 h → {:+} KiB in the last hour (goal: flat)",
        3 * HISTORY,
        started.elapsed().as_secs_f64(),
        after_hour.0,
        after_hour.1,
        after_hour.1 as i64 - after_hour.0 as i64
    );
    for id in &ids {
        rt.block_on(engine.destroy_session(id)).unwrap();
    }
}
