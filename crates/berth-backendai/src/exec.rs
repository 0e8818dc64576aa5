//! Running a command in a cluster session without a terminal (`berth session exec`): its stdout
//! and stderr come back apart, and its exit status with them.
//!
//! The manager offers the execute API (`POST /session/{name}`), whose batch mode runs shell
//! commands in three steps — `clean`, `build`, `exec` — and answers with the output so far
//! (`console`), a `status`, and the step's `exitCode`; the client asks again (`continue`) until
//! the step is done. The official `backend.ai run --exec` puts the command in the `exec` step.
//! On a real 26.x kernel (the team's peer, agent 26.8.3) that loses output: after each finished
//! step the agent drops the run's output queue and ignores whatever the kernel prints until the
//! client's next request arrives (`CodeRunner.next_output_queue`: "If there is no pending
//! request, just ignore all outputs from the kernel"), so the first lines of the `exec` step —
//! and even its `finished` record, leaving the run waiting forever — are lost. The `clean` step
//! is the first of the run, and its output goes to the very request that started it; so the
//! command runs as `clean`, and the run ends for Berth with `clean-finished`, never continued
//! past it (a continuation there would wait for records already dropped, wedging the kernel's
//! execute API for every later run). Each step runs with `sh -c` in `/home/work`, with no input.
//!
//! Two more facts from the peer: 26.x reads the run id from `run_id` (the SDK sends `runId`,
//! which 26.8.1 ignores, so its continuations fail with "continuation requires explicit run
//! ID"); both are sent.

use berth_core::{Error, ErrorCode, Result};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::connection::Connection;
use crate::folders::segment;

/// Which of the command's streams a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Deserialize)]
struct Answer {
    result: RunResult,
}

#[derive(Deserialize)]
struct RunResult {
    status: String,
    #[serde(rename = "runId")]
    run_id: Option<String>,
    #[serde(rename = "exitCode")]
    exit_code: Option<i64>,
    #[serde(default)]
    console: Option<Vec<Value>>,
}

/// Runs `argv` in session `session_name` and hands its output to `output` as it arrives;
/// returns the command's exit status (128 + signal when a signal ended it). Errors: the
/// manager's refusal (`not_found` for an unknown session), `invalid_input` for an empty
/// command or one that asks for input, `internal` when the kernel answers something this does
/// not know (an image whose kernel cannot run commands says so here).
pub async fn exec(
    connection: &Connection,
    session_name: &str,
    argv: &[String],
    mut output: impl FnMut(Stream, &str),
) -> Result<i32> {
    if argv.is_empty() {
        return Err(Error::invalid_input(
            "No command given to run in the session.",
        ));
    }
    let command = argv
        .iter()
        .map(|arg| shell_quote(arg))
        .collect::<Vec<_>>()
        .join(" ");
    let path = format!("session/{}", segment(session_name));
    let mut run_id = new_run_id();
    let mut body = json!({
        "mode": "batch",
        "code": "",
        "run_id": run_id,
        "runId": run_id,
        "options": { "clean": command, "build": null, "exec": null, "buildLog": false },
    });
    let mut first = true;
    loop {
        let answer: Answer = connection
            .call_json(Method::POST, &path, Some(&body))
            .await
            .map_err(|e| match first && e.code == ErrorCode::Internal {
                // An agent that runs no code (the peer's dummy one) or an image without a
                // kernel runner fails here with a bare server error.
                true => Error::internal(format!(
                    "Session \"{session_name}\" could not run the command: its image or agent \
                     runs no commands through the cluster's execute API ({})",
                    e.message
                )),
                false => e,
            })?;
        first = false;
        let result = answer.result;
        for record in result.console.as_deref().unwrap_or_default() {
            let (Some(kind), Some(text)) = (record[0].as_str(), record[1].as_str()) else {
                continue;
            };
            match kind {
                "stdout" => output(Stream::Stdout, text),
                "stderr" => output(Stream::Stderr, text),
                // Media and HTML records have no place in a shell's streams.
                _ => {}
            }
        }
        if let Some(id) = result.run_id {
            run_id = id;
        }
        match result.status.as_str() {
            // The command's step is over: its status is the command's.
            "clean-finished" | "finished" => return Ok(exit_status(result.exit_code)),
            "continued" => {
                body = json!({ "mode": "continue", "code": "", "run_id": run_id, "runId": run_id });
            }
            "waiting-input" => {
                return Err(Error::invalid_input(
                    "The command asked for input, which `session exec` cannot give on a cluster; \
                     run it in a terminal (`berth session shell`).",
                ));
            }
            "exec-timeout" => {
                return Err(Error::new(
                    ErrorCode::Unreachable,
                    "The cluster stopped the command: it ran longer than the session's execution \
                     time limit.",
                ));
            }
            other => {
                return Err(Error::internal(format!(
                    "Session \"{session_name}\" answered the command with \"{other}\", which \
                     Berth does not know; its image may not run shell commands."
                )));
            }
        }
    }
}

/// A fresh run id: the manager keys a run's output by it.
fn new_run_id() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("berth{:x}{:x}", nanos, std::process::id())
}

/// The kernel reports a signal as a negative status (Python's `returncode`).
fn exit_status(code: Option<i64>) -> i32 {
    match code {
        Some(code) if code < 0 => 128 + (-code) as i32,
        Some(code) => i32::try_from(code).unwrap_or(1),
        None => 1,
    }
}

/// `arg` as one word for `sh -c`.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_reach_the_shell_as_the_words_they_were() {
        assert_eq!(shell_quote("ls"), "ls");
        assert_eq!(shell_quote("/home/work"), "/home/work");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME; rm -rf /"), "'$HOME; rm -rf /'");
    }

    #[test]
    fn a_signal_is_reported_as_a_shell_would() {
        assert_eq!(exit_status(Some(0)), 0);
        assert_eq!(exit_status(Some(3)), 3);
        assert_eq!(exit_status(Some(-9)), 137);
        assert_eq!(exit_status(None), 1);
    }
}
