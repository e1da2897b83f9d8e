//! The first layer of a client's way in: a `ws://` or `wss://` URL checked
//! and taken apart (scheme, host, port, `Host` field, path and query).

use url::Url;

use crate::error::{Error, Result};

/// A parsed `ws://` or `wss://` URL.
#[derive(Debug, Clone)]
pub struct Target {
    /// Whether TLS is used.
    pub secure: bool,
    /// The host, without brackets for IPv6.
    pub host: String,
    /// The port (default 80 or 443).
    pub port: u16,
    /// The `Host` header value.
    pub host_header: String,
    /// Path and query.
    pub resource: String,
}

impl Target {
    /// Parses and checks a WebSocket URL: scheme `ws` or `wss`, a host, no fragment.
    pub fn parse(url: &str) -> Result<Target> {
        let u = Url::parse(url).map_err(|e| Error::Url(format!("{url:?}: {e}")))?;
        Target::from_url(&u)
    }

    /// Checks an already parsed URL.
    pub fn from_url(u: &Url) -> Result<Target> {
        let secure = match u.scheme() {
            "ws" => false,
            "wss" => true,
            s => return Err(Error::Url(format!("scheme {s:?} is not ws or wss"))),
        };
        if u.fragment().is_some() {
            return Err(Error::Url("WebSocket URLs cannot have a fragment".into()));
        }
        let host = u
            .host_str()
            .ok_or_else(|| Error::Url("missing host".into()))?
            .to_string();
        let port = u.port_or_known_default().unwrap_or(if secure { 443 } else { 80 });
        let host_header = match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let mut resource = u.path().to_string();
        if let Some(q) = u.query() {
            resource.push('?');
            resource.push_str(q);
        }
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        Ok(Target {
            secure,
            host,
            port,
            host_header,
            resource,
        })
    }
}
