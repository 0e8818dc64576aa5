//! API version negotiation: the manager answers `GET /` with `{"version": "v9.20250722",
//! "manager": "26.8.1"}`; every later request carries that version in `X-BackendAI-Version`.

use serde::Deserialize;

/// The oldest API generation whose folder, session and upload calls Berth speaks.
pub const OLDEST_MAJOR: u32 = 8;

/// What `GET /` answers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ManagerAnnouncement {
    pub version: String,
    pub manager: String,
}

/// An API version such as `v9.20250722`: a major number and a release date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: u32,
    pub date: u32,
}

impl ApiVersion {
    /// Parses `v<major>.<yyyymmdd>`; `None` for anything else (the endpoint is not a
    /// Backend.AI manager, or speaks a format this client does not know).
    pub fn parse(text: &str) -> Option<Self> {
        let (major, date) = text.strip_prefix('v')?.split_once('.')?;
        if date.len() != 8 {
            return None;
        }
        Some(Self {
            major: major.parse().ok()?,
            date: date.parse().ok()?,
        })
    }

    pub fn is_supported(self) -> bool {
        self.major >= OLDEST_MAJOR
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}", self.major, self.date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announcement_of_a_26_8_manager_is_understood() {
        let announced: ManagerAnnouncement =
            serde_json::from_str(r#"{"version": "v9.20250722", "manager": "26.8.1"}"#).unwrap();
        let version = ApiVersion::parse(&announced.version).unwrap();
        assert_eq!(
            version,
            ApiVersion {
                major: 9,
                date: 20250722
            }
        );
        assert!(version.is_supported());
        assert_eq!(version.to_string(), announced.version);
    }

    #[test]
    fn old_and_foreign_versions_are_told_apart() {
        assert!(!ApiVersion::parse("v7.20230615").unwrap().is_supported());
        assert_eq!(ApiVersion::parse("1.2.3"), None);
        assert_eq!(ApiVersion::parse("v9.2025"), None);
        assert!(ApiVersion::parse("v8.20240315") < ApiVersion::parse("v9.20250722"));
    }
}
