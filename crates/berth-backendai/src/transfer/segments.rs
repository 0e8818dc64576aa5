//! A large download as several ranged GETs at once: the file is cut into fixed segments that a
//! few connections fetch in turn and write in place (`pwrite`) into a partial file of the
//! final size. One TCP stream is often what limits a download (a long round trip, one busy
//! server thread); several keep the link full, and a cut costs only its own segment's retry.
//!
//! Every request carries `If-Range` with the version the partial file holds, and each answer's
//! size and ETag are checked; any sign of another version makes the whole file start over.
//! The journal keeps which segments are complete and how far the others got, so a pause or a
//! restart continues where the writes ended.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use berth_core::{Error, ErrorCode};
use berth_transfer::positional::write_all_at;
use berth_transfer::queue::ProgressFn;
use berth_transfer::{Checkpoint, StopSignal, TransferError};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, ETAG, LAST_MODIFIED};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use url::Url;

use super::download::{
    Attempt, CHECK_EVERY, DownloadState, WRITE_BUFFER, content_range, open_flags, save, stalled,
};
use super::{STALL, StorageProxyTransport, cut, host_error, refused, stopped, token_refused};

/// Files at least this large go in segments; smaller ones in one GET.
pub(super) const SEGMENTED_FROM: u64 = 64 << 20;
/// Bytes per segment: what a restart may have to fetch again per connection.
const SEGMENT: u64 = 32 << 20;
/// Connections at once for one file.
const STREAMS: usize = 4;

/// Which segments the partial file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Segments {
    length: u64,
    /// Segments written whole.
    done: BTreeSet<u64>,
    /// Bytes written from the start of segments begun but not finished.
    partial: BTreeMap<u64, u64>,
}

impl Segments {
    fn new() -> Self {
        Self {
            length: SEGMENT,
            ..Self::default()
        }
    }

    /// Bytes of the file the partial file holds.
    pub(super) fn held(&self, size: u64) -> u64 {
        let whole: u64 = self
            .done
            .iter()
            .map(|&i| self.range(i, size).1 - self.range(i, size).0)
            .sum();
        whole + self.partial.values().sum::<u64>()
    }

    /// Segment `index` as `[start, end)`.
    fn range(&self, index: u64, size: u64) -> (u64, u64) {
        let start = index * self.length;
        (start, (start + self.length).min(size))
    }

    fn count(&self, size: u64) -> u64 {
        size.div_ceil(self.length)
    }
}

/// What a worker hands the writing thread.
enum Write {
    Data {
        segment: u64,
        offset: u64,
        bytes: Vec<u8>,
    },
    Finished {
        segment: u64,
    },
}

/// What the workers of one pass found, beyond bytes.
#[derive(Default)]
struct Findings {
    /// The server holds another version (or ignores ranges): start over.
    changed: AtomicBool,
    /// The first error that ended a worker (a cut, a refusal).
    error: Mutex<Option<Error>>,
    /// A refusal that retrying cannot fix.
    fatal: AtomicBool,
}

impl Findings {
    fn fail(&self, error: Error, fatal: bool) {
        let mut first = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        if first.is_none() || fatal {
            *first = Some(error);
        }
        if fatal {
            self.fatal.store(true, Ordering::SeqCst);
        }
    }

    fn ended(&self) -> bool {
        self.changed.load(Ordering::SeqCst) || self.fatal.load(Ordering::SeqCst)
    }
}

