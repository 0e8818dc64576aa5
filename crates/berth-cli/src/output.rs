//! How the CLI prints: text for people, `--json` for scripts, errors on stderr either way.

use std::process::ExitCode;

use serde::Serialize;

pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON with `--json`, else the text `human` renders.
    pub fn print<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            print!("{}", human());
        }
    }

    /// Prints an engine error on stderr (`{code, message}` with `--json`) and returns the exit
    /// code for it.
    pub fn fail(&self, error: &berth_core::Error) -> ExitCode {
        if self.json {
            eprintln!("{}", serde_json::to_string(error).unwrap_or_default());
        } else {
            eprintln!("berth: {error}");
        }
        ExitCode::FAILURE
    }
}

pub use berth_local::disk::human_bytes;

pub use berth_core::clock::utc_minute;
