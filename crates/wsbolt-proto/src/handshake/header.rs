//! Header fields: lookups that notice duplicates, and token lists.

use bytes::Bytes;

use super::HandshakeError;

/// The header fields of a parsed head, in order; names and values share the
/// head's bytes (no allocation per field).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(Bytes, Bytes)>);

impl FromIterator<(Bytes, Bytes)> for Headers {
    /// Fields in order, as `(name, value)` slices of shared buffers (what an
    /// HTTP stack's adapter builds: one buffer for every field). Names are
    /// tokens; one that is not UTF-8 matches no lookup and shows empty in
    /// [`Headers::iter`].
    fn from_iter<I: IntoIterator<Item = (Bytes, Bytes)>>(fields: I) -> Self {
        Headers(fields.into_iter().collect())
    }
}

impl FromIterator<(String, Bytes)> for Headers {
    /// Fields in order, as `(name, value)`.
    ///
    /// ```
    /// use wsbolt_proto::handshake::header::Headers;
    /// let h: Headers = [("Sec-WebSocket-Protocol".to_string(), bytes::Bytes::from_static(b"a, b"))]
    ///     .into_iter()
    ///     .collect();
    /// assert_eq!(h.list("sec-websocket-protocol").collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    fn from_iter<I: IntoIterator<Item = (String, Bytes)>>(fields: I) -> Self {
        Headers(fields.into_iter().map(|(n, v)| (Bytes::from(n), v)).collect())
    }
}

impl Headers {
    /// Every value of header `name` (case-insensitive), trimmed, in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| trim(v))
    }

    /// The first value of `name` as a string, if it is UTF-8.
    pub fn get<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.values(name).next().and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The value of a header that may appear at most once.
    pub fn single(&self, name: &'static str) -> Result<Option<&[u8]>, HandshakeError> {
        let mut it = self.values(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(HandshakeError::DuplicateHeader(name));
        }
        Ok(first)
    }

    /// The comma-separated elements of every value of `name`, trimmed, empty
    /// ones skipped (RFC 9110 §5.6.1). Non-UTF-8 elements are skipped: they
    /// cannot be tokens.
    pub fn list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.values(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .map(trim)
            .filter(|e| !e.is_empty())
            .filter_map(|e| std::str::from_utf8(e).ok())
    }

    /// Whether the list header `name` contains `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// Every field as `(name, value)`, values lossily decoded.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0
            .iter()
            .map(|(n, v)| (std::str::from_utf8(n).unwrap_or_default(), trim(v)))
    }

    /// Every field as `(name, value)` slices of the buffers they were read
    /// into, values trimmed: for an adapter that builds another HTTP type's
    /// fields without copying the bytes (`http::HeaderValue::from_maybe_shared`).
    ///
    /// ```
    /// use wsbolt_proto::handshake::header::Headers;
    /// let h: Headers = [("Host".to_string(), bytes::Bytes::from_static(b" a "))].into_iter().collect();
    /// let (name, value) = h.shared().next().unwrap();
    /// assert_eq!((&name[..], &value[..]), (&b"Host"[..], &b"a"[..]));
    /// ```
    pub fn shared(&self) -> impl Iterator<Item = (&Bytes, Bytes)> {
        self.0.iter().map(|(n, v)| (n, v.slice_ref(trim(v))))
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn from_httparse(head: &Bytes, fields: &[httparse::Header<'_>]) -> Headers {
        let base = head.as_ptr() as usize;
        Headers(
            fields
                .iter()
                .map(|h| {
                    // httparse borrows from `head`: turn the borrows into zero-copy slices.
                    let name = h.name.as_ptr() as usize - base;
                    let value = h.value.as_ptr() as usize - base;
                    (
                        head.slice(name..name + h.name.len()),
                        head.slice(value..value + h.value.len()),
                    )
                })
                .collect(),
        )
    }
}

/// Strips optional whitespace (spaces and tabs) at both ends.
pub fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// Whether `b` may appear in an RFC 9110 token.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

/// Whether `s` is an RFC 9110 token (what subprotocol names must be).
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Whether `v` may be sent as a header value: no CR, LF or NUL (which would
/// let it inject fields) and no other control character but tab.
pub fn is_valid_value(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Whether `name: value` may be written as a header field: a token name and
/// a value that cannot inject further fields.
pub fn is_valid_field(name: &str, value: &str) -> bool {
    is_token(name) && is_valid_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(fields: &[(&str, &'static [u8])]) -> Headers {
        Headers(
            fields
                .iter()
                .map(|(n, v)| (Bytes::copy_from_slice(n.as_bytes()), Bytes::from_static(v)))
                .collect(),
        )
    }

    #[test]
    fn lists_and_tokens() {
        let f = h(&[("Connection", b" keep-alive, Upgrade "), ("connection", b",,close")]);
        assert_eq!(
            f.list("CONNECTION").collect::<Vec<_>>(),
            ["keep-alive", "Upgrade", "close"]
        );
        assert!(f.has_token("connection", "upgrade"));
        assert!(!f.has_token("connection", "upgr"));
        assert_eq!(
            f.single("Connection"),
            Err(HandshakeError::DuplicateHeader("Connection"))
        );
        assert_eq!(f.get("connection"), Some("keep-alive, Upgrade"));
        assert!(is_token("chat.v2") && !is_token("a b") && !is_token("") && !is_token("a,b"));
        assert!(!is_valid_value("a\r\nX: y") && is_valid_value("text/html; q=1"));
        assert!(is_valid_field("X-Ok", "v") && !is_valid_field("X Bad", "v") && !is_valid_field("X", "a\nb"));
    }
}
