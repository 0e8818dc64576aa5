//! One file up to the storage proxy: choose the destination by the conflict policy, get an
//! upload grant (or take the one in the checkpoint), then PATCH chunks from the server's
//! offset until it holds the whole file. The server's offset is the only truth: after a cut,
//! a 409, a pause or a restart, HEAD says where to continue.

use std::fs::File;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use berth_core::{Error, FolderPath, Result};
use berth_transfer::queue::{Outcome, ProgressFn};
use berth_transfer::{Checkpoint, ConflictPolicy, Job, StopSignal, TransferError};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use url::Url;

use super::chunk::ChunkSizer;
use super::{
    ATTEMPTS, StorageProxyTransport, back_off, cut, host_read_error, modified_ms, refused, stopped,
    token_refused,
};
use berth_transfer::names::{exists_error, numbered};
use berth_transfer::positional::read_full_at;

/// What the journal keeps of an upload between attempts and across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct UploadState {
    /// Where in the folder the file goes (with keep-both, not the name asked for).
    path: String,
    token: String,
    /// The storage proxy's URL as the manager gave it; overrides apply when it is used.
    url: String,
    /// The size declared to the server.
    size: u64,
    /// The source's modification time when the upload began: a changed file starts over.
    modified_ms: Option<i64>,
    /// Bytes the server acknowledged last.
    offset: u64,
}

/// Read from the file and handed to the HTTP client at a time.
const PIECE: usize = 2 << 20;
/// New grants one attempt may ask for when the server forgot the upload session.
const REGRANTS: u32 = 3;
/// Slowest speed a PATCH may go at before it counts as stalled (the chunk sizer keeps
/// chunks to a few seconds each, so this only fires on a link that stopped).
const SLOWEST: u64 = 256 << 10;

/// What the storage proxy said to a HEAD or PATCH.
enum Answer {
    /// It holds this many bytes of the upload.
    Offset(u64),
    /// The session is gone: completed, expired or cleaned up (404, or a refused token).
    Gone,
    /// 409: the offset did not match, or another request still holds the session's lease.
    Conflict,
    /// 413: the chunk was too large for something between here and the storage proxy.
    TooLarge,
    /// The connection broke, stalled, or the server failed (5xx): try again.
    Transient(Error),
    /// The queue asked the job to stop.
    Stopped,
}

