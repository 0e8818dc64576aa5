//! Unpacking a `docker save` or OCI image archive into a root file system, safely: layers in
//! order, whiteouts honoured (`.wh.NAME` deletes NAME, `.wh..wh..opq` hides what lower layers
//! put in its directory), and no entry ever written outside the target. Every write goes
//! through a cap-std `Dir`, which refuses `..`, absolute paths and links leading out; an entry
//! that tries is not skipped quietly: the whole archive is refused, because it was built to
//! attack whoever unpacks it.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use berth_core::{Error, Result};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, Permissions};

/// One layer's bytes as stored in the archive, and where.
struct Layer {
    name: String,
}

fn invalid(message: String) -> Error {
    Error::invalid_input(message)
}

/// Reads the archive's manifest: `manifest.json` (docker save) or `index.json` (OCI layout),
/// and returns the layer paths inside the archive, bottom first.
fn layers(archive: &Path) -> Result<Vec<Layer>> {
    let read = |name: &str| -> Result<Option<Vec<u8>>> {
        let file = std::fs::File::open(archive)
            .map_err(|e| invalid(format!("Cannot open {}: {e}", archive.display())))?;
        let mut tar = tar::Archive::new(file);
        let entries = tar
            .entries()
            .map_err(|e| invalid(format!("{} is not a tar archive: {e}", archive.display())))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| invalid(format!("Damaged archive: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| invalid(e.to_string()))?
                .into_owned();
            if path.strip_prefix("./").unwrap_or(&path) == Path::new(name) {
                let mut bytes = Vec::new();
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| invalid(format!("Damaged archive: {e}")))?;
                return Ok(Some(bytes));
            }
        }
        Ok(None)
    };
    let json = |bytes: &[u8]| -> Result<serde_json::Value> {
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("Bad image manifest: {e}")))
    };
    if let Some(manifest) = read("manifest.json")? {
        let manifest = json(&manifest)?;
        let list = manifest[0]["Layers"]
            .as_array()
            .ok_or_else(|| invalid("manifest.json lists no layers.".into()))?;
        return Ok(list
            .iter()
            .filter_map(|l| l.as_str())
            .map(|name| Layer { name: name.into() })
            .collect());
    }
    if let Some(index) = read("index.json")? {
        let index = json(&index)?;
        let digest = index["manifests"][0]["digest"]
            .as_str()
            .ok_or_else(|| invalid("index.json names no manifest.".into()))?;
        let blob = |digest: &str| format!("blobs/{}", digest.replacen(':', "/", 1));
        let manifest = read(&blob(digest))?
            .ok_or_else(|| invalid(format!("The archive lacks blob {digest}.")))?;
        let manifest = json(&manifest)?;
        let list = manifest["layers"].as_array().ok_or_else(|| {
            invalid(
                "The OCI manifest lists no layers (an index of indexes is not supported).".into(),
            )
        })?;
        return Ok(list
            .iter()
            .filter_map(|l| l["digest"].as_str())
            .map(|d| Layer { name: blob(d) })
            .collect());
    }
    Err(invalid(format!(
        "{} is neither a `docker save` archive (manifest.json) nor an OCI image layout (index.json).",
        archive.display()
    )))
}

/// A relative, normal path for an entry, or the reason it is refused.
fn entry_path(raw: &Path) -> std::result::Result<PathBuf, String> {
    let mut clean = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("'{}' is an absolute path", raw.display()));
            }
            Component::ParentDir => {
                return Err(format!("'{}' climbs out with '..'", raw.display()));
            }
        }
    }
    Ok(clean)
}

