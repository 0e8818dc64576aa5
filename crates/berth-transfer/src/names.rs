//! The names every transport gives files on this computer and in folders, so a download or an
//! upload looks the same whichever engine moved it: a hidden partial file while bytes arrive,
//! `name (2).ext` for keep-both, and one message when a destination is taken.

use std::path::{Path, PathBuf};

use berth_core::{Error, ErrorCode};

/// `.name.berth-part-ID`: hidden, unique per job, within the 255-byte file name limit.
pub fn partial_name(name: &str, id: i64) -> String {
    let suffix = format!(".berth-part-{id}");
    let mut keep = name.len().min(250 - suffix.len());
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!(".{}{suffix}", &name[..keep])
}

/// [`partial_name`] beside `dest` on this computer.
pub fn partial_on_host(dest: &Path, id: i64) -> PathBuf {
    dest.with_file_name(partial_name(&file_name(dest), id))
}

/// `report.pdf` → `report (2).pdf`; `.bashrc` → `.bashrc (2)`; `archive.tar.gz` →
/// `archive (2).tar.gz`.
pub fn numbered(name: &str, n: u32) -> String {
    let split = name.get(1..).and_then(|rest| rest.find('.')).map(|i| i + 1);
    match split {
        Some(i) => format!("{} ({n}){}", &name[..i], &name[i..]),
        None => format!("{name} ({n})"),
    }
}

/// `name (1).ext`, `name (2).ext`, ... beside `dest`: the first one nothing on this computer
/// has (links included).
pub fn free_host_name(dest: &Path) -> PathBuf {
    let name = file_name(dest);
    (1..)
        .map(|n| dest.with_file_name(numbered(&name, n)))
        .find(|p| p.symlink_metadata().is_err())
        .unwrap_or_else(|| dest.to_path_buf())
}

/// The destination `what` exists and the policy did not say what to do.
pub fn exists_error(what: &str) -> Error {
    Error::new(
        ErrorCode::AlreadyExists,
        format!("\"{what}\" already exists; choose replace, skip or keep both."),
    )
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_and_numbered_names() {
        assert_eq!(partial_name("data.csv", 7), ".data.csv.berth-part-7");
        assert_eq!(
            partial_on_host(Path::new("/d/data.csv"), 7),
            Path::new("/d/.data.csv.berth-part-7")
        );
        let long = "é".repeat(200);
        assert!(partial_name(&long, 123_456).len() <= 255);
        assert_eq!(numbered("report.pdf", 1), "report (1).pdf");
        assert_eq!(numbered("archive.tar.gz", 2), "archive (2).tar.gz");
        assert_eq!(numbered(".bashrc", 1), ".bashrc (1)");
        assert_eq!(numbered("README", 3), "README (3)");
    }
}
