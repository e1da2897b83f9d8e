//! Tokens for `/rooms`: JSON Web Tokens signed with HS256 (a shared
//! secret), RS256 or ES256 (a public key), verified with `jsonwebtoken`.
//! See [`Tokens`] and docs/rooms-protocol.md.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use wsbolt::Request;

/// The shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: a key of
/// the hash's size, 256 bits, at least).
pub const MIN_SECRET_LEN: usize = 32;

/// The close code for a `/rooms` client whose token expired and was not
/// replaced within the grace period (`rooms-token-grace`).
pub const TOKEN_EXPIRED: u16 = 4001;

/// The cookie a token may come in.
pub const COOKIE: &str = "wsbolt_token";

/// The prefix of a `Sec-WebSocket-Protocol` element that carries a token
/// (a browser cannot set `Authorization` on a WebSocket).
pub const PROTOCOL_PREFIX: &str = "bearer.";

/// Verifies tokens with one key and one algorithm, which the key decides:
/// a PEM public key means RS256 (RSA) or ES256 (P-256), anything else is an
/// HS256 secret. A token signed with another algorithm (`none`, or HS256
/// "signed" with the public key) is refused.
///
/// A token must carry `sub` (the user) and `exp` (seconds since the epoch;
/// no leeway), and says which rooms its user may use in a `rooms` claim:
/// `{"subscribe": [patterns], "publish": [patterns]}`, where a pattern is a
/// room's name, or a prefix ending in `*` (`"chat.*"`; `"*"` is every room).
/// Subscribing covers history and presence too. Without the claim, no room.
///
/// ```
/// use wsbolt_server::tokens::Tokens;
///
/// let tokens = Tokens::from_key(b"a secret of thirty-two bytes or more").unwrap();
/// assert_eq!(tokens.algorithm(), "HS256");
/// assert!(tokens.verify("not a token").is_err());
/// ```
pub struct Tokens {
    key: DecodingKey,
    validation: Validation,
    algorithm: Algorithm,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The user (`sub`).
    pub user: String,
    /// When the token expires, in seconds since the Unix epoch (`exp`).
    pub expires: u64,
    subscribe: Vec<String>,
    publish: Vec<String>,
}

impl Grant {
    /// Whether the user may subscribe to `room` (and read its history and
    /// presence).
    pub fn may_subscribe(&self, room: &str) -> bool {
        self.subscribe.iter().any(|p| matches(p, room))
    }

    /// Whether the user may publish to `room`.
    pub fn may_publish(&self, room: &str) -> bool {
        self.publish.iter().any(|p| matches(p, room))
    }

    /// How long until the token expires, to the millisecond (zero once it
    /// has), by this machine's clock.
    pub fn time_left(&self) -> Duration {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Duration::from_secs(self.expires).saturating_sub(now)
    }
}

fn matches(pattern: &str, room: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => room.starts_with(prefix),
        None => pattern == room,
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default)]
    rooms: RoomsClaim,
}

#[derive(Deserialize, Default)]
struct RoomsClaim {
    #[serde(default)]
    subscribe: Vec<String>,
    #[serde(default)]
    publish: Vec<String>,
}

impl Tokens {
    /// Reads the key from a file: a PEM public key (RSA: RS256, P-256:
    /// ES256) or an HS256 secret (the file's bytes, without a final line
    /// break).
    ///
    /// # Errors
    /// The file cannot be read, a PEM that is neither an RSA nor an EC
    /// public key, or a secret shorter than [`MIN_SECRET_LEN`].
    pub fn from_key_file(path: &Path) -> Result<Tokens, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Tokens::from_key(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// [`from_key_file`](Self::from_key_file) from the key's bytes.
    ///
    /// # Errors
    /// As [`from_key_file`](Self::from_key_file).
    pub fn from_key(bytes: &[u8]) -> Result<Tokens, String> {
        let (key, algorithm) = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
                (key, Algorithm::RS256)
            } else if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
                (key, Algorithm::ES256)
            } else {
                return Err("a PEM file that is neither an RSA nor an EC public key".into());
            }
        } else {
            let secret = bytes.strip_suffix(b"\n").unwrap_or(bytes);
            let secret = secret.strip_suffix(b"\r").unwrap_or(secret);
            if secret.len() < MIN_SECRET_LEN {
                return Err(format!(
                    "an HS256 secret of {} bytes: at least {MIN_SECRET_LEN} are needed",
                    secret.len()
                ));
            }
            (DecodingKey::from_secret(secret), Algorithm::HS256)
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Tokens {
            key,
            validation,
            algorithm,
        })
    }

    /// The algorithm tokens must be signed with.
    pub fn algorithm(&self) -> &'static str {
        match self.algorithm {
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            _ => "HS256",
        }
    }

    /// Checks a token: its signature, its algorithm, `exp` and `sub`.
    ///
    /// # Errors
    /// Why the token is refused, in words for the client.
    pub fn verify(&self, token: &str) -> Result<Grant, String> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => "the token has expired".to_string(),
            ErrorKind::InvalidSignature => "the token's signature is not valid".to_string(),
            ErrorKind::InvalidAlgorithm => format!("the token must be signed with {}", self.algorithm()),
            ErrorKind::MissingRequiredClaim(c) => format!("the token has no {c:?} claim"),
            _ => format!("not a valid token: {e}"),
        })?;
        let c = data.claims;
        Ok(Grant {
            user: c.sub,
            expires: c.exp,
            subscribe: c.rooms.subscribe,
            publish: c.rooms.publish,
        })
    }
}

