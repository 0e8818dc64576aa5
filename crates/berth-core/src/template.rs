//! Launch templates: a session's whole setup (environment, resources, network, folders with
//! their aliases and access, variables, type and command) saved under a name, to launch again
//! in one step. A template is a readable JSON file; one this Berth cannot read whole — broken,
//! missing a field, or written by a newer Berth — is refused with the field or the rule named,
//! never launched in part.

use serde::{Deserialize, Serialize};

use crate::{Error, NewSession, Result};

/// The template format this Berth writes and reads.
pub const TEMPLATE_VERSION: u32 = 1;
/// Longest template name, in bytes.
pub const MAX_TEMPLATE_NAME: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Template {
    /// The format's version ([`TEMPLATE_VERSION`]).
    pub version: u32,
    pub name: String,
    /// What the launch asks for, the session's own name included when one was given. No
    /// secrets: variables are shown in a session's details anyway, and a template holds
    /// nothing else a user types in private.
    pub session: NewSession,
}

impl Template {
    pub fn new(name: &str, session: NewSession) -> Result<Self> {
        validate_template_name(name)?;
        Ok(Self {
            version: TEMPLATE_VERSION,
            name: name.to_owned(),
            session,
        })
    }

    /// Reads a template file's bytes; `source` names the file in errors.
    pub fn parse(bytes: &[u8], source: &str) -> Result<Self> {
        let broken = |why: String| Error::invalid_input(format!("Template {source} {why}"));
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| broken(format!("is not valid JSON ({e}).")))?;
        let version = match value.get("version") {
            None => return Err(broken("has no \"version\" field.".into())),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| broken("has a \"version\" that is not a whole number.".into()))?,
        };
        if version > u64::from(TEMPLATE_VERSION) {
            return Err(broken(format!(
                "was written by a newer Berth (format version {version}; this one reads up to \
                 {TEMPLATE_VERSION}): update Berth to use it."
            )));
        }
        let template: Template =
            serde_json::from_value(value).map_err(|e| broken(format!("cannot be read: {e}.")))?;
        validate_template_name(&template.name)?;
        Ok(template)
    }

    /// The file's bytes: pretty JSON, so a person can read and edit it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

/// Letters, digits, `-`, `_` and `.`, not starting with `.`: the name is also the file's.
pub fn validate_template_name(name: &str) -> Result<()> {
    let refuse = |rule: &str| {
        Err(Error::invalid_input(format!(
            "Template name \"{}\" {rule}.",
            name.escape_debug()
        )))
    };
    if name.is_empty() {
        return Err(Error::invalid_input("A template name cannot be empty."));
    }
    if name.len() > MAX_TEMPLATE_NAME {
        return refuse(&format!("is longer than {MAX_TEMPLATE_NAME} characters"));
    }
    if name.starts_with('.') {
        return refuse("starts with '.'");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return refuse(&format!(
            "holds '{}': use letters, digits, '-', '_' and '.'",
            c.escape_debug()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{EnvVar, MountAccess, MountRequest, NetworkMode, SessionType};

    fn setup() -> NewSession {
        let mut session = NewSession::interactive(
            "docker:python:3.12",
            vec![MountRequest {
                folder: "data".into(),
                alias: Some("/data".into()),
                access: Some(MountAccess::ReadOnly),
            }],
        );
        session.session_type = SessionType::Batch;
        session.command = Some("python train.py".into());
        session.network = NetworkMode::None;
        session.resources.cpus = Some(2);
        session.environ = vec![EnvVar::new("EPOCHS", "3")];
        session
    }

    #[test]
    fn a_template_round_trips_through_its_file() {
        let template = Template::new("train-small", setup()).unwrap();
        let bytes = template.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");
        assert!(text.contains("\"/data\""), "readable: {text}");
        assert_eq!(
            Template::parse(&bytes, "train-small.json").unwrap(),
            template
        );
    }

    #[test]
    fn a_broken_or_newer_file_is_refused_naming_the_field_or_the_rule() {
        let good: serde_json::Value =
            serde_json::from_slice(&Template::new("t", setup()).unwrap().to_bytes()).unwrap();
        let with = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut value = good.clone();
            edit(&mut value);
            Template::parse(&serde_json::to_vec(&value).unwrap(), "t.json")
                .unwrap_err()
                .message
        };
        let newer = with(&|v| v["version"] = 2.into());
        assert!(newer.contains("written by a newer Berth"), "{newer}");
        let no_version = with(&|v| {
            v.as_object_mut().unwrap().remove("version");
        });
        assert!(no_version.contains("has no \"version\""), "{no_version}");
        let missing = with(&|v| {
            v["session"].as_object_mut().unwrap().remove("environment");
        });
        assert!(missing.contains("environment"), "{missing}");
        let wrong = with(&|v| v["session"]["network"] = "everywhere".into());
        assert!(wrong.contains("everywhere"), "{wrong}");
        let named = with(&|v| v["name"] = "up/../escape".into());
        assert!(named.contains("holds '/'"), "{named}");
        let garbage = Template::parse(b"{not json", "t.json").unwrap_err();
        assert!(
            garbage
                .message
                .starts_with("Template t.json is not valid JSON"),
            "{}",
            garbage.message
        );
    }

    #[test]
    fn template_names_are_file_names_that_cannot_escape() {
        for good in ["train", "a.b-c_d", "x1"] {
            validate_template_name(good).unwrap();
        }
        for (bad, rule) in [
            ("", "cannot be empty"),
            (".hidden", "starts with '.'"),
            ("a/b", "holds '/'"),
            ("a b", "holds ' '"),
        ] {
            let error = validate_template_name(bad).unwrap_err();
            assert!(error.message.contains(rule), "{bad}: {}", error.message);
        }
        assert!(validate_template_name(&"x".repeat(65)).is_err());
    }
}
