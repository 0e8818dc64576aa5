//! Sending a push's files: small ones in one go where the engine can copy them itself (the
//! local engine, without the queue's per-file bookkeeping), the rest through the transfer
//! queue, whose panel shows them and which continues a cut upload.

use std::path::PathBuf;

use berth_core::{Engine, FolderPath, Result};
use berth_transfer::{ConflictPolicy, Direction, JobState, Queue, TransferSpec};

/// Files up to this size go through [`Engine::put_files`] where the engine has it.
const SMALL: u64 = 1 << 20;

/// What sending a plan's files did.
#[derive(Debug, Default)]
pub struct Sent {
    pub files: usize,
    pub bytes: u64,
    /// Files not sent (their path in the folder, why); a file deleted here meanwhile is not
    /// one of them (the next pass sees it gone).
    pub failed: Vec<(String, String)>,
}

/// Sends `uploads` to `folder`: small files in one go where the engine can, the rest through
/// the transfer `queue` (batch `batch`), and waits for them.
pub async fn send_uploads(
    engine: &dyn Engine,
    queue: &Queue,
    folder: &str,
    uploads: &[(PathBuf, FolderPath, u64)],
    batch: &str,
) -> Result<Sent> {
    let mut sent = Sent::default();
    let (small, large): (Vec<_>, Vec<_>) = uploads.iter().partition(|(_, _, size)| *size <= SMALL);
    let mut queued: Vec<&(PathBuf, FolderPath, u64)> = large;
    let put: Vec<(PathBuf, FolderPath)> = small
        .iter()
        .map(|(l, r, _)| (l.clone(), r.clone()))
        .collect();
    match engine.put_files(folder, put).await {
        Some(results) => {
            for ((local, remote, size), result) in small.iter().zip(results) {
                match result {
                    Ok(()) => {
                        sent.files += 1;
                        sent.bytes += size;
                    }
                    Err(_) if !local.exists() => {}
                    Err(error) => sent
                        .failed
                        .push((remote.as_str().to_string(), error.message)),
                }
            }
        }
        None => queued.extend(small),
    }
    if queued.is_empty() {
        return Ok(sent);
    }
    let specs: Vec<TransferSpec> = queued
        .iter()
        .map(|(local, remote, size)| TransferSpec {
            batch: batch.to_string(),
            direction: Direction::Upload,
            folder: folder.to_string(),
            remote_path: remote.as_str().to_string(),
            local_path: local.clone(),
            size: *size,
            conflict: ConflictPolicy::Replace,
        })
        .collect();
    let ids = queue.enqueue(specs)?;
    let mut events = queue.subscribe();
    loop {
        let jobs: Vec<_> = ids.iter().filter_map(|id| queue.job(*id)).collect();
        if jobs.iter().all(|j| j.state.is_finished()) {
            for job in jobs {
                if job.state == JobState::Failed {
                    // The next pass sends the file again whole: its partial copy must not
                    // hold the folder's space meanwhile (a full disk is a reason to fail).
                    let _ = queue.cancel(job.id).await;
                }
                match job.state {
                    JobState::Done => {
                        sent.files += 1;
                        sent.bytes += job.spec.size;
                    }
                    JobState::Failed if job.spec.local_path.exists() => sent
                        .failed
                        .push((job.spec.remote_path, job.error.unwrap_or_default())),
                    _ => {}
                }
            }
            return Ok(sent);
        }
        let _ = tokio::time::timeout(std::time::Duration::from_millis(200), events.recv()).await;
    }
}
