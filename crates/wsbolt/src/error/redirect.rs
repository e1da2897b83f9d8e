//! Why a redirect was not followed.

use std::fmt;

use super::Error;

/// Why a redirect was not followed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectErrorKind {
    /// More redirects than [`ClientConfig::max_redirects`](crate::ClientConfig::max_redirects).
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

impl RedirectError {
    pub(crate) fn new(kind: RedirectErrorKind, chain: Vec<String>, detail: String) -> Self {
        RedirectError {
            inner: Box::new(RedirectInner { kind, chain, detail }),
        }
    }
}
