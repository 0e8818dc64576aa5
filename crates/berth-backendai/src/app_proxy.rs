//! Reaching an app inside a session (ttyd, Jupyter, …) through Backend.AI's App Proxy, the
//! server-side proxy a resource group may have ("wsproxy v2"), the way the WebUI opens them:
//!
//! 1. the manager starts the app and registers it with the resource group's coordinator:
//!    `POST session/{id}/start-service` → `{token, wsproxy_addr}`;
//! 2. the coordinator hands out a circuit on one of its workers:
//!    `GET {wsproxy_addr}/v2/proxy/{token}/{id}/add?app=…&protocol=http` → `{url}` (the
//!    `v2/proxy/auth` address), which answers `{redirect_url, reuse}` (503 when no worker is free);
//! 3. the worker's `setup?token=…` redirects to where the app answers and sets the permit cookie
//!    (`appproxy_permit`) that every request to the app must carry.
//!
//! A resource group without a coordinator answers `v1` to [`proxy_version`]: its apps are only
//! reachable through a proxy running next to the browser, which Berth does not embed.

use std::time::Duration;

use berth_core::{Error, ErrorCode, Result};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use crate::connection::Connection;
use crate::folders::segment;

/// The coordinator and worker answer quickly or not at all; a stuck one should not hold a
/// terminal tab for the manager's full request limit.
const APP_PROXY_TIMEOUT: Duration = Duration::from_secs(20);

/// Where an app answers, and the permit cookie its worker wants on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppAddress {
    /// The app's root, ending in `/`.
    pub url: Url,
    /// `name=value` pairs for a `Cookie` header (empty when the worker set none).
    pub cookie: String,
}

/// Which app proxy resource group `resource_group` uses for project `project_id`: `"v2"` when it
/// has a coordinator, `"v1"` when it has none. Errors as the manager reports them; a coordinator
/// that is configured but down makes the manager answer 500 (`appproxy_request_unavailable`).
pub async fn proxy_version(
    connection: &Connection,
    resource_group: &str,
    project_id: &str,
) -> Result<String> {
    #[derive(Deserialize)]
    struct Answer {
        wsproxy_version: String,
    }
    let path = format!(
        "scaling-groups/{}/wsproxy-version?group={}",
        segment(resource_group),
        segment(project_id)
    );
    let answer: Answer = connection.call_json(Method::GET, &path, None).await?;
    Ok(answer.wsproxy_version)
}

/// Starts `app` in session `session_id` (a UUID) and opens a circuit to it through the App
/// Proxy. Side effects: the manager asks the session's agent to start the app (a no-op when it
/// already runs) and the coordinator creates (or reuses) a circuit on a worker. Errors: the
/// manager's refusals as [`Connection::call`] maps them; `unreachable` when the coordinator or
/// worker cannot be reached or has no worker free (503); `permission_denied` when it refuses
/// the token.
pub async fn open_app(connection: &Connection, session_id: &str, app: &str) -> Result<AppAddress> {
    #[derive(Deserialize)]
    struct Started {
        token: String,
        wsproxy_addr: String,
    }
    let mut body = serde_json::json!({ "app": app });
    if let Some(token) = connection.login_session_token() {
        body["login_session_token"] = serde_json::Value::String(token);
    }
    let started: Started = connection
        .call_json(
            Method::POST,
            &format!("session/{}/start-service", segment(session_id)),
            Some(&body),
        )
        .await?;
    let coordinator = parse_address(&started.wsproxy_addr)?;
    let proxy = AppProxy::new(coordinator)?;
    let mut add = proxy
        .coordinator
        .join(&format!(
            "v2/proxy/{}/{}/add",
            segment(&started.token),
            segment(session_id)
        ))
        .map_err(|e| Error::internal(format!("Cannot form the app proxy's address: {e}")))?;
    add.query_pairs_mut()
        .append_pair("app", app)
        .append_pair("protocol", "http");
    let circuit = proxy.circuit(add).await?;
    proxy.setup(&circuit).await
}

#[derive(Deserialize)]
struct Step {
    /// The `v2/proxy/auth` address (`add` answers this).
    #[serde(default)]
    url: Option<String>,
    /// The worker's setup address (`auth` answers this).
    #[serde(default)]
    redirect_url: Option<String>,
}

struct AppProxy {
    coordinator: Url,
    /// Redirects are read, not followed: the worker's setup answer carries the cookie.
    http: reqwest::Client,
}

