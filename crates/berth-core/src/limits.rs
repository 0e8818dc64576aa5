//! When a session ends on its own: after a stretch without use (idle timeout) or at an age
//! (lifetime). Limits are asked for at launch as durations a person types (`45s`, `30m`,
//! `8h`, `1h30m`), checked here so the launcher, templates and the CLI refuse the same things
//! with the same words, and written back the same way in the reason a session ended with.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// CPU use, in percent of one core, under which a session counts as idle unless the launch
/// says otherwise: a shell prompt and a sleeping Jupyter kernel stay well under it.
pub const DEFAULT_IDLE_CPU_PERCENT: u32 = 5;
/// The longest limit Berth takes: a year. Longer is no limit, and says so by being absent.
pub const MAX_LIMIT_SECS: u64 = 365 * 24 * 3600;
/// The shortest idle timeout: idleness is judged from samples a few seconds apart, so a
/// shorter one would end sessions between two looks.
pub const MIN_IDLE_SECS: u64 = 10;

/// A session's limits as launched; every field `None` is a session without limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct SessionLimits {
    /// Ends after this long with no terminal or app input and its CPU use under
    /// `idle_cpu_percent`.
    #[serde(default)]
    pub idle_timeout_secs: Option<u64>,
    /// Ends this long after it started, plus any extensions.
    #[serde(default)]
    pub lifetime_secs: Option<u64>,
    /// The idle threshold in percent of one core (1–100); `None` is
    /// [`DEFAULT_IDLE_CPU_PERCENT`].
    #[serde(default)]
    pub idle_cpu_percent: Option<u32>,
}

impl SessionLimits {
    pub fn is_empty(&self) -> bool {
        self.idle_timeout_secs.is_none() && self.lifetime_secs.is_none()
    }

    pub fn idle_cpu_percent(&self) -> u32 {
        self.idle_cpu_percent.unwrap_or(DEFAULT_IDLE_CPU_PERCENT)
    }

    /// Refuses a zero, over-long or too-short limit and an idle threshold out of range,
    /// naming the field.
    pub fn validate(&self) -> Result<()> {
        if let Some(secs) = self.lifetime_secs {
            check_range("Lifetime", secs, 1)?;
        }
        if let Some(secs) = self.idle_timeout_secs {
            check_range("Idle timeout", secs, MIN_IDLE_SECS)?;
        }
        if let Some(percent) = self.idle_cpu_percent {
            if !(1..=100).contains(&percent) {
                return Err(Error::invalid_input(format!(
                    "Idle CPU threshold {percent}% is out of range: give a whole percent of one \
                     core from 1 to 100."
                )));
            }
            if self.idle_timeout_secs.is_none() {
                return Err(Error::invalid_input(
                    "An idle CPU threshold needs an idle timeout to go with it.",
                ));
            }
        }
        Ok(())
    }
}

fn check_range(field: &str, secs: u64, min: u64) -> Result<()> {
    if secs < min {
        return Err(Error::invalid_input(if min <= 1 {
            format!("{field} must be longer than zero.")
        } else {
            format!(
                "{field} of {} is too short: give at least {}.",
                describe_duration(secs),
                describe_duration(min)
            )
        }));
    }
    if secs > MAX_LIMIT_SECS {
        return Err(Error::invalid_input(format!(
            "{field} of {} is longer than a year: leave it out for no limit.",
            describe_duration(secs)
        )));
    }
    Ok(())
}

/// Reads a duration as people write it: a number and a unit (`s`, `m`, `h`, `d`), several
/// in a row (`1h30m`), spaces allowed between them. `field` names it in errors ("Lifetime").
/// A bare number is refused: is `30` seconds or minutes?
pub fn parse_duration(field: &str, text: &str) -> Result<u64> {
    let refuse = |why: &str| {
        Err(Error::invalid_input(format!(
            "{field} \"{}\" {why}: write a number and a unit, such as 45s, 30m, 8h or 1h30m.",
            text.escape_debug()
        )))
    };
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return refuse("is empty");
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in compact.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            '-' => return refuse("is negative"),
            _ => return refuse(&format!("has '{}', which is not a unit", c.escape_debug())),
        };
        if digits.is_empty() {
            return refuse("has a unit without a number before it");
        }
        let Some(secs) = digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit))
            .and_then(|n| n.checked_add(total))
        else {
            return refuse("is too long");
        };
        total = secs;
        digits.clear();
    }
    if !digits.is_empty() {
        return refuse("ends in a number without a unit");
    }
    Ok(total)
}

