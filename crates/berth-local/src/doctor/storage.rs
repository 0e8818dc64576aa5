//! The data directory: can Berth write there, and is there room for folders.

use std::io::Write;
use std::path::Path;

use super::{CheckId, Finding};
use crate::disk::human_bytes;

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
    match crate::disk::capacity(existing).map(|c| c.free_bytes) {
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
}