/// One pass over the segments not yet written: `Complete` when all are, `Again(None)` when the
/// file must start over, `Again(Some(_))` after a cut (the next pass continues).
pub(super) async fn pass(
    transport: &StorageProxyTransport,
    url: &Url,
    partial: &Path,
    (saved, checkpoint): (&mut Option<DownloadState>, &Checkpoint),
    stop: &StopSignal,
    progress: &ProgressFn,
) -> Result<Attempt, TransferError> {
    let usable = saved.as_ref().is_some_and(|s| {
        s.segments.is_some()
            && s.size.is_some()
            && s.last_modified.is_some()
            && std::fs::symlink_metadata(partial).is_ok_and(|m| Some(m.len()) == s.size)
    });
    if !usable {
        match probe(transport, url, stop).await? {
            Probe::State(state) => {
                save(checkpoint, &state);
                *saved = Some(state);
            }
            Probe::Other(attempt) => return Ok(attempt),
        }
    }
    let Some(state) = saved.clone() else {
        return Ok(Attempt::Again(None));
    };
    let (Some(size), Some(segments)) = (state.size, state.segments.clone()) else {
        return Ok(Attempt::Again(None));
    };
    let file = open_sized(partial, size, usable).map_err(|e| host_error(partial, e))?;
    let segments = if usable { segments } else { Segments::new() };

    let waiting: VecDeque<u64> = (0..segments.count(size))
        .filter(|i| !segments.done.contains(i))
        .collect();
    if waiting.is_empty() {
        return Ok(Attempt::Complete);
    }
    let got = AtomicU64::new(segments.held(size));
    progress(got.load(Ordering::SeqCst));
    let (writes, received) = mpsc::channel::<Write>(STREAMS * 2);
    let writer = {
        let (checkpoint, mut state, mut segments) =
            (checkpoint.clone(), state.clone(), segments.clone());
        tokio::task::spawn_blocking(move || {
            let written = write_segments(&file, received, &mut segments, |segments| {
                state.segments = Some(segments.clone());
                save(&checkpoint, &state);
            });
            (written, segments)
        })
    };
    let work = Work {
        transport,
        url,
        size,
        validator: state.last_modified.clone().unwrap_or_default(),
        etag: state.etag.clone(),
        segments: &segments,
        waiting: Mutex::new(waiting),
        writes,
        got: &got,
        findings: Findings::default(),
        stop,
        progress,
    };
    // STREAMS connections.
    tokio::join!(work.run(), work.run(), work.run(), work.run());
    let Work {
        writes, findings, ..
    } = work;
    drop(writes);
    let (written, segments) = writer
        .await
        .map_err(|e| Error::internal(format!("Writing the download stopped: {e}")))?;
    written.map_err(|e| host_error(partial, e))?;
    if let Some(state) = saved.as_mut() {
        state.segments = Some(segments.clone());
    }
    progress(segments.held(size));

    if findings.changed.load(Ordering::SeqCst) {
        *saved = None;
        let _ = checkpoint.clear();
        return Ok(Attempt::Again(None));
    }
    let error = findings
        .error
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    if findings.fatal.load(Ordering::SeqCst) {
        return Err(error
            .unwrap_or_else(|| Error::internal("The download failed."))
            .into());
    }
    if segments.done.len() as u64 == segments.count(size) {
        return Ok(Attempt::Complete);
    }
    if stop.is_set() {
        return Ok(Attempt::Stopped);
    }
    Ok(Attempt::Again(Some(error.unwrap_or_else(|| {
        Error::new(
            ErrorCode::Unreachable,
            "The storage proxy ended a part of the download early.",
        )
    }))))
}

enum Probe {
    State(DownloadState),
    Other(Attempt),
}

/// Asks for the first byte, to learn the file's size and version before several connections
/// ask for parts of that version.
async fn probe(
    transport: &StorageProxyTransport,
    url: &Url,
    stop: &StopSignal,
) -> Result<Probe, TransferError> {
    let request = transport
        .http()
        .get(url.clone())
        .header("Range", "bytes=0-0")
        .send();
    let sent = tokio::select! {
        sent = tokio::time::timeout(STALL, request) => sent,
        () = stopped(stop) => return Ok(Probe::Other(Attempt::Stopped)),
    };
    let response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Ok(Probe::Other(Attempt::Again(Some(cut(url, &e))))),
        Err(_) => return Ok(Probe::Other(Attempt::Again(Some(stalled(url))))),
    };
    let status = response.status();
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let size = header(CONTENT_RANGE)
        .as_deref()
        .and_then(content_range)
        .and_then(|(_, total)| total);
    let last_modified = header(LAST_MODIFIED);
    match status {
        StatusCode::PARTIAL_CONTENT if size.is_some() && last_modified.is_some() => {
            Ok(Probe::State(DownloadState {
                size,
                last_modified,
                etag: header(ETAG),
                segments: Some(Segments::new()),
            }))
        }
        s if s.is_success() => Err(Error::internal(
            "The storage proxy did not answer a range request with a part and its version.",
        )
        .into()),
        s => {
            let body = response.text().await.unwrap_or_default();
            let error = refused(url, s, &body);
            if s == StatusCode::NOT_FOUND {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    "The file is no longer in the folder on the server.",
                )
                .into());
            }
            if s.is_server_error() {
                return Ok(Probe::Other(Attempt::Again(Some(error))));
            }
            if token_refused(&body) {
                return Ok(Probe::Other(Attempt::Again(Some(Error::new(
                    ErrorCode::AuthFailed,
                    error.message,
                )))));
            }
            Err(error.into())
        }
    }
}

