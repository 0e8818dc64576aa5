//! When Berth runs as root, sessions run as an unprivileged uid (`local-sandbox.md`), so the
//! folders they write into must belong to that uid. This hands a folder's tree over before a
//! read-write mount, confined like every other host-side operation: each directory is opened
//! relative to its parent without following links, and links are re-owned, never followed — a
//! link a session planted cannot make root chown anything outside the folder.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn check(result: libc::c_int) -> io::Result<()> {
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn open_dir_at(parent: libc::c_int, name: &CString) -> io::Result<OwnedFd> {
    // SAFETY: name is NUL-terminated; openat returns a new descriptor or -1.
    let fd = unsafe {
        libc::openat(
            parent,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we own from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Hands the folder mounted as `mount` (at `source` on this disk) to the session user, unless
/// it is mounted read-only, with an error that names the folder.
pub fn hand_over_folder(
    mount: &berth_core::PlannedMount,
    source: &Path,
    (uid, gid): (u32, u32),
) -> berth_core::Result<()> {
    if mount.read_only {
        return Ok(());
    }
    hand_over(source, uid, gid).map_err(|e| {
        super::io_error(
            &format!(
                "Cannot give folder \"{}\" to the session user",
                mount.folder_name
            ),
            e,
        )
    })
}

/// Makes `uid:gid` own the directory `root` and everything beneath it.
pub fn hand_over(root: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let path = CString::new(root.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in folder path"))?;
    let dir = open_dir_at(libc::AT_FDCWD, &path)?;
    // SAFETY: a valid descriptor.
    check(unsafe { libc::fchown(dir.as_raw_fd(), uid, gid) })?;
    walk(&dir, uid, gid)
}

fn walk(dir: &OwnedFd, uid: u32, gid: u32) -> io::Result<()> {
    // Listing through the descriptor's /proc link reads exactly this directory.
    let entries = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?;
    for entry in entries {
        let entry = entry?;
        let name = CString::new(entry.file_name().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "NUL in a file name"))?;
        // SAFETY: stat is a plain out struct; name is NUL-terminated.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        check(unsafe {
            libc::fstatat(
                dir.as_raw_fd(),
                name.as_ptr(),
                &mut stat,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        if stat.st_uid != uid || stat.st_gid != gid {
            // SAFETY: as above; AT_SYMLINK_NOFOLLOW re-owns a link itself.
            check(unsafe {
                libc::fchownat(
                    dir.as_raw_fd(),
                    name.as_ptr(),
                    uid,
                    gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            })?;
        }
        if stat.st_mode & libc::S_IFMT == libc::S_IFDIR {
            walk(&open_dir_at(dir.as_raw_fd(), &name)?, uid, gid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_tree_is_handed_over_and_links_are_not_followed() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: changing owners needs root, and this test runs as a user");
            return;
        }
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret");
        std::fs::write(&secret, b"x").unwrap();
        let folder = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(folder.path().join("a/b")).unwrap();
        std::fs::write(folder.path().join("a/b/f"), b"1").unwrap();
        std::os::unix::fs::symlink(&secret, folder.path().join("a/link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), folder.path().join("dirlink")).unwrap();

        hand_over(folder.path(), 65534, 65534).unwrap();

        for p in ["", "a", "a/b", "a/b/f", "a/link", "dirlink"] {
            let meta = std::fs::symlink_metadata(folder.path().join(p)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "{p}");
        }
        let meta = std::fs::metadata(&secret).unwrap();
        assert_eq!(
            meta.uid(),
            0,
            "the link's target outside the folder kept its owner"
        );
        assert_eq!(std::fs::metadata(outside.path()).unwrap().uid(), 0);
    }
}
