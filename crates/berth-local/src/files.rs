//! Folder contents on the host, confined beneath the folder. Every operation goes through a
//! `cap_std::fs::Dir` opened on the folder's directory (openat2 with RESOLVE_BENEATH on Linux),
//! so a symlink a session wrote can never make the app read, write or delete outside the folder.

use std::io;
use std::path::Path;
use std::time::UNIX_EPOCH;

use berth_core::files::sort_for_explorer;
use berth_core::{
    Error, ErrorCode, FileEntry, FileKind, FileName, FolderPath, FolderUsage, Result,
};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, Metadata};

mod save;

/// One folder's directory, opened once; every path below is resolved inside it.
pub struct FolderFiles {
    dir: Dir,
    /// The folder's name, for error messages.
    folder: String,
    /// Who the files and directories this writes belong to, when not whoever runs Berth
    /// (see [`FolderFiles::new_entries_owned_by`]).
    owner: Option<(u32, u32)>,
}

impl FolderFiles {
    /// Opens the folder's directory. The directory itself comes from the engine's own catalog,
    /// never from user input.
    pub fn open(root: &Path, folder: &str) -> Result<Self> {
        let dir = Dir::open_ambient_dir(root, ambient_authority()).map_err(|e| {
            Error::internal(format!(
                "Cannot open folder \"{folder}\" at {}: {e}",
                root.display()
            ))
        })?;
        Ok(Self {
            dir,
            folder: folder.to_string(),
            owner: None,
        })
    }

    /// Makes every file, directory and link this creates belong to `owner` (uid, gid). When
    /// Berth runs as root, sessions run as an unprivileged uid and a folder is handed to it at
    /// session start; what Berth writes afterwards (an upload, a new directory) must be
    /// writable by a session that has the folder mounted, so it is handed over as it is made.
    pub fn new_entries_owned_by(mut self, owner: Option<(u32, u32)>) -> Self {
        self.owner = owner;
        self
    }

    /// Gives a file this just created, open as `opened`, to the folder's owner.
    fn own(&self, opened: &cap_std::fs::File, path: &FolderPath) -> Result<()> {
        match self.owner {
            #[cfg(unix)]
            Some((uid, gid)) => std::os::unix::fs::fchown(opened, Some(uid), Some(gid))
                .map_err(|e| self.error(e, path)),
            _ => {
                let _ = (opened, path);
                Ok(())
            }
        }
    }

