//! `berth doctor`: what the local engine can use on this computer, each finding with a one-line
//! fix. Every check does the real thing (starts a sandbox, writes a file, pings the API socket)
//! rather than trusting a version string, because that is what a session will do.

pub(crate) mod docker;
#[cfg(target_os = "linux")]
mod linux;
mod storage;

use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckId {
    Bubblewrap,
    UserNamespaces,
    Sandbox,
    SessionNetwork,
    DockerApi,
    DataDir,
    FreeDisk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Present and working.
    Ok,
    /// Works, or is optional, but the user should know (low disk, no Docker API).
    Warn,
    /// Missing or broken.
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: CheckId,
    pub verdict: Verdict,
    /// What was found, in one line.
    pub detail: String,
    /// One line that makes it work, when it does not.
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// The local engine can run sessions here: a working runtime, a usable data directory.
    pub can_run_sessions: bool,
    /// Which runtime sessions would use, when one works.
    pub runtime: Option<&'static str>,
}

impl Report {
    pub fn finding(&self, check: CheckId) -> Option<&Finding> {
        self.findings.iter().find(|f| f.check == check)
    }

    fn verdict(&self, check: CheckId) -> Option<Verdict> {
        self.finding(check).map(|f| f.verdict)
    }
}

impl Finding {
    fn ok(check: CheckId, detail: impl Into<String>) -> Self {
        Self {
            check,
            verdict: Verdict::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn warn(check: CheckId, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            verdict: Verdict::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(check: CheckId, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            verdict: Verdict::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Runs every check against this machine and `data_dir`. Side effects: creates `data_dir` if
/// missing, writes and removes one probe file in it, starts and ends one sandbox.
pub async fn examine(data_dir: &Path) -> Report {
    let mut findings = Vec::new();
    #[cfg(target_os = "linux")]
    findings.extend(linux::examine().await);
    findings.push(docker::examine().await);
    findings.push(storage::data_dir(data_dir));
    findings.push(storage::free_disk(data_dir));
    summarize(findings)
}

fn summarize(findings: Vec<Finding>) -> Report {
    let mut report = Report {
        findings,
        can_run_sessions: false,
        runtime: None,
    };
    let usable = |v: Option<Verdict>| matches!(v, Some(Verdict::Ok | Verdict::Warn));
    report.runtime = if usable(report.verdict(CheckId::Sandbox)) {
        Some("bubblewrap")
    } else if report.verdict(CheckId::DockerApi) == Some(Verdict::Ok) {
        Some("docker-api")
    } else {
        None
    };
    report.can_run_sessions = report.runtime.is_some()
        && usable(report.verdict(CheckId::DataDir))
        && usable(report.verdict(CheckId::FreeDisk));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(sandbox: Verdict, docker: Verdict, disk: Verdict) -> Vec<Finding> {
        let make = |check, verdict| Finding {
            check,
            verdict,
            detail: String::new(),
            fix: None,
        };
        vec![
            make(CheckId::Sandbox, sandbox),
            make(CheckId::DockerApi, docker),
            make(CheckId::DataDir, Verdict::Ok),
            make(CheckId::FreeDisk, disk),
        ]
    }

    #[test]
    fn a_working_sandbox_is_enough_to_run_sessions() {
        let report = summarize(findings(Verdict::Ok, Verdict::Warn, Verdict::Ok));
        assert!(report.can_run_sessions);
        assert_eq!(report.runtime, Some("bubblewrap"));
    }

    #[test]
    fn docker_api_stands_in_when_the_sandbox_cannot_start() {
        let report = summarize(findings(Verdict::Fail, Verdict::Ok, Verdict::Ok));
        assert!(report.can_run_sessions);
        assert_eq!(report.runtime, Some("docker-api"));
    }

    #[test]
    fn no_runtime_or_no_disk_means_no_sessions() {
        assert!(!summarize(findings(Verdict::Fail, Verdict::Warn, Verdict::Ok)).can_run_sessions);
        assert!(!summarize(findings(Verdict::Ok, Verdict::Ok, Verdict::Fail)).can_run_sessions);
    }
}