impl AppProxy {
    fn new(coordinator: Url) -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(APP_PROXY_TIMEOUT)
            .tcp_nodelay(true)
            .user_agent(concat!("Berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::internal(format!("Cannot set up HTTPS: {e}")))?;
        Ok(Self { coordinator, http })
    }

    /// `add`, then `auth` when `add` only pointed there: the worker's setup address.
    async fn circuit(&self, add: Url) -> Result<Url> {
        let mut next = add;
        // Two steps on today's coordinators; older ones answered `redirect_url` from `add`.
        for _ in 0..2 {
            let step: Step = self.json(next.clone()).await?;
            if let Some(redirect) = step.redirect_url {
                return self.parse(&redirect);
            }
            match step.url {
                Some(url) => next = self.parse(&url)?,
                None => break,
            }
        }
        Err(Error::internal(format!(
            "The app proxy at {} did not say which worker serves the app.",
            self.coordinator
        )))
    }

    async fn json(&self, url: Url) -> Result<Step> {
        let response = self
            .http
            .get(url.clone())
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| self.unreachable(&url, &e))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(self.refused(status, &text));
        }
        serde_json::from_str(&text).map_err(|_| {
            Error::internal(format!(
                "The app proxy at {} answered {} with something Berth cannot read.",
                self.coordinator,
                url.path()
            ))
        })
    }

    /// The worker's setup: a redirect to the app with the permit cookie.
    async fn setup(&self, setup: &Url) -> Result<AppAddress> {
        let response = self
            .http
            .get(setup.clone())
            .send()
            .await
            .map_err(|e| self.unreachable(setup, &e))?;
        let status = response.status();
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(str::trim)
            .filter(|pair| pair.contains('='))
            .collect::<Vec<_>>()
            .join("; ");
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut url = match location {
            Some(location) if status.is_redirection() => setup.join(&location).map_err(|_| {
                Error::internal(format!(
                    "The app proxy's worker sent the app to an address Berth cannot read: {location}"
                ))
            })?,
            _ => {
                let text = response.text().await.unwrap_or_default();
                return Err(if status.is_success() {
                    // A TCP circuit answers JSON here; only HTTP apps are asked for.
                    Error::internal(format!(
                        "The app proxy's worker at {} did not send Berth on to the app.",
                        origin(setup)
                    ))
                } else {
                    self.refused(status, &text)
                });
            }
        };
        url.set_query(None);
        url.set_fragment(None);
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(AppAddress { url, cookie })
    }

    fn parse(&self, text: &str) -> Result<Url> {
        self.coordinator.join(text).map_err(|_| {
            Error::internal(format!(
                "The app proxy at {} answered an address Berth cannot read: {text}",
                self.coordinator
            ))
        })
    }

    fn unreachable(&self, url: &Url, error: &reqwest::Error) -> Error {
        let mut source: &dyn std::error::Error = error;
        while let Some(next) = source.source() {
            source = next;
        }
        let why = if error.is_timeout() {
            "it did not answer in time".to_string()
        } else {
            source.to_string()
        };
        Error::new(
            ErrorCode::Unreachable,
            format!(
                "Cannot reach the cluster's app proxy at {}: {why}. Ask your administrator whether it runs and is reachable from this computer.",
                origin(url)
            ),
        )
    }

    /// The coordinator's and worker's refusals are problem JSON (`title`, sometimes `msg`).
    fn refused(&self, status: StatusCode, body: &str) -> Error {
        let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let said = [&json["msg"], &json["title"], &json["details"]]
            .into_iter()
            .find_map(|v| v.as_str().filter(|s| !s.is_empty()))
            .map(str::to_string)
            .unwrap_or_else(|| status.to_string());
        let proxy = &self.coordinator;
        match status {
            // No worker free (its port pool is used up) or one restarting: a later try may work.
            StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::BAD_GATEWAY
            | StatusCode::GATEWAY_TIMEOUT => Error::new(
                ErrorCode::Unreachable,
                format!(
                    "The cluster's app proxy at {proxy} cannot open the app now ({status}: {said}). Try again in a while; if it keeps failing, tell your administrator."
                ),
            ),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::new(
                ErrorCode::PermissionDenied,
                format!(
                    "The cluster's app proxy at {proxy} refused to open the app ({status}: {said})."
                ),
            ),
            StatusCode::NOT_FOUND => Error::new(
                ErrorCode::NotFound,
                format!(
                    "The cluster's app proxy at {proxy} does not know the app or its session ({said})."
                ),
            ),
            _ => Error::internal(format!(
                "The cluster's app proxy at {proxy} failed to open the app ({status}: {said})."
            )),
        }
    }
}

fn parse_address(text: &str) -> Result<Url> {
    let mut url = Url::parse(text.trim()).map_err(|_| {
        Error::internal(format!(
            "The manager named an app proxy address Berth cannot read: {text:?}"
        ))
    })?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// `scheme://host:port` of `url`, for messages: the rest carries tokens.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coordinators_address_becomes_a_base_for_its_paths() {
        let base = parse_address("https://proxy.example:10200").unwrap();
        assert_eq!(
            base.join("v2/proxy/t/s/add").unwrap().as_str(),
            "https://proxy.example:10200/v2/proxy/t/s/add"
        );
        let prefixed = parse_address("https://gw.example/appproxy").unwrap();
        assert_eq!(
            prefixed.join("v2/proxy/t/s/add").unwrap().as_str(),
            "https://gw.example/appproxy/v2/proxy/t/s/add"
        );
        assert!(parse_address("not an address").is_err());
    }

    #[test]
    fn messages_name_the_proxy_without_its_tokens() {
        let url = Url::parse("https://w.example:10205/setup?token=secret").unwrap();
        assert_eq!(origin(&url), "https://w.example:10205");
    }
}
