//! The Backend.AI engine against a real Backend.AI 26.8.1 (manager, webserver, storage proxy)
//! on loopback, started by `make test` through `scripts/backendai-peer` (see
//! `../shared/backendai-peer/README.md`). Nothing here is mocked; each test uses its own
//! folder names so tests can run in parallel and again on the same server.
// Helpers outside `#[test]` functions unwrap too: a failure there is a failed test.
#![allow(clippy::unwrap_used)]

mod app_proxy_apps;
mod connect;
mod edit;
mod folders;
// Sessions on the real agent's kernels, which run in this machine's Podman.
#[cfg(target_os = "linux")]
mod apps;
mod pty;
// The real agent's kernels run in this machine's Podman, read through /proc.
#[cfg(target_os = "linux")]
mod real_kernel;
mod sessions;
mod transfers;
mod ttyd;
mod user_config;

use berth_backendai::{BackendAiEngine, Connection, Credentials};

pub const MANAGER: &str = "http://127.0.0.1:8081";
pub const WEBSERVER: &str = "http://127.0.0.1:8090";
pub const EMAIL: &str = "user@lablup.com";
pub const PASSWORD: &str = "C8qnIo29";
pub const ACCESS_KEY: &str = "AKIANABBDUSEREXAMPLE";
pub const SECRET_KEY: &str = "C8qnIo29EZvXkPK_MXcuAakYTy4NYrxwmCEyNPlf";

pub fn password() -> Credentials {
    Credentials::Password {
        email: EMAIL.into(),
        password: PASSWORD.into(),
        otp: None,
    }
}

/// The peer's superadmin (Backend.AI's public sample keypair), for what only an administrator
/// sets up.
pub fn admin_keypair() -> Credentials {
    Credentials::Keypair {
        access_key: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
    }
}

pub fn keypair() -> Credentials {
    Credentials::Keypair {
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
    }
}

/// Fails with the way to start the peer when it is not running: these tests prove the engine
/// against the real server and must not pass without one.
/// A keypair connection to a stand-in server of a test (it accepts any signature).
pub async fn stand_in_connection(address: &str) -> std::sync::Arc<Connection> {
    let connection = Connection::open(
        address,
        Credentials::Keypair {
            access_key: "AKSTANDIN".into(),
            secret_key: "stand-in-secret".into(),
        },
    )
    .await
    .unwrap();
    std::sync::Arc::new(connection)
}

pub async fn require_peer() {
    let http = berth_backendai::connection::http_client().unwrap();
    let answered = http.get(format!("{MANAGER}/")).send().await.is_ok();
    assert!(
        answered,
        "No Backend.AI peer answers at {MANAGER}. Start it with `scripts/backendai-peer up` (make test does)."
    );
}

/// An engine logged in through the webserver, the way most users log in.
pub async fn engine() -> BackendAiEngine {
    require_peer().await;
    let connection = Connection::open(WEBSERVER, password())
        .await
        .expect("log in to the peer's webserver");
    BackendAiEngine::new("peer", connection)
}

/// An engine with an API keypair, straight to the manager (the CLI's and power users' login).
pub async fn keypair_engine() -> BackendAiEngine {
    require_peer().await;
    let connection = Connection::open(MANAGER, keypair())
        .await
        .expect("sign requests to the peer's manager");
    BackendAiEngine::new("peer", connection)
}

/// A folder name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{:x}", nanos & 0xffff_ffff_ffff)
}

/// What the peer's database answers to `sql` (its PostgreSQL trusts loopback): the manager's
/// own record of what a test did.
pub fn psql(sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "8100",
            "-U",
            "postgres",
            "-At",
            "-c",
            sql,
        ])
        .arg("backend")
        .output()
        .expect("run psql against the peer's database");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
