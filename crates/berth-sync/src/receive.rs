//! Bringing a pull's files here: each lands under a scratch name beside its place (ignored by
//! every sync) and is renamed into place only when whole, and only if what is at its place is
//! still what the pass planned against — a file the user saved meanwhile is never replaced,
//! and never is a link or anything through one. Small files are read in ranges at once; the
//! rest go through the transfer queue, whose panel shows them and which continues a cut
//! download. The file keeps the folder's modified time.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use berth_core::{Engine, Error, FolderPath, Result};
use berth_transfer::{ConflictPolicy, Direction, JobState, Queue, TransferSpec};

use crate::journal::Signature;
use crate::push::{SyncPair, below};

/// Files up to this size are read through [`Engine::read_file_range`] instead of the queue.
const SMALL: u64 = 1 << 20;

/// One file to bring here.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// Relative to the pair, slash-separated.
    pub path: String,
    /// The folder's file as planned.
    pub remote: Signature,
    /// What is here now (`None`: nothing); the download replaces only that.
    pub local: Option<Signature>,
}

/// What bringing files here did.
#[derive(Debug, Default)]
pub struct Received {
    /// Files now in place, with their signature here.
    pub done: Vec<(Fetch, Signature)>,
    pub bytes: u64,
    /// Files not brought (path, why); the next pass tries again.
    pub failed: Vec<(String, String)>,
    /// Files changed here while the folder's version arrived, or gone from the folder since
    /// it was listed: left as they are, for the next pass to compare again.
    pub changed: Vec<String>,
}

/// The place of `relative` in the pair's directory: every component a plain name this
/// computer can hold, and every directory on the way a real one (not a link out).
pub fn local_place(root: &Path, relative: &str) -> Result<PathBuf> {
    let bad = |why: &str| Error::invalid_input(format!("\"{relative}\" {why}"));
    let mut place = root.to_path_buf();
    let components: Vec<&str> = relative.split('/').collect();
    for (at, name) in components.iter().enumerate() {
        let mut parsed = Path::new(name).components();
        let plain = matches!(parsed.next(), Some(Component::Normal(n)) if n == *name)
            && parsed.next().is_none();
        if !plain || !name_fits_here(name) {
            return Err(bad("is not a name this computer's file system can hold"));
        }
        place.push(name);
        if at + 1 < components.len()
            && let Ok(metadata) = std::fs::symlink_metadata(&place)
            && !metadata.is_dir()
        {
            return Err(bad(
                "lies below a link or a file here, which a sync does not follow",
            ));
        }
    }
    Ok(place)
}

/// Whether `name` is one this platform's file system takes.
fn name_fits_here(name: &str) -> bool {
    if cfg!(windows) {
        let stem = name.split('.').next().unwrap_or("").to_ascii_uppercase();
        let reserved = ["CON", "PRN", "AUX", "NUL"].contains(&stem.as_str())
            || (stem.len() == 4
                && (stem.starts_with("COM") || stem.starts_with("LPT"))
                && stem.as_bytes()[3].is_ascii_digit());
        !reserved
            && !name.ends_with(['.', ' '])
            && !name.contains(['<', '>', ':', '"', '|', '?', '*', '\\'])
            && !name.chars().any(|c| c.is_control())
    } else {
        !name.contains('\0')
    }
}

