//! The app's own preferences, kept as JSON in the config directory: small, human-readable, and
//! read once at start-up.

use std::path::{Path, PathBuf};

use berth_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// How many files may move at once, as the transfer panel offers it.
pub const CONCURRENCY_MIN: u32 = 1;
pub const CONCURRENCY_MAX: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
// A file written by an older or newer Berth still loads: missing keys take their defaults.
#[serde(default)]
pub struct Settings {
    /// Files transferred at once.
    pub transfer_concurrency: u32,
}

impl Default for Settings {
    fn default() -> Self {
        // Enough to overlap per-file costs on two cores.
        Self {
            transfer_concurrency: 3,
        }
    }
}

impl Settings {
    /// Where the settings live in config directory `config`.
    pub fn path_in(config: &Path) -> PathBuf {
        config.join("settings.json")
    }

    /// Reads the settings at `path`. A missing file means defaults; an unreadable or broken one
    /// is logged and replaced by defaults, so a bad edit never keeps the app from opening.
    pub fn load(path: &Path) -> Self {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Self::default(),
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "cannot read the settings");
                return Self::default();
            }
        };
        match serde_json::from_str::<Self>(&text) {
            Ok(settings) => Self {
                transfer_concurrency: settings
                    .transfer_concurrency
                    .clamp(CONCURRENCY_MIN, CONCURRENCY_MAX),
            },
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "the settings file is broken; using defaults");
                Self::default()
            }
        }
    }

    /// Writes the settings to `path` (creating its directory) through a temporary file and a
    /// rename, so a crash mid-write leaves the old file, never half of one.
    pub fn save(&self, path: &Path) -> Result<()> {
        let failed = |e: std::io::Error| {
            Error::internal(format!(
                "Cannot save the settings to {}: {e}",
                path.display()
            ))
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::internal(format!("Cannot write the settings: {e}")))?;
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, text).map_err(failed)?;
        std::fs::rename(&partial, path).map_err(failed)
    }

    /// These settings with `limit` files transferred at once; `invalid_input` outside 1–8.
    pub fn with_concurrency(self, limit: u32) -> Result<Self> {
        if !(CONCURRENCY_MIN..=CONCURRENCY_MAX).contains(&limit) {
            return Err(Error::invalid_input(format!(
                "Transfers at once must be between {CONCURRENCY_MIN} and {CONCURRENCY_MAX}, not {limit}."
            )));
        }
        Ok(Self {
            transfer_concurrency: limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_a_missing_file_means_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = Settings::path_in(&dir.path().join("config"));
        assert_eq!(Settings::load(&path), Settings::default());
        let changed = Settings::default().with_concurrency(6).unwrap();
        changed.save(&path).unwrap();
        assert_eq!(Settings::load(&path), changed);
        assert!(!path.with_extension("json.partial").exists());
    }

    #[test]
    fn out_of_range_values_are_refused_when_set_and_clamped_when_read() {
        let error = Settings::default().with_concurrency(9).unwrap_err();
        assert_eq!(error.code, berth_core::ErrorCode::InvalidInput);
        assert!(Settings::default().with_concurrency(0).is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = Settings::path_in(dir.path());
        std::fs::write(&path, r#"{"transfer_concurrency": 50, "future_key": true}"#).unwrap();
        assert_eq!(Settings::load(&path).transfer_concurrency, CONCURRENCY_MAX);
        std::fs::write(&path, "{ not json").unwrap();
        assert_eq!(Settings::load(&path), Settings::default());
    }
}
