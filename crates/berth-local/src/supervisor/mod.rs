//! The per-session supervisor (DESIGN.md, "Local session lifetime"): a small process that owns
//! one sandbox and its terminals, and answers on a unix socket in the session's runtime
//! directory. It outlives whoever started it (the app, a CLI command), so closing the window
//! never ends a session; when the supervisor dies, bwrap's `--die-with-parent` takes the
//! sandbox with it, and only that session ends.
//!
//! The binary is `berth-supervisor` (see `src/bin`): `run` reads a [`protocol::Launch`] line on
//! stdin, detaches, starts the sandbox and prints `ready PID` or `error MESSAGE`, then serves
//! once the engine answers [`protocol::STARTED`] (without it, it ends the sandbox); `enter` is
//! how it joins the sandbox for each terminal and exec (see [`enter`]), and `enter-held` the same
//! for the terminal kept ready for the next tab, which waits to be continued before it starts.

pub mod client;
#[cfg(target_os = "linux")]
pub mod enter;
#[cfg(target_os = "linux")]
mod fd_passing;
#[cfg(target_os = "linux")]
mod limits;
#[cfg(target_os = "linux")]
mod process;
pub mod protocol;
#[cfg(target_os = "linux")]
mod relay;
#[cfg(target_os = "linux")]
mod serve;
#[cfg(target_os = "linux")]
mod socket_request;

#[cfg(target_os = "linux")]
pub use process::main;
