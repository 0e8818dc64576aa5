//! The `berth-supervisor` process itself: its command line (Linux only: it runs bubblewrap
//! sandboxes, which only Linux has).

use std::ffi::OsString;

use super::{enter, relay, serve};

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
        Some("relay") if args.len() == 4 => {
            let pid = args[2].to_str().and_then(|p| p.parse().ok());
            let port = args[3].to_str().and_then(|p| p.parse().ok());
            match (pid, port) {
                (Some(pid), Some(port)) => relay::relay(pid, port),
                _ => usage(),
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
         berth-supervisor enter-held SANDBOX_PID CWD -- COMMAND...\n       \
         berth-supervisor relay SANDBOX_PID PORT"
    );
    2
}
