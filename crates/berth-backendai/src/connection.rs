//! One logged-in connection to a Backend.AI cluster: the endpoint, the negotiated API version,
//! and how requests are authenticated — an HMAC-signed keypair against the manager, or a
//! webserver login session whose calls go under `/func/`. Every call goes through
//! [`Connection::call`], which signs it, renews an expired webserver login once, and turns
//! the server's refusals into errors a screen can act on.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use berth_core::{Error, ErrorCode, Result};
use reqwest::{Method, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use url::Url;

use crate::problem;
use crate::signing::{SignedParts, signature};
use crate::version::{ApiVersion, ManagerAnnouncement};

/// How the user logs in. The secret part is only held in memory, for renewing a login.
#[derive(Clone)]
pub enum Credentials {
    /// The webserver's login form: email and password (and a one-time code where the site asks).
    Password {
        email: String,
        password: String,
        otp: Option<String>,
    },
    /// An API keypair; each request is signed with the secret key.
    Keypair {
        access_key: String,
        secret_key: String,
    },
}

impl std::fmt::Debug for Credentials {
    // Secrets never reach a log line, even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Password { email, .. } => write!(f, "Password {{ email: {email:?}, .. }}"),
            Self::Keypair { access_key, .. } => {
                write!(f, "Keypair {{ access_key: {access_key:?}, .. }}")
            }
        }
    }
}

/// Where a renewed login gets its credentials: the keychain entry of the profile, read again
/// each time so a password changed in the app is the one used.
pub type CredentialSource = Arc<dyn Fn() -> Option<Credentials> + Send + Sync>;

enum Auth {
    Webserver {
        session_id: String,
    },
    Keypair {
        access_key: String,
        secret_key: String,
    },
}

/// What the server said about itself when the connection opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub api_version: ApiVersion,
    /// The manager's release, e.g. `26.8.1`; features are gated on it.
    pub manager_version: String,
}

pub struct Connection {
    http: reqwest::Client,
    endpoint: Url,
    server: ServerInfo,
    auth: Mutex<Auth>,
    renew: CredentialSource,
    /// Told when a login expired and could not be renewed, so the app can ask for the password
    /// once, whichever screen's call found it.
    expired: Mutex<Option<ExpiryListener>>,
}

pub type ExpiryListener = Arc<dyn Fn() + Send + Sync>;

/// Backend.AI's manager answers within this even when busy; beyond it the user sees
/// `unreachable` rather than a frozen screen. Transfers set their own, longer limits.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP client for everything (connection reuse matters for many small files), with the
/// operating system's certificate roots.
pub fn http_client() -> Result<reqwest::Client> {
    // ring is the one provider compiled in; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .user_agent(concat!("Berth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::internal(format!("Cannot set up HTTPS: {e}")))
}

impl Connection {
    /// Checks that `endpoint` is a Backend.AI manager (or webserver) of a version Berth speaks,
    /// then logs in. Errors: `invalid_input` for an address that is not an http(s) URL,
    /// `unreachable`, `unsupported_server`, `auth_failed`, `clock_skew`.
    pub async fn open(endpoint: &str, credentials: Credentials) -> Result<Self> {
        let renew: CredentialSource = {
            let credentials = credentials.clone();
            Arc::new(move || Some(credentials.clone()))
        };
        Self::open_renewing(endpoint, credentials, renew).await
    }

    /// Like [`Connection::open`], with renewals of an expired login taking their credentials
    /// from `renew` instead of the ones given now.
    pub async fn open_renewing(
        endpoint: &str,
        credentials: Credentials,
        renew: CredentialSource,
    ) -> Result<Self> {
        let endpoint = parse_endpoint(endpoint)?;
        let http = http_client()?;
        let announce_path = match credentials {
            Credentials::Password { .. } => "func/",
            Credentials::Keypair { .. } => "",
        };
        let server = match announcement(&http, &endpoint, announce_path).await {
            // An email and password typed with the manager's address, which has no web login.
            Err(error)
                if error.code == ErrorCode::UnsupportedServer
                    && announce_path == "func/"
                    && announcement(&http, &endpoint, "").await.is_ok() =>
            {
                return Err(manager_takes_a_keypair(&endpoint));
            }
            other => other?,
        };
        let auth = login(&http, &endpoint, &credentials).await?;
        let connection = Self {
            http,
            endpoint,
            server,
            auth: Mutex::new(auth),
            renew,
            expired: Mutex::new(None),
        };
        // A keypair login has no login step: the first signed call is what proves the key.
        if matches!(credentials, Credentials::Keypair { .. }) {
            connection
                .call(Method::GET, "folders/_/allowed-types", None)
                .await?;
        }
        Ok(connection)
    }

