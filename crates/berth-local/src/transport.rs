//! Moving bytes between this computer and a local folder, for the transfer queue. Each file is
//! written under a hidden partial name next to its destination, continued from that file's
//! length after a pause or a crash, verified (size, and the copy compared with the source byte
//! for byte), and only then renamed to its final name — so no half-written file ever carries
//! the final name.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use berth_core::{Error, FileKind, FolderPath, Result};
use berth_transfer::names::{
    exists_error, free_host_name, numbered, partial_name, partial_on_host,
};
use berth_transfer::queue::{Outcome, ProgressFn};
use berth_transfer::{ConflictPolicy, Direction, Job, StopSignal, TransferError, Transport};

use crate::LocalEngine;
use crate::files::FolderFiles;

/// Bytes copied between stop checks and progress reports: large enough for the kernel's
/// copy_file_range to run at full speed, small enough to pause within a fraction of a second
/// — and to keep the comparing thread close behind, so little is left to compare once the
/// copy ends (32 MiB left a warm-cache copy a fifth slower than `cp`).
const CHUNK: u64 = 8 << 20;

/// The smallest chunk, at a file's start and end.
const LAST_CHUNK: u64 = 1 << 20;

/// The comparing thread's read size, per file: two such buffers stay in the CPU's cache while
/// they are compared (1 MiB ones did not, and made the comparison slower than the copy).
const COMPARED_AT_ONCE: usize = 256 << 10;

pub struct LocalTransport {
    engine: Arc<LocalEngine>,
}

impl LocalTransport {
    pub fn new(engine: Arc<LocalEngine>) -> Self {
        Self { engine }
    }
}

#[async_trait]
impl Transport for LocalTransport {
    async fn run(
        &self,
        job: &Job,
        stop: StopSignal,
        progress: ProgressFn,
    ) -> Result<Outcome, TransferError> {
        let engine = self.engine.clone();
        let job = job.clone();
        tokio::task::spawn_blocking(move || match job.spec.direction {
            Direction::Upload => upload(&engine, &job, &stop, &progress),
            Direction::Download => download(&engine, &job, &stop, &progress),
        })
        .await
        .map_err(|e| TransferError::Failed(Error::internal(format!("The transfer stopped: {e}"))))?
    }

    async fn discard(&self, job: &Job) {
        let engine = self.engine.clone();
        let job = job.clone();
        let _ = tokio::task::spawn_blocking(move || -> Result<()> {
            match job.spec.direction {
                Direction::Upload => {
                    let (dest, files) = upload_target(&engine, &job)?;
                    files.remove_file(&partial_in_folder(&dest, job.id)?)
                }
                Direction::Download => {
                    let _ = std::fs::remove_file(partial_on_host(&job.spec.local_path, job.id));
                    Ok(())
                }
            }
        })
        .await;
    }
}

fn upload_target(engine: &LocalEngine, job: &Job) -> Result<(FolderPath, FolderFiles)> {
    let dest = FolderPath::parse(&job.spec.remote_path)?;
    let files = engine.writable_files(&job.spec.folder)?;
    Ok((dest, files))
}

fn partial_in_folder(dest: &FolderPath, id: i64) -> Result<FolderPath> {
    let name = dest
        .file_name()
        .ok_or_else(|| Error::invalid_input("An upload needs a file name to write to."))?;
    dest.parent()
        .unwrap_or_else(FolderPath::root)
        .join(&partial_name(name, id))
}

