//! Moving files between this computer and a Backend.AI cluster's storage proxy, for the same
//! transfer queue, panel and CLI as the local engine ([`StorageProxyTransport`]).
//!
//! The manager only hands out grants (`request-upload`, `request-download`: a token and the
//! storage proxy's URL); the bytes go straight to the storage proxy. Uploads use its tus
//! subset: PATCH chunks at the server's offset, HEAD before every resume (servers up to 25.x
//! append whatever arrives, so a chunk is never resent blindly), with the token, URL and
//! offset kept in the job's [`Checkpoint`] so an upload continues after an app restart while
//! its token lives (24 h). Downloads go into a hidden partial file beside the destination,
//! continue with `Range` + `If-Range`, and take the final name only once complete; large
//! files come as segments over several connections at once (`segments`). A cut connection
//! is retried, a bounded number of times with backoff, from what the server (or the partial
//! file) holds.
//!
//! See `reference/backendai-api.md` §2.6–2.7 and its "Verified against a real 26.8.1" section.

mod chunk;
mod download;
mod overrides;
mod plan;
mod range;
mod save;
mod segments;
mod upload;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use berth_core::{Error, ErrorCode, FolderPath, Result};
use berth_transfer::names::partial_on_host;
use berth_transfer::queue::{Outcome, ProgressFn};
use berth_transfer::{Checkpoint, Direction, Job, StopSignal, TransferError, Transport};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

pub use overrides::StorageProxyOverrides;

use crate::engine::BackendAiEngine;
use crate::folders::{self, segment};

/// How many times in a row an attempt may fail (a cut connection, a 5xx, a held lease) before
/// the job fails; progress in between resets the count.
const ATTEMPTS: u32 = 8;
/// A response that sends nothing for this long is treated as a cut connection.
const STALL: Duration = Duration::from_secs(60);
/// How long a directory listing answers "does this name exist?" for conflict checks, so a
/// batch of 10,000 files into one directory does not list it 10,000 times.
const LISTING_FRESH_FOR: Duration = Duration::from_secs(2);

/// The names in a directory of a folder, by (folder, directory), and when they were listed.
type Listings = HashMap<(String, String), (Instant, HashSet<String>)>;

/// The transport of the Backend.AI engine. One per logged-in engine; cheap to share.
pub struct StorageProxyTransport {
    engine: Arc<BackendAiEngine>,
    overrides: StorageProxyOverrides,
    /// The largest PATCH body this site accepted: lowered for every later upload once a proxy
    /// in front of the storage proxy answers 413.
    chunk_ceiling: AtomicU64,
    /// Recent listings of upload destinations.
    listings: Mutex<Listings>,
}

impl StorageProxyTransport {
    pub fn new(engine: Arc<BackendAiEngine>) -> Self {
        Self {
            engine,
            overrides: StorageProxyOverrides::default(),
            chunk_ceiling: AtomicU64::new(chunk::MAX),
            listings: Mutex::new(HashMap::new()),
        }
    }

    /// Sends transfers to other addresses than the storage proxy URLs the manager returns
    /// (see [`StorageProxyOverrides`]).
    pub fn with_overrides(mut self, overrides: StorageProxyOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    fn http(&self) -> &reqwest::Client {
        self.engine.connection().http()
    }

    /// Asks the manager for a transfer grant (`request-upload` / `request-download`).
    async fn grant(&self, folder: &str, action: &str, body: serde_json::Value) -> Result<Grant> {
        self.engine
            .connection()
            .call_json(
                Method::POST,
                &format!("folders/{}/{action}", segment(folder)),
                Some(&body),
            )
            .await
    }

    /// Where to send a grant's requests: its URL, rewritten by the overrides, with its token.
    fn address(&self, grant_url: &str, token: &str) -> Result<Url> {
        address(&self.overrides, grant_url, token)
    }

    /// The names in directory `dir` of `folder`, from a listing at most a couple of seconds
    /// old. A directory that does not exist yet holds no names.
    async fn names_in(&self, folder: &str, dir: &FolderPath) -> Result<HashSet<String>> {
        let key = (folder.to_string(), dir.as_str().to_string());
        if let Some((at, names)) = self.lock_listings().get(&key)
            && at.elapsed() < LISTING_FRESH_FOR
        {
            return Ok(names.clone());
        }
        let names: HashSet<String> =
            match folders::list_files(self.engine.connection(), folder, dir).await {
                Ok(entries) => entries.into_iter().map(|e| e.name).collect(),
                Err(e) if e.code == ErrorCode::NotFound => HashSet::new(),
                Err(e) => return Err(e),
            };
        self.lock_listings()
            .insert(key, (Instant::now(), names.clone()));
        Ok(names)
    }

    /// Notes that `path` now exists, for the next conflict check within the listing's life.
    fn remember(&self, folder: &str, path: &FolderPath) {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return;
        };
        if let Some((_, names)) = self
            .lock_listings()
            .get_mut(&(folder.to_string(), parent.as_str().to_string()))
        {
            names.insert(name.to_string());
        }
    }

