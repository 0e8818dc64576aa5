//! What every local bench sets up the same way: a knob from the environment, a local engine on
//! a fresh temporary directory using the supervisor `scripts/bench-*` built, and medians.
//! (A directory, not `common.rs`, so cargo does not take it for a bench of its own.)

// Bench code, like test code: a panic is the failure report; each bench uses what it needs.
#![allow(clippy::unwrap_used, dead_code)]

use std::os::unix::fs::PermissionsExt;

use berth_local::{DataDirs, LocalEngine};

/// `name` from the environment as a number, else `default`.
pub fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A local engine on `root` (made reachable for a root-run Berth's `nobody` sessions), with
/// `BERTH_SUPERVISOR` as its supervisor when set.
pub fn engine(root: &tempfile::TempDir) -> LocalEngine {
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let engine = LocalEngine::open(DataDirs {
        config: root.path().join("config"),
        data: root.path().join("data"),
        logs: root.path().join("logs"),
        runtime: root.path().join("run"),
    })
    .unwrap();
    if let Some(path) = std::env::var_os("BERTH_SUPERVISOR") {
        engine.set_supervisor(path.into());
    }
    engine
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}