fn upload(
    engine: &LocalEngine,
    job: &Job,
    stop: &StopSignal,
    progress: &ProgressFn,
) -> Result<Outcome, TransferError> {
    let (dest, files) = upload_target(engine, job)?;
    let source =
        File::open(&job.spec.local_path).map_err(|e| source_error(&job.spec.local_path, e))?;
    // The directories were made when the batch was planned. Only "skip" needs to know before
    // copying whether the destination exists; the others decide when the copy is complete.
    if job.spec.conflict == ConflictPolicy::Skip && files.kind(&dest)?.is_some() {
        return Ok(Outcome::Skipped);
    }
    let partial = partial_in_folder(&dest, job.id)?;
    let target = files.open_partial(&partial)?;
    let copied = copy_verified(&source, &target, stop, progress)
        .map_err(|e| source_error(&job.spec.local_path, e))?;
    drop(target);
    let size = copied.inspect_err(|_| {
        let _ = files.remove_file(&partial);
    })?;
    let final_path = match (files.kind(&dest)?, job.spec.conflict) {
        (None, _) | (Some(FileKind::File | FileKind::Symlink), ConflictPolicy::Replace) => dest,
        (Some(_), ConflictPolicy::Skip) => {
            files.remove_file(&partial)?;
            return Ok(Outcome::Skipped);
        }
        (Some(_), ConflictPolicy::KeepBoth) => {
            free_name(&dest, |p| files.kind(p).map(|k| k.is_some()))?
        }
        (Some(_), _) => {
            files.remove_file(&partial)?;
            return Err(exists_error(dest.as_str()).into());
        }
    };
    files.replace(&partial, &final_path)?;
    Ok(Outcome::Done {
        final_path: final_path.as_str().to_string(),
        size,
    })
}

fn download(
    engine: &LocalEngine,
    job: &Job,
    stop: &StopSignal,
    progress: &ProgressFn,
) -> Result<Outcome, TransferError> {
    let (_, files) = engine.files(&job.spec.folder)?;
    let source = files.open_read(&FolderPath::parse(&job.spec.remote_path)?)?;
    let dest = job.spec.local_path.clone();
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| host_error(parent, e))?;
    }
    let exists = |p: &Path| p.symlink_metadata().is_ok();
    if exists(&dest) && job.spec.conflict == ConflictPolicy::Skip {
        return Ok(Outcome::Skipped);
    }
    let partial = partial_on_host(&dest, job.id);
    let target = open_partial_on_host(&partial).map_err(|e| host_error(&partial, e))?;
    let copied =
        copy_verified(&source, &target, stop, progress).map_err(|e| host_error(&partial, e))?;
    drop(target);
    let size = copied.inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;
    let final_path = match (exists(&dest), job.spec.conflict) {
        (false, _) | (true, ConflictPolicy::Replace) => dest,
        (true, ConflictPolicy::Skip) => {
            let _ = std::fs::remove_file(&partial);
            return Ok(Outcome::Skipped);
        }
        (true, ConflictPolicy::KeepBoth) => free_host_name(&dest),
        (true, ConflictPolicy::Fail) => {
            let _ = std::fs::remove_file(&partial);
            return Err(exists_error(&dest.display().to_string()).into());
        }
    };
    std::fs::rename(&partial, &final_path).map_err(|e| host_error(&final_path, e))?;
    Ok(Outcome::Done {
        final_path: final_path.display().to_string(),
        size,
    })
}

fn open_partial_on_host(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options.open(path)
}

