//! `berth upload`, `berth download` and `berth transfers`: the app's transfer queue from a
//! shell, with a progress bar on a terminal. Interrupted transfers (Ctrl-C, a crash, kill -9)
//! continue with `berth transfers resume`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use berth_backendai::BackendAiEngine;
use berth_backendai::transfer::{StorageProxyOverrides, StorageProxyTransport};
use berth_core::{Error, ErrorCode, FolderPath};
use berth_local::LocalEngine;
use berth_local::transport::LocalTransport;
use berth_transfer::{
    ConflictPolicy, Job, JobState, Journal, PlanTransfers, Queue, QueueEvent, TransferSpec,
    Transport,
};
use clap::Subcommand;

use crate::output::{Output, human_bytes};

/// Files moved at once; enough to overlap small files' per-file costs on two cores.
const CONCURRENCY: usize = 4;

#[derive(Subcommand)]
pub enum TransfersCommand {
    /// Every transfer the journal holds.
    List,
    /// Continue every unfinished transfer (after a crash, Ctrl-C or a pause).
    Resume,
    /// Stop a transfer for good and delete its partial file.
    Cancel { id: i64 },
    /// Forget finished transfers.
    Clear,
}

pub fn parse_conflict(text: &str) -> Result<ConflictPolicy, String> {
    match text {
        "replace" => Ok(ConflictPolicy::Replace),
        "skip" => Ok(ConflictPolicy::Skip),
        "keep-both" => Ok(ConflictPolicy::KeepBoth),
        other => Err(format!(
            "\"{other}\" is not one of replace, skip, keep-both"
        )),
    }
}

/// Which engine moves the bytes: this computer's, or a cluster profile's (its storage proxy),
/// each with its own journal — the same ones the app uses.
pub enum Mover {
    Local(Arc<LocalEngine>),
    Cluster {
        engine: Arc<BackendAiEngine>,
        data_dir: PathBuf,
    },
}

impl Mover {
    pub fn open_queue(&self) -> berth_core::Result<Queue> {
        self.open_queue_as(Queue::open)
    }

    /// The queue with only what is not finished yet, for running one batch (see
    /// [`Queue::open_unfinished`]).
    pub fn open_queue_for_batch(&self) -> berth_core::Result<Queue> {
        self.open_queue_as(Queue::open_unfinished)
    }

    fn open_queue_as(
        &self,
        open: fn(Journal, Arc<dyn Transport>, usize) -> berth_core::Result<Queue>,
    ) -> berth_core::Result<Queue> {
        let (journal, transport): (PathBuf, Arc<dyn Transport>) = match self {
            Self::Local(engine) => (
                engine.dirs().data.join("transfers.sqlite3"),
                Arc::new(LocalTransport::new(engine.clone())),
            ),
            Self::Cluster { engine, data_dir } => (
                {
                    // A profile used before any local command has no data directory yet.
                    std::fs::create_dir_all(data_dir).map_err(|e| {
                        Error::engine_unavailable(format!(
                            "Cannot create {}: {e}",
                            data_dir.display()
                        ))
                    })?;
                    data_dir.join(format!("transfers-{}.sqlite3", engine.profile()))
                },
                Arc::new(
                    StorageProxyTransport::new(engine.clone())
                        .with_overrides(StorageProxyOverrides::from_env()?),
                ),
            ),
        };
        let queue = open(Journal::open(&journal)?, transport, CONCURRENCY)?;
        queue.start();
        Ok(queue)
    }

    /// Where this engine's journals live (and its list of syncs).
    pub fn data_dir(&self) -> PathBuf {
        match self {
            Self::Local(engine) => engine.dirs().data.clone(),
            Self::Cluster { data_dir, .. } => data_dir.clone(),
        }
    }

    /// `local`, or the cluster profile's name: whose syncs these are.
    pub fn profile(&self) -> String {
        match self {
            Self::Local(_) => "local".to_string(),
            Self::Cluster { engine, .. } => engine.profile().to_string(),
        }
    }

    /// The same engine, to hand to a task that outlives this borrow.
    pub fn shared_engine(&self) -> Arc<dyn berth_core::Engine> {
        match self {
            Self::Local(engine) => engine.clone(),
            Self::Cluster { engine, .. } => engine.clone(),
        }
    }

