//! The server's refusals — RFC 7807 problem JSON (`type`, `title`, `msg`, and since 26.x an
//! `error_code`) — turned into the error codes the screens act on, keeping the server's own
//! words in the message: "ask your admin" situations must be shown verbatim, not guessed at.

use berth_core::{Error, ErrorCode, Result};
use reqwest::{Response, StatusCode};
use url::Url;

/// Passes a successful response through; anything else becomes an error.
pub async fn check(response: Response, endpoint: &Url) -> Result<Response> {
    let status = response.status();
    if status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS {
        return Ok(response);
    }
    let path = response.url().path().to_string();
    let text = response.text().await.unwrap_or_default();
    Err(classify(status, &text, endpoint, &path))
}

/// What a refusal means, from its status and body.
pub fn classify(status: StatusCode, body: &str, endpoint: &Url, path: &str) -> Error {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    // The webserver nests the problem under `data`.
    let problem = if json["data"]["type"].is_string() {
        &json["data"]
    } else {
        &json
    };
    let kind = problem["type"].as_str().unwrap_or_default();
    let said = [
        &problem["msg"],
        &problem["details"],
        &problem["title"],
        &json["msg"],
    ]
    .into_iter()
    .find_map(|v| v.as_str().filter(|s| !s.is_empty()))
    .map(str::to_string)
    .unwrap_or_else(|| {
        let trimmed = body.trim();
        if trimmed.is_empty() || trimmed.len() > 300 {
            status.to_string()
        } else {
            trimmed.to_string()
        }
    });
    let lower = said.to_lowercase();
    let code = if lower.contains("date/time sync") {
        ErrorCode::ClockSkew
    } else if lower.contains("unsupported api version") {
        ErrorCode::UnsupportedServer
    } else {
        match status {
            StatusCode::UNAUTHORIZED => ErrorCode::AuthFailed,
            StatusCode::FORBIDDEN => ErrorCode::PermissionDenied,
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::CONFLICT => ErrorCode::AlreadyExists,
            _ if lower.contains("already exists") => ErrorCode::AlreadyExists,
            s if s.is_client_error() => ErrorCode::InvalidInput,
            _ => ErrorCode::Internal,
        }
    };
    let message = match code {
        ErrorCode::ClockSkew => format!(
            "{endpoint} refuses requests because this computer's clock differs from the server's by more than 15 minutes ({said})."
        ),
        ErrorCode::AuthFailed => {
            format!("{endpoint} refused the access key or secret key ({said}).")
        }
        ErrorCode::UnsupportedServer => {
            format!("{endpoint} does not speak the API version Berth sent ({said}).")
        }
        ErrorCode::Internal => format!("{endpoint} failed on {path}: {said} ({status})."),
        _ => said,
    };
    tracing::debug!(%status, kind, path, "server refused a call");
    Error::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_json(status: u16, body: serde_json::Value) -> Error {
        classify(
            StatusCode::from_u16(status).unwrap(),
            &body.to_string(),
            &Url::parse("http://127.0.0.1:8081/").unwrap(),
            "/folders",
        )
    }

    /// Bodies as a 26.8.1 manager and webserver send them (backendai-api.md, verified section).
    #[test]
    fn refusals_of_a_26_8_manager_get_their_codes() {
        let skew = classify_json(
            400,
            serde_json::json!({"type": "https://api.backend.ai/probs/invalid-auth-params", "title": "Date/time sync error"}),
        );
        assert_eq!(skew.code, ErrorCode::ClockSkew);
        assert!(skew.message.contains("clock"), "{skew}");

        let mismatch = classify_json(
            401,
            serde_json::json!({"type": "https://api.backend.ai/probs/auth-failed", "title": "Credential/signature mismatch.", "msg": "HMAC signature mismatch"}),
        );
        assert_eq!(mismatch.code, ErrorCode::AuthFailed);

        let exists = classify_json(
            400,
            serde_json::json!({"type": "https://api.backend.ai/probs/invalid-api-params", "title": "Invalid API parameters.", "msg": "The virtual folder already exists with the same name."}),
        );
        assert_eq!(exists.code, ErrorCode::AlreadyExists);
        assert_eq!(
            exists.message,
            "The virtual folder already exists with the same name."
        );

        let forbidden = classify_json(
            403,
            serde_json::json!({"type": "https://api.backend.ai/probs/not-enough-permission", "msg": "User lacks permission read on vfolder"}),
        );
        assert_eq!(forbidden.code, ErrorCode::PermissionDenied);
        assert!(forbidden.message.contains("lacks permission"));

        let version = classify_json(
            400,
            serde_json::json!({"type": "https://api.backend.ai/probs/invalid-api-params", "title": "Unsupported API version."}),
        );
        assert_eq!(version.code, ErrorCode::UnsupportedServer);
    }

    #[test]
    fn server_failures_name_the_call() {
        let error = classify(
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
            &Url::parse("http://h/").unwrap(),
            "/folders/x/rename-file",
        );
        assert_eq!(error.code, ErrorCode::Internal);
        assert!(error.message.contains("/folders/x/rename-file"), "{error}");
    }
}
