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
use crate::verified_copy::{STOPPED, copy_verified};

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
    let copied = copy_verified(&source, &target, &|| stop.is_set(), &**progress)
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
    let copied = copy_verified(&source, &target, &|| stop.is_set(), &**progress)
        .map_err(|e| host_error(&partial, e))?;
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
