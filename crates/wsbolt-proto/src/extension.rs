//! `Sec-WebSocket-Extensions` parsing (RFC 6455 §9.1), in one linear pass.
//!
//! The grammar is `extension *( "," extension )` with `extension = token
//! *( ";" param )` and `param = token [ "=" ( token / quoted-string ) ]`.
//! Every byte is looked at once, so hostile values (long quoted strings,
//! thousands of commas, repeated parameters) cost linear time; the number of
//! extensions and parameters kept is capped.

use crate::handshake::header::is_tchar;

/// One extension in an offer or answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters in order: name and value (unquoted), if any.
    pub params: Vec<(String, Option<String>)>,
}

/// The header value does not follow the grammar, or holds more than the
/// caps allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidExtensions;

/// At most this many extensions are kept from one header value.
pub const MAX_EXTENSIONS: usize = 32;
/// At most this many parameters per extension.
pub const MAX_PARAMS: usize = 16;

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn skip_ows(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn token(&mut self) -> Result<String, InvalidExtensions> {
        let start = self.i;
        while self.i < self.s.len() && is_tchar(self.s[self.i]) {
            self.i += 1;
        }
        if self.i == start {
            return Err(InvalidExtensions);
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn quoted(&mut self) -> Result<String, InvalidExtensions> {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).map_err(|_| InvalidExtensions),
                b'\\' => {
                    let c = self.peek().ok_or(InvalidExtensions)?;
                    self.i += 1;
                    out.push(c);
                }
                b'\t' | b' '..=b'~' => out.push(b),
                _ => return Err(InvalidExtensions),
            }
        }
        Err(InvalidExtensions) // unterminated
    }
}

/// Parses every extension of one header value. Empty list elements
/// (`a,,b`) are skipped, as RFC 9110 §5.6.1 allows.
///
/// ```
/// use wsbolt_proto::extension::parse;
/// let e = parse("permessage-deflate; client_max_window_bits, x-foo; a=\"1\"").unwrap();
/// assert_eq!(e[0].name, "permessage-deflate");
/// assert_eq!(e[0].params, [("client_max_window_bits".to_string(), None)]);
/// assert_eq!(e[1].params, [("a".to_string(), Some("1".to_string()))]);
/// ```
pub fn parse(value: &str) -> Result<Vec<Extension>, InvalidExtensions> {
    let mut c = Cursor {
        s: value.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        c.skip_ows();
        match c.peek() {
            None => return Ok(out),
            Some(b',') => {
                c.i += 1;
                continue;
            }
            Some(_) => {}
        }
        if out.len() == MAX_EXTENSIONS {
            return Err(InvalidExtensions);
        }
        let name = c.token()?;
        let mut params = Vec::new();
        loop {
            c.skip_ows();
            match c.peek() {
                None | Some(b',') => break,
                Some(b';') => c.i += 1,
                Some(_) => return Err(InvalidExtensions),
            }
            c.skip_ows();
            if params.len() == MAX_PARAMS {
                return Err(InvalidExtensions);
            }
            let pname = c.token()?;
            c.skip_ows();
            let pvalue = if c.peek() == Some(b'=') {
                c.i += 1;
                c.skip_ows();
                Some(if c.peek() == Some(b'"') {
                    c.quoted()?
                } else {
                    c.token()?
                })
            } else {
                None
            };
            params.push((pname, pvalue));
        }
        out.push(Extension { name, params });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert_eq!(parse("").unwrap(), []);
        assert_eq!(parse(" , ,").unwrap(), []);
        let e = parse("a;b=1 ; c = \"x\\\"y\" ,d").unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(
            e[0].params,
            [("b".into(), Some("1".into())), ("c".into(), Some("x\"y".into()))]
        );
        for bad in [
            "a;",
            "a;=1",
            "a b",
            ";a",
            "a;b=\"unterminated",
            "a;b=1 2",
            "a;b=\"\u{1}\"",
        ] {
            assert_eq!(parse(bad), Err(InvalidExtensions), "{bad:?}");
        }
    }

    #[test]
    fn hostile_values_are_bounded() {
        let commas = ",".repeat(100_000);
        assert_eq!(parse(&commas).unwrap(), []);
        let many = "x,".repeat(1000);
        assert_eq!(parse(&many), Err(InvalidExtensions));
        let params = format!("x{}", ";p".repeat(1000));
        assert_eq!(parse(&params), Err(InvalidExtensions));
        let long_quoted = format!("x;p=\"{}\"", "a".repeat(1 << 20));
        assert_eq!(
            parse(&long_quoted).unwrap()[0].params[0].1.as_ref().unwrap().len(),
            1 << 20
        );
    }
}
