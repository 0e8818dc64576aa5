//! Port forward figures (issue 15), each beside its baseline measured in the same run, for a
//! server inside a local session on the host's network (so it can also be reached directly):
//! - throughput of one connection reading MB megabytes through the forward vs straight over
//!   loopback, from a server that sends from memory at C speed (the harshest case: any relay
//!   is a third busy process beside client and server) and from Python's `http.server`
//!   serving a file (the kind of server people start in a session), each also through `socat`;
//! - time from asking for a forward to the first answer through it;
//! - 100 connections at once through one forward, counted.
//!
//! Figures are printed, never asserted. Run with `scripts/bench-forward`.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[cfg(target_os = "linux")]
mod linux;

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!("The forward figures use bubblewrap sessions, which only Linux has.");
}
