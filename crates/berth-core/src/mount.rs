//! The mount planner: which folder appears where inside a session, and which requests are
//! refused. DESIGN.md rules 2–5 as one pure function that the launcher (live, per keystroke),
//! the CLI and both engines call, so a bad mount is refused with the same message everywhere and
//! before anything starts. bubblewrap and Backend.AI's manager check almost none of this
//! themselves (see `local-sandbox.md` and `backendai-api.md`), so this is the only guard.

use serde::{Deserialize, Serialize};

use crate::folder::{FolderPermission, FolderStatus};
use crate::{Error, Folder, Result};

/// The session's scratch home: every relative alias and every default target lives under it.
pub const HOME: &str = "/home/work";

/// Homebrew on Linux only works from its fixed prefix, so `.linuxbrew` is mounted there.
pub const LINUXBREW_TARGET: &str = "/home/linuxbrew/.linuxbrew";
const LINUXBREW_FOLDER: &str = ".linuxbrew";

/// Top-level directories a folder must never hide: the system a session runs on. `/lib*` is
/// matched by prefix (`/lib32`, `/libx32`, ...). Backend.AI's `RESERVED_VFOLDERS` plus DESIGN.md.
const RESERVED_ROOTS: &[&str] = &[
    "bin", "boot", "dev", "etc", "home", "media", "mnt", "opt", "proc", "root", "run", "sbin",
    "srv", "sys", "tmp", "usr", "var",
];

/// Entries of `/home/work` a session's own tools keep there (Backend.AI reserves them too).
const RESERVED_IN_HOME: &[&str] = &[".terminfo", ".jupyter", ".tmux.conf", ".ssh"];

/// How the user wants a folder mounted; `None` in a request means "what the folder allows".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum MountAccess {
    ReadOnly,
    ReadWrite,
}

/// One folder the user picked in the launcher (or named with `--mount`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct MountRequest {
    /// The folder's name, as in the folders table.
    pub folder: String,
    /// "Path and Alias": absolute → mounted there; relative → under `/home/work/`; empty or
    /// `None` → `/home/work/<name>`.
    pub alias: Option<String>,
    /// `None` mounts read-write where the folder's permission allows it, read-only otherwise.
    pub access: Option<MountAccess>,
}

impl MountRequest {
    /// The folder at its default target with the access its permission gives.
    pub fn folder(name: impl Into<String>) -> Self {
        Self {
            folder: name.into(),
            alias: None,
            access: None,
        }
    }
}

/// A folder at its place in the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct PlannedMount {
    pub folder_id: String,
    pub folder_name: String,
    /// Absolute, normalised path inside the session.
    pub target: String,
    pub read_only: bool,
    /// Mounted because its name starts with `.`, not because it was picked.
    pub automount: bool,
}

/// Every mount of a session, parents before children so a runtime can apply them in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct MountPlan {
    pub mounts: Vec<PlannedMount>,
}

/// Which rule a request broke; the launcher shows the message next to the folder's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum MountRule {
    /// No folder of that name (or it is in the trash).
    UnknownFolder,
    /// The same folder picked twice.
    RequestedTwice,
    /// Automount folders always go to their fixed place.
    AliasForAutomount,
    /// `a//b`, a leading `//`.
    EmptyComponent,
    /// `.` or `..` in the path.
    DotComponent,
    /// NUL, `\` or another control character.
    ForbiddenCharacter,
    /// `/`, `/etc`, `/usr/...`, `/home/other`, `/home/work/.ssh`, ...
    ReservedPath,
    /// `/home/work` is the session's scratch space, not a folder's.
    HomeWorkItself,
    /// Two folders on one target.
    DuplicateTarget,
    /// A target inside another mounted folder.
    NestedTarget,
    /// Read-write asked for a read-only folder.
    WriteOnReadOnlyFolder,
}

/// A refused request: the folder, the rule, and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct MountProblem {
    pub folder: String,
    pub rule: MountRule,
    pub message: String,
}

/// What the launcher shows while the user types: every mount that resolved and every problem.
/// A session may start only when `problems` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct MountPreview {
    pub mounts: Vec<PlannedMount>,
    pub problems: Vec<MountProblem>,
}

