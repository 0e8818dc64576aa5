//! Environment variables a user gives a session at creation: what a variable is, and the rules
//! every engine applies before anything starts. The engines put them in the environment of every
//! process of the session (startup command, terminals, execs); how is theirs to say.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One variable set for every process of a session.
///
/// Values are not secret by design (the session's details show them), but they are the user's:
/// `Debug` leaves the value out, so a span or log line that records a `NewSession` or a
/// `Session` never carries one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

impl EnvVar {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl std::fmt::Debug for EnvVar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}=<{} bytes>", self.name, self.value.len())
    }
}

/// Names the engines set themselves and a session relies on, so a user may not replace them:
/// `HOME`, `USER` and `LOGNAME` say where and who the session user is (dotfiles, folders under
/// `/home/work`, tools that look them up); `PATH` is composed by the engine (the home's
/// `.local/bin`, Homebrew's when `.linuxbrew` is mounted) or by the cluster's image, and a
/// fixed value would drop those — extend it in a dotfile instead; `TERM` describes the terminal
/// Berth draws, and another value makes programs send codes it does not understand.
///
/// Names the local engine only gives a default (`LANG`, `SHELL`, `PIP_BREAK_SYSTEM_PACKAGES`)
/// stay the user's to change.
pub const RESERVED_ENV_NAMES: &[&str] = &["HOME", "USER", "LOGNAME", "PATH", "TERM"];

/// Prefixes of names the engines own: `BERTH_` is the local engine's (`BERTH_SESSION_ID`, …),
/// `BACKENDAI_` is Backend.AI's, whose manager and agent set a dozen and more of them
/// (`BACKENDAI_SESSION_ID`, `BACKENDAI_CLUSTER_*`, …) over whatever the user gave, silently.
/// Both are refused on every engine, so a session's variables mean the same wherever it runs.
pub const RESERVED_ENV_PREFIXES: &[&str] = &["BERTH_", "BACKENDAI_"];

/// The longest name accepted.
pub const MAX_ENV_NAME: usize = 128;
/// The longest value accepted. Every variable travels as a command-line argument (bubblewrap's
/// `--setenv`) and in every process's environment, where Linux caps a single string at 128 KiB
/// and all of them together at a few MiB; a cluster stores them in its database.
pub const MAX_ENV_VALUE: usize = 32 * 1024;
/// The most `NAME=VALUE` bytes all of a session's variables may take together.
pub const MAX_ENV_TOTAL: usize = 64 * 1024;

