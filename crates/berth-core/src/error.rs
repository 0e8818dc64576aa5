//! The error that crosses every boundary (engine → app → UI, engine → CLI): a code from a
//! closed set the UI branches on, and a message for the person reading it.
//!
//! Add a code only when a screen acts on it differently from the ones already here; everything
//! else is `internal` with a good message.

use serde::{Deserialize, Serialize};

/// What kind of failure happened, as far as a screen needs to know to decide what to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The engine cannot work at all here (data directory unwritable, database unreadable,
    /// sandbox missing): the UI shows the message as a blocking notice with its fix.
    EngineUnavailable,
    /// Something the user typed or picked breaks a rule; the message names the thing and the
    /// rule, and the UI shows it next to the input.
    InvalidInput,
    /// The thing asked for does not exist (any more): the UI refreshes the list.
    NotFound,
    /// A thing with that name already exists: the UI asks for another name.
    AlreadyExists,
    /// The folder or file does not allow this (a read-only folder, an unreadable file): the UI
    /// shows it as a lock, with nothing to retry.
    PermissionDenied,
    /// The server refused the credentials (wrong password, wrong secret key, blocked after
    /// too many attempts): the profile form shows it under the credentials.
    AuthFailed,
    /// A login that worked has expired and could not be renewed from the keychain: the UI asks
    /// for the password again over the open screen, then retries.
    LoginExpired,
    /// The server rejects this computer's clock (Backend.AI allows 15 minutes of skew): the
    /// fix is on this computer, not in the form.
    ClockSkew,
    /// Nothing answered at the address (refused, no route, timed out): the UI offers a retry.
    Unreachable,
    /// Something answered, but it is not a Backend.AI manager Berth can speak to (another kind
    /// of server, or a version too old): the endpoint field shows it.
    UnsupportedServer,
    /// A save found the file changed (or gone) since it was read: the UI asks whether to
    /// overwrite it, reload it, or save the edit as a copy.
    FileChanged,
    /// A bug or an unexpected condition; the message and the log say more.
    Internal,
}

impl ErrorCode {
    /// Every code, so tests and docs can enumerate the closed set.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::EngineUnavailable,
        ErrorCode::InvalidInput,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::PermissionDenied,
        ErrorCode::AuthFailed,
        ErrorCode::LoginExpired,
        ErrorCode::ClockSkew,
        ErrorCode::Unreachable,
        ErrorCode::UnsupportedServer,
        ErrorCode::FileChanged,
        ErrorCode::Internal,
    ];
}

/// An error a person can act on: `{ "code": "...", "message": "..." }` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type, thiserror::Error)]
#[error("{message}")]
// Named `BerthError` in TypeScript so it does not shadow the global `Error` there.
#[serde(rename = "BerthError")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn engine_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::EngineUnavailable, message)
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The UI switches on these exact strings; changing one is a breaking change of the IPC.
    #[test]
    fn codes_serialize_to_the_strings_the_ui_switches_on() {
        let wire: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|code| serde_json::to_string(code).unwrap())
            .collect();
        assert_eq!(
            wire,
            [
                "\"engine_unavailable\"",
                "\"invalid_input\"",
                "\"not_found\"",
                "\"already_exists\"",
                "\"permission_denied\"",
                "\"auth_failed\"",
                "\"login_expired\"",
                "\"clock_skew\"",
                "\"unreachable\"",
                "\"unsupported_server\"",
                "\"file_changed\"",
                "\"internal\""
            ]
        );
    }

    #[test]
    fn error_is_a_flat_code_and_message_object() {
        let error = Error::invalid_input("Folder name \"a/b\" contains '/'");
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({ "code": "invalid_input", "message": "Folder name \"a/b\" contains '/'" })
        );
        let back: Error = serde_json::from_str(r#"{"code":"not_found","message":"gone"}"#).unwrap();
        assert_eq!(back, Error::new(ErrorCode::NotFound, "gone"));
    }

    #[test]
    fn unknown_codes_are_rejected_not_mapped_silently() {
        let parsed = serde_json::from_str::<Error>(r#"{"code":"teapot","message":"x"}"#);
        assert!(parsed.is_err(), "the code set is closed");
    }
}