pub(super) async fn run(
    transport: &StorageProxyTransport,
    job: &Job,
    stop: &StopSignal,
    progress: &ProgressFn,
    checkpoint: &Checkpoint,
) -> Result<Outcome, TransferError> {
    let source = &job.spec.local_path;
    let file = File::open(source).map_err(|e| host_read_error(source, e))?;
    let metadata = file.metadata().map_err(|e| host_read_error(source, e))?;
    if !metadata.is_file() {
        return Err(Error::invalid_input(format!(
            "{} is not a file; only files can be uploaded one by one.",
            source.display()
        ))
        .into());
    }
    let (size, modified) = (metadata.len(), modified_ms(&metadata));
    let file = Arc::new(file);
    let folder = job.spec.folder.as_str();

    let saved = checkpoint
        .load()
        .and_then(|text| serde_json::from_str::<UploadState>(&text).ok())
        .filter(|saved| saved.size == size && saved.modified_ms == modified);
    // The server's offset is known without asking only for a session made just now.
    let (mut state, mut known) = match saved {
        Some(saved) => (saved, None),
        None => {
            let Some(path) = destination(transport, job).await? else {
                return Ok(Outcome::Skipped);
            };
            let state = request(transport, folder, &path, size, modified).await?;
            save(checkpoint, &state);
            (state, Some(0))
        }
    };
    // Everything was acknowledged before a restart: if the session is gone, that is why.
    let mut maybe_complete = state.offset >= size;
    let mut sizer = ChunkSizer::new(transport.chunk_ceiling());
    let (mut failures, mut regrants) = (0u32, 0u32);
    loop {
        if stop.is_set() {
            return Err(TransferError::Stopped);
        }
        let url = transport.address(&state.url, &state.token)?;
        let at = match known {
            Some(at) => at,
            None => match head(transport, &url).await? {
                Answer::Offset(at) => at,
                Answer::Gone => {
                    if maybe_complete && arrived(transport, folder, &state).await {
                        return Ok(done(transport, folder, &state));
                    }
                    regrants += 1;
                    if regrants > REGRANTS {
                        return Err(Error::internal(format!(
                            "The storage proxy keeps forgetting the upload of \"{}\"; retry later.",
                            state.path
                        ))
                        .into());
                    }
                    tracing::info!(path = %state.path, "upload session gone; asking for a new one");
                    state = request(transport, folder, &state.path, size, modified).await?;
                    save(checkpoint, &state);
                    (known, maybe_complete) = (Some(0), false);
                    continue;
                }
                Answer::Transient(error) => {
                    failures += 1;
                    if failures > ATTEMPTS {
                        return Err(error.into());
                    }
                    if !back_off(failures, stop).await {
                        return Err(TransferError::Stopped);
                    }
                    continue;
                }
                Answer::Stopped => return Err(TransferError::Stopped),
                Answer::Conflict | Answer::TooLarge => {
                    return Err(Error::internal(
                        "The storage proxy gave an answer to HEAD that Berth does not understand.",
                    )
                    .into());
                }
            },
        };
        if at > size {
            // Only a server that appends without checking could get here; what it holds is
            // not this file, so the next attempt starts a new upload.
            let _ = checkpoint.clear();
            return Err(Error::internal(format!(
                "The storage proxy holds {at} bytes of \"{}\", more than the file's {size}; retry to upload it again.",
                state.path
            ))
            .into());
        }
        progress(at);
        if state.offset != at {
            state.offset = at;
            save(checkpoint, &state);
        }
        unchanged(source, &file, size, modified, checkpoint)?;

        // Never more than the declared size: the proxy would take it.
        let len = sizer.size().min(size - at);
        let started = Instant::now();
        let answer = patch(transport, &url, &file, at, len, stop, progress).await?;
        match answer {
            Answer::Offset(offset) => {
                if offset == at + len {
                    sizer.record(len, started.elapsed());
                }
                failures = 0;
                state.offset = offset;
                save(checkpoint, &state);
                if offset >= size {
                    progress(size);
                    return Ok(done(transport, folder, &state));
                }
                // An offset other than the one expected is checked with a HEAD.
                known = (offset == at + len).then_some(offset);
            }
            Answer::Gone => {
                // A 26.x proxy drops the session once it holds everything, so a PATCH that
                // carried the rest and found the session gone may have completed it.
                maybe_complete |= at + len >= size;
                known = None;
                // The next HEAD confirms the session is gone and asks for a new grant.
            }
            Answer::Conflict => {
                // Another request (one that was cut, still draining on the server) holds the
                // session, or the offset moved: ask where it is, after a pause if it repeats.
                failures += 1;
                if failures > ATTEMPTS {
                    return Err(Error::internal(format!(
                        "The storage proxy keeps refusing the upload of \"{}\" at offset {at} (409); retry later.",
                        state.path
                    ))
                    .into());
                }
                if failures > 1 && !back_off(failures, stop).await {
                    return Err(TransferError::Stopped);
                }
                known = None;
            }
            Answer::TooLarge => {
                if !sizer.record_too_large() {
                    return Err(Error::invalid_input(format!(
                        "The server refuses even 1 MiB pieces of \"{}\" as too large (HTTP 413); ask its administrator to allow larger request bodies.",
                        state.path
                    ))
                    .into());
                }
                tracing::info!(
                    chunk = sizer.size(),
                    "chunk too large for the site; smaller"
                );
                transport.lower_chunk_ceiling(sizer.ceiling());
                known = None;
            }
            Answer::Transient(error) => {
                tracing::info!(%error, path = %state.path, at, "upload chunk cut; resuming from the server's offset");
                maybe_complete |= at + len >= size;
                failures += 1;
                if failures > ATTEMPTS {
                    return Err(error.into());
                }
                sizer.record_cut();
                if !back_off(failures, stop).await {
                    return Err(TransferError::Stopped);
                }
                known = None;
            }
            Answer::Stopped => return Err(TransferError::Stopped),
        }
    }
}