/// Copies `source` into `target` from `target`'s current length (what an earlier attempt wrote)
/// in chunks the kernel copies directly, reporting bytes done, and verifies the result: the
/// copy read back and compared with the source byte for byte. For large files a second thread
/// compares each chunk right after the kernel copied it, while both are still in the page
/// cache, so verifying adds little more than the last chunk's comparison to the copy time.
/// (Comparing reads each file once, as hashing both did, but costs a fraction of a hash's CPU:
/// BLAKE3 over both files made a warm-cache copy take twice `cp`'s time on two cores.)
///
/// `Ok(Ok(size))` when the copy is identical; `Ok(Err(_))` when it differs (the caller deletes
/// it); `Err` for I/O errors and for a stop requested by the queue.
fn copy_verified(
    source: &File,
    target: &File,
    stop: &StopSignal,
    progress: &ProgressFn,
) -> io::Result<Result<u64, TransferError>> {
    let size = source.metadata()?.len();
    let mut done = target.metadata()?.len();
    if done > size {
        // The source shrank since the last attempt: start over rather than keep stale bytes.
        target.set_len(0)?;
        done = 0;
    }
    progress(done);
    let pipelined = size >= PIPELINE_FROM;
    std::thread::scope(|scope| {
        let (ranges, received) = std::sync::mpsc::sync_channel::<(u64, u64)>(4);
        let comparing =
            pipelined.then(|| scope.spawn(move || compare_ranges(source, target, received)));
        let mut copy = || -> io::Result<()> {
            if pipelined && done > 0 {
                // What an earlier attempt wrote is verified along with the rest.
                let _ = ranges.send((0, done));
            }
            while done < size {
                if stop.is_set() {
                    return Err(io::Error::new(io::ErrorKind::Interrupted, STOPPED));
                }
                // The first chunks grow, so the comparison starts soon after the copy does, and
                // the last ones shrink, so it ends just after the copy does.
                let len = CHUNK
                    .min(done.max(LAST_CHUNK))
                    .min(((size - done) / 2).max(LAST_CHUNK));
                let copied = copy_chunk(source, target, done, len)?;
                if copied == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the source ended early: it changed while being copied",
                    ));
                }
                if pipelined {
                    let _ = ranges.send((done, done + copied));
                }
                done += copied;
                progress(done);
            }
            Ok(())
        };
        let copied = copy();
        drop(ranges);
        let compared = match comparing {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("comparing stopped"))),
            None => compare_ranges(source, target, single_range(size)),
        };
        copied?;
        let written = target.metadata()?.len();
        let same = compared?;
        Ok(if written == size && same {
            Ok(size)
        } else {
            Err(TransferError::Failed(Error::internal(
                "Verification failed: the copy differs from the source. It was not kept; retry.",
            )))
        })
    })
}

/// Below this, comparing after the copy on the same thread beats starting a second one.
const PIPELINE_FROM: u64 = 8 << 20;

fn single_range(size: u64) -> std::sync::mpsc::Receiver<(u64, u64)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let _ = tx.send((0, size));
    rx
}

/// Whether `source` and `target` hold the same bytes in every range it receives (positional
/// reads, so the copying thread's file offsets are untouched). All ranges are read even after a
/// difference, so the copying thread is never left waiting on a full channel.
fn compare_ranges(
    source: &File,
    target: &File,
    ranges: std::sync::mpsc::Receiver<(u64, u64)>,
) -> io::Result<bool> {
    // Sized to what is compared, up to COMPARED_AT_ONCE each: zeroing large buffers for each
    // 4 KiB file would cost more than the comparison.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut same = true;
    for (start, end) in ranges {
        if !same {
            continue;
        }
        let wanted = usize::try_from(end - start)
            .unwrap_or(usize::MAX)
            .min(COMPARED_AT_ONCE);
        if ours.len() < wanted {
            ours.resize(wanted, 0);
            theirs.resize(wanted, 0);
        }
        let mut at = start;
        while at < end && same {
            let want = ours.len().min((end - at) as usize);
            let n = read_full_at(source, &mut ours[..want], at)?;
            let m = read_full_at(target, &mut theirs[..want], at)?;
            if n == 0 && m == 0 {
                break; // shorter than expected: the size check reports it
            }
            same = n == m && ours[..n] == theirs[..m];
            at += n as u64;
        }
    }
    Ok(same)
}

/// Reads until `buffer` is full or the file ends; how many bytes were read.
fn read_full_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let n = read_at(file, &mut buffer[filled..], offset + filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Copies up to `len` bytes at offset `at` of `source` to the same offset of `target`. Unix:
/// through the files' cursors, so `io::copy` hands the work to the kernel (copy_file_range);
/// the hashing thread's `pread`s leave the cursors alone.
#[cfg(unix)]
fn copy_chunk(source: &File, target: &File, at: u64, len: u64) -> io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let (mut reader, mut writer) = (source, target);
    reader.seek(SeekFrom::Start(at))?;
    writer.seek(SeekFrom::Start(at))?;
    io::copy(&mut reader.take(len), &mut writer)
}

