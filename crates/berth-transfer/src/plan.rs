//! Planning is the engine's part of a transfer: it knows its folders, so it turns "these paths,
//! into there" into one spec per file and says which destinations already exist. The app and
//! the CLI hold whichever engine is active behind this one trait instead of asking each time.

use std::path::{Path, PathBuf};

use berth_core::{Error, ErrorCode, FolderPath, Result};

use crate::{ConflictPolicy, Direction, TransferSpec};

#[async_trait::async_trait]
pub trait PlanTransfers: Send + Sync {
    /// Files and directory trees of this computer into directory `to` of `folder`; refuses a
    /// read-only or missing folder before anything is walked.
    async fn plan_upload(
        &self,
        folder: &str,
        sources: &[PathBuf],
        to: &FolderPath,
        conflict: ConflictPolicy,
        batch: &str,
    ) -> Result<Vec<TransferSpec>>;

    /// Files and trees of `folder` into directory `to` on this computer.
    async fn plan_download(
        &self,
        folder: &str,
        paths: &[FolderPath],
        to: &Path,
        conflict: ConflictPolicy,
        batch: &str,
    ) -> Result<Vec<TransferSpec>>;

    /// The planned transfers whose destination already exists, for the conflict question.
    async fn existing_destinations(&self, specs: &[TransferSpec]) -> Result<Vec<String>>;
}

/// Files desktop OSes drop into every directory; nobody wants them in a storage folder.
const JUNK: &[&str] = &[".DS_Store", "Thumbs.db", "desktop.ini"];

/// What uploading some files and trees of this computer into a folder directory means.
#[derive(Debug, Default)]
pub struct SourceTree {
    /// Every regular file, where it goes in the folder, and its size.
    pub files: Vec<(PathBuf, FolderPath, u64)>,
    /// Every directory met, where it goes; a parent always before its children.
    pub directories: Vec<FolderPath>,
}

