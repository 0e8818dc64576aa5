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

/// A timestamp for a table, in UTC to the minute (no time-zone database needed).
pub fn utc_minute(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let (hour, minute) = (secs.rem_euclid(86_400) / 3600, secs.rem_euclid(3600) / 60);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_render_as_utc_dates() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(1_795_867_200_000), "2026-11-28 12:00 UTC");
        assert_eq!(utc_minute(951_782_400_000), "2000-02-29 00:00 UTC");
    }
}