/// Windows: every read and write names its offset, because there a positional read
/// (`seek_read`) moves the handle's cursor too, and the hashing thread reads the same handles
/// while this copies: a cursor-based copy would continue from wherever the hashing last read.
#[cfg(windows)]
fn copy_chunk(source: &File, target: &File, at: u64, len: u64) -> io::Result<u64> {
    use std::os::windows::fs::FileExt;
    let mut buffer = vec![0; (1 << 20).min(usize::try_from(len).unwrap_or(usize::MAX))];
    let mut copied = 0;
    while copied < len {
        let want = buffer
            .len()
            .min(usize::try_from(len - copied).unwrap_or(usize::MAX));
        let n = source.seek_read(&mut buffer[..want], at + copied)?;
        if n == 0 {
            break;
        }
        let mut written = 0;
        while written < n {
            let w = target.seek_write(&buffer[written..n], at + copied + written as u64)?;
            if w == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            written += w;
        }
        copied += n as u64;
    }
    Ok(copied)
}

#[cfg(unix)]
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buffer, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buffer, offset)
}

const STOPPED: &str = "stopped by the queue";

/// `name (1).ext`, `name (2).ext`, ... — the first that `taken` says is free.
fn free_name(dest: &FolderPath, taken: impl Fn(&FolderPath) -> Result<bool>) -> Result<FolderPath> {
    let name = dest.file_name().unwrap_or_default();
    let parent = dest.parent().unwrap_or_else(FolderPath::root);
    for n in 1..10_000 {
        let candidate = parent.join(&numbered(name, n))?;
        if !taken(&candidate)? {
            return Ok(candidate);
        }
    }
    Err(exists_error(dest.as_str()))
}

/// An upload's source could not be read (or, for a full disk, the folder written).
fn source_error(path: &Path, e: io::Error) -> TransferError {
    match e.kind() {
        _ if is_stop(&e) => TransferError::Stopped,
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => TransferError::Failed(
            Error::internal("The folder's disk is full: free some space there, then retry."),
        ),
        _ => TransferError::Failed(berth_transfer::host_read_error(path, e)),
    }
}

fn is_stop(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted && e.to_string() == STOPPED
}

fn host_error(path: &Path, e: io::Error) -> TransferError {
    if is_stop(&e) {
        return TransferError::Stopped;
    }
    TransferError::Failed(crate::plan::host_error(path, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Two real files, the second `source` with `change` applied; whether they compare equal
    /// over `ranges`.
    fn compared(size: usize, change: impl FnOnce(&mut Vec<u8>), ranges: &[(u64, u64)]) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let source: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut copy = source.clone();
        change(&mut copy);
        std::fs::write(dir.path().join("a"), &source).unwrap();
        std::fs::write(dir.path().join("b"), &copy).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for range in ranges {
            tx.send(*range).unwrap();
        }
        drop(tx);
        let a = File::open(dir.path().join("a")).unwrap();
        let b = File::open(dir.path().join("b")).unwrap();
        compare_ranges(&a, &b, rx).unwrap()
    }

    #[test]
    fn a_copy_is_the_same_only_when_every_byte_is() {
        const SIZE: usize = 3 << 20;
        let whole = [(0, SIZE as u64)];
        let in_chunks = [(0, 1 << 20), (1 << 20, 5 << 19), (5 << 19, SIZE as u64)];
        for ranges in [&whole[..], &in_chunks[..]] {
            assert!(compared(SIZE, |_| {}, ranges));
            // One byte different: at the start, across the 1 MiB buffer's edge, at the end.
            for at in [0, (1 << 20) - 1, 1 << 20, SIZE - 1] {
                assert!(!compared(SIZE, |c| c[at] ^= 1, ranges), "a byte at {at}");
            }
            // The copy stopped short.
            assert!(!compared(SIZE, |c| c.truncate(SIZE - 10), ranges));
        }
    }
}
