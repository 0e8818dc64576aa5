//! `berth sync`: a local directory kept in step with a folder. `add` sets one up, `run` keeps
//! the profile's syncs going until interrupted (the app runs them the same way, never the same
//! one at once), `once` makes one pass and exits (for scripts). A sync pushes (this computer →
//! the folder), pulls, or goes both ways; the last two keep a journal of what both sides agreed
//! on, so a file changed on both sides is kept twice rather than overwritten.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use berth_core::Error;
use berth_sync::book::{SyncBook, SyncDirection as Direction, SyncRecord};
use berth_sync::exchange::{PassRules, clear_leftovers, pass};
use berth_sync::journal::Journal;
use berth_sync::live::SyncState;
use berth_sync::push::{IgnoreRules, Skipped, SyncPair, plan_push};
use berth_sync::reconcile::Scope;
use berth_sync::runner::{SyncEvents, run_syncs};
use berth_sync::send::{Sent, send_uploads};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::output::{Output, human_bytes, utc_minute};
use crate::transfer::Mover;

#[derive(Subcommand)]
pub enum SyncCommand {
    /// Set up a directory to be kept in step with a folder (by the app while it runs, or by
    /// `berth sync run`).
    Add(PairOptions),
    /// The syncs set up for this profile, with how each stands.
    List,
    /// Stop sending a sync's changes until it is resumed.
    Pause { id: String },
    /// Send a paused sync's changes again (what changed meanwhile first).
    Resume { id: String },
    /// Forget a sync; nothing is deleted on either side.
    Rm { id: String },
    /// Keep this profile's syncs going until interrupted (Ctrl-C).
    Run,
    /// One pass, then exit: what differs by size and modified time is sent; links are not
    /// followed; nothing is deleted without --delete.
    Once(PairOptions),
}

/// What a sync is: its two sides and how it treats them.
#[derive(Args)]
pub struct PairOptions {
    /// The directory on this computer.
    local: PathBuf,
    /// FOLDER or FOLDER:PATH.
    target: String,
    /// Which way files go.
    #[arg(long, value_enum, default_value = "push")]
    direction: SyncDirection,
    /// Mirror deletions: what one side deleted, the other deletes too (ignored paths and files
    /// the other side changed never).
    #[arg(long)]
    delete: bool,
    /// Paths to leave alone on both sides, gitignore syntax (repeat for more).
    #[arg(long = "ignore", value_name = "PATTERN")]
    ignore: Vec<String>,
    /// Sync .git/, node_modules/ and __pycache__/ too (ignored by default).
    #[arg(long)]
    no_default_ignores: bool,
}

impl PairOptions {
    /// The pair and its rules, checked: the directory exists, the patterns parse, and the
    /// folder is there (a typo in its name is said before the directory is read).
    async fn check(&self, mover: &Mover) -> berth_core::Result<(SyncPair, IgnoreRules)> {
        let pair = SyncPair::parse(&self.local, &self.target)?;
        let rules = IgnoreRules::new(&self.ignore, !self.no_default_ignores)?;
        mover.engine().folder(&pair.folder).await?;
        Ok((pair, rules))
    }
}

