//! Runs one local session's sandbox; started by Berth (the app or the CLI), never by hand.

#[cfg(target_os = "linux")]
fn main() {
    std::process::exit(berth_local::supervisor::main(std::env::args_os().collect()));
}

/// Sandboxes are bubblewrap's, which only Linux has; elsewhere sessions run in Docker.
#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("berth-supervisor runs bubblewrap sandboxes, which only Linux has.");
    std::process::exit(2);
}