/// The partial file at `size` bytes: kept when it holds segments of this version, else emptied
/// first so no byte of another version survives.
fn open_sized(path: &Path, size: u64, keep: bool) -> io::Result<std::fs::File> {
    let file = open_flags().open(path)?;
    if !keep {
        file.set_len(0)?;
    }
    file.set_len(size)?;
    Ok(file)
}

/// The writing thread: writes each piece where it belongs and records, in the checkpoint,
/// each segment as it completes and how far the others got when the pass ends.
fn write_segments(
    file: &std::fs::File,
    mut received: mpsc::Receiver<Write>,
    segments: &mut Segments,
    mut record: impl FnMut(&Segments),
) -> io::Result<()> {
    let outcome = (|| {
        while let Some(write) = received.blocking_recv() {
            match write {
                Write::Data {
                    segment,
                    offset,
                    bytes,
                } => {
                    write_all_at(file, &bytes, offset)?;
                    *segments.partial.entry(segment).or_default() += bytes.len() as u64;
                }
                Write::Finished { segment } => {
                    segments.partial.remove(&segment);
                    segments.done.insert(segment);
                    record(segments);
                }
            }
        }
        Ok(())
    })();
    record(segments);
    outcome
}

/// What the workers of one pass share.
struct Work<'a> {
    transport: &'a StorageProxyTransport,
    url: &'a Url,
    size: u64,
    /// `If-Range`: the Last-Modified of the version the partial file holds.
    validator: String,
    etag: Option<String>,
    /// The segments as the pass began (how far each unfinished one got).
    segments: &'a Segments,
    waiting: Mutex<VecDeque<u64>>,
    writes: mpsc::Sender<Write>,
    got: &'a AtomicU64,
    findings: Findings,
    stop: &'a StopSignal,
    progress: &'a ProgressFn,
}

