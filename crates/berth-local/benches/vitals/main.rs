//! What watching sessions costs (issue 16), with 20 idle bubblewrap sessions running:
//! - the app's sampler (`Vitals::tick`, one round every 5 s) in percent of one core, its own
//!   CPU and what the sessions' supervisors spend answering it, vs one `ps` listing of the same
//!   figures per round (what a person would script) measured in the same run;
//! - the sampler's memory over two simulated hours of rounds (its rings fill in the first hour
//!   and must stay flat after).
//!
//! Figures are printed, never asserted. Run with `scripts/bench-vitals`.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[cfg(target_os = "linux")]
mod linux;

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    println!("The vitals figures watch bubblewrap sandboxes, which only Linux has.");
}
