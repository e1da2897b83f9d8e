//! Reaching a WebSocket server through a proxy: HTTP `CONNECT` (`http://`
//! and `https://` proxy URLs, RFC 9110 §9.3.6) and SOCKS5 (`socks5://`,
//! `socks5h://`, RFC 1928 with RFC 1929 user and password).
//!
//! A client takes its proxy from [`ClientConfig::proxy`](crate::ClientConfig::proxy):
//! by default from the environment, as curl and Python `websockets` do (see
//! [`ProxySetting::FromEnv`] for the variables and their order), or one given
//! explicitly, or none.
//!
//! ```
//! use wsbolt::proxy::{Proxy, ProxySetting};
//! let config = wsbolt::ClientConfig::default()
//!     .proxy(ProxySetting::Through(Proxy::parse("socks5h://user:pw@127.0.0.1:1080")?));
//! # Ok::<_, wsbolt::Error>(())
//! ```

mod env;
mod http_connect;
mod socks;

use std::fmt;
use std::sync::Arc;

use tokio::net::TcpStream;
use url::Url;

pub use crate::error::{ProxyError, ProxyErrorKind};
pub use env::{NoProxy, ProxyEnv, VARIABLES};

use crate::error::{Error, Result, TlsError};
use crate::http1::percent_decode;
use crate::target::Target;
use crate::tls::{default_client_config, server_name};

/// Which proxy a client goes through.
#[derive(Debug, Clone, Default)]
pub enum ProxySetting {
    /// The default: the proxy the environment names for the target, if any.
    /// For `wss://`: `wss_proxy`, else `https_proxy`, else `all_proxy`; for
    /// `ws://`: `ws_proxy`, else `http_proxy`, else `all_proxy` (RFC 6455
    /// §4.1 lets a `ws` client use the HTTP proxy settings; `all_proxy` is the
    /// last resort, as curl does). Each name is looked up lower case first,
    /// then upper case, except `HTTP_PROXY`, which is ignored when
    /// `REQUEST_METHOD` is set (a CGI program would otherwise take it from a
    /// request's `Proxy:` header, "httpoxy"). `no_proxy` / `NO_PROXY` lists
    /// the hosts reached directly (see [`NoProxy`]). The environment is read
    /// at each connection.
    #[default]
    FromEnv,
    /// Connect directly, whatever the environment says.
    Direct,
    /// Through this proxy, whatever the environment says.
    Through(Proxy),
}

impl ProxySetting {
    /// The proxy to use for `target`, if any.
    ///
    /// # Errors
    ///
    /// [`ProxyErrorKind::Config`] for a proxy URL in the environment that
    /// cannot be used.
    pub fn resolve(&self, target: &Target) -> Result<Option<Proxy>> {
        match self {
            ProxySetting::FromEnv => ProxyEnv::from_process().proxy_for(target),
            ProxySetting::Direct => Ok(None),
            ProxySetting::Through(p) => Ok(Some(p.clone())),
        }
    }
}

/// The kind of proxy, from its URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyKind {
    /// `http://`: an HTTP proxy asked for a tunnel with `CONNECT`.
    Http,
    /// `https://`: the same, over TLS to the proxy.
    Https,
    /// `socks5://`: SOCKS5, the client resolves the target's name.
    Socks5,
    /// `socks5h://`: SOCKS5, the proxy resolves the target's name.
    Socks5h,
}