    /// Calls `listener` each time a call finds the login expired beyond renewal.
    pub fn on_login_expired(&self, listener: ExpiryListener) {
        *self.expired.lock().unwrap_or_else(PoisonError::into_inner) = Some(listener);
    }

    pub fn server(&self) -> &ServerInfo {
        &self.server
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Logs in again with `credentials` (the re-login dialog after `login_expired`); later
    /// renewals still read the credential source.
    pub async fn login(&self, credentials: &Credentials) -> Result<()> {
        let auth = login(&self.http, &self.endpoint, credentials).await?;
        *self.lock_auth() = auth;
        Ok(())
    }

    /// Ends a webserver login on the server (keypair logins have nothing to end).
    pub async fn logout(&self) -> Result<()> {
        let session_id = match &*self.lock_auth() {
            Auth::Webserver { session_id } => session_id.clone(),
            Auth::Keypair { .. } => return Ok(()),
        };
        let url = join(&self.endpoint, "server/logout")?;
        self.http
            .post(url)
            .header("X-BackendAI-SessionID", session_id)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| unreachable(&self.endpoint, &e))?;
        Ok(())
    }

    /// Sends a manager call (`path` relative to the manager root, e.g. `folders/x/files?path=`)
    /// and returns the successful response. A webserver login the server forgot is renewed
    /// once from the credential source; a refusal becomes a typed error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response> {
        let response = self.send(method.clone(), path, body).await?;
        if response.status() == StatusCode::UNAUTHORIZED && self.is_webserver() {
            tracing::info!(endpoint = %self.endpoint, "webserver login expired; renewing");
            if let Err(error) = self.renew_login().await {
                if error.code == ErrorCode::LoginExpired {
                    let listener = self
                        .expired
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    if let Some(listener) = listener {
                        listener();
                    }
                }
                return Err(error);
            }
            let retried = self.send(method, path, body).await?;
            return problem::check(retried, &self.endpoint).await;
        }
        problem::check(response, &self.endpoint).await
    }

    /// Opens a long-lived answer such as the session event stream (`events/session?…`),
    /// authenticated like [`Connection::call`] but without a limit on the whole exchange: the
    /// stream lasts as long as it is read (with `Response::chunk`) and ends when dropped.
    pub async fn open_stream(&self, path: &str) -> Result<Response> {
        let response = self.send_within(Method::GET, path, None, None).await?;
        if response.status() == StatusCode::UNAUTHORIZED && self.is_webserver() {
            self.renew_login().await?;
            let retried = self.send_within(Method::GET, path, None, None).await?;
            return problem::check(retried, &self.endpoint).await;
        }
        problem::check(response, &self.endpoint).await
    }

    /// [`Connection::call`] and parse the JSON answer.
    pub async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T> {
        let response = self.call(method, path, body).await?;
        let url = response.url().clone();
        response.json().await.map_err(|e| {
            Error::internal(format!(
                "{} answered {} with something Berth cannot read: {e}",
                self.endpoint,
                url.path()
            ))
        })
    }

    /// A GraphQL query (`admin/gql`); GraphQL errors come with HTTP 200 and become errors here.
    pub async fn graphql<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<T> {
        #[derive(Deserialize)]
        struct Answer<T> {
            data: Option<T>,
            errors: Option<Vec<GraphqlError>>,
        }
        #[derive(Deserialize)]
        struct GraphqlError {
            message: String,
        }
        let body = serde_json::json!({ "query": query, "variables": variables });
        let answer: Answer<T> = self
            .call_json(Method::POST, "admin/gql", Some(&body))
            .await?;
        if let Some(errors) = answer.errors.filter(|e| !e.is_empty()) {
            let messages: Vec<String> = errors.into_iter().map(|e| e.message).collect();
            return Err(Error::internal(format!(
                "The server's GraphQL query failed: {}",
                messages.join("; ")
            )));
        }
        answer
            .data
            .ok_or_else(|| Error::internal("The server's GraphQL answer had no data."))
    }

    /// The address and authentication headers of a websocket call to `path` (a manager path,
    /// e.g. `stream/session/NAME/pty`): `ws://`/`wss://`, under `/func/` through a webserver,
    /// signed like a GET with a keypair.
    pub fn websocket_request(&self, path: &str) -> Result<(Url, Vec<(&'static str, String)>)> {
        let (mut url, headers) = match &*self.lock_auth() {
            Auth::Webserver { session_id } => (
                join(&self.endpoint, &format!("func/{path}"))?,
                vec![("X-BackendAI-SessionID", session_id.clone())],
            ),
            Auth::Keypair {
                access_key,
                secret_key,
            } => {
                let url = join(&self.endpoint, path)?;
                let mut headers = signed_headers(
                    &Method::GET,
                    &url,
                    access_key,
                    secret_key,
                    self.server.api_version,
                );
                // The signature covers the content type, which the manager reads from this
                // header (aiohttp's default without one is application/octet-stream); a
                // websocket upgrade has no body, so nothing else sends it.
                headers.push(("Content-Type", "application/json".to_owned()));
                (url, headers)
            }
        };
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme)
            .map_err(|()| Error::internal(format!("Cannot make a websocket address of {url}")))?;
        Ok((url, headers))
    }

    /// Opens a websocket to the manager at `path` (`stream/session/…`), signed or carrying the
    /// login's session, as [`Connection::websocket_request`] forms it. `refused` words the
    /// server's refusal (or an unreachable server) for what was being opened.
    pub async fn open_websocket(
        &self,
        path: &str,
        refused: impl FnOnce(&tokio_tungstenite::tungstenite::Error) -> Error,
    ) -> Result<ManagerWebSocket> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let (url, headers) = self.websocket_request(path)?;
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| Error::internal(format!("Cannot form the request for {path}: {e}")))?;
        for (header, value) in headers {
            let value = value
                .parse()
                .map_err(|_| Error::internal(format!("A {header} header Berth cannot send")))?;
            request.headers_mut().insert(header, value);
        }
        let connector = tokio_tungstenite::Connector::Rustls(Arc::new(websocket_tls()?));
        // The manager sends up to 256 KiB at a time (its tcpproxy's chunk): one read of the
        // socket takes a whole message rather than two.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(512 * 1024);
        let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            true,
            Some(connector),
        )
        .await
        .map_err(|e| refused(&e))?;
        Ok(socket)
    }

    /// The webserver login's session id, which the app proxy is handed (`login_session_token`)
    /// when it starts an app for this user; `None` for a keypair login.
    pub fn login_session_token(&self) -> Option<String> {
        match &*self.lock_auth() {
            Auth::Webserver { session_id } => Some(session_id.clone()),
            Auth::Keypair { .. } => None,
        }
    }

    fn is_webserver(&self) -> bool {
        matches!(&*self.lock_auth(), Auth::Webserver { .. })
    }

    fn lock_auth(&self) -> std::sync::MutexGuard<'_, Auth> {
        self.auth.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn renew_login(&self) -> Result<()> {
        let expired = || {
            Error::new(
                ErrorCode::LoginExpired,
                format!(
                    "Your login to {} expired. Sign in again to continue.",
                    self.endpoint
                ),
            )
        };
        let credentials = (self.renew)().ok_or_else(expired)?;
        match login(&self.http, &self.endpoint, &credentials).await {
            Ok(auth) => {
                *self.lock_auth() = auth;
                Ok(())
            }
            Err(e) if e.code == ErrorCode::AuthFailed => Err(Error::new(
                ErrorCode::LoginExpired,
                format!(
                    "Your login to {} expired and the saved password was refused. Sign in again to continue.",
                    self.endpoint
                ),
            )),
            Err(e) => Err(e),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response> {
        self.send_within(method, path, body, Some(REQUEST_TIMEOUT))
            .await
    }

    /// Sends one request; `timeout` bounds the whole exchange (`None` only for streams).
    async fn send_within(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        timeout: Option<Duration>,
    ) -> Result<Response> {
        let request = {
            let auth = self.lock_auth();
            let (url, headers) = match &*auth {
                Auth::Webserver { session_id } => {
                    let url = join(&self.endpoint, &format!("func/{path}"))?;
                    (url, vec![("X-BackendAI-SessionID", session_id.clone())])
                }
                Auth::Keypair {
                    access_key,
                    secret_key,
                } => {
                    let url = join(&self.endpoint, path)?;
                    let headers = signed_headers(
                        &method,
                        &url,
                        access_key,
                        secret_key,
                        self.server.api_version,
                    );
                    (url, headers)
                }
            };
            let mut request = self
                .http
                .request(method, url)
                .header("Content-Type", "application/json");
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            for (name, value) in headers {
                request = request.header(name, value);
            }
            if let Some(body) = body {
                request = request.body(body.to_string());
            }
            request
        };
        request
            .send()
            .await
            .map_err(|e| unreachable(&self.endpoint, &e))
    }
}

/// The headers that authenticate a keypair request (see `reference/backendai-api.md` §1.2).
fn signed_headers(
    method: &Method,
    url: &Url,
    access_key: &str,
    secret_key: &str,
    api_version: ApiVersion,
) -> Vec<(&'static str, String)> {
    let now = OffsetDateTime::now_utc();
    let date = now
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let yyyymmdd = format!(
        "{:04}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    );
    let host = host_header(url);
    let path_and_query = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    let version = api_version.to_string();
    let parts = SignedParts {
        method: method.as_str(),
        path_and_query: &path_and_query,
        date: &date,
        date_yyyymmdd: &yyyymmdd,
        host: &host,
        content_type: "application/json",
        api_version: &version,
    };
    let authorization = format!(
        "BackendAI signMethod=HMAC-SHA256, credential={access_key}:{}",
        signature(secret_key, &parts)
    );
    vec![
        ("Date", date),
        ("X-BackendAI-Version", version),
        ("X-BackendAI-Domain", "default".to_string()),
        ("Authorization", authorization),
    ]
}

/// A websocket to the manager (or an App Proxy worker), over TLS where the address says so.
pub type ManagerWebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// TLS for websockets, with the operating system's roots.
pub(crate) fn websocket_tls() -> Result<rustls::ClientConfig> {
    use rustls_platform_verifier::ConfigVerifierExt;
    let _ = rustls::crypto::ring::default_provider().install_default();
    rustls::ClientConfig::with_platform_verifier()
        .map_err(|e| Error::internal(format!("Cannot set up TLS for the terminal: {e}")))
}

/// `host[:port]` as reqwest writes the `Host` header: the port only when it is not the
/// scheme's default.
fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Accepts what people paste: `https://host`, `host:8090` (http assumed only for loopback,
/// https otherwise), with or without a trailing slash.
pub fn parse_endpoint(text: &str) -> Result<Url> {
    let text = text.trim();
    let bad = |why: &str| {
        Error::invalid_input(format!(
            "Endpoint \"{text}\" is not a server address: {why}. Use a URL such as https://backend.example.com."
        ))
    };
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else if text.starts_with("127.") || text.starts_with("localhost") || text.starts_with("[::1]")
    {
        format!("http://{text}")
    } else {
        format!("https://{text}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http:// and https:// are supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn join(endpoint: &Url, path: &str) -> Result<Url> {
    endpoint
        .join(path)
        .map_err(|e| Error::internal(format!("Cannot form the address of {path}: {e}")))
}

pub(crate) fn unreachable(endpoint: &Url, error: &reqwest::Error) -> Error {
    let why = if error.is_timeout() {
        "it did not answer in time".to_string()
    } else if error.is_connect() {
        // The innermost cause says "Connection refused" or names the DNS failure.
        let mut source: &dyn std::error::Error = error;
        while let Some(next) = source.source() {
            source = next;
        }
        source.to_string()
    } else {
        error.to_string()
    };
    Error::new(
        ErrorCode::Unreachable,
        format!("Cannot reach {endpoint}: {why}. Check the address and your network."),
    )
}

/// `GET /` (or `/func/` through a webserver): is this a Backend.AI Berth can speak to?
async fn announcement(http: &reqwest::Client, endpoint: &Url, path: &str) -> Result<ServerInfo> {
    let url = join(endpoint, path)?;
    let response = http
        .get(url)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| unreachable(endpoint, &e))?;
    let not_backendai = |what: &str| {
        Error::new(
            ErrorCode::UnsupportedServer,
            format!(
                "{endpoint} is not a Backend.AI manager or web server: {what}. Check the address (a web server is usually on port 443 or 8090, a manager on 8081)."
            ),
        )
    };
    if !response.status().is_success() {
        return Err(not_backendai(&format!(
            "it answered {} to {}",
            response.status(),
            response.url().path()
        )));
    }
    let announced: ManagerAnnouncement = response
        .json()
        .await
        .map_err(|_| not_backendai("its answer does not announce an API version"))?;
    let api_version = ApiVersion::parse(&announced.version).ok_or_else(|| {
        not_backendai(&format!(
            "it announces the unknown API version {:?}",
            announced.version
        ))
    })?;
    if !api_version.is_supported() {
        return Err(Error::new(
            ErrorCode::UnsupportedServer,
            format!(
                "{endpoint} runs Backend.AI {} (API {api_version}); Berth needs API v{}.x or newer (Backend.AI 24.03 and later).",
                announced.manager,
                crate::version::OLDEST_MAJOR
            ),
        ));
    }
    Ok(ServerInfo {
        api_version,
        manager_version: announced.manager,
    })
}

async fn login(http: &reqwest::Client, endpoint: &Url, credentials: &Credentials) -> Result<Auth> {
    let (email, password, otp) = match credentials {
        Credentials::Keypair {
            access_key,
            secret_key,
        } => {
            if access_key.trim().is_empty() || secret_key.is_empty() {
                return Err(Error::invalid_input(
                    "An access key and a secret key are both needed.",
                ));
            }
            return Ok(Auth::Keypair {
                access_key: access_key.trim().to_string(),
                secret_key: secret_key.clone(),
            });
        }
        Credentials::Password {
            email,
            password,
            otp,
        } => (email, password, otp),
    };
    let mut body = serde_json::json!({ "username": email, "password": password });
    if let Some(otp) = otp {
        body["otp"] = serde_json::Value::String(otp.clone());
    }
    let url = join(endpoint, "server/login")?;
    let response = http
        .post(url)
        .timeout(REQUEST_TIMEOUT)
        .json(&body)
        .send()
        .await
        .map_err(|e| unreachable(endpoint, &e))?;
    let status = response.status();
    // The cookie is `Secure`, so over plain http a cookie jar would not send it back; the same
    // value in this header is accepted on every later call.
    let session_id = response
        .headers()
        .get("X-BackendAI-SessionID")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Error::new(
            ErrorCode::AuthFailed,
            format!(
                "{endpoint} blocks logins for {email} after too many failed attempts. Wait a while, then try again."
            ),
        ));
    }
    if answer["authenticated"].as_bool() == Some(true)
        && let Some(session_id) = session_id
    {
        return Ok(Auth::Webserver { session_id });
    }
    Err(refused_login(endpoint, email, &answer))
}

fn manager_takes_a_keypair(endpoint: &Url) -> Error {
    Error::new(
        ErrorCode::AuthFailed,
        format!(
            "{endpoint} is a Backend.AI manager (its API), which takes no email and password: log \
             in there with an API keypair (access key and secret key, from the web page's user \
             settings), or use the web server's address with your email."
        ),
    )
}

/// What a webserver's refusal of `/server/login` means for the user. Its answer is
/// `{"authenticated": false, "data": {"type", "title", "details", …}}`; the TOTP plugin's two
/// cases (`…/probs/require-totp-authentication`: the account has a code and none or a wrong
/// one was sent; `…/require-totp-registration`: the site demands one the account has not set
/// up) need different things from the user than a wrong password does.
fn refused_login(endpoint: &Url, email: &str, answer: &serde_json::Value) -> Error {
    let kind = answer["data"]["type"].as_str().unwrap_or_default();
    if kind.ends_with("require-totp-registration")
        || answer["data"]["two_factor_registration_token"].is_string()
    {
        return Error::new(
            ErrorCode::AuthFailed,
            format!(
                "{endpoint} requires two-factor authentication for {email}, which is not set up yet: register an authenticator in the site's web page first, then log in here with its code."
            ),
        );
    }
    if kind.contains("two-factor") || kind.contains("totp") {
        return Error::new(
            ErrorCode::AuthFailed,
            format!(
                "{endpoint} asks for a one-time code for {email}: enter the code from your authenticator app."
            ),
        );
    }
    let details = answer["data"]["details"]
        .as_str()
        .or(answer["data"]["title"].as_str())
        .unwrap_or("the server refused the login")
        .trim_end_matches('.');
    Error::new(
        ErrorCode::AuthFailed,
        format!("{endpoint} refused the email or password for {email} ({details})."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answers are Backend.AI 26.8.1's `web/server.py` login handler's, word for word: the
    /// peer runs without the TOTP plugin (it needs an explicit allow in the manager's config),
    /// so this is the only place its two refusals are checked. (A wrong password is checked
    /// against the peer itself, in `tests/peer/connect.rs`.)
    #[test]
    fn a_refused_login_tells_a_missing_code_from_a_missing_registration() {
        let endpoint = Url::parse("https://bai.example.com/").unwrap();
        let code = refused_login(
            &endpoint,
            "a@b.c",
            &serde_json::json!({"authenticated": false, "data": {
                "type": "https://api.backend.ai/probs/require-totp-authentication",
                "title": "Two-Factor Authentication needed.",
                "details": "You must authenticate using Two-Factor Authentication."}}),
        );
        assert_eq!(code.code, ErrorCode::AuthFailed);
        assert!(code.message.contains("one-time code for a@b.c"), "{code}");
        let register = refused_login(
            &endpoint,
            "a@b.c",
            &serde_json::json!({"authenticated": false, "data": {
                "type": "https://api.backend.ai/probs/require-totp-registration",
                "title": "Two-Factor Authentication registration required.",
                "details": "You must register Two-Factor Authentication.",
                "two_factor_registration_token": "t"}}),
        );
        assert!(register.message.contains("not set up yet"), "{register}");
    }

    #[test]
    fn endpoints_are_normalised_and_bad_ones_named() {
        assert_eq!(
            parse_endpoint("127.0.0.1:8090").unwrap().as_str(),
            "http://127.0.0.1:8090/"
        );
        assert_eq!(
            parse_endpoint(" backend.example.com ").unwrap().as_str(),
            "https://backend.example.com/"
        );
        assert_eq!(
            parse_endpoint("https://x.example/bai").unwrap().as_str(),
            "https://x.example/bai/"
        );
        for bad in ["", "ftp://x", "http://", "https://x?y=1"] {
            let error = parse_endpoint(bad).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidInput, "{bad}");
            assert!(error.message.contains("not a server address"), "{error}");
        }
    }

    #[test]
    fn the_host_header_omits_default_ports() {
        let host = |u: &str| host_header(&Url::parse(u).unwrap());
        assert_eq!(host("http://127.0.0.1:8081/"), "127.0.0.1:8081");
        assert_eq!(host("https://bai.example:443/"), "bai.example");
        assert_eq!(host("http://[::1]:8081/"), "[::1]:8081");
    }

    #[test]
    fn credentials_never_print_their_secret() {
        let keypair = Credentials::Keypair {
            access_key: "AK".into(),
            secret_key: "very-secret".into(),
        };
        let password = Credentials::Password {
            email: "a@b".into(),
            password: "hunter2".into(),
            otp: None,
        };
        assert!(!format!("{keypair:?}").contains("very-secret"));
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
