//! The Backend.AI engine: Berth's engine API over a Backend.AI manager (or its webserver) and
//! storage proxy. [`Connection`] logs in and signs; [`BackendAiEngine`] serves the screens.
//! See `reference/backendai-api.md` for the server facts this relies on.

pub mod app_proxy;
pub mod apps;
pub mod connection;
pub mod engine;
pub mod exec;
pub mod folders;
pub mod problem;
pub mod profile;
mod proxied_app;
pub mod pty;
pub mod secrets;
pub mod session_life;
pub mod sessions;
pub mod signing;
pub mod tcpproxy;
pub mod terminal;
pub mod transfer;
pub mod ttyd;
pub mod user_config;
pub mod version;

pub use connection::{Connection, Credentials, ServerInfo};
pub use engine::BackendAiEngine;
pub use profile::{Login, Profile, Profiles};
pub use secrets::SecretStore;
pub use transfer::{StorageProxyOverrides, StorageProxyTransport};
