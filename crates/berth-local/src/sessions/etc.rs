//! The curated `/etc` sessions see: a copy of the host entries shells, the dynamic linker, TLS,
//! Python and locales need, plus Berth's own `passwd` and `group`. Built once into the runtime
//! directory and shared read-only by every session: binding one directory costs one mount,
//! where binding each of ~30 host entries cost more than starting bwrap itself. A new copy is
//! made when the host's entries change (their sizes and mtimes are the copy's name).

use std::hash::{Hash, Hasher};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Host `/etc` entries a session may read — never `shadow`, `sudoers`, ssh host keys, TLS
/// private keys or the host's user list.
pub const HOST_ETC: &[&str] = &[
    "alternatives",
    "bash.bashrc",
    "bash_completion",
    "bash_completion.d",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "gai.conf",
    "host.conf",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "pki",
    "profile",
    "profile.d",
    "protocols",
    "python3",
    "python3.11",
    "python3.12",
    "services",
    "ssl",
    "terminfo",
    "timezone",
    "vim",
];

/// Written by Berth (or bound per session), never taken from the source.
const PER_SESSION: &[&str] = &["passwd", "group", "hostname", "hosts", "resolv.conf"];

/// Never copied, even from inside an allowed entry.
const NEVER: &[&str] = &["ssl/private", "pki/tls/private"];

/// Berth's session user list, the same in every session.
pub fn passwd(uid: u32) -> String {
    format!(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n\
         work:x:{uid}:{uid}:work:/home/work:/bin/bash\n\
         nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
}

pub fn group(uid: u32) -> String {
    format!("root:x:0:\nwork:x:{uid}:\nnogroup:x:65534:\n")
}

/// Which entries of a source `/etc` a session gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// The host's: only [`HOST_ETC`].
    Host,
    /// An image's or registered root file system's own `/etc`: all of it.
    Everything,
}

fn entries(source: &Path, selection: Selection) -> Vec<String> {
    match selection {
        Selection::Host => HOST_ETC.iter().map(|e| (*e).to_owned()).collect(),
        Selection::Everything => {
            let mut names: Vec<String> = std::fs::read_dir(source)
                .map(|list| {
                    list.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| !PER_SESSION.contains(&n.as_str()))
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            names
        }
    }
}

/// What the source's entries look like now: a change in any of them makes a new copy.
fn signature(source: &Path, names: &[String], uid: u32) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (uid, source).hash(&mut hasher);
    for entry in names {
        if let Ok(meta) = std::fs::symlink_metadata(source.join(entry)) {
            (
                entry,
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec(),
                meta.ino(),
            )
                .hash(&mut hasher);
        }
    }
    format!("{:016x}", hasher.finish())
}

/// The shared copy of `source`'s `/etc` for sessions whose user is `uid`, under `base`; made if
/// missing.
pub fn curated(base: &Path, source: &Path, selection: Selection, uid: u32) -> io::Result<PathBuf> {
    let names = entries(source, selection);
    let dir = base.join(format!("etc-{}", signature(source, &names, uid)));
    if dir.join("passwd").exists() {
        return Ok(dir);
    }
    // Built aside and renamed into place, so a concurrent start never sees half a copy.
    let building = base.join(format!(
        ".etc-building-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&building)?;
    std::fs::set_permissions(&building, std::fs::Permissions::from_mode(0o755))?;
    for entry in &names {
        copy(&source.join(entry), &building.join(entry), entry)?;
    }
    // hostname and hosts are bound over these per session; a read-only /etc could not take a
    // new mount point.
    for (name, text) in [
        ("passwd", passwd(uid)),
        ("group", group(uid)),
        ("hostname", String::new()),
        ("hosts", String::new()),
        ("resolv.conf", String::new()),
    ] {
        std::fs::write(building.join(name), text)?;
        std::fs::set_permissions(building.join(name), std::fs::Permissions::from_mode(0o644))?;
    }
    match std::fs::rename(&building, &dir) {
        Ok(()) => Ok(dir),
        // Someone else finished first: theirs is as good as ours.
        Err(_) if dir.join("passwd").exists() => {
            let _ = std::fs::remove_dir_all(&building);
            Ok(dir)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&building);
            Err(e)
        }
    }
}

/// Copies files, directories and links (as links: they point into `/usr` or within `/etc`),
/// readable by everyone; what cannot be read is left out rather than failing a session.
fn copy(from: &Path, to: &Path, relative: &str) -> io::Result<()> {
    if NEVER.contains(&relative) {
        return Ok(());
    }
    let Ok(meta) = std::fs::symlink_metadata(from) else {
        return Ok(());
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if kind.is_dir() {
        std::fs::create_dir(to)?;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))?;
        let Ok(entries) = std::fs::read_dir(from) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let child = format!("{relative}/{}", name.to_string_lossy());
            copy(&entry.path(), &to.join(&name), &child)?;
        }
    } else if kind.is_file() && meta.mode() & 0o004 != 0 {
        // Only what everyone may read on the host: a root-only file stays root's.
        if std::fs::copy(from, to).is_ok() {
            std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o644))?;
        }
    }
    Ok(())
}

/// Removes copies other than `keep`: older signatures left by host updates.
pub fn prune(base: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("etc-") && entry.path() != keep {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_world_readable_entries_are_copied_and_changes_make_a_new_copy() {
        let host = tempfile::tempdir().unwrap();
        let base = tempfile::tempdir().unwrap();
        let etc = host.path();
        std::fs::write(etc.join("shadow"), "root:secret").unwrap();
        std::fs::write(etc.join("nsswitch.conf"), "passwd: files").unwrap();
        std::fs::create_dir_all(etc.join("ssl/private")).unwrap();
        std::fs::create_dir_all(etc.join("ssl/certs")).unwrap();
        std::fs::write(etc.join("ssl/private/key.pem"), "KEY").unwrap();
        std::fs::write(etc.join("ssl/certs/ca.pem"), "CA").unwrap();
        std::fs::write(etc.join("profile"), "secret-ish").unwrap();
        std::fs::set_permissions(etc.join("profile"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        std::os::unix::fs::symlink("/usr/bin/vim.basic", etc.join("alternatives")).unwrap();

        let copy = curated(base.path(), etc, Selection::Host, 1000).unwrap();
        assert_eq!(
            std::fs::read_to_string(copy.join("nsswitch.conf")).unwrap(),
            "passwd: files"
        );
        assert_eq!(
            std::fs::read_to_string(copy.join("ssl/certs/ca.pem")).unwrap(),
            "CA"
        );
        assert!(!copy.join("shadow").exists());
        assert!(!copy.join("ssl/private").exists());
        assert!(
            !copy.join("profile").exists(),
            "a 0600 host file was copied"
        );
        assert_eq!(
            std::fs::read_link(copy.join("alternatives")).unwrap(),
            Path::new("/usr/bin/vim.basic")
        );
        assert!(
            std::fs::read_to_string(copy.join("passwd"))
                .unwrap()
                .contains("work:x:1000")
        );
        // Same host, same copy; a changed host entry, a new one.
        assert_eq!(
            curated(base.path(), etc, Selection::Host, 1000).unwrap(),
            copy
        );
        std::fs::write(etc.join("nsswitch.conf"), "passwd: files systemd").unwrap();
        let newer = curated(base.path(), etc, Selection::Host, 1000).unwrap();
        assert_ne!(newer, copy);
        prune(base.path(), &newer);
        assert!(!copy.exists() && newer.exists());
    }
}