/// A proxy: its kind, address and credentials. The password never appears
/// in `Debug` or `Display`.
#[derive(Clone)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Proxy {
    /// Parses a proxy URL: `http://[user:password@]host[:port]` (port 80 by
    /// default), `https://…` (443), `socks5://…` or `socks5h://…` (1080).
    /// User and password are percent-decoded. A URL without a scheme is taken
    /// as `http://`, as curl does.
    ///
    /// # Errors
    ///
    /// [`ProxyErrorKind::Config`] for another scheme, a missing host, or a
    /// path, query or fragment (a proxy URL names a proxy, nothing more).
    pub fn parse(url: &str) -> Result<Proxy> {
        let bad = |why: &str| Error::Proxy(ProxyError::config(format!("proxy URL {:?}: {why}", redact(url))));
        let with_scheme;
        let url_str = if url.contains("://") {
            url
        } else {
            with_scheme = format!("http://{url}");
            &with_scheme
        };
        let u = Url::parse(url_str).map_err(|e| bad(&e.to_string()))?;
        let (kind, default_port) = match u.scheme() {
            "http" => (ProxyKind::Http, 80),
            "https" => (ProxyKind::Https, 443),
            "socks5" => (ProxyKind::Socks5, 1080),
            "socks5h" => (ProxyKind::Socks5h, 1080),
            s => return Err(bad(&format!("scheme {s:?} is not http, https, socks5 or socks5h"))),
        };
        let host = u.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("no host"))?;
        if !matches!(u.path(), "" | "/") || u.query().is_some() || u.fragment().is_some() {
            return Err(bad("a proxy URL has no path, query or fragment"));
        }
        let decode =
            |s: &str| percent_decode(s).ok_or_else(|| bad("user or password is not valid percent-encoded UTF-8"));
        let credentials = if u.username().is_empty() && u.password().is_none() {
            None
        } else {
            Some((decode(u.username())?, decode(u.password().unwrap_or(""))?))
        };
        if kind.is_socks() {
            if let Some((user, pass)) = &credentials {
                if user.is_empty() || user.len() > 255 || pass.len() > 255 {
                    return Err(bad("SOCKS5 user and password must be 1 to 255 bytes (RFC 1929)"));
                }
            }
        }
        Ok(Proxy {
            kind,
            host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
            port: u.port().unwrap_or(default_port),
            credentials,
            tls: None,
        })
    }

    /// The TLS settings for an `https://` proxy (by default those of the
    /// client's [`ClientConfig::tls`](crate::ClientConfig::tls), else the
    /// Mozilla root store).
    pub fn with_tls(mut self, tls: Arc<rustls::ClientConfig>) -> Proxy {
        self.tls = Some(tls);
        self
    }

    /// The kind of proxy.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host (without brackets for IPv6).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name, if the URL gave one.
    pub fn user(&self) -> Option<&str> {
        self.credentials.as_ref().map(|(u, _)| u.as_str())
    }

    /// Opens a tunnel through this proxy to `target`'s host and port: TCP to
    /// the proxy (TLS too for `https://`), then `CONNECT` or the SOCKS5
    /// exchange. What comes back carries the target's bytes; TLS to the
    /// target (for `wss://`) is the caller's next step.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: dropping the future drops the half-made tunnel.
    ///
    /// # Errors
    ///
    /// [`Error::Proxy`] (see [`ProxyErrorKind`]).
    pub async fn tunnel(&self, target: &Target, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Tunnel> {
        let mut tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| ProxyError::unreachable(self, e))?;
        tcp.set_nodelay(true).map_err(|e| ProxyError::unreachable(self, e))?;
        match self.kind {
            ProxyKind::Http => {
                http_connect::connect(&mut tcp, self, target).await?;
                Ok(Tunnel::Plain(tcp))
            }
            ProxyKind::Https => {
                let tls = self
                    .tls
                    .clone()
                    .or_else(|| tls.cloned())
                    .unwrap_or_else(default_client_config);
                let name = server_name(&self.host).map_err(|e| ProxyError::config(e.to_string()))?;
                let mut stream = tokio_rustls::TlsConnector::from(tls)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| ProxyError::tls(self, TlsError::from_handshake(e)))?;
                http_connect::connect(&mut stream, self, target).await?;
                Ok(Tunnel::Tls(Box::new(stream)))
            }
            ProxyKind::Socks5 | ProxyKind::Socks5h => {
                socks::connect(&mut tcp, self, target).await?;
                Ok(Tunnel::Plain(tcp))
            }
        }
    }

    /// `host:port`, with brackets for IPv6.
    pub(crate) fn authority(&self) -> String {
        authority(&self.host, self.port)
    }
}

impl ProxyKind {
    fn is_socks(self) -> bool {
        matches!(self, ProxyKind::Socks5 | ProxyKind::Socks5h)
    }

    fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::Https => "https",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        }
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.kind.scheme(), self.authority())
    }
}

impl Proxy {
    /// What tells two proxy settings apart for sharing a connection made
    /// through them: kind, address, credentials (password included: a
    /// tunnel opened with one user's credentials is not lent to another's)
    /// and the TLS settings' identity.
    pub(crate) fn sharing_key(&self) -> String {
        format!(
            "{:?} {}:{} {:?} {:?}",
            self.kind,
            self.host,
            self.port,
            self.credentials,
            self.tls.as_ref().map(Arc::as_ptr)
        )
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// The connection a proxy hands back, carrying the target's bytes.
#[derive(Debug)]
pub enum Tunnel {
    /// Through an `http://` or SOCKS5 proxy.
    Plain(TcpStream),
    /// Through an `https://` proxy: TLS to the proxy.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// `host:port`, with brackets for an IPv6 address.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme_with_its_default_port() {
        let p = Proxy::parse("http://proxy.example").unwrap();
        assert_eq!((p.kind(), p.host(), p.port()), (ProxyKind::Http, "proxy.example", 80));
        let p = Proxy::parse("https://proxy.example").unwrap();
        assert_eq!((p.kind(), p.port()), (ProxyKind::Https, 443));
        let p = Proxy::parse("socks5://[::1]").unwrap();
        assert_eq!((p.kind(), p.host(), p.port()), (ProxyKind::Socks5, "::1", 1080));
        assert_eq!(p.to_string(), "socks5://[::1]:1080");
        let p = Proxy::parse("socks5h://10.0.0.1:9050/").unwrap();
        assert_eq!((p.kind(), p.port()), (ProxyKind::Socks5h, 9050));
        let p = Proxy::parse("127.0.0.1:3128").unwrap();
        assert_eq!((p.kind(), p.port()), (ProxyKind::Http, 3128));
    }

    #[test]
    fn credentials_are_decoded_and_never_shown() {
        let p = Proxy::parse("http://al%40ice:p%3Ass@h:1").unwrap();
        assert_eq!(p.credentials, Some(("al@ice".into(), "p:ss".into())));
        assert!(!format!("{p:?}{p}").contains("p:ss"));
        let e = Proxy::parse("ftp://u:secret@h").unwrap_err().to_string();
        assert!(e.contains("ftp") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn refuses_what_is_not_a_proxy_url() {
        for bad in [
            "ftp://h",
            "http://",
            "http://h/path",
            "http://h?q",
            "socks5://:pw@h",
            "http://h:99999",
        ] {
            let e = Proxy::parse(bad).unwrap_err();
            assert!(
                matches!(&e, Error::Proxy(p) if p.kind() == ProxyErrorKind::Config),
                "{bad}: {e}"
            );
        }
    }
}
