//! `berth doctor`: prints the local engine's findings on this machine.

use std::process::ExitCode;

use berth_local::DataDirs;
use berth_local::doctor::{self, CheckId, Report, Verdict};

pub async fn run(dirs: &DataDirs, json: bool) -> ExitCode {
    let report = doctor::examine(&dirs.data).await;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", render(&report, dirs));
    }
    if report.can_run_sessions {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn render(report: &Report, dirs: &DataDirs) -> String {
    let mut out = format!(
        "Berth doctor: the local engine on this computer (data in {})\n",
        dirs.data.display()
    );
    for finding in &report.findings {
        let mark = match finding.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        out += &format!(
            "  {mark}  {:<16} {}\n",
            title(finding.check),
            finding.detail
        );
        if let Some(fix) = &finding.fix {
            out += &format!("        {:<16} fix: {fix}\n", "");
        }
    }
    out += &match report.runtime {
        Some(runtime) if report.can_run_sessions => {
            format!("Local sessions can run here (runtime: {runtime}).\n")
        }
        _ => "Local sessions cannot run here yet: apply the fixes marked FAIL above.\n".to_string(),
    };
    out
}

fn title(check: CheckId) -> &'static str {
    match check {
        CheckId::Bubblewrap => "bubblewrap",
        CheckId::UserNamespaces => "user namespaces",
        CheckId::Sandbox => "sandbox start",
        CheckId::SessionNetwork => "session network",
        CheckId::DockerApi => "Docker API",
        CheckId::DataDir => "data directory",
        CheckId::FreeDisk => "free disk",
    }
}
