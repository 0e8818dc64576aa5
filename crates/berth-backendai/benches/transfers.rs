//! `cargo bench -p berth-backendai --bench transfers -- (upload FOLDER FILE | download FOLDER
//! PATH DIR)`: one upload or download through Berth's transfer queue and storage-proxy
//! transport, the way the app and the CLI run them, timed by `scripts/bench-backendai-transfers`
//! against Backend.AI's own `backend.ai vfolder upload / download`. Logs in with the same
//! environment as that client (`BACKEND_ENDPOINT`, `BACKEND_ACCESS_KEY`, `BACKEND_SECRET_KEY`),
//! so both talk to the same manager and storage proxy as the same user. Prints the seconds the
//! transfer itself took (login excluded) on stdout.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use berth_backendai::{StorageProxyOverrides, StorageProxyTransport};
use berth_core::FolderPath;
use berth_transfer::{ConflictPolicy, JobState, Journal, PlanTransfers, Queue};

/// As many files at once as the app's queue runs.
const CONCURRENCY: usize = 4;

fn main() -> ExitCode {
    // `cargo bench` appends `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match runtime.block_on(run(&args)) {
        Ok(seconds) => {
            println!("{seconds:.3}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("bench-transfers: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<f64, String> {
    let engine = Arc::new(support::engine_like_the_client().await?);
    let overrides = StorageProxyOverrides::from_env().map_err(|e| e.to_string())?;
    let transport = Arc::new(StorageProxyTransport::new(engine.clone()).with_overrides(overrides));
    let journal_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let journal =
        Journal::open(&journal_dir.path().join("transfers.sqlite3")).map_err(|e| e.to_string())?;
    let queue = Queue::open(journal, transport, CONCURRENCY).map_err(|e| e.to_string())?;
    queue.start();

    let started = Instant::now();
    let specs = match args {
        [command, folder, file] if command == "upload" => engine
            .plan_upload(
                folder,
                &[PathBuf::from(file)],
                &FolderPath::root(),
                ConflictPolicy::Replace,
                "bench",
            )
            .await
            .map_err(|e| e.to_string())?,
        [command, folder, path, dir] if command == "download" => engine
            .plan_download(
                folder,
                &[FolderPath::parse(path).map_err(|e| e.to_string())?],
                &PathBuf::from(dir),
                ConflictPolicy::Replace,
                "bench",
            )
            .await
            .map_err(|e| e.to_string())?,
        _ => {
            return Err(
                "usage: transfers (upload FOLDER FILE | download FOLDER PATH DIR)".to_string(),
            );
        }
    };
    let ids = queue.enqueue(specs).map_err(|e| e.to_string())?;
    queue.wait_idle().await;
    let seconds = started.elapsed().as_secs_f64();
    for id in ids {
        let job = queue.job(id).ok_or("a job went missing")?;
        if job.state != JobState::Done {
            return Err(format!(
                "{} ended {:?}: {}",
                job.spec.remote_path,
                job.state,
                job.error.unwrap_or_default()
            ));
        }
    }
    Ok(seconds)
}