    /// Gives a directory or link this just created to the folder's owner, never following a
    /// link: the entry is named relative to its parent, opened confined like every other path.
    /// (cap-std opens directories `O_PATH`, which `fchown` refuses.)
    fn own_entry(&self, path: &FolderPath) -> Result<()> {
        let Some((uid, gid)) = self.owner else {
            return Ok(());
        };
        let parent = path.parent().unwrap_or_else(FolderPath::root);
        let name = path.file_name().unwrap_or_default();
        let dir = match parent.is_root() {
            true => self.dir.try_clone(),
            false => self.dir.open_dir(parent.as_str()),
        }
        .map_err(|e| self.error(e, &parent))?;
        let name = std::ffi::CString::new(name)
            .map_err(|_| Error::invalid_input(format!("\"{path}\" contains a NUL byte.")))?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: a directory descriptor we hold and a NUL-terminated single-component
            // name; AT_SYMLINK_NOFOLLOW re-owns the link itself, never its target.
            let done = unsafe {
                libc::fchownat(
                    dir.as_raw_fd(),
                    name.as_ptr(),
                    uid,
                    gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
            if done != 0 {
                return Err(self.error(io::Error::last_os_error(), path));
            }
        }
        #[cfg(not(unix))]
        let _ = (dir, name, uid, gid);
        Ok(())
    }

    /// Entries of directory `path`, sorted by name. Symlinks are reported as links with their
    /// target text; nothing is followed.
    pub fn list(&self, path: &FolderPath) -> Result<Vec<FileEntry>> {
        let entries = self.read_dir(path)?;
        let mut listed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.error(e, path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // DirEntry::metadata does not follow symlinks.
            let metadata = entry.metadata().map_err(|e| self.error(e, path))?;
            listed.push(self.describe(&path.join(&name)?, name, &metadata));
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    /// Names and kinds of directory `path`'s entries in the explorer's order, from the
    /// directory read alone (no `stat` per entry where the file system reports types).
    pub fn names(&self, path: &FolderPath) -> Result<Vec<FileName>> {
        let entries = self.read_dir(path)?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.error(e, path))?;
            let kind = kind_of_type(entry.file_type().map_err(|e| self.error(e, path))?);
            names.push(FileName {
                name: entry.file_name().to_string_lossy().into_owned(),
                kind,
            });
        }
        sort_for_explorer(&mut names);
        Ok(names)
    }

    /// Full entries for `names` in directory `path` (the rows on screen). Names that are gone
    /// meanwhile are left out; links are described, not followed.
    pub fn stat(&self, path: &FolderPath, names: &[String]) -> Result<Vec<FileEntry>> {
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            let entry = path.join(name)?;
            let metadata = match self.dir.symlink_metadata(entry.as_str()) {
                Ok(metadata) => metadata,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.error(e, &entry)),
            };
            found.push(self.describe(&entry, name.clone(), &metadata));
        }
        Ok(found)
    }

    fn describe(&self, path: &FolderPath, name: String, metadata: &Metadata) -> FileEntry {
        let kind = kind_of(metadata);
        let link_target = (kind == FileKind::Symlink)
            .then(|| self.dir.read_link_contents(path.as_str()).ok())
            .flatten()
            .map(|t| t.to_string_lossy().into_owned());
        FileEntry {
            size: if kind == FileKind::File {
                metadata.len()
            } else {
                0
            },
            modified_ms: modified_ms(metadata),
            kind,
            name,
            link_target,
        }
    }

    fn read_dir(&self, path: &FolderPath) -> Result<cap_std::fs::ReadDir> {
        if path.is_root() {
            self.dir.entries()
        } else {
            self.dir.read_dir(path.as_str())
        }
        .map_err(|e| self.error(e, path))
    }

    /// Makes directory `path` and any missing parents; each one made is given to the folder's
    /// owner.
    pub fn make_dir(&self, path: &FolderPath) -> Result<()> {
        let mut made = FolderPath::root();
        for component in path.as_str().split('/').filter(|c| !c.is_empty()) {
            made = made.join(component)?;
            match self.dir.create_dir(made.as_str()) {
                Ok(()) => self.own_entry(&made)?,
                // Something is already there: fine if it is a directory (a link to one inside
                // the folder included); a link out of the folder gets the "leads outside"
                // refusal.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    match self.dir.metadata(made.as_str()) {
                        Ok(metadata) if metadata.is_dir() => {}
                        Ok(_) => {
                            return Err(Error::new(
                                ErrorCode::AlreadyExists,
                                format!(
                                    "\"{made}\" in folder \"{}\" is a file, not a directory.",
                                    self.folder
                                ),
                            ));
                        }
                        Err(e) => return Err(self.error(e, &made)),
                    }
                }
                Err(e) => return Err(self.error(e, &made)),
            }
        }
        Ok(())
    }

    pub fn move_path(&self, from: &FolderPath, to: &FolderPath) -> Result<()> {
        if from.is_root() || to.is_root() {
            return Err(Error::invalid_input(
                "The folder itself cannot be moved; pick an entry in it.",
            ));
        }
        if to.as_str().starts_with(&format!("{}/", from.as_str())) {
            return Err(Error::invalid_input(format!(
                "Cannot move \"{from}\" into itself (\"{to}\")."
            )));
        }
        // rename(2) silently replaces a file: check first so a move never destroys data.
        match self.dir.symlink_metadata(to.as_str()) {
            Ok(_) => {
                return Err(Error::new(
                    ErrorCode::AlreadyExists,
                    format!("\"{to}\" already exists in folder \"{}\".", self.folder),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.error(e, to)),
        }
        self.dir
            .rename(from.as_str(), &self.dir, to.as_str())
            .map_err(|e| self.error(e, from))
    }

    /// Removes a file, a link (not its target) or a directory tree.
    pub fn remove(&self, path: &FolderPath) -> Result<()> {
        if path.is_root() {
            return Err(Error::invalid_input(
                "The folder itself cannot be deleted here; move it to the trash instead.",
            ));
        }
        let metadata = self
            .dir
            .symlink_metadata(path.as_str())
            .map_err(|e| self.error(e, path))?;
        if metadata.is_dir() {
            self.dir.remove_dir_all(path.as_str())
        } else {
            self.dir.remove_file(path.as_str())
        }
        .map_err(|e| self.error(e, path))
    }

    /// Opens a regular file for reading. Links inside the folder are followed as far as they
    /// stay inside; a link out of it is refused.
    pub fn open_read(&self, path: &FolderPath) -> Result<std::fs::File> {
        let file = self
            .dir
            .open(path.as_str())
            .map_err(|e| self.error(e, path))?;
        let metadata = file.metadata().map_err(|e| self.error(e, path))?;
        if !metadata.is_file() {
            return Err(Error::invalid_input(format!(
                "\"{path}\" in folder \"{}\" is not a regular file.",
                self.folder
            )));
        }
        Ok(file.into_std())
    }

    /// Up to `length` bytes (at most [`berth_core::LARGEST_RANGE`]) of regular file `path`
    /// from `offset`, and its size; confined as [`FolderFiles::open_read`].
    pub fn read_range(
        &self,
        path: &FolderPath,
        offset: u64,
        length: u32,
    ) -> Result<berth_core::FileRange> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = self.open_read(path)?;
        let size = file.metadata().map_err(|e| self.error(e, path))?.len();
        let wanted =
            u64::from(length.min(berth_core::LARGEST_RANGE)).min(size.saturating_sub(offset));
        let mut bytes = Vec::with_capacity(wanted as usize);
        if wanted > 0 {
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| self.error(e, path))?;
            file.take(wanted)
                .read_to_end(&mut bytes)
                .map_err(|e| self.error(e, path))?;
        }
        Ok(berth_core::FileRange {
            offset,
            bytes,
            size,
        })
    }

    /// Opens (creating) a partial file for writing without truncating it, so a transfer can
    /// continue where it stopped. Never follows a link at the last component.
    pub fn open_partial(&self, path: &FolderPath) -> Result<std::fs::File> {
        use cap_std::fs::OpenOptions;
        #[cfg(unix)]
        use cap_std::fs::OpenOptionsExt;
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true);
        #[cfg(unix)]
        options.custom_flags(libc::O_NOFOLLOW);
        let file = self
            .dir
            .open_with(path.as_str(), &options)
            .map_err(|e| self.error(e, path))?;
        self.own(&file, path)?;
        Ok(file.into_std())
    }

    /// Copies everything in this folder into `target`'s top level (which should be empty):
    /// directories, files and links, the links as links. Nothing is followed, so nothing
    /// outside either folder is read or written.
    pub fn copy_all_into(&self, target: &FolderFiles) -> Result<()> {
        let mut pending = vec![FolderPath::root()];
        while let Some(dir) = pending.pop() {
            for entry in self.list(&dir)? {
                let path = dir.join(&entry.name)?;
                match entry.kind {
                    FileKind::Directory => {
                        target.make_dir(&path)?;
                        pending.push(path);
                    }
                    FileKind::File => {
                        let mut from = self.open_read(&path)?;
                        let mut to = target.create_new(&path)?;
                        io::copy(&mut from, &mut to).map_err(|e| target.error(e, &path))?;
                    }
                    FileKind::Symlink => {
                        let link = self
                            .dir
                            .read_link_contents(path.as_str())
                            .map_err(|e| self.error(e, &path))?;
                        make_link(&target.dir, &link, &path).map_err(|e| target.error(e, &path))?;
                        target.own_entry(&path)?;
                    }
                    FileKind::Other => {}
                }
            }
        }
        Ok(())
    }

    /// Adds up the whole folder: bytes of regular files, files, directories. Links are not
    /// followed (a link to a huge directory elsewhere counts as nothing).
    pub fn usage(&self) -> Result<FolderUsage> {
        let mut usage = FolderUsage {
            bytes: 0,
            files: 0,
            directories: 0,
        };
        let mut pending = vec![FolderPath::root()];
        while let Some(dir) = pending.pop() {
            for entry in self.read_dir(&dir)? {
                let entry = entry.map_err(|e| self.error(e, &dir))?;
                let metadata = entry.metadata().map_err(|e| self.error(e, &dir))?;
                match kind_of(&metadata) {
                    FileKind::Directory => {
                        usage.directories += 1;
                        pending.push(dir.join(&entry.file_name().to_string_lossy())?);
                    }
                    FileKind::File => {
                        usage.files += 1;
                        usage.bytes += metadata.len();
                    }
                    FileKind::Symlink | FileKind::Other => {}
                }
            }
        }
        Ok(usage)
    }

    /// Creates a new file; fails when something is already there (never follows a link).
    pub fn create_new(&self, path: &FolderPath) -> Result<std::fs::File> {
        let mut options = cap_std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        let file = self
            .dir
            .open_with(path.as_str(), &options)
            .map_err(|e| self.error(e, path))?;
        self.own(&file, path)?;
        Ok(file.into_std())
    }

    /// What is at `path`, without following a link there; `None` when nothing is.
    pub fn kind(&self, path: &FolderPath) -> Result<Option<FileKind>> {
        match self.dir.symlink_metadata(path.as_str()) {
            Ok(metadata) => Ok(Some(kind_of(&metadata))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error(e, path)),
        }
    }

    /// What `path` is once links inside the folder are followed; a link out of it is refused.
    pub fn kind_following_links(&self, path: &FolderPath) -> Result<Option<FileKind>> {
        match self.dir.metadata(path.as_str()) {
            Ok(metadata) => Ok(Some(kind_of(&metadata))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error(e, path)),
        }
    }

    /// Renames `from` to `to`, replacing a file at `to` (the caller decided that).
    pub fn replace(&self, from: &FolderPath, to: &FolderPath) -> Result<()> {
        self.dir
            .rename(from.as_str(), &self.dir, to.as_str())
            .map_err(|e| self.error(e, to))
    }

    pub fn remove_file(&self, path: &FolderPath) -> Result<()> {
        match self.dir.remove_file(path.as_str()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.error(e, path)),
            _ => Ok(()),
        }
    }

    /// Maps an I/O error on `path` to what the user can act on. cap-std reports a resolution
    /// that would leave the folder as PermissionDenied with this message.
    fn error(&self, e: io::Error, path: &FolderPath) -> Error {
        let folder = &self.folder;
        match e.kind() {
            io::ErrorKind::NotFound => Error::new(
                ErrorCode::NotFound,
                format!("\"{path}\" does not exist in folder \"{folder}\"."),
            ),
            io::ErrorKind::PermissionDenied if e.to_string().contains("outside") => {
                Error::invalid_input(format!(
                    "\"{path}\" leads outside folder \"{folder}\" through a symbolic link; Berth does not follow it."
                ))
            }
            io::ErrorKind::PermissionDenied => Error::new(
                ErrorCode::PermissionDenied,
                format!("\"{path}\" in folder \"{folder}\" is not accessible: {e}."),
            ),
            io::ErrorKind::AlreadyExists => Error::new(
                ErrorCode::AlreadyExists,
                format!("\"{path}\" already exists in folder \"{folder}\"."),
            ),
            io::ErrorKind::NotADirectory => Error::invalid_input(format!(
                "\"{path}\" in folder \"{folder}\" goes through a file, not a directory."
            )),
            #[cfg(unix)]
            _ if e.raw_os_error() == Some(libc::ELOOP) => Error::invalid_input(format!(
                "\"{path}\" in folder \"{folder}\" is a symbolic link; Berth does not follow it."
            )),
            _ => Error::internal(format!("\"{path}\" in folder \"{folder}\": {e}")),
        }
    }
}