/// Unpacks `archive`'s layers into `target` (an empty directory).
pub fn unpack(archive: &Path, target: &Path) -> Result<()> {
    let layers = layers(archive)?;
    let root = Dir::open_ambient_dir(target, ambient_authority())
        .map_err(|e| Error::internal(format!("Cannot open {}: {e}", target.display())))?;
    let mut dir_modes = DirModes::new();
    for (number, layer) in layers.iter().enumerate() {
        let file = std::fs::File::open(archive)
            .map_err(|e| invalid(format!("Cannot open {}: {e}", archive.display())))?;
        let mut outer = tar::Archive::new(file);
        let mut found = false;
        for entry in outer.entries().map_err(|e| invalid(e.to_string()))? {
            let entry = entry.map_err(|e| invalid(format!("Damaged archive: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| invalid(e.to_string()))?
                .into_owned();
            if path.strip_prefix("./").unwrap_or(&path) != Path::new(&layer.name) {
                continue;
            }
            found = true;
            apply_layer(entry, &root, number + 1, &mut dir_modes)?;
            break;
        }
        if !found {
            return Err(invalid(format!("The archive lacks layer {}.", layer.name)));
        }
    }
    set_dir_modes(&root, dir_modes)
}

/// Each directory's mode as the last layer that made it says.
type DirModes = BTreeMap<PathBuf, u32>;

/// Gives directories their image's modes once every layer is in (a read-only one would refuse
/// the entries that follow): `/tmp` and `/var/tmp` are 1777 in most images, which a session's
/// writable system needs. The owner keeps full access, so the environment can be removed.
fn set_dir_modes(root: &Dir, modes: DirModes) -> Result<()> {
    for (path, mode) in modes {
        let is_dir = root.symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if !is_dir {
            continue;
        }
        let mode = (mode & 0o1777) | 0o700;
        root.set_permissions(
            &path,
            Permissions::from_std(std::os::unix::fs::PermissionsExt::from_mode(mode)),
        )
        .map_err(|e| Error::internal(format!("Cannot set the mode of {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Layers are tar, or gzip-compressed tar; the first bytes tell which.
fn apply_layer(entry: impl Read, root: &Dir, number: usize, modes: &mut DirModes) -> Result<()> {
    let mut reader = io::BufReader::new(entry);
    let magic = io::BufRead::fill_buf(&mut reader)
        .map_err(|e| invalid(format!("Layer {number}: {e}")))?
        .get(..2)
        .map(|b| [b[0], b[1]]);
    match magic {
        Some([0x1f, 0x8b]) => apply_tar(flate2::read::GzDecoder::new(reader), root, number, modes),
        Some([0x28, 0xb5]) => Err(invalid(format!(
            "Layer {number} is zstd-compressed, which this version cannot unpack; export the image with gzip layers."
        ))),
        _ => apply_tar(reader, root, number, modes),
    }
}

fn apply_tar(reader: impl Read, root: &Dir, number: usize, modes: &mut DirModes) -> Result<()> {
    let refuse = |why: String| invalid(format!("Layer {number}: {why}; the archive is refused."));
    let mut tar = tar::Archive::new(reader);
    // What this layer created: an opaque whiteout hides only lower layers' entries.
    let mut created: HashSet<PathBuf> = HashSet::new();
    for entry in tar.entries().map_err(|e| refuse(e.to_string()))? {
        let mut entry = entry.map_err(|e| refuse(format!("damaged entry: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| refuse(e.to_string()))?
            .into_owned();
        let path = entry_path(&raw).map_err(refuse)?;
        if path.as_os_str().is_empty() {
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
        if name == ".wh..wh..opq" {
            clear_lower(root, &parent, &created).map_err(|e| refuse(e.to_string()))?;
            modes.retain(|p, _| !p.starts_with(&parent) || *p == parent || created.contains(p));
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            if matches!(hidden, "" | "." | "..") {
                return Err(refuse(format!(
                    "whiteout '{}' names no entry",
                    raw.display()
                )));
            }
            let hidden = parent.join(hidden);
            remove(root, &hidden).map_err(|e| refuse(e.to_string()))?;
            modes.retain(|p, _| !p.starts_with(&hidden));
            continue;
        }
        if !parent.as_os_str().is_empty() {
            root.create_dir_all(&parent)
                .map_err(|e| refuse(format!("'{}': {e}", raw.display())))?;
        }
        // A later layer replaces what a lower one had at this path.
        if entry.header().entry_type() != tar::EntryType::Directory {
            remove(root, &path).map_err(|e| refuse(e.to_string()))?;
            modes.retain(|p, _| !p.starts_with(&path));
        }
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        let outcome = match entry.header().entry_type() {
            tar::EntryType::Directory => {
                // The sticky bit counts here (a 1777 /tmp); set-id bits do not.
                let dir_mode = entry.header().mode().unwrap_or(0o755) & 0o1777;
                modes.insert(path.clone(), dir_mode);
                root.create_dir_all(&path)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut options = OpenOptions::new();
                options.write(true).create_new(true);
                root.open_with(&path, &options).and_then(|mut file| {
                    io::copy(&mut entry, &mut file)?;
                    file.set_permissions(Permissions::from_std(
                        std::os::unix::fs::PermissionsExt::from_mode(mode),
                    ))
                })
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| refuse(e.to_string()))?
                    .ok_or_else(|| refuse(format!("link '{}' has no target", raw.display())))?;
                // Any target is fine: links resolve inside the session, and the host side
                // never follows them (cap-std).
                root.symlink(&target, &path)
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(|e| refuse(e.to_string()))?
                    .ok_or_else(|| refuse(format!("link '{}' has no target", raw.display())))?;
                let target = entry_path(&target).map_err(refuse)?;
                root.hard_link(&target, root, &path)
            }
            // Devices and pipes cannot be made without privileges, and images do not need them
            // (/dev is the sandbox's own).
            _ => Ok(()),
        };
        outcome.map_err(|e| refuse(format!("'{}': {e}", raw.display())))?;
        created.insert(path);
    }
    Ok(())
}

fn remove(root: &Dir, path: &Path) -> io::Result<()> {
    match root.symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => root.remove_dir_all(path),
        Ok(_) => root.remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn clear_lower(root: &Dir, dir: &Path, created: &HashSet<PathBuf>) -> io::Result<()> {
    let listing = if dir.as_os_str().is_empty() {
        root.entries()
    } else {
        match root.read_dir(dir) {
            Ok(listing) => Ok(listing),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => Err(e),
        }
    }?;
    for entry in listing {
        let child = dir.join(entry?.file_name());
        if !created.iter().any(|c| c.starts_with(&child)) {
            remove(root, &child)?;
        }
    }
    Ok(())
}