/// Where the file goes by the job's conflict policy; `None` to skip it.
async fn destination(transport: &StorageProxyTransport, job: &Job) -> Result<Option<String>> {
    let asked = FolderPath::parse(&job.spec.remote_path)?;
    let name = asked
        .file_name()
        .ok_or_else(|| Error::invalid_input("An upload needs a file name to write to."))?
        .to_string();
    if job.spec.conflict == ConflictPolicy::Replace {
        // The storage proxy replaces an existing file when the upload completes.
        return Ok(Some(asked.as_str().to_string()));
    }
    let parent = asked.parent().unwrap_or_else(FolderPath::root);
    let names = transport.names_in(&job.spec.folder, &parent).await?;
    if !names.contains(&name) {
        return Ok(Some(asked.as_str().to_string()));
    }
    match job.spec.conflict {
        ConflictPolicy::Skip => Ok(None),
        ConflictPolicy::KeepBoth => {
            for n in 1..10_000 {
                let candidate = numbered(&name, n);
                if !names.contains(&candidate) {
                    return Ok(Some(parent.join(&candidate)?.as_str().to_string()));
                }
            }
            Err(exists_error(asked.as_str()))
        }
        ConflictPolicy::Fail | ConflictPolicy::Replace => Err(exists_error(asked.as_str())),
    }
}

/// A new upload session for `path` of `size` bytes.
async fn request(
    transport: &StorageProxyTransport,
    folder: &str,
    path: &str,
    size: u64,
    modified_ms: Option<i64>,
) -> Result<UploadState> {
    let grant = transport
        .grant(
            folder,
            "request-upload",
            json!({ "path": path, "size": size }),
        )
        .await?;
    Ok(UploadState {
        path: path.to_string(),
        token: grant.token,
        url: grant.url,
        size,
        modified_ms,
        offset: 0,
    })
}

fn save(checkpoint: &Checkpoint, state: &UploadState) {
    let saved = serde_json::to_string(state)
        .map_err(|e| Error::internal(e.to_string()))
        .and_then(|text| checkpoint.save(&text));
    // The upload goes on; only a resume after a crash would have to start over.
    if let Err(error) = saved {
        tracing::warn!(%error, "cannot record an upload's offset");
    }
}

fn done(transport: &StorageProxyTransport, folder: &str, state: &UploadState) -> Outcome {
    if let Ok(path) = FolderPath::parse(&state.path) {
        transport.remember(folder, &path);
    }
    Outcome::Done {
        final_path: state.path.clone(),
        size: state.size,
    }
}

/// Whether the folder holds the file at its destination with the declared size: how a session
/// that vanished after the last chunk is told from one that expired.
async fn arrived(transport: &StorageProxyTransport, folder: &str, state: &UploadState) -> bool {
    let Ok(path) = FolderPath::parse(&state.path) else {
        return false;
    };
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    crate::folders::list_files(transport.engine.connection(), folder, &parent)
        .await
        .is_ok_and(|entries| {
            entries
                .iter()
                .any(|e| e.name == name && e.size == state.size)
        })
}

/// Fails the job when the source changed since the upload began: the server would end up with
/// a file that is neither version. The next attempt starts over with the new version.
fn unchanged(
    source: &std::path::Path,
    file: &File,
    size: u64,
    modified: Option<i64>,
    checkpoint: &Checkpoint,
) -> Result<()> {
    let metadata = file.metadata().map_err(|e| host_read_error(source, e))?;
    if metadata.len() == size && modified_ms(&metadata) == modified {
        return Ok(());
    }
    let _ = checkpoint.clear();
    Err(Error::invalid_input(format!(
        "{} changed while it was being uploaded; retry to upload the new version.",
        source.display()
    )))
}

