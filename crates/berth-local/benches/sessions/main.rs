//! Session figures, each printed next to its baseline measured in the same run:
//! - session create → shell ready (a login shell's first output through the supervisor) vs raw
//!   `bwrap <same isolation> true`;
//! - keystroke → echo through the Rust bridge (client socket → supervisor → PTY → bash → back):
//!   p50 and p99.
//!
//! Figures are printed, never asserted. Run with `scripts/bench-sessions`.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[cfg(target_os = "linux")]
mod linux;

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!("The session figures measure bubblewrap sandboxes, which only Linux has.");
}