/// Walks `sources` (files or directories on this computer) as they would land under `to`.
/// Symbolic links are skipped, never followed, and so are other special files; paths are made
/// absolute because the transfer journal outlives this process's working directory.
pub fn walk_sources(sources: &[PathBuf], to: &FolderPath) -> Result<SourceTree> {
    let mut tree = SourceTree::default();
    let mut pending: Vec<(PathBuf, FolderPath)> = Vec::new();
    for source in sources {
        let source = std::path::absolute(source).map_err(|e| host_read_error(source, e))?;
        let name = source.file_name().ok_or_else(|| {
            Error::invalid_input(format!(
                "{} has no file name to upload as.",
                source.display()
            ))
        })?;
        let remote = to.join(&name.to_string_lossy())?;
        pending.push((source, remote));
    }
    while let Some((local, remote)) = pending.pop() {
        let metadata = local
            .symlink_metadata()
            .map_err(|e| host_read_error(&local, e))?;
        if metadata.is_dir() {
            for entry in std::fs::read_dir(&local).map_err(|e| host_read_error(&local, e))? {
                let entry = entry.map_err(|e| host_read_error(&local, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !JUNK.contains(&name.as_str()) {
                    pending.push((entry.path(), remote.join(&name)?));
                }
            }
            tree.directories.push(remote);
        } else if metadata.is_file() {
            tree.files.push((local, remote, metadata.len()));
        }
    }
    Ok(tree)
}

/// One upload per walked file, in the order of their destinations (the queue runs them so).
pub fn upload_specs(
    files: Vec<(PathBuf, FolderPath, u64)>,
    folder: &str,
    conflict: ConflictPolicy,
    batch: &str,
) -> Vec<TransferSpec> {
    let mut specs: Vec<TransferSpec> = files
        .into_iter()
        .map(|(local, remote, size)| TransferSpec {
            batch: batch.to_string(),
            direction: Direction::Upload,
            folder: folder.to_string(),
            remote_path: remote.as_str().to_string(),
            local_path: local,
            size,
            conflict,
        })
        .collect();
    specs.sort_by(|a, b| a.remote_path.cmp(&b.remote_path));
    specs
}

/// Reading `path` of this computer (a file or tree picked for upload) failed: which path, and
/// why in words the user can act on, never the OS's bare text.
pub fn host_read_error(path: &Path, e: std::io::Error) -> Error {
    use std::io::ErrorKind as Kind;
    let why = match e.kind() {
        Kind::NotFound => "it does not exist (moved or deleted since it was picked?)".to_string(),
        Kind::PermissionDenied => {
            "Berth is not allowed to read it (check its permissions).".to_string()
        }
        _ => reason(&e),
    };
    Error::new(
        code_of(&e),
        format!("Cannot read {} on this computer: {why}", path.display()),
    )
}

/// Writing to `path` of this computer (a download, or a directory for one) failed: which
/// path, and why in words the user can act on.
pub fn host_error(path: &Path, e: std::io::Error) -> Error {
    use std::io::ErrorKind as Kind;
    let why = match e.kind() {
        Kind::NotFound => "a directory on the way does not exist (moved or deleted?)".to_string(),
        Kind::PermissionDenied => {
            "Berth is not allowed to write there (check its permissions).".to_string()
        }
        _ => reason(&e),
    };
    Error::new(
        code_of(&e),
        format!("Cannot write to {} on this computer: {why}", path.display()),
    )
}

fn code_of(e: &std::io::Error) -> ErrorCode {
    use std::io::ErrorKind as Kind;
    match e.kind() {
        Kind::NotFound => ErrorCode::NotFound,
        Kind::PermissionDenied | Kind::ReadOnlyFilesystem => ErrorCode::PermissionDenied,
        _ => ErrorCode::Internal,
    }
}

/// Why an I/O error happened, for the kinds a user meets, else the OS's words without its
/// error number.
fn reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind as Kind;
    match e.kind() {
        Kind::NotADirectory => "a part of the path is a file, not a directory.".to_string(),
        Kind::IsADirectory => "it is a directory, not a file.".to_string(),
        Kind::StorageFull => "the disk is full.".to_string(),
        Kind::ReadOnlyFilesystem => "the disk is read-only.".to_string(),
        _ => {
            let text = e.to_string();
            let text = text.split(" (os error ").next().unwrap_or_default();
            let mut chars = text.trim_end_matches('.').chars();
            match chars.next() {
                Some(first) => format!("{}{}.", first.to_lowercase(), chars.as_str()),
                None => "an error without a description.".to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_picked_file_that_is_gone_is_named_with_why_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("y.txt");

        let error = walk_sources(std::slice::from_ref(&gone), &FolderPath::root()).unwrap_err();

        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({
                "code": "not_found",
                "message": format!(
                    "Cannot read {} on this computer: it does not exist (moved or deleted since \
                     it was picked?)",
                    gone.display()
                ),
            })
        );
    }

    #[test]
    fn host_errors_say_what_was_done_with_which_path_without_os_numbers() {
        let path = Path::new("/x/y.txt");
        let denied = host_read_error(path, std::io::ErrorKind::PermissionDenied.into());
        assert_eq!(denied.code, ErrorCode::PermissionDenied);
        assert_eq!(
            denied.message,
            "Cannot read /x/y.txt on this computer: Berth is not allowed to read it (check its \
             permissions)."
        );
        let full = host_error(path, std::io::Error::from_raw_os_error(libc_enospc()));
        assert_eq!(full.code, ErrorCode::Internal);
        assert_eq!(
            full.message,
            "Cannot write to /x/y.txt on this computer: the disk is full."
        );
        let other = host_error(path, std::io::Error::from_raw_os_error(libc_eio()));
        assert!(!other.message.contains("os error"), "{}", other.message);
        assert!(
            other
                .message
                .starts_with("Cannot write to /x/y.txt on this computer: "),
            "{}",
            other.message
        );
    }

    /// "Disk full" and "I/O error" as the OS numbers them (ENOSPC, EIO; on Windows
    /// ERROR_DISK_FULL, ERROR_IO_DEVICE).
    fn libc_enospc() -> i32 {
        if cfg!(windows) { 112 } else { 28 }
    }
    fn libc_eio() -> i32 {
        if cfg!(windows) { 1117 } else { 5 }
    }

    #[test]
    fn a_tree_lists_its_files_and_directories_parents_first_and_skips_links_and_junk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("a/b/file"), b"12345").unwrap();
        std::fs::write(root.join("a/.DS_Store"), b"x").unwrap();
        // Windows lets only some users make links; the walk skips them the same way there.
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/passwd", root.join("a/link")).unwrap();
        std::fs::write(dir.path().join("single"), b"1").unwrap();
        let to = FolderPath::parse("in").unwrap();

        let tree = walk_sources(&[root.clone(), dir.path().join("single")], &to).unwrap();

        let mut files: Vec<_> = tree
            .files
            .iter()
            .map(|(local, remote, size)| (local.clone(), remote.as_str().to_string(), *size))
            .collect();
        files.sort();
        assert_eq!(
            files,
            vec![
                (root.join("a/b/file"), "in/data/a/b/file".to_string(), 5),
                (dir.path().join("single"), "in/single".to_string(), 1),
            ]
        );
        let dirs: Vec<&str> = tree.directories.iter().map(FolderPath::as_str).collect();
        for (parent, child) in [("in/data", "in/data/a"), ("in/data/a", "in/data/a/b")] {
            let at = |p| dirs.iter().position(|d| *d == p).unwrap();
            assert!(
                at(parent) < at(child),
                "{parent} before {child} in {dirs:?}"
            );
        }
        assert!(dirs.contains(&"in/data/empty"));
        assert_eq!(dirs.len(), 4);
    }

    #[test]
    fn a_missing_source_is_named_as_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let error = walk_sources(&[dir.path().join("gone")], &FolderPath::root()).unwrap_err();
        assert_eq!(error.code, ErrorCode::NotFound);
        assert!(error.message.contains("gone"), "{}", error.message);
    }
}
