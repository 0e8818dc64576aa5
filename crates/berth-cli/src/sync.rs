//! `berth sync`: a local directory kept in step with a folder. `sync once` makes one pass and
//! exits (for scripts); only pushing (this computer → the folder) is there so far.

use std::path::PathBuf;

use berth_core::Error;
use berth_sync::push::{IgnoreRules, SyncPair, plan_push};
use berth_transfer::JobState;
use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use crate::output::{Output, human_bytes};
use crate::transfer::{Mover, carry_out};

#[derive(Subcommand)]
pub enum SyncCommand {
    /// One pass, then exit: what differs by size and modified time is sent; links are not
    /// followed; nothing in the folder is deleted without --delete.
    Once {
        /// The directory on this computer.
        local: PathBuf,
        /// FOLDER or FOLDER:PATH.
        target: String,
        /// Which way files go.
        #[arg(long, value_enum, default_value = "push")]
        direction: SyncDirection,
        /// Delete what the folder's path has and the directory does not (ignored paths never).
        #[arg(long)]
        delete: bool,
        /// Paths to leave alone on both sides, gitignore syntax (repeat for more).
        #[arg(long = "ignore", value_name = "PATTERN")]
        ignore: Vec<String>,
        /// Sync .git/, node_modules/ and __pycache__/ too (ignored by default).
        #[arg(long)]
        no_default_ignores: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncDirection {
    /// This computer → the folder.
    Push,
}

/// What a pass did, for `--json`.
#[derive(Serialize)]
struct PassReport {
    uploaded: usize,
    uploaded_bytes: u64,
    unchanged: usize,
    made_dirs: usize,
    deleted: Vec<String>,
    skipped: Vec<SkippedReport>,
    failed: Vec<SkippedReport>,
}

#[derive(Serialize)]
struct SkippedReport {
    path: String,
    why: String,
}

pub async fn run(mover: Mover, command: SyncCommand, out: &Output) -> berth_core::Result<()> {
    let SyncCommand::Once {
        local,
        target,
        direction: SyncDirection::Push,
        delete,
        ignore,
        no_default_ignores,
    } = command;
    let pair = SyncPair::parse(&local, &target)?;
    let rules = IgnoreRules::new(&ignore, !no_default_ignores)?;
    let engine = mover.engine();
    // The folder first: a typo in its name says so before the directory is read.
    engine.folder(&pair.folder).await?;
    let plan = plan_push(engine, &pair, &rules, delete).await?;
    for dir in &plan.make_dirs {
        engine.make_dir(&pair.folder, dir).await?;
    }
    let batch = format!("sync-{}", std::process::id());
    let jobs = match plan.uploads.is_empty() {
        true => Vec::new(),
        false => carry_out(&mover, plan.transfer_specs(&pair.folder, &batch), out).await?,
    };
    if !plan.deletes.is_empty() {
        mover
            .engine()
            .remove_paths(&pair.folder, &plan.deletes)
            .await?;
    }
    let done: Vec<_> = jobs.iter().filter(|j| j.state == JobState::Done).collect();
    let report = PassReport {
        uploaded: done.len(),
        uploaded_bytes: done.iter().map(|j| j.spec.size).sum(),
        unchanged: plan.unchanged,
        made_dirs: plan.make_dirs.len(),
        deleted: plan
            .deletes
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        skipped: plan
            .skipped
            .iter()
            .map(|s| SkippedReport {
                path: s.path.clone(),
                why: s.why.clone(),
            })
            .collect(),
        failed: jobs
            .iter()
            .filter(|j| j.state == JobState::Failed)
            .map(|j| SkippedReport {
                path: j.spec.remote_path.clone(),
                why: j.error.clone().unwrap_or_default(),
            })
            .collect(),
    };
    out.print(&report, || {
        let mut text = format!(
            "{} sent ({}), {} unchanged, {} deleted, {} skipped, {} failed.\n",
            report.uploaded,
            human_bytes(report.uploaded_bytes),
            report.unchanged,
            report.deleted.len(),
            report.skipped.len(),
            report.failed.len()
        );
        for s in report.skipped.iter().chain(&report.failed) {
            text.push_str(&format!("  {}: {}\n", s.path, s.why));
        }
        text
    });
    match report.failed.first() {
        None => Ok(()),
        Some(first) => Err(Error::internal(format!(
            "{} file(s) were not sent, e.g. {}: {}",
            report.failed.len(),
            first.path,
            first.why
        ))),
    }
}
