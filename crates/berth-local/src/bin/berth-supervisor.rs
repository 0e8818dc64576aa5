//! Runs one local session's sandbox; started by Berth (the app or the CLI), never by hand.

fn main() {
    std::process::exit(berth_local::supervisor::main(std::env::args_os().collect()));
}