/// Brings `fetches` here from `folder` (small ones directly, the rest through `queue` in
/// batch `batch`).
pub async fn receive_files(
    engine: &dyn Engine,
    queue: &Queue,
    pair: &SyncPair,
    fetches: Vec<Fetch>,
    batch: &str,
) -> Result<Received> {
    let mut received = Received::default();
    let mut queued: Vec<(Fetch, PathBuf, PathBuf)> = Vec::new();
    for fetch in fetches {
        let (place, scratch) = match places(pair, &fetch.path) {
            Ok(places) => places,
            Err(e) => {
                received.failed.push((fetch.path, e.message));
                continue;
            }
        };
        if fetch.remote.size > SMALL {
            queued.push((fetch, place, scratch));
            continue;
        }
        let remote = below(&pair.path, &fetch.path)?;
        let read = read_small(engine, &pair.folder, &remote, fetch.remote.size).await;
        let written = read.and_then(|bytes| {
            std::fs::write(&scratch, &bytes)
                .map_err(|e| Error::internal(format!("Cannot write {}: {e}", scratch.display())))
        });
        finish(written, fetch, &place, &scratch, &mut received);
    }
    if queued.is_empty() {
        return Ok(received);
    }
    let specs: Vec<TransferSpec> = queued
        .iter()
        .map(|(fetch, _, scratch)| {
            Ok(TransferSpec {
                batch: batch.to_string(),
                direction: Direction::Download,
                folder: pair.folder.clone(),
                remote_path: below(&pair.path, &fetch.path)?.as_str().to_string(),
                local_path: scratch.clone(),
                size: fetch.remote.size,
                conflict: ConflictPolicy::Replace,
            })
        })
        .collect::<Result<_>>()?;
    let ids = queue.enqueue(specs)?;
    let mut events = queue.subscribe();
    loop {
        let jobs: Vec<_> = ids.iter().filter_map(|id| queue.job(*id)).collect();
        if jobs.iter().all(|j| j.state.is_finished()) {
            for ((fetch, place, scratch), job) in queued.into_iter().zip(jobs) {
                let done = match job.state {
                    JobState::Done => Ok(()),
                    _ => {
                        let _ = queue.cancel(job.id).await; // Its partial holds space.
                        Err(Error::internal(
                            job.error
                                .unwrap_or_else(|| "the download stopped".to_string()),
                        ))
                    }
                };
                finish(done, fetch, &place, &scratch, &mut received);
            }
            return Ok(received);
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
    }
}

/// The file's place and its scratch name beside it (parents made).
fn places(pair: &SyncPair, relative: &str) -> Result<(PathBuf, PathBuf)> {
    let place = local_place(&pair.local, relative)?;
    let parent = place.parent().unwrap_or(&pair.local);
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::internal(format!("Cannot make {}: {e}", parent.display())))?;
    // Made again after the directories: one of them may have been swapped for a link.
    let place = local_place(&pair.local, relative)?;
    let name = place.file_name().unwrap_or_default().to_string_lossy();
    let scratch = place.with_file_name(format!(
        ".{name}.berth-sync-{}",
        uuid::Uuid::new_v4().simple()
    ));
    Ok((place, scratch))
}

async fn read_small(
    engine: &dyn Engine,
    folder: &str,
    path: &FolderPath,
    size: u64,
) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    loop {
        let range = engine
            .read_file_range(folder, path, bytes.len() as u64, berth_core::LARGEST_RANGE)
            .await?;
        bytes.extend_from_slice(&range.bytes);
        if range.bytes.is_empty() || bytes.len() as u64 >= range.size {
            return Ok(bytes);
        }
    }
}

/// Puts a whole scratch file in place if the place still holds what was planned; else
/// leaves the place alone (the next pass sees both changes).
fn finish(
    written: Result<()>,
    fetch: Fetch,
    place: &Path,
    scratch: &Path,
    received: &mut Received,
) {
    // Gone from the folder since the listing: the next pass sees it gone.
    let written = written.map_err(|e| match e.code {
        berth_core::ErrorCode::NotFound => {
            Error::new(berth_core::ErrorCode::FileChanged, e.message)
        }
        _ => e,
    });
    let placed = written.and_then(|()| {
        let now = std::fs::symlink_metadata(place).ok();
        let still = match (&now, fetch.local) {
            (None, None) => true,
            (Some(m), Some(planned)) => m.is_file() && Signature::of_metadata(m) == planned,
            _ => false,
        };
        if !still {
            return Err(Error::new(
                berth_core::ErrorCode::FileChanged,
                "changed here while the folder's version arrived; kept as it is".to_string(),
            ));
        }
        if let Some(at) = fetch
            .remote
            .modified_ms
            .and_then(|ms| u64::try_from(ms).ok())
        {
            let at = UNIX_EPOCH + Duration::from_millis(at);
            let _ = std::fs::File::options()
                .write(true)
                .open(scratch)
                .and_then(|f| f.set_modified(at));
        }
        std::fs::rename(scratch, place).map_err(|e| {
            Error::internal(format!("Cannot put {} in place: {e}", place.display()))
        })?;
        std::fs::symlink_metadata(place)
            .map(|m| Signature::of_metadata(&m))
            .map_err(|e| Error::internal(format!("Cannot look at {}: {e}", place.display())))
    });
    match placed {
        Ok(signature) => {
            received.bytes += signature.size;
            received.done.push((fetch, signature));
        }
        Err(error) => {
            let _ = std::fs::remove_file(scratch);
            match error.code {
                berth_core::ErrorCode::FileChanged => received.changed.push(fetch.path),
                _ => received.failed.push((fetch.path, error.message)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_here_is_plain_names_below_the_directory() {
        let root = Path::new("/sync/here");
        assert_eq!(
            local_place(root, "a/b.txt").ok(),
            Some(PathBuf::from("/sync/here/a/b.txt"))
        );
        for bad in ["../x", "a/../../x", "a/./b", "", "a//b", "/etc/passwd"] {
            assert!(local_place(root, bad).is_err(), "{bad}");
        }
    }
}
