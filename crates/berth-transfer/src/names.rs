//! The names every transport gives files on this computer and in folders, so a download or an
//! upload looks the same whichever engine moved it: a hidden partial file while bytes arrive,
//! `name (2).ext` for keep-both, one message when a destination is taken, and which names
//! this computer's file system cannot hold.

use std::path::{Component, Path, PathBuf};

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

/// How a computer's file system names files: whether Windows' rules apply (device names,
/// reserved characters, trailing dots and spaces), and whether names differing only in case
/// are one file (Windows, and macOS as it comes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostNames {
    pub windows_rules: bool,
    pub case_insensitive: bool,
}

impl HostNames {
    pub const LINUX: Self = Self {
        windows_rules: false,
        case_insensitive: false,
    };
    pub const MACOS: Self = Self {
        windows_rules: false,
        case_insensitive: true,
    };
    pub const WINDOWS: Self = Self {
        windows_rules: true,
        case_insensitive: true,
    };
    pub const THIS_COMPUTER: Self = if cfg!(windows) {
        Self::WINDOWS
    } else if cfg!(target_os = "macos") {
        Self::MACOS
    } else {
        Self::LINUX
    };

    /// Why a file or directory named `name` cannot exist here, naming the rule; `None` when it
    /// can. A folder on a Linux server holds names Windows refuses; writing them anyway would
    /// open a device (`aux.txt`), cut the name short (`a:b` as a stream of `a`) or drop its
    /// end (`notes.`), so such a file is refused rather than written under another name.
    pub fn refusal(self, name: &str) -> Option<String> {
        if !self.windows_rules {
            return None;
        }
        const RESERVED: &str = "<>:\"/\\|?*";
        if let Some(c) = name
            .chars()
            .find(|c| RESERVED.contains(*c) || c.is_control())
        {
            let shown = if c.is_control() {
                format!("the control character U+{:04X}", u32::from(c))
            } else {
                format!("'{c}'")
            };
            return Some(format!(
                "\"{name}\" holds {shown}, which Windows does not allow in a name \
                 (< > : \" / \\ | ? * and control characters)."
            ));
        }
        if name.ends_with(['.', ' ']) {
            return Some(format!(
                "\"{name}\" ends with a dot or a space, which Windows drops from a name."
            ));
        }
        let stem = name.split('.').next().unwrap_or_default().trim_end();
        if is_device_name(stem) {
            return Some(format!(
                "\"{name}\" is a device name on Windows ({}, like CON, PRN, AUX, NUL, COM1–9 \
                 and LPT1–9, with or without an extension), not a file.",
                stem.to_uppercase()
            ));
        }
        if name.encode_utf16().count() > 255 {
            return Some(format!(
                "\"{name}\" is longer than the 255 characters Windows allows in a name."
            ));
        }
        None
    }

    /// [`Self::refusal`] for the first part of `path` this computer cannot hold.
    pub fn path_refusal(self, path: &Path) -> Option<String> {
        path.components().find_map(|part| match part {
            Component::Normal(name) => self.refusal(&name.to_string_lossy()),
            _ => None,
        })
    }

    /// Whether `a` and `b` name one file here although they are different names.
    pub fn same_file_differently_named(self, a: &Path, b: &Path) -> bool {
        self.case_insensitive
            && a != b
            && a.to_string_lossy().to_lowercase() == b.to_string_lossy().to_lowercase()
    }
}

fn is_device_name(stem: &str) -> bool {
    let upper = stem.to_uppercase();
    if ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"].contains(&upper.as_str()) {
        return true;
    }
    // COM1–COM9 and LPT1–LPT9, and the superscript digits Windows also treats as devices.
    let Some(digit) = upper.strip_prefix("COM").or(upper.strip_prefix("LPT")) else {
        return false;
    };
    let mut digits = digit.chars();
    matches!((digits.next(), digits.next()), (Some(d), None) if ('1'..='9').contains(&d) || "¹²³".contains(d))
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

    #[test]
    fn windows_refuses_device_names_reserved_characters_and_trailing_dots() {
        let windows = HostNames::WINDOWS;
        for (name, rule) in [
            ("aux.txt", "is a device name on Windows (AUX"),
            ("con", "is a device name on Windows (CON"),
            ("Nul.tar.gz", "device name on Windows (NUL"),
            ("lpt9", "device name on Windows (LPT9"),
            ("COM¹.log", "device name"),
            ("a:b", "holds ':', which Windows does not allow"),
            ("back\\slash", "holds '\\'"),
            ("what?", "holds '?'"),
            ("tab\there", "the control character U+0009"),
            ("notes.", "ends with a dot or a space"),
            ("trailing ", "ends with a dot or a space"),
        ] {
            let refusal = windows.refusal(name);
            assert!(
                refusal.as_deref().is_some_and(|r| r.contains(rule)),
                "{name}: {refusal:?} should say {rule:?}"
            );
        }
        for name in [
            "auxiliary.txt",
            "console",
            "com10",
            "lpt",
            ".bashrc",
            "a b.csv",
            "résumé.pdf",
            "com0x",
        ] {
            assert_eq!(windows.refusal(name), None, "{name}");
        }
        assert!(windows.refusal(&"x".repeat(256)).is_some());
        assert_eq!(windows.refusal(&"é".repeat(255)), None);
    }

    #[test]
    fn linux_and_macos_hold_what_windows_refuses() {
        for host in [HostNames::LINUX, HostNames::MACOS] {
            for name in ["aux.txt", "a:b", "notes.", "what?"] {
                assert_eq!(host.refusal(name), None, "{host:?} {name}");
            }
        }
    }

    #[test]
    fn a_path_is_refused_for_its_first_bad_part_and_case_matters_only_where_it_does() {
        let path = Path::new("/downloads/aux/ok.txt");
        let refusal = HostNames::WINDOWS.path_refusal(path).unwrap();
        assert!(refusal.starts_with("\"aux\" is a device name"), "{refusal}");
        assert_eq!(HostNames::LINUX.path_refusal(path), None);
        assert_eq!(
            HostNames::WINDOWS.path_refusal(Path::new("/downloads/fine.txt")),
            None
        );

        let (a, b) = (Path::new("/d/Data.csv"), Path::new("/d/data.csv"));
        assert!(HostNames::WINDOWS.same_file_differently_named(a, b));
        assert!(HostNames::MACOS.same_file_differently_named(a, b));
        assert!(!HostNames::LINUX.same_file_differently_named(a, b));
        assert!(!HostNames::WINDOWS.same_file_differently_named(a, a));
    }
}
