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
pub mod enter;
pub mod protocol;
mod serve;

use std::ffi::OsString;

/// Entry point of the `berth-supervisor` binary; returns its exit status.
pub fn main(args: Vec<OsString>) -> i32 {
    let mode = args.get(1).and_then(|a| a.to_str());
    match mode {
        Some("run") => serve::run_from_stdin(),
        Some(mode @ ("enter" | "enter-held")) if args.len() >= 6 && args[4] == "--" => {
            let pid = args[2].to_str().and_then(|p| p.parse().ok());
            let cwd = args[3].to_string_lossy().into_owned();
            let start = match mode {
                "enter-held" => enter::Start::WhenContinued,
                _ => enter::Start::Now,
            };
            match pid {
                Some(pid) => enter::enter(pid, &cwd, &args[5..], start),
                None => usage(),
            }
        }
        _ => usage(),
    }
}

fn usage() -> i32 {
    eprintln!(
        "berth-supervisor is started by Berth for each local session.\n\
         usage: berth-supervisor run < LAUNCH_JSON\n       \
         berth-supervisor enter SANDBOX_PID CWD -- COMMAND...\n       \
         berth-supervisor enter-held SANDBOX_PID CWD -- COMMAND..."
    );
    2
}