/// A duration as the reason a session ended says it: "45 s", "30 min", "8 h", "1 h 30 min",
/// "2 d" — the two largest units, rounded down.
pub fn describe_duration(secs: u64) -> String {
    let units = [(86_400, "d"), (3600, "h"), (60, "min"), (1, "s")];
    let mut parts = Vec::new();
    let mut left = secs;
    for (size, name) in units {
        if left >= size && parts.len() < 2 {
            parts.push(format!("{} {name}", left / size));
            left %= size;
        } else if !parts.is_empty() {
            // Two units at most, and adjacent ones: "1 d 5 s" says less than "1 d".
            break;
        }
    }
    if parts.is_empty() {
        "0 s".into()
    } else {
        parts.join(" ")
    }
}

/// Why a session was ended by a limit, as recorded with it.
pub fn idle_reason(idle_secs: u64) -> String {
    format!("Ended by Berth: idle for {}.", describe_duration(idle_secs))
}

pub fn lifetime_reason(lifetime_secs: u64) -> String {
    format!(
        "Ended by Berth: its lifetime of {} was reached.",
        describe_duration(lifetime_secs)
    )
}

/// Which limit ends a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    Idle,
    Lifetime,
}

/// When a session's first limit will end it, as of its latest use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct LimitEnd {
    pub kind: LimitKind,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// From when the user is warned: ten minutes before, or half the limit before when the
    /// limit is shorter than twenty minutes (a 45 s timeout warns at once otherwise).
    pub warn_from_ms: i64,
    /// The limit itself, for the reason ("idle for 30 min").
    pub limit_secs: u64,
}

impl LimitEnd {
    /// The reason recorded when this end is reached.
    pub fn reason(&self) -> String {
        match self.kind {
            LimitKind::Idle => idle_reason(self.limit_secs),
            LimitKind::Lifetime => lifetime_reason(self.limit_secs),
        }
    }
}

/// How long before its end a limit is warned about.
pub const WARN_BEFORE_SECS: u64 = 600;

/// The earlier of a session's ends: its lifetime's (`lifetime_ends_at_ms`, extensions
/// included) and its idle timeout's, counted from `last_active_ms` (its latest input or busy
/// sample). `None` for a session without limits.
pub fn first_end(
    limits: &SessionLimits,
    lifetime_ends_at_ms: Option<i64>,
    last_active_ms: i64,
) -> Option<LimitEnd> {
    let end = |kind, at_ms: i64, limit_secs: u64| {
        let warn = WARN_BEFORE_SECS.min(limit_secs / 2).saturating_mul(1000) as i64;
        LimitEnd {
            kind,
            at_ms,
            warn_from_ms: at_ms.saturating_sub(warn),
            limit_secs,
        }
    };
    let lifetime = limits
        .lifetime_secs
        .zip(lifetime_ends_at_ms)
        .map(|(secs, at)| end(LimitKind::Lifetime, at, secs));
    let idle = limits.idle_timeout_secs.map(|secs| {
        end(
            LimitKind::Idle,
            last_active_ms.saturating_add(secs.saturating_mul(1000) as i64),
            secs,
        )
    });
    match (lifetime, idle) {
        (Some(l), Some(i)) => Some(if i.at_ms < l.at_ms { i } else { l }),
        (l, i) => l.or(i),
    }
}

/// A running session's latest sample and when a limit will end it, as the window shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SessionVitals {
    pub session_id: String,
    /// `None` when the engine could not read it this time.
    pub stats: Option<crate::SessionStats>,
    pub ends: Option<LimitEnd>,
}

