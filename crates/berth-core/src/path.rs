//! Paths inside a folder. Every path a user or a session hands to an engine is checked here
//! first, so `..`, absolute paths and separators from other systems never reach the disk code.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A checked, relative path inside a folder: `""` is the folder itself, `"a/b"` a nested entry.
/// Components are never empty, `.` or `..`, and contain no NUL or backslash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FolderPath(String);

impl FolderPath {
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Checks `text` (one trailing `/` is tolerated). The error names the path and the rule.
    pub fn parse(text: &str) -> Result<Self> {
        let refuse = |rule: &str| {
            Err(Error::invalid_input(format!(
                "Path \"{}\" {rule}.",
                text.escape_debug()
            )))
        };
        if text.contains('\0') {
            return refuse("contains a NUL character");
        }
        if text.contains('\\') {
            return refuse("contains '\\'; use '/' between folders");
        }
        if text.starts_with('/') {
            return refuse("is absolute; give it relative to the folder, e.g. \"data/in.csv\"");
        }
        let trimmed = text.strip_suffix('/').unwrap_or(text);
        if trimmed.is_empty() {
            return if text.is_empty() {
                Ok(Self::root())
            } else {
                refuse("is empty")
            };
        }
        for component in trimmed.split('/') {
            match component {
                "" => return refuse("has an empty component ('//')"),
                "." | ".." => return refuse("contains '.' or '..', which could leave the folder"),
                _ => {}
            }
        }
        Ok(Self(trimmed.to_string()))
    }

    /// Checks every path of a list (as the IPC and the CLI receive them); the first bad one
    /// is the error.
    pub fn parse_all<S: AsRef<str>>(texts: &[S]) -> Result<Vec<Self>> {
        texts.iter().map(|t| Self::parse(t.as_ref())).collect()
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `self/name`, where `name` must be a single component.
    pub fn join(&self, name: &str) -> Result<Self> {
        if name.contains('/') {
            return Err(Error::invalid_input(format!(
                "Name \"{}\" contains '/': a file or folder name is one component.",
                name.escape_debug()
            )));
        }
        Self::parse(&if self.is_root() {
            name.to_string()
        } else {
            format!("{}/{name}", self.0)
        })
    }

    /// The last component, `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        self.0.rsplit('/').next().filter(|s| !s.is_empty())
    }

    /// The containing path, `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        if self.is_root() {
            return None;
        }
        Some(Self(
            self.0
                .rsplit_once('/')
                .map(|(parent, _)| parent.to_string())
                .unwrap_or_default(),
        ))
    }
}

impl std::fmt::Display for FolderPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_root() {
            f.write_str("/")
        } else {
            f.write_str(&self.0)
        }
    }
}

impl TryFrom<String> for FolderPath {
    type Error = Error;
    fn try_from(text: String) -> Result<Self> {
        Self::parse(&text)
    }
}

impl From<FolderPath> for String {
    fn from(path: FolderPath) -> String {
        path.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn relative_paths_in_any_script_are_accepted() {
        for text in [
            "a",
            "a/b/c",
            "my data/in put.csv",
            "데이터/파일.txt",
            ".local/bin",
            "dir/",
        ] {
            let path = FolderPath::parse(text).expect(text);
            assert!(!path.as_str().ends_with('/'));
        }
        assert!(FolderPath::parse("").unwrap().is_root());
    }

    #[test]
    fn escapes_and_foreign_separators_are_refused_with_the_rule() {
        let cases = [
            ("..", "'..'"),
            ("a/../../etc", "'..'"),
            ("./a", "'.'"),
            ("/etc/passwd", "absolute"),
            ("a//b", "empty component"),
            ("a\\..\\b", "'\\'"),
            ("a\0b", "NUL"),
            ("/", "absolute"),
        ];
        for (text, rule) in cases {
            let error = FolderPath::parse(text).expect_err(text);
            assert_eq!(error.code, ErrorCode::InvalidInput);
            assert!(error.message.contains(rule), "{text:?}: {}", error.message);
        }
    }

    #[test]
    fn join_parent_and_name_navigate_like_a_breadcrumb() {
        let dir = FolderPath::parse("a/b").unwrap();
        let file = dir.join("c.txt").unwrap();
        assert_eq!(file.as_str(), "a/b/c.txt");
        assert_eq!(file.file_name(), Some("c.txt"));
        assert_eq!(file.parent(), Some(dir));
        assert_eq!(
            FolderPath::parse("a").unwrap().parent(),
            Some(FolderPath::root())
        );
        assert_eq!(FolderPath::root().parent(), None);
        assert!(FolderPath::root().join("..").is_err());
        assert!(FolderPath::root().join("x/y").is_err());
    }

    #[test]
    fn a_list_is_accepted_whole_or_refused_at_its_first_bad_path() {
        let good = FolderPath::parse_all(&["a", "b/c"]).unwrap();
        assert_eq!(
            good.iter().map(FolderPath::as_str).collect::<Vec<_>>(),
            ["a", "b/c"]
        );
        let error = FolderPath::parse_all(&["a", "../x", "/y"]).unwrap_err();
        assert!(error.message.contains("\"../x\""), "{}", error.message);
    }

    #[test]
    fn deserializing_checks_the_rules_too() {
        assert!(serde_json::from_str::<FolderPath>("\"../x\"").is_err());
        assert_eq!(
            serde_json::from_str::<FolderPath>("\"x/y\"")
                .unwrap()
                .as_str(),
            "x/y"
        );
    }
}
