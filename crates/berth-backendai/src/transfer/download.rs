//! One file down from the storage proxy into a hidden partial file beside its destination. A
//! resumed attempt asks for the rest with `Range: bytes=N-` and `If-Range`, so a file changed
//! on the server since comes back whole (200) and the partial file starts over; the final name
//! is taken only once the partial file has the server's full size.

use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use berth_core::{Error, ErrorCode, FolderPath, Result};
use berth_transfer::queue::{Outcome, ProgressFn};
use berth_transfer::{Checkpoint, ConflictPolicy, Job, StopSignal, TransferError};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, ETAG, LAST_MODIFIED};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use url::Url;

use super::segments::{self, SEGMENTED_FROM, Segments};
use super::{
    ATTEMPTS, STALL, StorageProxyTransport, back_off, cut, host_error, refused, stopped,
    token_refused,
};
use berth_transfer::names::{exists_error, free_host_name, partial_on_host};

/// What the journal keeps of a download: which version of the file the partial file holds
/// (and for a download in segments, which parts of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct DownloadState {
    /// The file's full size on the server.
    pub(super) size: Option<u64>,
    pub(super) last_modified: Option<String>,
    pub(super) etag: Option<String>,
    #[serde(default)]
    pub(super) segments: Option<Segments>,
}

/// Bytes gathered from the connection before one write to disk.
pub(super) const WRITE_BUFFER: usize = 2 << 20;
/// How often a download checks for a stop request and a stalled connection.
pub(super) const CHECK_EVERY: Duration = Duration::from_millis(100);

pub(super) enum Attempt {
    /// The partial file holds the whole file.
    Complete,
    /// Try again: the connection broke, or the partial file had to start over.
    Again(Option<Error>),
    Stopped,
}

pub(super) async fn run(
    transport: &StorageProxyTransport,
    job: &Job,
    stop: &StopSignal,
    progress: &ProgressFn,
    checkpoint: &Checkpoint,
) -> Result<Outcome, TransferError> {
    let dest = job.spec.local_path.clone();
    let remote = FolderPath::parse(&job.spec.remote_path)?;
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| host_error(parent, e))?;
    }
    let exists = |p: &Path| p.symlink_metadata().is_ok();
    if exists(&dest) {
        // Decided before a byte moves where the answer is already known.
        match job.spec.conflict {
            ConflictPolicy::Skip => return Ok(Outcome::Skipped),
            ConflictPolicy::Fail => return Err(exists_error(&dest.display().to_string()).into()),
            ConflictPolicy::Replace | ConflictPolicy::KeepBoth => {}
        }
    }
    let partial = partial_on_host(&dest, job.id);
    let mut url = grant(transport, &job.spec.folder, &remote).await?;
    let mut saved = checkpoint
        .load()
        .and_then(|text| serde_json::from_str::<DownloadState>(&text).ok());
    // Chosen by the size the listing gave, so every attempt of the job agrees.
    let segmented = job.spec.size >= SEGMENTED_FROM;
    let (mut failures, mut regranted) = (0u32, false);
    loop {
        if stop.is_set() {
            return Err(TransferError::Stopped);
        }
        let before = held(&partial, &saved);
        let attempt = if segmented {
            segments::pass(
                transport,
                &url,
                &partial,
                (&mut saved, checkpoint),
                stop,
                progress,
            )
            .await?
        } else {
            attempt(
                transport,
                &url,
                &partial,
                (&mut saved, checkpoint),
                stop,
                progress,
            )
            .await?
        };
        if held(&partial, &saved) > before {
            // A cut after progress is a fresh start for the retry count.
            failures = 0;
        }
        match attempt {
            Attempt::Complete => break,
            Attempt::Stopped => return Err(TransferError::Stopped),
            Attempt::Again(None) => {
                // The server's version changed: the restart is progress of a kind, but bounded.
                failures += 1;
                if failures > ATTEMPTS {
                    return Err(Error::internal(format!(
                        "\"{}\" keeps changing on the server while it downloads; retry later.",
                        remote.as_str()
                    ))
                    .into());
                }
            }
            Attempt::Again(Some(error)) => {
                if error.code == ErrorCode::AuthFailed && !regranted {
                    // The download token expired (they live a day): one new grant.
                    regranted = true;
                    url = grant(transport, &job.spec.folder, &remote).await?;
                    continue;
                }
                tracing::info!(%error, path = remote.as_str(), "download cut; resuming from the partial file");
                failures += 1;
                if failures > ATTEMPTS {
                    return Err(error.into());
                }
                if !back_off(failures, stop).await {
                    return Err(TransferError::Stopped);
                }
            }
        }
    }
    let size = file_len(&partial);
    let final_path = match (exists(&dest), job.spec.conflict) {
        (false, _) | (true, ConflictPolicy::Replace) => dest,
        (true, ConflictPolicy::Skip) => {
            let _ = std::fs::remove_file(&partial);
            let _ = checkpoint.clear();
            return Ok(Outcome::Skipped);
        }
        (true, ConflictPolicy::KeepBoth) => free_host_name(&dest),
        (true, ConflictPolicy::Fail) => {
            let _ = std::fs::remove_file(&partial);
            let _ = checkpoint.clear();
            return Err(exists_error(&dest.display().to_string()).into());
        }
    };
    std::fs::rename(&partial, &final_path).map_err(|e| host_error(&final_path, e))?;
    progress(size);
    Ok(Outcome::Done {
        final_path: final_path.display().to_string(),
        size,
    })
}

