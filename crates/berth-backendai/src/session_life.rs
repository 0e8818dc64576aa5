//! What a cluster says about a running session's life: its idle checks (`idle_checks`, how
//! long each of the manager's idle checkers gives it) and what its container uses now
//! (`live_stat`, the agent's latest statistics). Both arrive as JSON in a string field of the
//! session's GraphQL item; a field the manager leaves empty (an agent that collects no
//! statistics, a checker with no limit configured) is reported as such, never guessed.

use berth_core::SessionStats;
use berth_core::limits::ServerCheck;
use serde_json::Value;

use crate::sessions::json_value;

/// The checks in `idle_checks` as of `now_ms`, in the manager's order of names.
/// Seen on 26.8.1 for a session of a keypair without a lifetime limit:
/// `{"session_lifetime": {"remaining": null, "remaining_time_type": "expire_after", "extra": null}}`.
pub fn idle_checks(field: Option<&Value>, now_ms: i64) -> Vec<ServerCheck> {
    let Value::Object(checks) = json_value(field) else {
        return Vec::new();
    };
    let mut read: Vec<ServerCheck> = checks
        .iter()
        .map(|(name, check)| {
            let at = check["remaining"]
                .as_f64()
                .map(|secs| now_ms.saturating_add((secs.max(0.0) * 1000.0) as i64));
            let grace = check["remaining_time_type"].as_str() == Some("grace_period");
            ServerCheck {
                name: name.clone(),
                what: what_it_watches(name),
                ends_at_ms: if grace { None } else { at },
                grace_until_ms: if grace { at } else { None },
            }
        })
        .collect();
    read.sort_by(|a, b| a.name.cmp(&b.name));
    read
}

fn what_it_watches(name: &str) -> String {
    match name {
        "session_lifetime" => "its lifetime".into(),
        "network_timeout" => "network activity".into(),
        "utilization" => "how much of its resources it uses".into(),
        other => other.replace('_', " "),
    }
}

/// What a container's `live_stat` says it uses now; `None` when the agent reported nothing.
/// The agent's figures: `cpu_util.pct` (percent of one core), `mem.current` (bytes),
/// `io_read`/`io_write` `.current` (bytes so far), and on a CUDA node `cuda_util.pct` and
/// `cuda_mem.current`, each a decimal in a string.
pub fn live_stats(field: Option<&Value>, sampled_at_ms: i64) -> Option<SessionStats> {
    let stat = json_value(field);
    let figure = |metric: &str| -> Option<f64> {
        let current = &stat[metric]["current"];
        current
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| current.as_f64())
    };
    let cpu = stat["cpu_util"]["pct"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| stat["cpu_util"]["pct"].as_f64());
    let memory = figure("mem");
    if cpu.is_none() && memory.is_none() {
        return None;
    }
    Some(SessionStats {
        cpu_percent: cpu.unwrap_or(0.0),
        memory_bytes: memory.unwrap_or(0.0) as u64,
        read_bytes: figure("io_read").unwrap_or(0.0) as u64,
        write_bytes: figure("io_write").unwrap_or(0.0) as u64,
        sampled_at_ms,
        // CUDA agents report these; the sum over devices, as the web UI shows it.
        gpu_percent: stat["cuda_util"]["pct"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| stat["cuda_util"]["pct"].as_f64()),
        gpu_memory_bytes: figure("cuda_mem").map(|b| b as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn idle_checks_read_as_deadlines_grace_periods_or_none() {
        let now = 1_000_000;
        let seen = json!(
            "{\"session_lifetime\": {\"remaining\": null, \"remaining_time_type\": \"expire_after\", \"extra\": null}}"
        );
        assert_eq!(
            idle_checks(Some(&seen), now),
            vec![ServerCheck {
                name: "session_lifetime".into(),
                what: "its lifetime".into(),
                ends_at_ms: None,
                grace_until_ms: None,
            }]
        );
        let configured = json!({
            "session_lifetime": {"remaining": 3540.5, "remaining_time_type": "expire_after"},
            "network_timeout": {"remaining": 90, "remaining_time_type": "grace_period"},
        });
        let checks = idle_checks(Some(&configured), now);
        assert_eq!(checks[0].name, "network_timeout");
        assert_eq!(checks[0].ends_at_ms, None);
        assert_eq!(checks[0].grace_until_ms, Some(now + 90_000));
        assert_eq!(checks[1].ends_at_ms, Some(now + 3_540_500));
        assert!(idle_checks(None, now).is_empty());
        assert!(idle_checks(Some(&json!("{}")), now).is_empty());
    }

    #[test]
    fn live_stats_read_the_agents_figures_and_nothing_when_it_sent_none() {
        let stat = json!({
            "cpu_util": {"current": "1534.2", "capacity": "1000", "pct": "153.42"},
            "mem": {"current": "52428800", "capacity": "536870912", "pct": "9.77"},
            "io_read": {"current": "4096"},
            "io_write": {"current": "8192"},
        });
        let stats = live_stats(Some(&Value::String(stat.to_string())), 7).unwrap();
        assert_eq!(stats.cpu_percent, 153.42);
        assert_eq!(stats.memory_bytes, 52_428_800);
        assert_eq!((stats.read_bytes, stats.write_bytes), (4096, 8192));
        assert_eq!((stats.gpu_percent, stats.gpu_memory_bytes), (None, None));
        let gpu = json!({
            "cpu_util": {"pct": "12.5"},
            "mem": {"current": "1024"},
            "cuda_util": {"current": "87", "pct": "87.0"},
            "cuda_mem": {"current": "2147483648"},
        });
        let stats = live_stats(Some(&gpu), 7).unwrap();
        assert_eq!(stats.gpu_percent, Some(87.0));
        assert_eq!(stats.gpu_memory_bytes, Some(2_147_483_648));
        assert_eq!(live_stats(Some(&Value::Null), 7), None);
        assert_eq!(live_stats(None, 7), None);
    }
}
