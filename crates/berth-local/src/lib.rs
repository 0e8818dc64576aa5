//! The local engine: storage folders are directories under the app's data directory, their
//! metadata lives in SQLite, and sessions run in sandboxes on this computer.

mod apps;
pub mod catalog;
pub mod dirs;
pub mod disk;
pub mod docker_host;
pub mod doctor;
mod engine;
pub mod environments;
pub mod files;
pub mod forward;
mod plan;
pub mod sessions;
pub mod ssh;
pub mod supervisor;
pub mod templates;
pub mod terminal;
pub mod transport;
mod verified_copy;
pub mod vitals;
mod watch;

pub use watch::DirectoryWatch;

pub use catalog::Catalog;
pub use dirs::DataDirs;
pub use engine::LocalEngine;
