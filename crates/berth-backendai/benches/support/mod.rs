//! What the Backend.AI benches share: logging in as the official client beside them does.

use berth_backendai::{BackendAiEngine, Connection, Credentials};

/// An engine logged in with the official client's environment (`BACKEND_ENDPOINT`,
/// `BACKEND_ACCESS_KEY`, `BACKEND_SECRET_KEY`), so both talk to the same manager as the same
/// user.
pub async fn engine_like_the_client() -> Result<BackendAiEngine, String> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let connection = Connection::open(
        &env("BACKEND_ENDPOINT")?,
        Credentials::Keypair {
            access_key: env("BACKEND_ACCESS_KEY")?,
            secret_key: env("BACKEND_SECRET_KEY")?,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(BackendAiEngine::new("bench", connection))
}