/// The pair's directory as the list of syncs records it, whatever way it was written.
fn canonical(pair: &SyncPair) -> berth_core::Result<PathBuf> {
    std::fs::canonicalize(&pair.local)
        .map_err(|e| Error::invalid_input(format!("Cannot sync {}: {e}", pair.local.display())))
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncDirection {
    /// This computer → the folder.
    Push,
    /// The folder → this computer.
    Pull,
    /// Both ways; a file changed on both sides is kept twice (a conflict copy here).
    Both,
}

impl From<SyncDirection> for Direction {
    fn from(way: SyncDirection) -> Self {
        match way {
            SyncDirection::Push => Direction::Push,
            SyncDirection::Pull => Direction::Pull,
            SyncDirection::Both => Direction::Both,
        }
    }
}

/// What a pass did, for `--json`.
#[derive(Serialize)]
struct PassReport {
    uploaded: usize,
    downloaded: usize,
    /// Bytes moved either way.
    bytes: u64,
    unchanged: usize,
    /// Deleted in the folder (a push: its paths in the folder; else relative to the pair).
    deleted: Vec<String>,
    /// Deleted on this computer (relative to the pair).
    deleted_here: Vec<String>,
    /// Conflict copies made on this computer (relative to the pair).
    conflicts: Vec<String>,
    skipped: Vec<SkippedReport>,
    failed: Vec<SkippedReport>,
}

#[derive(Serialize)]
struct SkippedReport {
    path: String,
    why: String,
}

impl From<Skipped> for SkippedReport {
    fn from(skipped: Skipped) -> Self {
        Self {
            path: skipped.path,
            why: skipped.why,
        }
    }
}

impl From<(String, String)> for SkippedReport {
    fn from((path, why): (String, String)) -> Self {
        Self { path, why }
    }
}

pub async fn run(mover: Mover, command: SyncCommand, out: &Output) -> berth_core::Result<()> {
    let book = SyncBook::in_dir(&mover.data_dir());
    match command {
        SyncCommand::Once(options) => once(mover, &book, options, out).await,
        SyncCommand::Add(options) => {
            let (pair, _) = options.check(&mover).await?;
            let local = canonical(&pair)?;
            let record = book.add(SyncRecord {
                id: String::new(),
                profile: mover.profile(),
                local,
                folder: pair.folder,
                path: pair.path.as_str().to_string(),
                direction: options.direction.into(),
                delete: options.delete,
                ignore: options.ignore,
                default_ignores: !options.no_default_ignores,
                paused: false,
                state: SyncState::Stopped,
            })?;
            out.print(&record, || {
                format!(
                    "Sync {} added: {} → {}. It runs while the app is open, or with `berth sync run`.\n",
                    record.id,
                    record.local.display(),
                    record.target()
                )
            });
            Ok(())
        }
        SyncCommand::List => {
            let profile = mover.profile();
            let records: Vec<SyncRecord> = book
                .list()?
                .into_iter()
                .filter(|r| r.profile == profile)
                .collect();
            out.print(&records, || {
                records
                    .iter()
                    .map(|r| {
                        format!(
                            "{}  {} {} {}  {}{}\n",
                            r.id,
                            r.local.display(),
                            arrow(r.direction),
                            r.target(),
                            describe(&r.state),
                            if r.paused { " (paused)" } else { "" }
                        )
                    })
                    .collect()
            });
            Ok(())
        }
        SyncCommand::Pause { id } => {
            let record = book.update(&id, |r| r.paused = true)?;
            out.print(&record, || format!("Sync {} paused.\n", record.id));
            Ok(())
        }
        SyncCommand::Resume { id } => {
            let record = book.update(&id, |r| r.paused = false)?;
            out.print(&record, || format!("Sync {} resumed.\n", record.id));
            Ok(())
        }
        SyncCommand::Rm { id } => {
            let record = book.remove(&id)?;
            out.print(&record, || {
                format!(
                    "Sync {} removed; {} and {} are as they were.\n",
                    record.id,
                    record.local.display(),
                    record.target()
                )
            });
            Ok(())
        }
        SyncCommand::Run => run_all(mover).await,
    }
}

/// Which way files go, as `list` shows it.
fn arrow(way: Direction) -> &'static str {
    match way {
        Direction::Push => "→",
        Direction::Pull => "←",
        Direction::Both => "↔",
    }
}

/// A sync's state in words.
fn describe(state: &SyncState) -> String {
    match state {
        SyncState::Stopped => "not running".to_string(),
        SyncState::Comparing => "comparing".to_string(),
        SyncState::Syncing { files } => format!("syncing {files} file(s)"),
        SyncState::InStep {
            at_ms,
            skipped,
            conflicts,
        } => {
            let mut said = format!("in step since {}", utc_minute(*at_ms));
            if *skipped > 0 {
                said.push_str(&format!(" ({skipped} not synced)"));
            }
            match conflicts.as_slice() {
                [] => {}
                [one] => said.push_str(&format!("; 1 conflict: {one}")),
                [first, ..] => {
                    said.push_str(&format!("; {} conflicts, e.g. {first}", conflicts.len()))
                }
            }
            said
        }
        SyncState::Waiting { reason } => format!("waiting: {reason}"),
    }
}

/// Runs every unpaused sync of the profile, starting and stopping them as the list changes,
/// until Ctrl-C; each new state in words on stderr.
async fn run_all(mover: Mover) -> berth_core::Result<()> {
    struct Said(std::sync::Mutex<HashMap<String, String>>);
    impl SyncEvents for Said {
        fn state(&self, record: &SyncRecord, state: &SyncState) {
            let said = describe(state);
            let mut last = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.get(&record.id) != Some(&said) {
                eprintln!("sync {} ({}): {said}", record.id, record.local.display());
                last.insert(record.id.clone(), said);
            }
        }
        fn refused(&self, record: &SyncRecord, why: &Error) {
            eprintln!("sync {}: {why}", record.id);
        }
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
    });
    run_syncs(
        Arc::new(SyncBook::in_dir(&mover.data_dir())),
        mover.profile(),
        mover.shared_engine(),
        mover.open_queue()?,
        Arc::new(Said(Default::default())),
        stopped,
    )
    .await
}

