//! The commands the UI calls, one module per screen. Each is a few lines: get the engine, call
//! it, return its `{code, message}` error unchanged.

pub mod dotfiles;
pub mod edit_copies;
pub mod engine;
pub mod environments;
pub mod files;
pub mod folders;
mod picker;
pub mod ports;
pub mod profiles;
pub mod sessions;
pub mod syncs;
pub mod templates;
pub mod terminals;
pub mod transfers;
pub mod window;