/// Plans the mounts of a session, or refuses with the first broken rule (`invalid_input`, or
/// `not_found` for an unknown folder) naming the folder. `folders` is everything the user owns;
/// ready folders named `.…` are added as automounts whether requested or not.
pub fn plan_mounts(requests: &[MountRequest], folders: &[Folder]) -> Result<MountPlan> {
    let preview = preview_mounts(requests, folders);
    match preview.problems.into_iter().next() {
        None => Ok(MountPlan {
            mounts: preview.mounts,
        }),
        Some(problem) if problem.rule == MountRule::UnknownFolder => {
            Err(Error::new(crate::ErrorCode::NotFound, problem.message))
        }
        Some(problem) => Err(Error::invalid_input(problem.message)),
    }
}

/// Like [`plan_mounts`], but reports every problem instead of the first, for live feedback.
pub fn preview_mounts(requests: &[MountRequest], folders: &[Folder]) -> MountPreview {
    let mut mounts: Vec<PlannedMount> = Vec::new();
    let mut problems = Vec::new();
    let mut refuse = |folder: &str, rule: MountRule, message: String| {
        problems.push(MountProblem {
            folder: folder.to_owned(),
            rule,
            message,
        });
    };
    let ready = |name: &str| {
        folders
            .iter()
            .find(|f| f.name == name && f.status == FolderStatus::Ready)
    };

    let mut seen: Vec<&str> = Vec::new();
    for request in requests {
        let name = request.folder.as_str();
        if seen.contains(&name) {
            refuse(
                name,
                MountRule::RequestedTwice,
                format!("Folder \"{name}\" is picked twice; a folder is mounted once."),
            );
            continue;
        }
        seen.push(name);
        let Some(folder) = ready(name) else {
            refuse(
                name,
                MountRule::UnknownFolder,
                format!("There is no folder named \"{name}\" (or it is in the trash)."),
            );
            continue;
        };
        let alias = request.alias.as_deref().filter(|a| !a.trim().is_empty());
        if folder.automount && alias.is_some() {
            refuse(
                name,
                MountRule::AliasForAutomount,
                format!(
                    "Folder \"{name}\" is mounted automatically at {}; it cannot take a path or alias.",
                    automount_target(name)
                ),
            );
            continue;
        }
        if folder.permission == FolderPermission::Ro
            && request.access == Some(MountAccess::ReadWrite)
        {
            refuse(
                name,
                MountRule::WriteOnReadOnlyFolder,
                format!("Folder \"{name}\" is read-only; it can only be mounted read-only."),
            );
            continue;
        }
        let target = match folder.automount {
            true => place_automount(name),
            false => resolve_target(alias.unwrap_or(name)),
        };
        match target {
            Ok(target) => mounts.push(PlannedMount {
                folder_id: folder.id.clone(),
                folder_name: name.to_owned(),
                target,
                read_only: folder.permission == FolderPermission::Ro
                    || request.access == Some(MountAccess::ReadOnly),
                automount: folder.automount,
            }),
            Err((rule, why)) => refuse(name, rule, format!("Folder \"{name}\": {why}")),
        }
    }

    for folder in folders {
        let picked = seen.contains(&folder.name.as_str());
        if !folder.automount || folder.status != FolderStatus::Ready || picked {
            continue;
        }
        // A name the engine accepted can still be a reserved dotfile on a cluster that allowed
        // it; such a folder is refused rather than shadowing the session's own files.
        let target = match place_automount(&folder.name) {
            Ok(target) => target,
            Err((rule, why)) => {
                refuse(
                    &folder.name,
                    rule,
                    format!("Folder \"{}\": {why}", folder.name),
                );
                continue;
            }
        };
        mounts.push(PlannedMount {
            folder_id: folder.id.clone(),
            folder_name: folder.name.clone(),
            target,
            read_only: folder.permission == FolderPermission::Ro,
            automount: true,
        });
    }

    mounts.sort_by(|a, b| {
        depth(&a.target)
            .cmp(&depth(&b.target))
            .then_with(|| a.target.cmp(&b.target))
            // On a clash the user's own choice is blamed, never the fixed automount.
            .then_with(|| b.automount.cmp(&a.automount))
    });
    let mut placed: Vec<PlannedMount> = Vec::with_capacity(mounts.len());
    for mount in mounts {
        let clash = placed.iter().find_map(|other| {
            if other.target == mount.target {
                Some((MountRule::DuplicateTarget, "is the target of", other))
            } else if is_beneath(&mount.target, &other.target) {
                Some((MountRule::NestedTarget, "is inside", other))
            } else {
                None
            }
        });
        match clash {
            Some((rule, relation, other)) => refuse(
                &mount.folder_name,
                rule,
                format!(
                    "Folder \"{}\": {} {relation} folder \"{}\"; pick another path.",
                    mount.folder_name, mount.target, other.folder_name
                ),
            ),
            None => placed.push(mount),
        }
    }
    MountPreview {
        mounts: placed,
        problems,
    }
}