impl Work<'_> {
    /// One connection: takes segments until none is left, the queue stops the job, or one
    /// fails (it is left for the next pass).
    async fn run(&self) {
        loop {
            if self.stop.is_set() || self.findings.ended() {
                return;
            }
            let next = self
                .waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            let Some(segment) = next else { return };
            if !self.fetch(segment).await {
                return;
            }
        }
    }

    /// Hands `bytes` of `segment` at `offset` to the writing thread and reports progress;
    /// `false` when the writer is gone (it failed; its error ends the pass).
    async fn write(&self, segment: u64, offset: u64, bytes: Vec<u8>) -> bool {
        let len = bytes.len() as u64;
        let write = Write::Data {
            segment,
            offset,
            bytes,
        };
        if self.writes.send(write).await.is_err() {
            return false;
        }
        (self.progress)(self.got.fetch_add(len, Ordering::SeqCst) + len);
        true
    }

    /// Fetches the rest of `segment`; `false` when this connection should stop.
    async fn fetch(&self, segment: u64) -> bool {
        let (start, end) = self.segments.range(segment, self.size);
        let from = start + self.segments.partial.get(&segment).copied().unwrap_or(0);
        if from >= end {
            return self.writes.send(Write::Finished { segment }).await.is_ok();
        }
        let request = self
            .transport
            .http()
            .get(self.url.clone())
            .header("Range", format!("bytes={from}-{}", end - 1))
            .header("If-Range", &self.validator)
            .send();
        let sent = tokio::select! {
            sent = tokio::time::timeout(STALL, request) => sent,
            () = stopped(self.stop) => return false,
        };
        let mut response = match sent {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                self.findings.fail(cut(self.url, &e), false);
                return false;
            }
            Err(_) => {
                self.findings.fail(stalled(self.url), false);
                return false;
            }
        };
        let status = response.status();
        if status != StatusCode::PARTIAL_CONTENT {
            match status {
                // A whole body (the version changed) or no such range (the size did).
                StatusCode::OK | StatusCode::RANGE_NOT_SATISFIABLE => {
                    self.findings.changed.store(true, Ordering::SeqCst);
                }
                s => {
                    let body = response.text().await.unwrap_or_default();
                    let error = refused(self.url, s, &body);
                    if s.is_server_error() {
                        self.findings.fail(error, false);
                    } else if token_refused(&body) {
                        self.findings
                            .fail(Error::new(ErrorCode::AuthFailed, error.message), false);
                    } else {
                        self.findings.fail(error, true);
                    }
                }
            }
            return false;
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let range = header(CONTENT_RANGE).as_deref().and_then(content_range);
        let same_etag = self
            .etag
            .as_deref()
            .zip(header(ETAG).as_deref())
            .is_none_or(|(a, b)| a == b);
        if range != Some((from, Some(self.size))) || !same_etag {
            self.findings.changed.store(true, Ordering::SeqCst);
            return false;
        }

        let mut ticker = tokio::time::interval(CHECK_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let (mut heard, mut at) = (Instant::now(), from);
        let mut pending = Vec::with_capacity(WRITE_BUFFER);
        let mut pending_at = at;
        let ended = loop {
            let chunk = tokio::select! {
                biased;
                chunk = response.chunk() => chunk,
                _ = ticker.tick() => {
                    if self.stop.is_set() || self.findings.ended() {
                        break Err(None);
                    }
                    if heard.elapsed() >= STALL {
                        break Err(Some(stalled(self.url)));
                    }
                    continue;
                }
            };
            match chunk {
                Ok(Some(bytes)) => {
                    heard = Instant::now();
                    // Never past the segment, whatever the server sends.
                    let take = bytes.len().min((end - at) as usize);
                    pending.extend_from_slice(&bytes[..take]);
                    at += take as u64;
                    if pending.len() >= WRITE_BUFFER || at == end {
                        let bytes =
                            std::mem::replace(&mut pending, Vec::with_capacity(WRITE_BUFFER));
                        if !self.write(segment, pending_at, bytes).await {
                            break Err(None);
                        }
                        pending_at = at;
                    }
                    if at == end {
                        break Ok(());
                    }
                }
                Ok(None) => {
                    break Err(Some(Error::new(
                        ErrorCode::Unreachable,
                        "The storage proxy ended a part of the download early.",
                    )));
                }
                Err(e) => break Err(Some(cut(self.url, &e))),
            }
        };
        if !pending.is_empty() {
            // What arrived before a cut or a stop is kept for the next pass.
            self.write(segment, pending_at, pending).await;
        }
        match ended {
            Ok(()) => self.writes.send(Write::Finished { segment }).await.is_ok(),
            Err(None) => false,
            Err(Some(error)) => {
                self.findings.fail(error, false);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cover_the_file_and_count_what_is_held() {
        let size = 3 * SEGMENT + 5;
        let mut segments = Segments::new();
        assert_eq!(segments.count(size), 4);
        assert_eq!(
            segments.range(3, size),
            (3 * SEGMENT, size),
            "the last is short"
        );
        segments.done.extend([0, 3]);
        segments.partial.insert(1, 7);
        assert_eq!(segments.held(size), SEGMENT + 5 + 7);
        // What the journal keeps reads back the same.
        let text = serde_json::to_string(&segments).unwrap();
        assert_eq!(serde_json::from_str::<Segments>(&text).unwrap(), segments);
    }
}