/// Where a request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// `Authorization: Bearer …`.
    Authorization,
    /// An element `bearer.…` of `Sec-WebSocket-Protocol`.
    Subprotocol,
    /// The cookie [`COOKIE`].
    Cookie,
    /// The query parameter `token`.
    Query,
}

/// The token a request carries, looked for in this order: `Authorization:
/// Bearer`, a `bearer.` subprotocol, the [`COOKIE`] cookie, `?token=`.
pub fn carried(req: &Request) -> Option<(String, Carrier)> {
    let bearer = req.headers.get("Authorization").and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
    });
    let subprotocol = || {
        req.headers
            .list("Sec-WebSocket-Protocol")
            .find_map(|p| p.strip_prefix(PROTOCOL_PREFIX))
            .map(str::to_string)
    };
    let cookie = || {
        req.headers.values("Cookie").find_map(|v| {
            let v = std::str::from_utf8(v).ok()?;
            v.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == COOKIE).then(|| value.trim_matches('"').to_string())
            })
        })
    };
    let query = || {
        url::form_urlencoded::parse(req.query()?.as_bytes()).find_map(|(k, v)| (k == "token").then(|| v.into_owned()))
    };
    bearer
        .map(|t| (t, Carrier::Authorization))
        .or_else(|| subprotocol().map(|t| (t, Carrier::Subprotocol)))
        .or_else(|| cookie().map(|t| (t, Carrier::Cookie)))
        .or_else(|| query().map(|t| (t, Carrier::Query)))
        .filter(|(t, _)| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_names_or_prefixes() {
        let g = Grant {
            user: "ann".into(),
            expires: 0,
            subscribe: vec!["news".into(), "chat.*".into()],
            publish: vec!["*".into()],
        };
        assert!(g.may_subscribe("news") && g.may_subscribe("chat.a") && g.may_subscribe("chat."));
        assert!(!g.may_subscribe("newsy") && !g.may_subscribe("chat"));
        assert!(g.may_publish("anything"));
    }

    #[test]
    fn short_secrets_and_odd_pem_are_refused() {
        let e = Tokens::from_key(b"short\n").unwrap_err();
        assert!(e.contains("5 bytes: at least 32"), "{e}");
        let e = Tokens::from_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").unwrap_err();
        assert!(e.contains("neither an RSA nor an EC public key"), "{e}");
    }

    #[test]
    fn tokens_are_found_in_each_carrier_in_order() {
        fn req(target: &str, headers: &[(&str, &str)]) -> Request {
            Request {
                method: "GET".into(),
                target: target.into(),
                version: 1,
                headers: headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), bytes::Bytes::from(v.to_string())))
                    .collect(),
                extended_connect: None,
            }
        }
        assert_eq!(
            carried(&req("/rooms", &[("Authorization", "Bearer a.b.c")])),
            Some(("a.b.c".into(), Carrier::Authorization))
        );
        assert_eq!(
            carried(&req(
                "/rooms",
                &[("Sec-WebSocket-Protocol", "wsbolt.rooms.v1, bearer.x.y.z")]
            )),
            Some(("x.y.z".into(), Carrier::Subprotocol))
        );
        assert_eq!(
            carried(&req("/rooms", &[("Cookie", "a=1; wsbolt_token=c.o.k; b=2")])),
            Some(("c.o.k".into(), Carrier::Cookie))
        );
        assert_eq!(
            carried(&req("/rooms?x=1&token=q.u.e", &[])),
            Some(("q.u.e".into(), Carrier::Query))
        );
        assert_eq!(
            carried(&req("/rooms?token=q", &[("Authorization", "Bearer h")])),
            Some(("h".into(), Carrier::Authorization)),
            "the header wins"
        );
        assert_eq!(carried(&req("/rooms", &[("Authorization", "Basic abc")])), None);
        assert_eq!(carried(&req("/rooms?token=", &[])), None);
    }
}