/// Where folder `name` is mounted when it is picked without a path or alias (or mounted
/// automatically): what the create dialog, the launcher and both engines show and use.
pub fn default_target(name: &str) -> String {
    if crate::folder::is_automount_name(name) {
        automount_target(name)
    } else {
        format!("{HOME}/{name}")
    }
}

/// Where an automount folder goes: `/home/work/<name>`, or Homebrew's fixed prefix.
pub fn automount_target(name: &str) -> String {
    if name == LINUXBREW_FOLDER {
        LINUXBREW_TARGET.to_owned()
    } else {
        format!("{HOME}/{name}")
    }
}

/// [`automount_target`], checked like any other target (a cluster may hold a folder named `..`).
fn place_automount(name: &str) -> std::result::Result<String, (MountRule, String)> {
    if name == LINUXBREW_FOLDER {
        Ok(LINUXBREW_TARGET.to_owned())
    } else {
        resolve_target(name)
    }
}

/// Turns a "Path and Alias" (or a folder name used as the default) into an absolute target,
/// refusing anything that could escape `/home/work` or hide a system path. No filesystem is
/// consulted: `..` is refused, never resolved.
pub fn resolve_target(alias: &str) -> std::result::Result<String, (MountRule, String)> {
    if alias.chars().any(|c| c == '\\' || c.is_control()) {
        return Err((
            MountRule::ForbiddenCharacter,
            "the path contains NUL, '\\' or a control character.".to_owned(),
        ));
    }
    // "/workspace/" means "/workspace"; the slash is a habit, not an empty component.
    let trimmed = alias.trim_end_matches('/');
    if trimmed.is_empty() && alias.starts_with('/') {
        return Err((
            MountRule::ReservedPath,
            "/ is the session's root file system; pick a directory.".to_owned(),
        ));
    }
    let (base, rest) = match trimmed.strip_prefix('/') {
        Some(rest) => ("", rest),
        None => (HOME, trimmed),
    };
    let mut target = base.to_owned();
    for component in rest.split('/') {
        match component {
            "" => {
                return Err((
                    MountRule::EmptyComponent,
                    format!("\"{alias}\" has an empty path component ('//')."),
                ));
            }
            "." | ".." => {
                return Err((
                    MountRule::DotComponent,
                    format!(
                        "\"{alias}\" contains '{component}'; paths must not climb or repeat directories."
                    ),
                ));
            }
            _ => {
                target.push('/');
                target.push_str(component);
            }
        }
    }
    check_target(&target)?;
    Ok(target)
}

/// Refuses a normalised absolute target that is reserved.
fn check_target(target: &str) -> std::result::Result<(), (MountRule, String)> {
    if target == HOME {
        return Err((
            MountRule::HomeWorkItself,
            format!("{HOME} is the session's scratch space; mount folders inside it."),
        ));
    }
    let reserved = || {
        Err((
            MountRule::ReservedPath,
            format!("{target} is reserved for the session's system files."),
        ))
    };
    if let Some(inside_home) = target.strip_prefix(HOME).and_then(|r| r.strip_prefix('/')) {
        let first = inside_home.split('/').next().unwrap_or_default();
        if RESERVED_IN_HOME.contains(&first) || crate::folder::is_reserved_dotfile(first) {
            return reserved();
        }
        return Ok(());
    }
    let first = target
        .strip_prefix('/')
        .and_then(|r| r.split('/').next())
        .unwrap_or_default();
    if first.is_empty() || RESERVED_ROOTS.contains(&first) || first.starts_with("lib") {
        return reserved();
    }
    Ok(())
}

fn depth(target: &str) -> usize {
    target.matches('/').count()
}

/// `inner` lies strictly beneath `outer`, component-wise (`/data/in` is beneath `/data`,
/// `/database` is not).
fn is_beneath(inner: &str, outer: &str) -> bool {
    inner
        .strip_prefix(outer)
        .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests;
