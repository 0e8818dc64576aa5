//! The app's own preferences, kept as JSON in the config directory: small, human-readable, and
//! read once at start-up.

use std::path::{Path, PathBuf};

use berth_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// How many files may move at once, as the transfer panel offers it.
pub const CONCURRENCY_MIN: u32 = 1;
pub const CONCURRENCY_MAX: u32 = 8;

/// The most lines a terminal tab may keep for scrolling back (Settings). Every line is kept per
/// tab in the web view, a few KB at full width, so the cap keeps a typo from costing gigabytes.
pub const SCROLLBACK_MAX: u32 = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
// A file written by an older or newer Berth still loads: missing keys take their defaults.
#[serde(default)]
pub struct Settings {
    /// Files transferred at once.
    pub transfer_concurrency: u32,
    /// Lines each terminal tab keeps above its screen.
    pub terminal_scrollback: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            // Enough to overlap per-file costs on two cores.
            transfer_concurrency: 3,
            // xterm.js's own default. Kept lines are the terminal's memory: with 5000, a tab
            // that ran a 200 MB `cat` held about 12 MB more than with 1000
            // (scripts/bench-terminal), which a user who wants them can choose in Settings.
            terminal_scrollback: 1000,
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
                terminal_scrollback: settings.terminal_scrollback.min(SCROLLBACK_MAX),
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
            ..self
        })
    }

    /// These settings with `lines` of terminal scrollback; `invalid_input` above the cap.
    pub fn with_scrollback(self, lines: u32) -> Result<Self> {
        if lines > SCROLLBACK_MAX {
            return Err(Error::invalid_input(format!(
                "Terminal scrollback must be between 0 and {SCROLLBACK_MAX} lines, not {lines}."
            )));
        }
        Ok(Self {
            terminal_scrollback: lines,
            ..self
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
        let changed = Settings::default()
            .with_concurrency(6)
            .and_then(|s| s.with_scrollback(20_000))
            .unwrap();
        changed.save(&path).unwrap();
        assert_eq!(Settings::load(&path), changed);
        assert!(!path.with_extension("json.partial").exists());
    }

    #[test]
    fn out_of_range_values_are_refused_when_set_and_clamped_when_read() {
        let error = Settings::default().with_concurrency(9).unwrap_err();
        assert_eq!(error.code, berth_core::ErrorCode::InvalidInput);
        assert!(Settings::default().with_concurrency(0).is_err());
        let error = Settings::default().with_scrollback(50_001).unwrap_err();
        assert_eq!(error.code, berth_core::ErrorCode::InvalidInput);
        assert!(error.message.contains("50000"), "{}", error.message);

        let dir = tempfile::tempdir().unwrap();
        let path = Settings::path_in(dir.path());
        std::fs::write(
            &path,
            r#"{"transfer_concurrency": 50, "terminal_scrollback": 9999999, "future_key": true}"#,
        )
        .unwrap();
        assert_eq!(Settings::load(&path).transfer_concurrency, CONCURRENCY_MAX);
        assert_eq!(Settings::load(&path).terminal_scrollback, SCROLLBACK_MAX);
        // A file from before the setting existed keeps its other values.
        std::fs::write(&path, r#"{"transfer_concurrency": 5}"#).unwrap();
        assert_eq!(
            Settings::load(&path),
            Settings {
                transfer_concurrency: 5,
                ..Settings::default()
            }
        );
        std::fs::write(&path, "{ not json").unwrap();
        assert_eq!(Settings::load(&path), Settings::default());
    }
}