    fn lock_listings(&self) -> std::sync::MutexGuard<'_, Listings> {
        self.listings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn chunk_ceiling(&self) -> u64 {
        self.chunk_ceiling.load(Ordering::Relaxed)
    }

    fn lower_chunk_ceiling(&self, ceiling: u64) {
        self.chunk_ceiling.fetch_min(ceiling, Ordering::Relaxed);
    }
}

#[async_trait]
impl Transport for StorageProxyTransport {
    /// Runs the job without a journal: an upload interrupted here starts over next time.
    async fn run(
        &self,
        job: &Job,
        stop: StopSignal,
        progress: ProgressFn,
    ) -> Result<Outcome, TransferError> {
        self.run_with_checkpoint(job, stop, progress, Checkpoint::in_memory(None))
            .await
    }

    async fn run_with_checkpoint(
        &self,
        job: &Job,
        stop: StopSignal,
        progress: ProgressFn,
        checkpoint: Checkpoint,
    ) -> Result<Outcome, TransferError> {
        match job.spec.direction {
            Direction::Upload => upload::run(self, job, &stop, &progress, &checkpoint).await,
            Direction::Download => download::run(self, job, &stop, &progress, &checkpoint).await,
        }
    }

    /// A download's partial file goes. An upload leaves nothing here to remove: the storage
    /// proxy has no call to end an upload session early and drops it when its token expires.
    async fn discard(&self, job: &Job) {
        if job.spec.direction == Direction::Download {
            let _ = tokio::fs::remove_file(partial_on_host(&job.spec.local_path, job.id)).await;
        }
    }
}

/// `request-upload` / `request-download`'s answer.
#[derive(Debug, Clone, Deserialize)]
struct Grant {
    token: String,
    url: String,
}

/// Waits `backoff(attempt)` unless the queue asks the job to stop first; `false` if it did.
async fn back_off(attempt: u32, stop: &StopSignal) -> bool {
    let wait = Duration::from_millis(250 * (1u64 << attempt.saturating_sub(1).min(5)));
    let until = Instant::now() + wait.min(Duration::from_secs(8));
    while Instant::now() < until {
        if stop.is_set() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    !stop.is_set()
}

/// Resolves once the queue asks the job to stop, so a request stalled on a dead link is
/// dropped at once rather than at its timeout. (`StopSignal` can only be polled.)
async fn stopped(stop: &StopSignal) {
    while !stop.is_set() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

use berth_transfer::{host_error, host_read_error};

/// A connection to the storage proxy that broke or never opened, in words.
fn cut(url: &Url, e: &reqwest::Error) -> Error {
    let mut origin = url.clone();
    origin.set_query(None);
    origin.set_path("/");
    crate::connection::unreachable(&origin, e)
}

/// Where to send a grant's requests: `grant_url`, rewritten by `overrides`, with `token` in
/// its query. Fails when the server handed out something that is not a URL.
fn address(overrides: &StorageProxyOverrides, grant_url: &str, token: &str) -> Result<Url> {
    let url = Url::parse(grant_url).map_err(|e| {
        Error::internal(format!(
            "The server handed out a storage proxy address Berth cannot use ({grant_url:?}: {e})."
        ))
    })?;
    let mut url = overrides.rewrite(&url);
    url.query_pairs_mut().append_pair("token", token);
    Ok(url)
}

/// A refusal by the storage proxy, with its own words.
fn refused(url: &Url, status: StatusCode, body: &str) -> Error {
    let mut origin = url.clone();
    origin.set_query(None);
    let path = origin.path().to_string();
    origin.set_path("/");
    crate::problem::classify(status, body, &origin, &path)
}

/// Whether a 4xx body says the token is bad or expired (then a new grant helps).
fn token_refused(body: &str) -> bool {
    let lower = body.to_lowercase();
    lower.contains("token") || lower.contains("expired") || lower.contains("signature")
}

fn modified_ms(metadata: &std::fs::Metadata) -> Option<i64> {
    let since = metadata
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    i64::try_from(since.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_stays_in_the_query_after_a_rewrite() {
        let overrides = StorageProxyOverrides::parse("127.0.0.1:6021=127.0.0.1:7777").unwrap();
        let url = address(&overrides, "http://127.0.0.1:6021/upload", "a.b+c/d=").unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:7777/upload?token=a.b%2Bc%2Fd%3D"
        );
    }

    #[test]
    fn a_grant_url_that_is_not_a_url_is_refused_with_what_it_was() {
        let error = address(&StorageProxyOverrides::default(), "not a url", "t").unwrap_err();
        assert_eq!(error.code, ErrorCode::Internal);
        assert!(error.message.contains("\"not a url\""), "{}", error.message);
    }
}
