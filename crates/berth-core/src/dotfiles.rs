//! The user's dotfiles and bootstrap script (DESIGN.md rule 7): kept by the engine (Backend.AI:
//! its user config), placed in every new session's `/home/work` before its shell starts, the
//! script run once at start. That is how a `PYTHONPATH` set in `.bashrc` holds in every session
//! although `/home/work` is scratch.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Backend.AI's limit for all of a user's dotfiles together.
pub const MAX_DOTFILES_BYTES: usize = 64 * 1024;

/// Longest dotfile path, in bytes.
pub const MAX_DOTFILE_PATH: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Dotfile {
    /// Relative to `/home/work`, starting with `.`: `.bashrc`, `.config/git/config`.
    pub path: String,
    pub content: String,
    /// Unix permission bits, e.g. `0o644`.
    pub mode: u32,
}

/// Checks a dotfile path: relative, starting with `.`, no empty, `.` or `..` components, no
/// NUL or `\`, at most [`MAX_DOTFILE_PATH`] bytes. The error names the path and the rule.
pub fn validate_dotfile_path(path: &str) -> Result<()> {
    let refuse = |rule: &str| {
        Err(Error::invalid_input(format!(
            "Dotfile \"{}\" {rule}.",
            path.escape_debug()
        )))
    };
    if path.is_empty() {
        return Err(Error::invalid_input(
            "A dotfile needs a name, like .bashrc.",
        ));
    }
    if path.len() > MAX_DOTFILE_PATH {
        return refuse(&format!("is longer than {MAX_DOTFILE_PATH} bytes"));
    }
    if !path.starts_with('.') {
        return refuse("must start with '.' (it lives in /home/work, like .bashrc)");
    }
    if path.chars().any(|c| c == '\\' || c.is_control()) {
        return refuse("contains '\\' or a control character");
    }
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return refuse("has an empty, '.' or '..' path component");
    }
    Ok(())
}

/// What [`mirror_personal_setup`] changed on the target engine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct PersonalSetupSync {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    pub bootstrap_changed: bool,
}

/// Makes `to`'s dotfiles and bootstrap script equal to `from`'s (the local engine's set onto a
/// cluster profile, or back): missing ones are added, different ones replaced, extra ones
/// removed — removals first, so a set near the size limit still fits. Nothing is touched when
/// `from`'s set breaks a rule.
pub async fn mirror_personal_setup(
    from: &dyn crate::Engine,
    to: &dyn crate::Engine,
) -> Result<PersonalSetupSync> {
    let wanted = from.list_dotfiles().await?;
    validate_dotfiles(&wanted)?;
    let script = from.bootstrap_script().await?;
    let present = to.list_dotfiles().await?;
    let mut sync = PersonalSetupSync::default();
    for extra in present
        .iter()
        .filter(|p| !wanted.iter().any(|w| w.path == p.path))
    {
        to.remove_dotfile(&extra.path).await?;
        sync.removed.push(extra.path.clone());
    }
    for dotfile in &wanted {
        match present.iter().find(|p| p.path == dotfile.path) {
            Some(same) if same == dotfile => continue,
            Some(_) => sync.updated.push(dotfile.path.clone()),
            None => sync.added.push(dotfile.path.clone()),
        }
        to.set_dotfile(dotfile.clone()).await?;
    }
    // Backend.AI strips a script's trailing whitespace, which changes nothing it does.
    let normal = |s: &Option<String>| s.as_deref().map(str::trim_end).map(str::to_string);
    if normal(&to.bootstrap_script().await?) != normal(&script) {
        to.set_bootstrap_script(script).await?;
        sync.bootstrap_changed = true;
    }
    Ok(sync)
}

/// Checks a whole set: valid paths, valid modes, no path twice, and within the size limit.
pub fn validate_dotfiles(dotfiles: &[Dotfile]) -> Result<()> {
    let mut total = 0;
    for (i, dotfile) in dotfiles.iter().enumerate() {
        validate_dotfile_path(&dotfile.path)?;
        if dotfile.mode > 0o777 || dotfile.mode & 0o400 == 0 {
            return Err(Error::invalid_input(format!(
                "Dotfile \"{}\" needs a mode between 0400 and 0777 that lets you read it.",
                dotfile.path
            )));
        }
        if dotfiles[..i].iter().any(|d| d.path == dotfile.path) {
            return Err(Error::invalid_input(format!(
                "Dotfile \"{}\" is given twice.",
                dotfile.path
            )));
        }
        total += dotfile.content.len();
    }
    if total > MAX_DOTFILES_BYTES {
        return Err(Error::invalid_input(format!(
            "Dotfiles hold {total} bytes together; the limit is {MAX_DOTFILES_BYTES} (Backend.AI's)."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dotfile(path: &str, bytes: usize) -> Dotfile {
        Dotfile {
            path: path.into(),
            content: "x".repeat(bytes),
            mode: 0o644,
        }
    }

    #[test]
    fn paths_start_with_a_dot_and_stay_relative() {
        for ok in [".bashrc", ".config/git/config", ".vimrc", ".x"] {
            assert_eq!(validate_dotfile_path(ok), Ok(()), "{ok}");
        }
        for (bad, rule) in [
            ("", "needs a name"),
            ("bashrc", "must start with '.'"),
            ("/etc/passwd", "must start with '.'"),
            ("../x", "'..'"),
            (".a/../../etc", "'..'"),
            (".a//b", "empty"),
            (".a\\b", "'\\'"),
        ] {
            let error = validate_dotfile_path(bad).unwrap_err();
            assert!(error.message.contains(rule), "{bad}: {}", error.message);
        }
    }

    #[test]
    fn the_set_is_limited_in_size_and_unique() {
        assert_eq!(
            validate_dotfiles(&[dotfile(".a", 100), dotfile(".b", 100)]),
            Ok(())
        );
        let big = validate_dotfiles(&[dotfile(".a", 40_000), dotfile(".b", 30_000)]);
        assert!(big.unwrap_err().message.contains("limit"));
        let twice = validate_dotfiles(&[dotfile(".a", 1), dotfile(".a", 1)]);
        assert!(twice.unwrap_err().message.contains("twice"));
        let mut unreadable = dotfile(".a", 1);
        unreadable.mode = 0o200;
        assert!(validate_dotfiles(&[unreadable]).is_err());
    }
}