/// Why `name` cannot be a variable's name, or `None` when it can.
pub fn env_name_problem(name: &str) -> Option<String> {
    let shown = name.escape_debug();
    if name.is_empty() {
        return Some("An environment variable needs a name.".to_owned());
    }
    if name.len() > MAX_ENV_NAME {
        return Some(format!(
            "Environment variable name \"{}…\" is longer than {MAX_ENV_NAME} characters.",
            name.chars().take(24).collect::<String>().escape_debug()
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some(format!(
            "Environment variable \"{shown}\": a name starts with a letter or '_' and holds only \
             letters, digits and '_' (no '=', spaces or other characters)."
        ));
    }
    if RESERVED_ENV_NAMES.contains(&name) {
        return Some(format!(
            "Environment variable \"{name}\" is set by the engine for every session and cannot \
             be replaced{}.",
            if name == "PATH" {
                "; add to it in a dotfile such as .profile instead"
            } else {
                ""
            }
        ));
    }
    if let Some(prefix) = RESERVED_ENV_PREFIXES.iter().find(|p| name.starts_with(**p)) {
        return Some(format!(
            "Environment variable \"{name}\": names starting with {prefix} belong to the engine; \
             pick another name."
        ));
    }
    None
}

/// Checks a session's variables: each name (syntax, reserved names), each value (no NUL, at
/// most [`MAX_ENV_VALUE`]), no name twice, and all of them within [`MAX_ENV_TOTAL`].
/// `invalid_input` naming the variable and the rule; values never appear in the message.
pub fn validate_environ(environ: &[EnvVar]) -> Result<()> {
    let mut total = 0;
    for (index, var) in environ.iter().enumerate() {
        if let Some(problem) = env_name_problem(&var.name) {
            return Err(Error::invalid_input(problem));
        }
        if var.value.contains('\0') {
            return Err(Error::invalid_input(format!(
                "Environment variable \"{}\": its value contains a NUL character, which no \
                 process environment can hold.",
                var.name
            )));
        }
        if var.value.len() > MAX_ENV_VALUE {
            return Err(Error::invalid_input(format!(
                "Environment variable \"{}\": its value is {} bytes; at most {} KiB are accepted.",
                var.name,
                var.value.len(),
                MAX_ENV_VALUE / 1024
            )));
        }
        if environ[..index].iter().any(|v| v.name == var.name) {
            return Err(Error::invalid_input(format!(
                "Environment variable \"{}\" is set twice; keep one.",
                var.name
            )));
        }
        total += var.name.len() + 1 + var.value.len();
    }
    if total > MAX_ENV_TOTAL {
        return Err(Error::invalid_input(format!(
            "The environment variables take {total} bytes together; at most {} KiB are accepted.",
            MAX_ENV_TOTAL / 1024
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(vars: &[(&str, &str)]) -> String {
        let vars: Vec<EnvVar> = vars.iter().map(|(k, v)| EnvVar::new(*k, *v)).collect();
        validate_environ(&vars).unwrap_err().message
    }

    #[test]
    fn names_are_posix_shell_names() {
        let ok: Vec<EnvVar> = ["A", "_x", "MY_VAR_2", "lower", "LANG", "SHELL"]
            .iter()
            .map(|n| EnvVar::new(*n, "v"))
            .collect();
        assert_eq!(validate_environ(&ok), Ok(()));
        assert_eq!(validate_environ(&[]), Ok(()));
        for bad in ["1ST", "A-B", "A=B", "A B", "A\0B", "É", "A.B"] {
            let message = refused(&[(bad, "v")]);
            assert!(
                message.contains(&format!("\"{}\"", bad.escape_debug()))
                    && message.contains("starts with a letter or '_'"),
                "{bad:?}: {message}"
            );
        }
        assert!(refused(&[("", "v")]).contains("needs a name"));
        assert!(refused(&[(&"N".repeat(129), "v")]).contains("longer than 128"));
    }

    #[test]
    fn names_the_engines_set_are_refused() {
        for name in ["HOME", "USER", "LOGNAME", "PATH", "TERM"] {
            let message = refused(&[(name, "x")]);
            assert!(
                message.contains(name) && message.contains("set by the engine"),
                "{message}"
            );
        }
        assert!(refused(&[("PATH", "/x")]).contains(".profile"));
        for name in ["BERTH_SESSION_ID", "BACKENDAI_SESSION_ID", "BACKENDAI_X"] {
            let message = refused(&[(name, "x")]);
            assert!(
                message.contains(name) && message.contains("belong to the engine"),
                "{message}"
            );
        }
    }

    #[test]
    fn values_take_anything_but_nul_within_limits_and_never_show_in_messages() {
        let ok = [
            EnvVar::new("EMPTY", ""),
            EnvVar::new("ODD", "a b\n'\"$HOME=é"),
        ];
        assert_eq!(validate_environ(&ok), Ok(()));
        let message = refused(&[("NUL", "secret\0value")]);
        assert!(message.contains("\"NUL\"") && message.contains("NUL character"));
        assert!(!message.contains("secret"), "{message}");
        assert!(refused(&[("BIG", &"x".repeat(MAX_ENV_VALUE + 1))]).contains("\"BIG\""));
        let many: Vec<(String, String)> = (0..3)
            .map(|i| (format!("V{i}"), "x".repeat(MAX_ENV_VALUE - 8)))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert!(refused(&many).contains("together"));
        assert!(refused(&[("A", "1"), ("B", "2"), ("A", "3")]).contains("\"A\" is set twice"));
    }

    #[test]
    fn debug_leaves_the_value_out() {
        let shown = format!("{:?}", EnvVar::new("TOKEN", "hunter2"));
        assert_eq!(shown, "TOKEN=<7 bytes>");
    }
}
