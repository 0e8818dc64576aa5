//! Moving bytes between this computer and a local folder, for the transfer queue. Each file is
//! written under a hidden partial name next to its destination, continued from that file's
//! length after a pause or a crash, verified (size and SHA-256 of source and destination), and
//! only then renamed to its final name — so no half-written file ever carries the final name.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use berth_core::{Error, ErrorCode, FileKind, FolderPath, Result};
use berth_transfer::queue::{Outcome, ProgressFn};
use berth_transfer::{ConflictPolicy, Direction, Job, StopSignal, TransferError, Transport};
use sha2::{Digest, Sha256};

use crate::LocalEngine;
use crate::files::FolderFiles;

/// Bytes copied between stop checks and progress reports: large enough for the kernel's
/// copy_file_range to run at full speed, small enough to pause within a fraction of a second.
const CHUNK: u64 = 32 << 20;

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

/// `.name.berth-part-ID` beside `dest`: hidden, and unique per job.
fn partial_name(name: &str, id: i64) -> String {
    let suffix = format!(".berth-part-{id}");
    // File names are at most 255 bytes; keep the partial name within that.
    let mut keep = name.len().min(250 - suffix.len());
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!(".{}{suffix}", &name[..keep])
}

fn partial_in_folder(dest: &FolderPath, id: i64) -> Result<FolderPath> {
    let name = dest
        .file_name()
        .ok_or_else(|| Error::invalid_input("An upload needs a file name to write to."))?;
    dest.parent()
        .unwrap_or_else(FolderPath::root)
        .join(&partial_name(name, id))
}

fn partial_on_host(dest: &Path, id: i64) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(partial_name(&name, id))
}

fn upload(
    engine: &LocalEngine,
    job: &Job,
    stop: &StopSignal,
    progress: &ProgressFn,
) -> Result<Outcome, TransferError> {
    let (dest, files) = upload_target(engine, job)?;
    let source =
        File::open(&job.spec.local_path).map_err(|e| host_error(&job.spec.local_path, e))?;
    // The directories were made when the batch was planned.
    if skip_without_copying(files.kind(&dest)?, job.spec.conflict) {
        return Ok(Outcome::Skipped);
    }
    let partial = partial_in_folder(&dest, job.id)?;
    let target = files.open_partial(&partial)?;
    let size = copy_resumable(&source, &target, stop, progress)
        .map_err(|e| host_error(&job.spec.local_path, e))?;
    verify(&source, &target, size).inspect_err(|_| {
        let _ = files.remove_file(&partial);
    })?;
    drop(target);
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
    let size =
        copy_resumable(&source, &target, stop, progress).map_err(|e| host_error(&partial, e))?;
    verify(&source, &target, size).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;
    drop(target);
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

fn skip_without_copying(existing: Option<FileKind>, policy: ConflictPolicy) -> bool {
    existing.is_some() && policy == ConflictPolicy::Skip
}

fn open_partial_on_host(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options.open(path)
}

/// Copies `source` into `target` from `target`'s current length (what an earlier attempt wrote),
/// in chunks the kernel copies directly, reporting bytes done. Returns the source's size.
fn copy_resumable(
    source: &File,
    target: &File,
    stop: &StopSignal,
    progress: &ProgressFn,
) -> io::Result<u64> {
    let size = source.metadata()?.len();
    let mut done = target.metadata()?.len();
    if done > size {
        // The source shrank since the last attempt: start over rather than keep stale bytes.
        target.set_len(0)?;
        done = 0;
    }
    let (mut reader, mut writer) = (source, target);
    reader.seek(SeekFrom::Start(done))?;
    writer.seek(SeekFrom::Start(done))?;
    progress(done);
    while done < size {
        if stop.is_set() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, STOPPED));
        }
        let copied = io::copy(&mut reader.take(CHUNK), &mut writer)?;
        if copied == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the source ended early: it changed while being copied",
            ));
        }
        done += copied;
        progress(done);
    }
    // No fsync, as with cp: the partial file survives the app being killed (the page cache
    // is the kernel's), the hash check catches a bad copy, and an fsync per file would make a
    // tree of small files many times slower.
    Ok(size)
}

const STOPPED: &str = "stopped by the queue";

/// Below this a second thread costs more than hashing the two files one after the other.
const PARALLEL_HASH_FROM: u64 = 8 << 20;

/// Size and SHA-256 of the whole destination against the source.
fn verify(source: &File, target: &File, size: u64) -> Result<(), TransferError> {
    let written = target
        .metadata()
        .map_err(|e| Error::internal(e.to_string()))?
        .len();
    if written != size {
        return Err(Error::internal(format!(
            "Verification failed: wrote {written} bytes of {size}."
        ))
        .into());
    }
    let (a, b) = if size < PARALLEL_HASH_FROM {
        (sha256(source), sha256(target))
    } else {
        // One file per core: verifying costs the time of one read, not two.
        std::thread::scope(|scope| {
            let a = scope.spawn(|| sha256(source));
            let b = sha256(target);
            let a = a
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("hashing stopped")));
            (a, b)
        })
    };
    match (a, b) {
        (Ok(a), Ok(b)) if a == b => Ok(()),
        (Ok(_), Ok(_)) => Err(Error::internal(
            "Verification failed: the copy differs from the source. It was not kept; retry.",
        )
        .into()),
        (Err(e), _) | (_, Err(e)) => {
            Err(Error::internal(format!("Verification could not read the files: {e}")).into())
        }
    }
}

fn sha256(file: &File) -> io::Result<[u8; 32]> {
    let mut reader = file;
    reader.seek(SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buffer[..n]);
    }
}

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

fn free_host_name(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (1..)
        .map(|n| dest.with_file_name(numbered(&name, n)))
        .find(|p| p.symlink_metadata().is_err())
        .unwrap_or_else(|| dest.to_path_buf())
}

/// `report.pdf` → `report (2).pdf`; `.bashrc` → `.bashrc (2)`; `archive.tar.gz` → `archive (2).tar.gz`.
pub fn numbered(name: &str, n: u32) -> String {
    let split = name.get(1..).and_then(|rest| rest.find('.')).map(|i| i + 1);
    match split {
        Some(i) => format!("{} ({n}){}", &name[..i], &name[i..]),
        None => format!("{name} ({n})"),
    }
}

fn exists_error(what: &str) -> Error {
    Error::new(
        ErrorCode::AlreadyExists,
        format!("\"{what}\" already exists; choose replace, skip or keep both."),
    )
}

fn host_error(path: &Path, e: io::Error) -> TransferError {
    if e.kind() == io::ErrorKind::Interrupted && e.to_string() == STOPPED {
        return TransferError::Stopped;
    }
    let code = match e.kind() {
        io::ErrorKind::NotFound => ErrorCode::NotFound,
        io::ErrorKind::PermissionDenied => ErrorCode::PermissionDenied,
        _ => ErrorCode::Internal,
    };
    TransferError::Failed(Error::new(code, format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_keep_the_extension_and_dotfiles_whole() {
        assert_eq!(numbered("report.pdf", 1), "report (1).pdf");
        assert_eq!(numbered("archive.tar.gz", 2), "archive (2).tar.gz");
        assert_eq!(numbered(".bashrc", 1), ".bashrc (1)");
        assert_eq!(numbered("README", 3), "README (3)");
    }

    #[test]
    fn partial_names_are_hidden_unique_and_short_enough() {
        assert_eq!(partial_name("data.csv", 7), ".data.csv.berth-part-7");
        let long = "é".repeat(200);
        assert!(partial_name(&long, 123456).len() <= 255);
    }
}