async fn head(transport: &StorageProxyTransport, url: &Url) -> Result<Answer> {
    let sent = transport
        .http()
        .head(url.clone())
        .header("Tus-Resumable", "1.0.0")
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => return Ok(Answer::Transient(cut(url, &e))),
    };
    let status = response.status();
    match status {
        StatusCode::OK | StatusCode::NO_CONTENT => {
            Ok(offset_of(&response).map(Answer::Offset).unwrap_or_else(|| {
                Answer::Transient(Error::internal(
                    "The storage proxy answered HEAD without an Upload-Offset.",
                ))
            }))
        }
        // A HEAD answer has no body to read a reason from: a refused token is a 400 or 401.
        StatusCode::NOT_FOUND
        | StatusCode::GONE
        | StatusCode::BAD_REQUEST
        | StatusCode::UNAUTHORIZED
        | StatusCode::FORBIDDEN => Ok(Answer::Gone),
        s if s.is_server_error() => Ok(Answer::Transient(refused(url, s, ""))),
        s => Err(refused(url, s, "")),
    }
}

/// Sends `len` bytes of `file` from `at`, read as the request goes, never the whole chunk in
/// memory. Progress is reported as the bytes leave.
async fn patch(
    transport: &StorageProxyTransport,
    url: &Url,
    file: &Arc<File>,
    at: u64,
    len: u64,
    stop: &StopSignal,
    progress: &ProgressFn,
) -> Result<Answer> {
    let (pieces, received) = mpsc::channel(8);
    {
        let (file, stop) = (file.clone(), stop.clone());
        tokio::task::spawn_blocking(move || read_range(&file, at, len, &stop, &pieces));
    }
    let body = reqwest::Body::wrap_stream(Pieces {
        received,
        at,
        sent: 0,
        progress: progress.clone(),
    });
    let sent = transport
        .http()
        .patch(url.clone())
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", at.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .header("Content-Length", len.to_string())
        .timeout(Duration::from_secs(60) + Duration::from_secs(len / SLOWEST))
        .body(body)
        .send();
    let sent = tokio::select! {
        sent = sent => sent,
        () = stopped(stop) => return Ok(Answer::Stopped),
    };
    let response = match sent {
        Ok(response) => response,
        Err(_) if stop.is_set() => return Ok(Answer::Stopped),
        Err(e) => return Ok(Answer::Transient(cut(url, &e))),
    };
    let status = response.status();
    if status.is_success() {
        return Ok(offset_of(&response)
            .map(Answer::Offset)
            .unwrap_or(Answer::Transient(Error::internal(
                "The storage proxy acknowledged a chunk without saying its offset.",
            ))));
    }
    let body = response.text().await.unwrap_or_default();
    Ok(match status {
        StatusCode::CONFLICT => Answer::Conflict,
        StatusCode::PAYLOAD_TOO_LARGE => Answer::TooLarge,
        StatusCode::NOT_FOUND | StatusCode::GONE => Answer::Gone,
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            if token_refused(&body) =>
        {
            Answer::Gone
        }
        s if s.is_server_error() => Answer::Transient(refused(url, s, &body)),
        s => return Err(refused(url, s, &body)),
    })
}

fn offset_of(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get("Upload-Offset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads `len` bytes from `at` in pieces into `pieces`, until done, stopped, or the request
/// went away (its receiver is dropped).
fn read_range(
    file: &File,
    at: u64,
    len: u64,
    stop: &StopSignal,
    pieces: &mpsc::Sender<io::Result<Vec<u8>>>,
) {
    let mut done = 0u64;
    while done < len {
        if stop.is_set() {
            let _ = pieces.blocking_send(Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "stopped by the queue",
            )));
            return;
        }
        let want = usize::try_from(len - done).unwrap_or(PIECE).min(PIECE);
        let mut piece = vec![0u8; want];
        let read = read_full_at(file, &mut piece, at + done);
        let item = match read {
            Ok(n) if n == want => Ok(piece),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file got shorter while it was being uploaded",
            )),
            Err(e) => Err(e),
        };
        let failed = item.is_err();
        if pieces.blocking_send(item).is_err() || failed {
            return;
        }
        done += want as u64;
    }
}

/// A PATCH body: the pieces the reading thread sends, counted as they go out.
struct Pieces {
    received: mpsc::Receiver<io::Result<Vec<u8>>>,
    at: u64,
    sent: u64,
    progress: ProgressFn,
}

impl futures_core::Stream for Pieces {
    type Item = io::Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.received.poll_recv(cx);
        if let Poll::Ready(Some(Ok(piece))) = &polled {
            self.sent += piece.len() as u64;
            (self.progress)(self.at + self.sent);
        }
        polled
    }
}