/// A limit the server keeps on a session (a Backend.AI cluster's idle checkers), as last read:
/// Berth shows it and says why when it ends the session, but cannot change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ServerCheck {
    /// The checker as the server names it: `session_lifetime`, `network_timeout`,
    /// `utilization`, or a newer one.
    pub name: String,
    /// What it watches, in words for a sentence: "its lifetime", "network activity".
    pub what: String,
    /// When it ends the session unless something changes, in milliseconds since the Unix
    /// epoch; `None` while it sets no end (no limit configured, or activity keeps it away).
    pub ends_at_ms: Option<i64>,
    /// Until when it does not check at all (a grace period after the start).
    pub grace_until_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        for (text, secs) in [
            ("45s", 45),
            ("30m", 1800),
            ("8h", 28_800),
            ("1h30m", 5400),
            ("1h 30m", 5400),
            ("2d", 172_800),
            ("90S", 90),
        ] {
            assert_eq!(parse_duration("Lifetime", text), Ok(secs), "{text}");
        }
        for (text, rule) in [
            ("", "is empty"),
            ("30", "without a unit"),
            ("-5m", "negative"),
            ("5 weeks", "'w'"),
            ("m", "unit without a number"),
            ("99999999999999999999h", "too long"),
        ] {
            let error = parse_duration("Lifetime", text).unwrap_err();
            assert!(error.message.starts_with("Lifetime"), "{}", error.message);
            assert!(error.message.contains(rule), "{text}: {}", error.message);
        }
    }

    #[test]
    fn durations_are_said_in_the_two_largest_units() {
        assert_eq!(describe_duration(45), "45 s");
        assert_eq!(describe_duration(1800), "30 min");
        assert_eq!(describe_duration(5400), "1 h 30 min");
        assert_eq!(describe_duration(86_405), "1 d");
        assert_eq!(describe_duration(0), "0 s");
    }

    #[test]
    fn limits_out_of_range_are_refused_naming_the_field() {
        let ok = SessionLimits {
            idle_timeout_secs: Some(1800),
            lifetime_secs: Some(8 * 3600),
            idle_cpu_percent: Some(10),
        };
        assert_eq!(ok.validate(), Ok(()));
        for (limits, words) in [
            (
                SessionLimits {
                    lifetime_secs: Some(0),
                    ..Default::default()
                },
                "Lifetime must be longer than zero",
            ),
            (
                SessionLimits {
                    idle_timeout_secs: Some(3),
                    ..Default::default()
                },
                "Idle timeout of 3 s is too short",
            ),
            (
                SessionLimits {
                    lifetime_secs: Some(MAX_LIMIT_SECS + 1),
                    ..Default::default()
                },
                "longer than a year",
            ),
            (
                SessionLimits {
                    idle_timeout_secs: Some(60),
                    idle_cpu_percent: Some(0),
                    ..Default::default()
                },
                "Idle CPU threshold 0% is out of range",
            ),
            (
                SessionLimits {
                    idle_cpu_percent: Some(20),
                    ..Default::default()
                },
                "needs an idle timeout",
            ),
        ] {
            let error = limits.validate().unwrap_err();
            assert!(error.message.contains(words), "{}", error.message);
        }
    }

    #[test]
    fn the_earlier_limit_ends_the_session_and_is_warned_about_in_time() {
        let limits = SessionLimits {
            idle_timeout_secs: Some(1800),
            lifetime_secs: Some(8 * 3600),
            idle_cpu_percent: None,
        };
        // Active a minute ago: idle ends 29 min from now, long before the lifetime.
        let now = 10_000_000;
        let end = first_end(&limits, Some(now + 3_600_000), now - 60_000).unwrap();
        assert_eq!(end.kind, LimitKind::Idle);
        assert_eq!(end.at_ms, now - 60_000 + 1_800_000);
        assert_eq!(end.warn_from_ms, end.at_ms - 600_000);
        assert_eq!(end.reason(), "Ended by Berth: idle for 30 min.");
        // The lifetime comes first when it is nearer.
        let end = first_end(&limits, Some(now + 60_000), now).unwrap();
        assert_eq!(end.kind, LimitKind::Lifetime);
        assert_eq!(
            end.reason(),
            "Ended by Berth: its lifetime of 8 h was reached."
        );
        // A short limit warns at its half, not at once.
        let short = SessionLimits {
            idle_timeout_secs: Some(60),
            ..Default::default()
        };
        let end = first_end(&short, None, now).unwrap();
        assert_eq!(end.warn_from_ms, now + 30_000);
        assert_eq!(first_end(&SessionLimits::default(), None, now), None);
    }
}