/// A download grant for `remote`, as the address to GET.
pub(super) async fn grant(
    transport: &StorageProxyTransport,
    folder: &str,
    remote: &FolderPath,
) -> Result<Url> {
    let grant = transport
        .grant(
            folder,
            "request-download",
            json!({ "path": remote.as_str() }),
        )
        .await?;
    transport.address(&grant.url, &grant.token)
}

/// One GET: from the partial file's end when it holds a known version, else from the start.
async fn attempt(
    transport: &StorageProxyTransport,
    url: &Url,
    partial: &Path,
    (saved, checkpoint): (&mut Option<DownloadState>, &Checkpoint),
    stop: &StopSignal,
    progress: &ProgressFn,
) -> Result<Attempt, TransferError> {
    let have = file_len(partial);
    // Without a validator a partial file cannot be trusted to be the same version.
    let validator = saved
        .as_ref()
        .and_then(|s| s.last_modified.clone().or_else(|| s.etag.clone()));
    let from = if validator.is_some() { have } else { 0 };
    let mut request = transport.http().get(url.clone());
    if let (Some(validator), true) = (&validator, from > 0) {
        request = request
            .header("Range", format!("bytes={from}-"))
            .header("If-Range", validator);
    }
    progress(from);
    let sent = tokio::select! {
        sent = tokio::time::timeout(STALL, request.send()) => sent,
        () = stopped(stop) => return Ok(Attempt::Stopped),
    };
    let response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Ok(Attempt::Again(Some(cut(url, &e)))),
        Err(_) => return Ok(Attempt::Again(Some(stalled(url)))),
    };
    let status = response.status();
    let headers = response.headers().clone();
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (start, size) = match status {
        StatusCode::PARTIAL_CONTENT => {
            let Some((start, size)) = header(CONTENT_RANGE).as_deref().and_then(content_range)
            else {
                return Err(Error::internal(
                    "The storage proxy sent part of a file without saying which part.",
                )
                .into());
            };
            let known = saved.as_ref();
            let same_version = known.and_then(|s| s.size).is_none_or(|s| Some(s) == size)
                && known
                    .and_then(|s| s.etag.as_deref())
                    .zip(header(ETAG).as_deref())
                    .is_none_or(|(a, b)| a == b);
            if start != from || !same_version {
                // Not the rest of the version the partial file holds: start over.
                truncate(partial)?;
                *saved = None;
                return Ok(Attempt::Again(None));
            }
            (start, size)
        }
        StatusCode::OK => {
            let size = header(CONTENT_LENGTH).and_then(|v| v.parse().ok());
            let state = DownloadState {
                size,
                last_modified: header(LAST_MODIFIED),
                etag: header(ETAG),
                segments: None,
            };
            save(checkpoint, &state);
            *saved = Some(state);
            (0, size)
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            let size = header(CONTENT_RANGE).as_deref().and_then(unsatisfied_size);
            if size == Some(have) && saved.as_ref().and_then(|s| s.size) == size {
                // The partial file already held everything (a stop right at the end).
                return Ok(Attempt::Complete);
            }
            truncate(partial)?;
            *saved = None;
            return Ok(Attempt::Again(None));
        }
        StatusCode::NOT_FOUND => {
            return Err(Error::new(
                ErrorCode::NotFound,
                "The file is no longer in the folder on the server.",
            )
            .into());
        }
        s => {
            let body = response.text().await.unwrap_or_default();
            let error = refused(url, s, &body);
            if s.is_server_error() {
                return Ok(Attempt::Again(Some(error)));
            }
            if token_refused(&body) {
                return Ok(Attempt::Again(Some(Error::new(
                    ErrorCode::AuthFailed,
                    error.message,
                ))));
            }
            return Err(error.into());
        }
    };
    let streamed = stream_into(partial, start, response, stop, progress).await;
    let len = file_len(partial);
    match streamed {
        Streamed::Stopped => Ok(Attempt::Stopped),
        Streamed::Failed(error) => Err(error.into()),
        Streamed::Cut(error) => Ok(Attempt::Again(Some(error))),
        Streamed::Ended => match size {
            Some(size) if len == size => Ok(Attempt::Complete),
            None => Ok(Attempt::Complete),
            Some(size) if len < size => Ok(Attempt::Again(Some(Error::new(
                ErrorCode::Unreachable,
                format!("The storage proxy ended the download after {len} of {size} bytes."),
            )))),
            Some(_) => {
                truncate(partial)?;
                *saved = None;
                Ok(Attempt::Again(None))
            }
        },
    }
}

enum Streamed {
    Ended,
    Stopped,
    /// The connection broke or stalled; what arrived is in the partial file.
    Cut(Error),
    /// Writing the partial file failed.
    Failed(Error),
}

