//! The data directory: can Berth write there, and is there room for folders.

use std::io::Write;
use std::path::Path;

use super::{CheckId, Finding};

/// Below this the engine refuses to run sessions: a single upload would fill the disk.
const FAIL_BELOW_BYTES: u64 = 512 << 20;
/// Below this it works but warns.
const WARN_BELOW_BYTES: u64 = 5 << 30;

pub(super) fn data_dir(dir: &Path) -> Finding {
    let fix =
        "Pick a writable directory with --data-dir DIR or BERTH_DATA_DIR, or fix its permissions.";
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Finding::fail(
            CheckId::DataDir,
            format!("cannot create {}: {e}", dir.display()),
            fix,
        );
    }
    let probe = dir.join(format!(".berth-doctor-{}", std::process::id()));
    let written = std::fs::File::create(&probe)
        .and_then(|mut file| file.write_all(b"berth").and_then(|()| file.sync_all()));
    // Remove the probe even when the write failed half-way.
    let _ = std::fs::remove_file(&probe);
    match written {
        Ok(()) => Finding::ok(CheckId::DataDir, format!("{} is writable", dir.display())),
        Err(e) => Finding::fail(
            CheckId::DataDir,
            format!("cannot write in {}: {e}", dir.display()),
            fix,
        ),
    }
}

pub(super) fn free_disk(dir: &Path) -> Finding {
    let fix =
        "Free some space on that disk, or keep Berth's data on another one with --data-dir DIR.";
    // Measure the nearest directory that exists, so a data dir not created yet still reports
    // the disk it would land on.
    let existing = dir.ancestors().find(|p| p.is_dir()).unwrap_or(dir);
    match available_bytes(existing) {
        Err(e) => Finding::fail(
            CheckId::FreeDisk,
            format!("cannot read free space of {}: {e}", dir.display()),
            fix,
        ),
        Ok(free) if free < FAIL_BELOW_BYTES => Finding::fail(
            CheckId::FreeDisk,
            format!("only {} free", human_bytes(free)),
            fix,
        ),
        Ok(free) if free < WARN_BELOW_BYTES => Finding::warn(
            CheckId::FreeDisk,
            format!("{} free, which fills fast", human_bytes(free)),
            fix,
        ),
        Ok(free) => Finding::ok(CheckId::FreeDisk, format!("{} free", human_bytes(free))),
    }
}

#[cfg(unix)]
fn available_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid C string and `stats` points to writable memory of the right size.
    let rc = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `stats`.
    let stats = unsafe { stats.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between libc targets
    Ok(stats.f_bavail as u64 * stats.f_frsize as u64)
}

#[cfg(not(unix))]
fn available_bytes(_dir: &Path) -> std::io::Result<u64> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "not measured on this OS yet",
    ))
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Verdict;

    #[test]
    fn a_fresh_directory_is_created_and_left_clean() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        let finding = data_dir(&dir);
        assert_eq!(finding.verdict, Verdict::Ok, "{finding:?}");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "the probe file is removed"
        );
    }

    #[test]
    fn a_path_under_a_file_fails_with_a_fix() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("file"), b"").unwrap();
        let finding = data_dir(&root.path().join("file/sub"));
        assert_eq!(finding.verdict, Verdict::Fail);
        assert!(finding.fix.unwrap().contains("--data-dir"));
    }

    #[test]
    fn free_space_of_a_real_directory_is_measured() {
        let root = tempfile::tempdir().unwrap();
        assert!(available_bytes(root.path()).unwrap() > 0);
    }

    #[test]
    fn sizes_read_like_a_file_manager() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }
}
