//! Following redirects, when [`ClientConfig::max_redirects`] allows.

use std::fmt;

use url::Url;
use wsbolt_proto::handshake::client::Response;

use crate::client::{connect_target, Target};
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::stream::WebSocketStream;
use crate::tls::MaybeTlsStream;

/// The redirect limit a client that follows redirects uses unless told
/// otherwise (`wsbolt connect --follow`), as browsers and curl do for HTTP.
/// Following means: a 301, 302, 303, 307 or 308 answer with a `Location`
/// (relative to the URL that answered, `http` and `https` taken as `ws` and
/// `wss`) is connected to in turn, with the same configuration, except that
/// `Authorization` and `Cookie` header fields are dropped once the origin
/// (scheme, host, port) changes; `wss` → `ws` is refused, and so is a URL
/// already visited.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

/// Why a redirect was not followed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectErrorKind {
    /// More redirects than [`ClientConfig::max_redirects`].
    TooMany,
    /// A redirect back to a URL already visited.
    Loop,
    /// A redirect from `wss://` to `ws://`.
    Downgrade,
    /// A redirect without a usable `Location` (missing, not a URL, not
    /// `ws`, `wss`, `http` or `https`).
    BadLocation,
}

/// A redirect that was not followed: why, and the URLs visited, the last
/// one being where the redirect pointed (when it could be read).
#[derive(Debug, Clone)]
pub struct RedirectError {
    /// Boxed: an `Error` is moved with every message read, so its largest
    /// variant should stay small.
    inner: Box<RedirectInner>,
}

#[derive(Debug, Clone)]
struct RedirectInner {
    kind: RedirectErrorKind,
    chain: Vec<String>,
    detail: String,
}

impl RedirectError {
    /// Why the redirect was not followed.
    pub fn kind(&self) -> &RedirectErrorKind {
        &self.inner.kind
    }

    /// The URLs, from the one asked for to the last redirect's target.
    pub fn chain(&self) -> &[String] {
        &self.inner.chain
    }
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let RedirectInner { kind, chain, detail } = &*self.inner;
        let what = match kind {
            RedirectErrorKind::TooMany => "too many redirects",
            RedirectErrorKind::Loop => "redirect loop",
            RedirectErrorKind::Downgrade => "redirect from wss:// to ws:// refused",
            RedirectErrorKind::BadLocation => "redirect without a usable Location",
        };
        write!(f, "{what}")?;
        if !detail.is_empty() {
            write!(f, " ({detail})")?;
        }
        write!(f, ": {}", chain.join(" -> "))
    }
}

impl std::error::Error for RedirectError {}

impl From<RedirectError> for Error {
    fn from(e: RedirectError) -> Self {
        Error::Redirect(e)
    }
}

/// Connects to `url`, following redirects up to `config.max_redirects`.
pub(crate) async fn follow(
    mut current: Url,
    mut target: Target,
    config: &ClientConfig,
) -> Result<(WebSocketStream<MaybeTlsStream>, Response)> {
    let mut chain = vec![current.to_string()];
    let mut hop_config: Option<ClientConfig> = None;
    loop {
        let cfg = hop_config.as_ref().unwrap_or(config);
        let refusal = match connect_target(&target, cfg).await {
            Err(Error::Refused(r)) if is_redirect(r.status()) => r,
            other => return other,
        };
        let fail = |kind, chain: &Vec<String>, detail: String| -> Error {
            RedirectError {
                inner: Box::new(RedirectInner {
                    kind,
                    chain: chain.clone(),
                    detail,
                }),
            }
            .into()
        };
        if chain.len() > config.max_redirects {
            let detail = format!("more than {}", config.max_redirects);
            return Err(fail(RedirectErrorKind::TooMany, &chain, detail));
        }
        let location = refusal
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                fail(
                    RedirectErrorKind::BadLocation,
                    &chain,
                    format!("HTTP {}", refusal.status().as_u16()),
                )
            })?;
        let next = resolve(&current, location)
            .ok_or_else(|| fail(RedirectErrorKind::BadLocation, &chain, format!("Location {location:?}")))?;
        chain.push(next.to_string());
        if current.scheme() == "wss" && next.scheme() == "ws" {
            return Err(fail(RedirectErrorKind::Downgrade, &chain, String::new()));
        }
        if chain[..chain.len() - 1].contains(&chain[chain.len() - 1]) {
            return Err(fail(RedirectErrorKind::Loop, &chain, String::new()));
        }
        let next_target = Target::from_url(&next)?;
        if next.origin() != current.origin() {
            // Credentials meant for one origin are not handed to another.
            let mut c = cfg.clone();
            c.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization") && !n.eq_ignore_ascii_case("cookie"));
            hop_config = Some(c);
        }
        tracing::debug!(from = %current, to = %next, "following redirect");
        current = next;
        target = next_target;
    }
}

fn is_redirect(s: http::StatusCode) -> bool {
    matches!(s.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The redirect's target: `location` relative to `base`, `http(s)` taken as
/// `ws(s)`; `None` if it is not a WebSocket URL.
fn resolve(base: &Url, location: &str) -> Option<Url> {
    let mut next = base.join(location.trim()).ok()?;
    let scheme = match next.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        _ => return None,
    };
    next.set_scheme(scheme).ok()?;
    next.set_fragment(None);
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_url_that_answered() {
        let base = Url::parse("wss://a.example:8443/chat/room?x=1").unwrap();
        let r = |l| resolve(&base, l).map(|u| u.to_string());
        assert_eq!(r("/other").as_deref(), Some("wss://a.example:8443/other"));
        assert_eq!(r("lobby").as_deref(), Some("wss://a.example:8443/chat/lobby"));
        assert_eq!(r("https://b.example/x").as_deref(), Some("wss://b.example/x"));
        assert_eq!(r("http://b.example/x").as_deref(), Some("ws://b.example/x"));
        assert_eq!(r("ws://c:1/#frag").as_deref(), Some("ws://c:1/"));
        assert_eq!(r("mailto:x@y"), None);
        assert_eq!(r("ftp://x/"), None);
    }
}