fn kind_of(metadata: &Metadata) -> FileKind {
    kind_of_type(metadata.file_type())
}

fn kind_of_type(file_type: cap_std::fs::FileType) -> FileKind {
    if file_type.is_symlink() {
        FileKind::Symlink
    } else if file_type.is_dir() {
        FileKind::Directory
    } else if file_type.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    }
}

fn modified_ms(metadata: &Metadata) -> Option<i64> {
    let modified = metadata.modified().ok()?.into_std();
    let since = modified.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

/// Recreates link `path` pointing at `link` (its contents, not resolved) in `dir`.
#[cfg(not(windows))]
fn make_link(dir: &cap_std::fs::Dir, link: &std::path::Path, path: &FolderPath) -> io::Result<()> {
    dir.symlink_contents(link, path.as_str())
}

/// Windows names a link's kind when it is made: a directory link where the target (resolved
/// inside the folder, from the link's directory) is a directory, else a file link.
#[cfg(windows)]
fn make_link(dir: &cap_std::fs::Dir, link: &std::path::Path, path: &FolderPath) -> io::Result<()> {
    let parent = path.parent().unwrap_or_else(FolderPath::root);
    let resolved = std::path::Path::new(parent.as_str()).join(link);
    if dir.metadata(&resolved).is_ok_and(|m| m.is_dir()) {
        dir.symlink_dir(link, path.as_str())
    } else {
        dir.symlink_file(link, path.as_str())
    }
}
