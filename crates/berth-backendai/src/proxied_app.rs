//! A cluster session's web app reached through the resource group's App Proxy (its worker
//! serves the app), still from a listener on this computer's loopback: the browser talks plain
//! HTTP to `127.0.0.1`, and each of its connections becomes a connection to the worker (TLS
//! where the worker's address is `https`) whose first request Berth rewrites for the worker —
//! the worker's host, the app's path under it, and the worker's permit cookie, which so never
//! reaches the browser — asking the worker to close the connection after its answer, so every
//! request is rewritten (a websocket upgrade keeps its connection, as it must). Then the bytes
//! cross as they are.

use std::sync::Arc;

use berth_forward::{Counted, ForwardTarget};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app_proxy::AppAddress;

/// The most a browser's request head may hold before Berth gives up on it.
const LARGEST_HEAD: usize = 64 * 1024;

/// Headers Berth sets itself on the way to the worker.
const REPLACED: [&str; 6] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "cookie",
    "origin",
];

/// An app behind the App Proxy's worker at `address`.
pub(crate) struct ProxiedApp {
    pub(crate) address: AppAddress,
    pub(crate) session_name: String,
    pub(crate) app: String,
    /// Asks after the session, as the manager's tunnel does.
    pub(crate) watch: Arc<crate::apps::SessionWatch>,
}

#[async_trait::async_trait]
impl ForwardTarget for ProxiedApp {
    async fn carry(&self, mut client: Counted<TcpStream>) {
        let Some((head, rest)) = read_head(&mut client).await else {
            return;
        };
        let Some(request) = rewrite_head(&head, &self.address) else {
            let _ = client
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            return;
        };
        match connect(&self.address.url).await {
            Ok(mut worker) => {
                if worker.write_all(&request).await.is_err()
                    || worker.write_all(&rest).await.is_err()
                {
                    return;
                }
                let _ = berth_forward::carry_both(client, worker).await;
            }
            Err(error) => {
                tracing::warn!(session = %self.session_name, app = %self.app, %error, "cannot reach the App Proxy's worker");
                let body = format!(
                    "Berth cannot reach the cluster's App Proxy worker for {}: {error}\n",
                    self.app
                );
                let _ = client
                    .write_all(
                        format!(
                            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        }
    }

    async fn still_there(&self) -> std::result::Result<(), String> {
        self.watch.still_there().await
    }
}

/// The connection's first request head (through the blank line), and whatever came after it
/// in the same reads; `None` when the client closed first or sent no HTTP.
async fn read_head<S: AsyncRead + Unpin>(client: &mut S) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut read = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        let searched_from = read.len().saturating_sub(3);
        read.extend_from_slice(&chunk[..n]);
        if let Some(end) = read[searched_from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
        {
            let end = searched_from + end + 4;
            let rest = read.split_off(end);
            return Some((read, rest));
        }
        if read.len() > LARGEST_HEAD {
            return None;
        }
    }
}

/// `head` as the worker must see it: the target under the app's path, the worker's host and
/// origin, the permit cookie beside the browser's own cookies, and `Connection: close` unless
/// it asks for an upgrade. `None` when it is not an HTTP request head.
pub(crate) fn rewrite_head(head: &[u8], address: &AppAddress) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target, version) = (first.next()?, first.next()?, first.next()?);
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    let url = &address.url;
    let base = url.path().trim_end_matches('/');
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str()?),
        None => url.host_str()?.to_owned(),
    };
    let mut cookies: Vec<&str> = Vec::new();
    let mut upgrade = false;
    let mut kept = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let lower = name.trim().to_ascii_lowercase();
        match lower.as_str() {
            "cookie" => cookies.push(value.trim()),
            "upgrade" => {
                upgrade = true;
                kept.push(line);
            }
            other if REPLACED.contains(&other) => {}
            _ => kept.push(line),
        }
    }
    if !address.cookie.is_empty() {
        cookies.push(&address.cookie);
    }
    let mut out = format!("{method} {base}{target} {version}\r\nHost: {host}\r\n");
    out.push_str(if upgrade {
        "Connection: Upgrade\r\n"
    } else {
        "Connection: close\r\n"
    });
    if !cookies.is_empty() {
        out.push_str(&format!("Cookie: {}\r\n", cookies.join("; ")));
    }
    // Apps behind a proxy check that a websocket's origin is their own host.
    if text.to_ascii_lowercase().contains("\r\norigin:") {
        out.push_str(&format!(
            "Origin: {}\r\n",
            url.origin().ascii_serialization()
        ));
    }
    for line in kept {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    Some(out.into_bytes())
}

/// A byte stream to the worker at `url`: TCP, wrapped in TLS for `https`.
async fn connect(url: &url::Url) -> std::io::Result<Box<dyn Stream>> {
    let host = url
        .host_str()
        .ok_or_else(|| std::io::Error::other("the worker's address has no host"))?
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    if url.scheme() != "https" {
        return Ok(Box::new(tcp));
    }
    let config =
        crate::connection::websocket_tls().map_err(|e| std::io::Error::other(e.message))?;
    let name = rustls::pki_types::ServerName::try_from(host)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    Ok(Box::new(tls))
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(url: &str, cookie: &str) -> AppAddress {
        AppAddress {
            url: url::Url::parse(url).unwrap(),
            cookie: cookie.into(),
        }
    }

    fn rewritten(head: &str, to: &AppAddress) -> String {
        String::from_utf8(rewrite_head(head.as_bytes(), to).unwrap()).unwrap()
    }

    #[test]
    fn a_request_is_sent_to_the_workers_host_with_the_permit_and_closes() {
        let to = address("http://worker.example:10205/", "appproxy_permit=p1");
        let head = "GET /lab?x=1 HTTP/1.1\r\nHost: 127.0.0.1:4000\r\nConnection: keep-alive\r\n\
                    Cookie: _xsrf=abc\r\nAccept: text/html\r\n\r\n";
        assert_eq!(
            rewritten(head, &to),
            "GET /lab?x=1 HTTP/1.1\r\nHost: worker.example:10205\r\nConnection: close\r\n\
             Cookie: _xsrf=abc; appproxy_permit=p1\r\nAccept: text/html\r\n\r\n"
        );
    }

    #[test]
    fn an_app_under_a_path_gets_it_and_a_websocket_keeps_its_connection() {
        let to = address("https://gw.example/appproxy/c1/", "appproxy_permit=p2");
        let head = "GET /api/kernels/k/channels HTTP/1.1\r\nHost: 127.0.0.1:4000\r\n\
                    Upgrade: websocket\r\nConnection: Upgrade\r\nOrigin: http://127.0.0.1:4000\r\n\
                    Sec-WebSocket-Key: k==\r\n\r\n";
        assert_eq!(
            rewritten(head, &to),
            "GET /appproxy/c1/api/kernels/k/channels HTTP/1.1\r\nHost: gw.example\r\n\
             Connection: Upgrade\r\nCookie: appproxy_permit=p2\r\nOrigin: https://gw.example\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Key: k==\r\n\r\n"
        );
    }

    #[test]
    fn what_is_not_an_http_request_is_refused() {
        let to = address("http://w:1/", "");
        for head in [
            "SSH-2.0-OpenSSH\r\n\r\n",
            "GET http://elsewhere/ HTTP/1.1\r\n\r\n",
            "GET / HTTP/2\r\n\r\n",
        ] {
            assert!(rewrite_head(head.as_bytes(), &to).is_none(), "{head}");
        }
    }
}