async fn once(
    mover: Mover,
    book: &SyncBook,
    options: PairOptions,
    out: &Output,
) -> berth_core::Result<()> {
    let (pair, rules) = options.check(&mover).await?;
    // A sync that is set up for the same pair is not run twice at once.
    let local = canonical(&pair)?;
    let profile = mover.profile();
    let record = book
        .list()?
        .into_iter()
        .find(|r| r.is_pair(&profile, &local, &pair.folder, pair.path.as_str()));
    let _lock = match &record {
        Some(record) => Some(book.lock_running(&record.id)?),
        None => None,
    };
    let batch = format!("{}{}", berth_sync::live::BATCH_PREFIX, std::process::id());
    let queue = mover.open_queue()?;
    clear_leftovers(&queue, &pair, &rules).await;
    let report = match options.direction {
        SyncDirection::Push => {
            push_once(
                mover.engine(),
                &queue,
                &pair,
                &rules,
                options.delete,
                &batch,
            )
            .await?
        }
        way => {
            let journal_path = match &record {
                Some(record) => book.journal_path(&record.id),
                None => book.once_journal_path(&profile, &local, &pair.target()),
            };
            let mut journal = Journal::load(&journal_path);
            let how = PassRules {
                way: way.into(),
                delete: options.delete,
                rules: &rules,
                batch: &batch,
            };
            let passed = pass(
                mover.engine(),
                &queue,
                &pair,
                &how,
                &Scope::Whole,
                &mut journal,
                |_| {},
            )
            .await;
            journal.save(&journal_path)?;
            let passed = passed?;
            let done = passed.done;
            PassReport {
                uploaded: done.uploaded,
                downloaded: done.downloaded,
                bytes: done.bytes,
                unchanged: passed.unchanged,
                deleted: done.deleted_there,
                deleted_here: done.deleted_here,
                conflicts: done.conflicts,
                skipped: passed
                    .skipped
                    .into_iter()
                    .map(SkippedReport::from)
                    .collect(),
                failed: done.failed.into_iter().map(SkippedReport::from).collect(),
            }
        }
    };
    out.print(&report, || {
        let mut text = format!(
            "{} sent, {} brought here ({} moved), {} unchanged, {} deleted, {} skipped, {} failed.\n",
            report.uploaded,
            report.downloaded,
            human_bytes(report.bytes),
            report.unchanged,
            report.deleted.len() + report.deleted_here.len(),
            report.skipped.len(),
            report.failed.len()
        );
        for copy in &report.conflicts {
            text.push_str(&format!(
                "  conflict: changed on both sides; the folder's version has the name, this computer's is kept as {copy}\n"
            ));
        }
        for s in report.skipped.iter().chain(&report.failed) {
            text.push_str(&format!("  {}: {}\n", s.path, s.why));
        }
        text
    });
    match report.failed.first() {
        None => Ok(()),
        Some(first) => Err(Error::internal(format!(
            "{} file(s) were not synced, e.g. {}: {}",
            report.failed.len(),
            first.path,
            first.why
        ))),
    }
}

/// One push pass: what differs is sent, what the directory lost deleted only when asked.
async fn push_once(
    engine: &dyn berth_core::Engine,
    queue: &berth_transfer::Queue,
    pair: &SyncPair,
    rules: &IgnoreRules,
    delete: bool,
    batch: &str,
) -> berth_core::Result<PassReport> {
    let plan = plan_push(engine, pair, rules, delete).await?;
    for dir in &plan.make_dirs {
        engine.make_dir(&pair.folder, dir).await?;
    }
    let sent = match plan.uploads.is_empty() {
        true => Sent::default(),
        false => send_uploads(engine, queue, &pair.folder, &plan.uploads, batch).await?,
    };
    if !plan.deletes.is_empty() {
        engine.remove_paths(&pair.folder, &plan.deletes).await?;
    }
    Ok(PassReport {
        uploaded: sent.files,
        downloaded: 0,
        bytes: sent.bytes,
        unchanged: plan.unchanged,
        deleted: plan
            .deletes
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        deleted_here: Vec::new(),
        conflicts: Vec::new(),
        skipped: plan.skipped.into_iter().map(SkippedReport::from).collect(),
        failed: sent.failed.into_iter().map(SkippedReport::from).collect(),
    })
}
