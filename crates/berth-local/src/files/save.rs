//! A whole file written into a folder for the window's editor: the bytes go to a new file
//! beside the target, which then takes the target's name in one rename — so the folder never
//! holds a half-written file under its name — after checking the target is still the version
//! the editor read.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use berth_core::files::check_save;
use berth_core::{Error, ErrorCode, FileEntry, FileVersion, FolderPath, Result, SaveMode};

use super::FolderFiles;

/// Tells apart the scratch files of saves running at once in this process.
static SCRATCH: AtomicU32 = AtomicU32::new(0);

impl FolderFiles {
    /// Writes `bytes` as file `path` by `mode` (see [`berth_core::Engine::write_file`]).
    pub fn save(&self, path: &FolderPath, bytes: &[u8], mode: SaveMode) -> Result<FileVersion> {
        let (parent, name) = berth_core::engine::split_file_path(path)?;
        let found = self.entry(&parent, &name)?;
        check_save(&self.folder, path.as_str(), found.as_ref(), mode)?;
        let scratch = parent.join(&format!(
            ".{name}.berth-save-{}-{}",
            std::process::id(),
            SCRATCH.fetch_add(1, Ordering::Relaxed)
        ))?;
        let written = self.write_scratch(&scratch, bytes, found.is_some().then_some(path));
        let placed = written.and_then(|()| {
            // Checked again at the last moment: an editor's save takes a human's time, the
            // write above a machine's, and what matters is the file as it is replaced.
            let now = self.entry(&parent, &name)?;
            check_save(&self.folder, path.as_str(), now.as_ref(), mode)?;
            match mode {
                SaveMode::CreateNew => self.place_new(&scratch, path),
                SaveMode::IfUnchanged { .. } | SaveMode::Overwrite => self.replace(&scratch, path),
            }
        });
        if placed.is_err() {
            let _ = self.remove_file(&scratch);
        }
        placed?;
        let saved = self.entry(&parent, &name)?.ok_or_else(|| {
            Error::internal(format!("\"{path}\" vanished as soon as it was saved."))
        })?;
        Ok(FileVersion::from(&saved))
    }

    /// Copies file `source` of this computer to `path`, replacing what is there (a file or a
    /// link; never a directory) through a scratch file renamed into place. For many small
    /// files: no version check, no sync to disk (as `cp` and `rsync`).
    pub fn put_from(&self, source: &std::path::Path, path: &FolderPath) -> Result<()> {
        let (parent, name) = berth_core::engine::split_file_path(path)?;
        // Not through a link: the sync that planned this skipped links, and one put in the
        // file's place since then is not followed either.
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
        let mut from = options
            .open(source)
            .map_err(|e| Error::invalid_input(format!("Cannot read {}: {e}", source.display())))?;
        let scratch = parent.join(&format!(
            ".{name}.berth-save-{}-{}",
            std::process::id(),
            SCRATCH.fetch_add(1, Ordering::Relaxed)
        ))?;
        let mut to = self.create_new(&scratch)?;
        let copied = std::io::copy(&mut from, &mut to).map_err(|e| self.error(e, &scratch));
        drop(to);
        let placed = copied.and_then(|_| self.replace(&scratch, path));
        if placed.is_err() {
            let _ = self.remove_file(&scratch);
        }
        placed
    }

    /// What is at `name` in `parent`, links not followed.
    fn entry(&self, parent: &FolderPath, name: &str) -> Result<Option<FileEntry>> {
        Ok(self.stat(parent, &[name.to_string()])?.into_iter().next())
    }

    /// The new contents in `scratch`, on disk, with the permissions of `replacing`, the file
    /// it is to replace (a script stays executable).
    fn write_scratch(
        &self,
        scratch: &FolderPath,
        bytes: &[u8],
        replacing: Option<&FolderPath>,
    ) -> Result<()> {
        let mut file = self.create_new(scratch)?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| self.error(e, scratch))?;
        #[cfg(unix)]
        if let Some(Ok(metadata)) = replacing.map(|p| self.dir.symlink_metadata(p.as_str())) {
            use std::os::unix::fs::PermissionsExt;
            let mode = cap_std::fs::PermissionsExt::mode(&metadata.permissions());
            file.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(|e| self.error(e, scratch))?;
        }
        #[cfg(not(unix))]
        let _ = replacing;
        Ok(())
    }

    /// Gives `scratch` the name `path` only if nothing has it: a hard link fails when the name
    /// is taken, where a rename would replace.
    fn place_new(&self, scratch: &FolderPath, path: &FolderPath) -> Result<()> {
        match self
            .dir
            .hard_link(scratch.as_str(), &self.dir, path.as_str())
        {
            Ok(()) => self.remove_file(scratch),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::new(
                ErrorCode::AlreadyExists,
                format!(
                    "\"{path}\" already exists in folder \"{}\"; choose another name.",
                    self.folder
                ),
            )),
            // A file system without hard links (FAT on a USB stick): a rename after one more
            // look is the closest it has.
            Err(_) if matches!(self.kind(path), Ok(None)) => self.replace(scratch, path),
            Err(e) => Err(self.error(e, path)),
        }
    }
}
