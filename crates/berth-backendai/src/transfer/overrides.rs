//! Rewriting the storage-proxy address the manager hands out, for clusters where the address it
//! is configured with is not the one this computer reaches (NAT, an SSH tunnel, a test proxy).
//! Backend.AI's own client reads the same setting from `BACKEND_OVERRIDE_STORAGE_PROXY`.

use berth_core::{Error, Result};
use url::Url;

/// The environment variable Backend.AI's Python client reads; the same value works here.
pub const ENV: &str = "BACKEND_OVERRIDE_STORAGE_PROXY";

/// `X1=Y1,X2=Y2`: a URL the manager returns whose full text, origin (`http://host:port`),
/// `host:port` or host is `X` gets `Y`'s scheme (if given), host and port (if given), and
/// `Y`'s path if it has one other than `/`. URLs matching no `X` are used as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageProxyOverrides(Vec<(String, Replacement)>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Replacement {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
    path: Option<String>,
}

impl StorageProxyOverrides {
    /// Parses `X1=Y1,X2=Y2`. Errors: `invalid_input` naming the part that is not `X=Y` or
    /// whose `Y` has no host.
    pub fn parse(text: &str) -> Result<Self> {
        let mut pairs = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = |why: &str| {
                Error::invalid_input(format!(
                    "Storage proxy override \"{part}\" {why}. Write it as ADDRESS=REPLACEMENT, e.g. http://10.0.0.5:6021=http://127.0.0.1:16021."
                ))
            };
            let (from, to) = part.split_once('=').ok_or_else(|| bad("has no '='"))?;
            let (from, to) = (from.trim(), to.trim());
            if from.is_empty() {
                return Err(bad("names no address to replace"));
            }
            let with_scheme = if to.contains("://") {
                to.to_string()
            } else {
                format!("scheme-from-original://{to}")
            };
            let url =
                Url::parse(&with_scheme).map_err(|e| bad(&format!("is not an address ({e})")))?;
            let host = url
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| bad("has no host"))?
                .to_string();
            pairs.push((
                from.trim_end_matches('/').to_string(),
                Replacement {
                    scheme: to.contains("://").then(|| url.scheme().to_string()),
                    host,
                    // `http://host:80` names port 80 even though a URL drops it as the default.
                    port: explicit_port(to)
                        .then(|| url.port_or_known_default())
                        .flatten(),
                    path: (url.path() != "/" && !url.path().is_empty())
                        .then(|| url.path().to_string()),
                },
            ));
        }
        Ok(Self(pairs))
    }

    /// The overrides in `BACKEND_OVERRIDE_STORAGE_PROXY`, none when it is unset.
    pub fn from_env() -> Result<Self> {
        match std::env::var(ENV) {
            Ok(text) => Self::parse(&text),
            Err(_) => Ok(Self::default()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `url` with its storage-proxy address replaced, if an override matches it.
    pub fn rewrite(&self, url: &Url) -> Url {
        let host = url.host_str().unwrap_or_default();
        let host_port = match url.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let origin = format!("{}://{host_port}", url.scheme());
        let mut bare = url.clone();
        bare.set_query(None);
        let full = bare.as_str().trim_end_matches('/');
        let Some((_, to)) = self.0.iter().find(|(from, _)| {
            [full, origin.as_str(), host_port.as_str(), host].contains(&from.as_str())
        }) else {
            return url.clone();
        };
        let mut text = format!(
            "{}://{}",
            to.scheme.as_deref().unwrap_or(url.scheme()),
            to.host
        );
        if let Some(port) = to.port.or(url.port()) {
            text.push_str(&format!(":{port}"));
        }
        text.push_str(to.path.as_deref().unwrap_or(url.path()));
        if let Some(query) = url.query() {
            text.push('?');
            text.push_str(query);
        }
        Url::parse(&text).unwrap_or_else(|_| url.clone())
    }
}

/// Whether `address` (`[scheme://]host[:port][/path]`) writes a port.
fn explicit_port(address: &str) -> bool {
    let after_scheme = address.split_once("://").map_or(address, |(_, rest)| rest);
    let authority = after_scheme.split('/').next().unwrap_or_default();
    authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(overrides: &str, url: &str) -> String {
        StorageProxyOverrides::parse(overrides)
            .unwrap()
            .rewrite(&Url::parse(url).unwrap())
            .to_string()
    }

    #[test]
    fn an_address_is_replaced_and_the_path_and_token_kept() {
        let url = "http://127.0.0.1:6021/upload?token=abc";
        assert_eq!(
            rewrite("127.0.0.1:6021=127.0.0.1:7000", url),
            "http://127.0.0.1:7000/upload?token=abc"
        );
        assert_eq!(
            rewrite("http://127.0.0.1:6021=https://proxy.example", url),
            "https://proxy.example:6021/upload?token=abc"
        );
        // The Python client's form: the full URL the manager returns.
        assert_eq!(
            rewrite(
                "http://127.0.0.1:6021/upload=http://10.1.1.1:80/sp/upload",
                url
            ),
            "http://10.1.1.1/sp/upload?token=abc"
        );
        assert_eq!(
            rewrite("127.0.0.1:6021=[::1]", url),
            "http://[::1]:6021/upload?token=abc"
        );
        assert_eq!(rewrite("other:1=x:2", url), url, "no match, no change");
        assert_eq!(
            rewrite("a:1=b:2, 127.0.0.1=localhost", url),
            "http://localhost:6021/upload?token=abc"
        );
    }

    #[test]
    fn malformed_overrides_are_named() {
        for bad in ["nothing", "=x:1", "a=", "a=http://"] {
            let error = StorageProxyOverrides::parse(bad).unwrap_err();
            assert_eq!(error.code, berth_core::ErrorCode::InvalidInput, "{bad}");
        }
        assert!(StorageProxyOverrides::parse("").unwrap().is_empty());
    }
}