    /// The engine whose folders the bytes go to or come from.
    pub fn engine(&self) -> &dyn berth_core::Engine {
        match self {
            Self::Local(engine) => engine.as_ref(),
            Self::Cluster { engine, .. } => engine.as_ref(),
        }
    }

    /// The active engine's planning: its folders decide what each file becomes.
    fn planner(&self) -> &dyn PlanTransfers {
        match self {
            Self::Local(engine) => engine.as_ref(),
            Self::Cluster { engine, .. } => engine.as_ref(),
        }
    }
}

pub async fn upload(
    mover: Mover,
    folder: String,
    sources: Vec<PathBuf>,
    to: Option<String>,
    conflict: Option<ConflictPolicy>,
    out: &Output,
) -> berth_core::Result<()> {
    let to = FolderPath::parse(to.as_deref().unwrap_or(""))?;
    let batch = format!("upload-{}", std::process::id());
    let specs = mover
        .planner()
        .plan_upload(
            &folder,
            &sources,
            &to,
            conflict.unwrap_or(ConflictPolicy::Fail),
            &batch,
        )
        .await?;
    refuse_unasked_conflicts(&mover, &specs, conflict).await?;
    run_batch(&mover, specs, out).await
}

pub async fn download(
    mover: Mover,
    folder: String,
    paths: Vec<String>,
    to: PathBuf,
    conflict: Option<ConflictPolicy>,
    out: &Output,
) -> berth_core::Result<()> {
    let paths = FolderPath::parse_all(&paths)?;
    let batch = format!("download-{}", std::process::id());
    let specs = mover
        .planner()
        .plan_download(
            &folder,
            &paths,
            &to,
            conflict.unwrap_or(ConflictPolicy::Fail),
            &batch,
        )
        .await?;
    refuse_unasked_conflicts(&mover, &specs, conflict).await?;
    run_batch(&mover, specs, out).await
}

/// A shell cannot ask "replace, skip or keep both?" mid-way, so without `--conflict` the whole
/// command is refused before a byte moves.
async fn refuse_unasked_conflicts(
    mover: &Mover,
    specs: &[TransferSpec],
    conflict: Option<ConflictPolicy>,
) -> berth_core::Result<()> {
    if conflict.is_some() {
        return Ok(());
    }
    let existing = mover.planner().existing_destinations(specs).await?;
    match existing.first() {
        None => Ok(()),
        Some(first) => Err(Error::new(
            ErrorCode::AlreadyExists,
            format!(
                "{} destination(s) already exist, e.g. \"{first}\". Pass --conflict replace, skip or keep-both.",
                existing.len()
            ),
        )),
    }
}

async fn run_batch(
    mover: &Mover,
    specs: Vec<TransferSpec>,
    out: &Output,
) -> berth_core::Result<()> {
    report(&carry_out(mover, specs, out).await?, out)
}

/// Runs `specs` on the engine's queue, with the progress line on a terminal, and returns their
/// jobs as they ended.
pub async fn carry_out(
    mover: &Mover,
    specs: Vec<TransferSpec>,
    out: &Output,
) -> berth_core::Result<Vec<Job>> {
    let queue = mover.open_queue_for_batch()?;
    let ids = queue.enqueue(specs)?;
    follow(&queue, out).await;
    Ok(queue
        .jobs()
        .into_iter()
        .filter(|j| ids.contains(&j.id))
        .collect())
}

pub async fn transfers(
    mover: Mover,
    command: TransfersCommand,
    out: &Output,
) -> berth_core::Result<()> {
    let queue = mover.open_queue()?;
    match command {
        TransfersCommand::List => {
            let jobs = queue.jobs();
            out.print(&jobs, || table(&jobs));
            Ok(())
        }
        TransfersCommand::Resume => {
            queue.resume_all().await?;
            let unfinished: Vec<i64> = queue
                .jobs()
                .iter()
                .filter(|j| !j.state.is_finished())
                .map(|j| j.id)
                .collect();
            follow(&queue, out).await;
            report(
                &queue
                    .jobs()
                    .into_iter()
                    .filter(|j| unfinished.contains(&j.id))
                    .collect::<Vec<_>>(),
                out,
            )
        }
        TransfersCommand::Cancel { id } => {
            queue.cancel(id).await?;
            out.print(&queue.job(id), || format!("Cancelled transfer #{id}.\n"));
            Ok(())
        }
        TransfersCommand::Clear => {
            queue.clear_finished()?;
            out.print(&serde_json::json!({ "cleared": true }), || {
                "Cleared finished transfers.\n".into()
            });
            Ok(())
        }
    }
}