/// Writes the response body into `partial` from `start`, on a writing thread so the
/// connection is read while the disk writes. Whatever arrived before a cut or a stop is
/// written before this returns, so the next attempt continues after it.
async fn stream_into(
    partial: &Path,
    start: u64,
    mut response: reqwest::Response,
    stop: &StopSignal,
    progress: &ProgressFn,
) -> Streamed {
    let url = response.url().clone();
    let file = match open_partial(partial, start) {
        Ok(file) => file,
        Err(e) => return Streamed::Failed(host_error(partial, e)),
    };
    let (buffers, mut received) = mpsc::channel::<Vec<u8>>(4);
    let writer = tokio::task::spawn_blocking(move || -> io::Result<()> {
        let mut file = file;
        while let Some(buffer) = received.blocking_recv() {
            file.write_all(&buffer)?;
        }
        file.flush()
    });
    let mut pending = Vec::with_capacity(WRITE_BUFFER);
    let mut done = start;
    // One ticker for the stop and stall checks: a timer per received piece (tens of
    // thousands per GiB) would cost more than the copying.
    let mut ticker = tokio::time::interval(CHECK_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut heard = Instant::now();
    let outcome = loop {
        let chunk = tokio::select! {
            biased;
            // Cancel-safe: a piece is only taken from the connection when it is returned.
            chunk = response.chunk() => chunk,
            _ = ticker.tick() => {
                if stop.is_set() {
                    break Streamed::Stopped;
                }
                if heard.elapsed() >= STALL {
                    break Streamed::Cut(stalled(&url));
                }
                continue;
            }
        };
        match chunk {
            Ok(Some(bytes)) => {
                heard = Instant::now();
                pending.extend_from_slice(&bytes);
                done += bytes.len() as u64;
                if pending.len() >= WRITE_BUFFER {
                    let full = std::mem::replace(&mut pending, Vec::with_capacity(WRITE_BUFFER));
                    if buffers.send(full).await.is_err() {
                        break Streamed::Ended; // the writer failed; its error is below
                    }
                    progress(done);
                }
            }
            Ok(None) => break Streamed::Ended,
            Err(e) => break Streamed::Cut(cut(&url, &e)),
        }
    };
    if !pending.is_empty() {
        let _ = buffers.send(pending).await;
    }
    drop(buffers);
    let written = writer
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
    if let Err(e) = written {
        return Streamed::Failed(host_error(partial, e));
    }
    progress(done);
    outcome
}

/// Records which version (and which parts) the partial file holds, for a resume after a
/// restart. Without it the next attempt starts over, so a failed save is only a warning.
pub(super) fn save(checkpoint: &Checkpoint, state: &DownloadState) {
    if let Err(error) = serde_json::to_string(state)
        .map_err(|e| Error::internal(e.to_string()))
        .and_then(|text| checkpoint.save(&text))
    {
        tracing::warn!(%error, "cannot record which version a download holds");
    }
}

/// How a partial file is opened: for writing, created if missing, never truncated here, and
/// never through a link planted at the partial name.
pub(super) fn open_flags() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options
}

/// The partial file, opened for writing at `start` with anything after it dropped (everything
/// when starting over).
fn open_partial(path: &Path, start: u64) -> io::Result<std::fs::File> {
    let mut file = open_flags().open(path)?;
    file.set_len(start)?;
    file.seek(SeekFrom::Start(start))?;
    Ok(file)
}

fn truncate(partial: &Path) -> Result<(), TransferError> {
    match std::fs::OpenOptions::new().write(true).open(partial) {
        Ok(file) => file.set_len(0).map_err(|e| host_error(partial, e).into()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(host_error(partial, e).into()),
    }
}

/// How much of the file the partial file holds: its length, or for a download in segments
/// the bytes of its segments written.
fn held(partial: &Path, saved: &Option<DownloadState>) -> u64 {
    match saved {
        Some(DownloadState {
            segments: Some(segments),
            size: Some(size),
            ..
        }) => segments.held(*size),
        _ => file_len(partial),
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::symlink_metadata(path)
        .map(|m| m.len())
        .unwrap_or(0)
}

/// `bytes START-END/TOTAL` → (START, TOTAL); TOTAL may be `*` (unknown).
pub(super) fn content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start.trim().parse().ok()?, total))
}

/// The file's size in a 416's `bytes */TOTAL`.
pub(super) fn unsatisfied_size(value: &str) -> Option<u64> {
    value.strip_prefix("bytes */")?.trim().parse().ok()
}

pub(super) fn stalled(url: &Url) -> Error {
    let mut origin = url.clone();
    origin.set_query(None);
    Error::new(
        ErrorCode::Unreachable,
        format!(
            "The storage proxy at {origin} sent nothing for {} s.",
            STALL.as_secs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_are_read() {
        assert_eq!(
            content_range("bytes 1000-1999/3145851"),
            Some((1000, Some(3_145_851)))
        );
        assert_eq!(content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(content_range("bytes */10"), None);
        assert_eq!(content_range("items 1-2/3"), None);
    }
}
