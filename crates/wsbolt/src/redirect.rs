//! Whether to follow a redirect, when [`ClientConfig::max_redirects`](crate::ClientConfig::max_redirects)
//! allows: a pure decision (a refusal in, the next hop or an error out), so
//! that the one loop that does the I/O stays in `client`.

use bytes::Bytes;
use url::Url;

use crate::error::{Error, RedirectError, RedirectErrorKind, Result};
use crate::target::Target;

/// The redirect limit a client that follows redirects uses unless told
/// otherwise (`wsbolt connect --follow`), as browsers and curl do for HTTP.
/// Following means: a 301, 302, 303, 307 or 308 answer with a `Location`
/// (relative to the URL that answered, `http` and `https` taken as `ws` and
/// `wss`) is connected to in turn, with the same configuration, except that
/// `Authorization` and `Cookie` header fields are dropped once the origin
/// (scheme, host, port) changes; `wss` → `ws` is refused, and so is a URL
/// already visited.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

/// One hop a redirect asks for.
#[derive(Debug)]
pub(crate) struct Hop {
    /// Where to connect next.
    pub(crate) target: Target,
    /// Whether the hop leaves the origin (scheme, host, port) of the URL
    /// that answered: credentials are not to follow it.
    pub(crate) cross_origin: bool,
}

/// The redirects of one connection attempt so far: a pure decision, given
/// each refusal, of whether and where to go next (the caller does the I/O).
#[derive(Debug)]
pub(crate) struct Redirects {
    current: Url,
    chain: Vec<String>,
    max: usize,
}

impl Redirects {
    /// Starts at `url`, following at most `max` redirects.
    pub(crate) fn new(url: Url, max: usize) -> Self {
        Redirects {
            chain: vec![url.to_string()],
            current: url,
            max,
        }
    }

    /// What to do with `refusal`, the answer of the current URL: `None`
    /// when it is not a redirect (the refusal is the answer), the next hop
    /// when it is one to follow.
    ///
    /// # Errors
    ///
    /// [`Error::Redirect`] when it is a redirect that is not to be followed
    /// (too many, no usable `Location`, `wss` → `ws`, a loop); [`Error::Url`]
    /// when its target is not a WebSocket URL.
    pub(crate) fn follow(&mut self, refusal: &http::Response<Bytes>) -> Result<Option<Hop>> {
        if !is_redirect(refusal.status()) {
            return Ok(None);
        }
        let fail = |kind, chain: &Vec<String>, detail: String| -> Error {
            RedirectError::new(kind, chain.clone(), detail).into()
        };
        if self.chain.len() > self.max {
            let detail = format!("more than {}", self.max);
            return Err(fail(RedirectErrorKind::TooMany, &self.chain, detail));
        }
        let location = refusal
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                fail(
                    RedirectErrorKind::BadLocation,
                    &self.chain,
                    format!("HTTP {}", refusal.status().as_u16()),
                )
            })?;
        let next = resolve(&self.current, location).ok_or_else(|| {
            fail(
                RedirectErrorKind::BadLocation,
                &self.chain,
                format!("Location {location:?}"),
            )
        })?;
        self.chain.push(next.to_string());
        if self.current.scheme() == "wss" && next.scheme() == "ws" {
            return Err(fail(RedirectErrorKind::Downgrade, &self.chain, String::new()));
        }
        if self.chain[..self.chain.len() - 1].contains(&self.chain[self.chain.len() - 1]) {
            return Err(fail(RedirectErrorKind::Loop, &self.chain, String::new()));
        }
        let target = Target::from_url(&next)?;
        let cross_origin = next.origin() != self.current.origin();
        tracing::debug!(from = %self.current, to = %next, "following redirect");
        self.current = next;
        Ok(Some(Hop { target, cross_origin }))
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