/// Waits for the queue to go idle, drawing one progress line on a terminal.
async fn follow(queue: &Queue, out: &Output) {
    let draw = !out.json && std::io::stderr().is_terminal();
    if !draw {
        // Nothing to draw: listening would wake this thread for every file's every event.
        queue.wait_idle().await;
        return;
    }
    let mut events = queue.subscribe();
    let waiting = queue.wait_idle();
    tokio::pin!(waiting);
    loop {
        tokio::select! {
            () = &mut waiting => break,
            event = events.recv() => {
                if matches!(event, Ok(QueueEvent::Progress { .. } | QueueEvent::State { .. })) {
                    draw_bar(&queue.jobs());
                }
            }
        }
    }
    eprintln!();
}

fn draw_bar(jobs: &[Job]) {
    let active: Vec<&Job> = jobs
        .iter()
        .filter(|j| !matches!(j.state, JobState::Cancelled))
        .collect();
    let total: u64 = active.iter().map(|j| j.spec.size).sum();
    let done: u64 = active.iter().map(|j| j.done_bytes.min(j.spec.size)).sum();
    let finished = active.iter().filter(|j| j.state.is_finished()).count();
    let ratio = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    let width = 30;
    let filled = (ratio * width as f64) as usize;
    eprint!(
        "\r[{}{}] {:>3}%  {} / {}  {} of {} files ",
        "=".repeat(filled),
        " ".repeat(width - filled),
        (ratio * 100.0) as u32,
        human_bytes(done),
        human_bytes(total),
        finished,
        active.len()
    );
    let _ = std::io::stderr().flush();
}

/// Prints the outcome; an error when any transfer failed.
fn report(jobs: &[Job], out: &Output) -> berth_core::Result<()> {
    out.print(&jobs, || {
        let count = |s: JobState| jobs.iter().filter(|j| j.state == s).count();
        let bytes: u64 = jobs
            .iter()
            .filter(|j| j.state == JobState::Done)
            .map(|j| j.spec.size)
            .sum();
        format!(
            "{} transferred ({}), {} skipped, {} failed.\n",
            count(JobState::Done),
            human_bytes(bytes),
            count(JobState::Skipped),
            count(JobState::Failed)
        )
    });
    let failed: Vec<&Job> = jobs
        .iter()
        .filter(|j| j.state == JobState::Failed)
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    // Each failed file on its own line: one bad name must not hide the others.
    const SHOWN: usize = 20;
    let mut message = format!("{} transfer(s) failed:", failed.len());
    for job in failed.iter().take(SHOWN) {
        message.push_str(&format!(
            "\n  {}: {}",
            job.spec.remote_path,
            job.error.as_deref().unwrap_or("unknown error")
        ));
    }
    if failed.len() > SHOWN {
        message.push_str(&format!(
            "\n  ... and {} more (berth transfers list)",
            failed.len() - SHOWN
        ));
    }
    Err(Error::new(ErrorCode::Internal, message))
}

fn table(jobs: &[Job]) -> String {
    if jobs.is_empty() {
        return "No transfers.\n".into();
    }
    let mut text = format!(
        "{:>5}  {:<9} {:<10} {:>10}  {}\n",
        "ID", "STATE", "DIRECTION", "SIZE", "FILE"
    );
    for job in jobs {
        text += &format!(
            "{:>5}  {:<9} {:<10} {:>10}  {}:{} {} {}\n",
            job.id,
            format!("{:?}", job.state).to_lowercase(),
            format!("{:?}", job.spec.direction).to_lowercase(),
            human_bytes(job.spec.size),
            job.spec.folder,
            job.spec.remote_path,
            if job.spec.direction == berth_transfer::Direction::Upload {
                "<-"
            } else {
                "->"
            },
            job.spec.local_path.display()
        );
    }
    text
}
