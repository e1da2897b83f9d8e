//! permessage-deflate (RFC 7692): negotiation for both roles, and the codec
//! (this crate's own: [`Compressor`] over an LZ77 matcher sized to its
//! window, [`Decompressor`] over an inflater that keeps only the window).
//!
//! Window bits: like zlib, the compressor works with 9 to 15 bits, so where
//! this end would have to compress with 8 bits it accepts the parameter and
//! sends its messages uncompressed, which RFC 7692 §6 allows (compression is
//! per message and optional); it still inflates what the peer compresses.

mod blocks;
mod codec;
mod huffman;
mod inflate;
mod lz77;
pub(crate) mod pool;
mod tables;

pub use codec::{compressor_memory, Compressor, Decompressor, INFLATE_CHUNK};
pub use pool::POOL_PER_THREAD;

use crate::extension::{parse, Extension};
use crate::handshake::HandshakeError;

/// The extension's registered name.
pub const NAME: &str = "permessage-deflate";

/// This end's permessage-deflate settings (the same type for both roles).
///
/// [`DeflateConfig::default()`] keeps 15-bit windows (the best ratio, 176 KiB
/// per connection with the context kept); [`DeflateConfig::balanced()`],
/// [`DeflateConfig::small()`] and [`DeflateConfig::no_context_takeover()`]
/// trade ratio for memory.
///
/// ```
/// use wsbolt_proto::deflate::{DeflateConfig, negotiate_server};
/// let cfg = DeflateConfig::default();
/// // Chromium's offer.
/// let (answer, params) = negotiate_server(&["permessage-deflate; client_max_window_bits".into()], &cfg).unwrap();
/// assert_eq!(answer, "permessage-deflate");
/// assert_eq!(params.client_max_window_bits, 15);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Compression level, 0 (Huffman coding only) to 9, with zlib's
    /// matching effort per level. Default 6: on the corpus in
    /// `benches/compression`, within 1.1% of C zlib level 6's size at the
    /// same window on every class. Levels 1–3 take the first match found:
    /// less CPU, 5–40% larger output.
    pub level: u32,
    /// Server: the largest window the server compresses with (it answers a
    /// smaller `server_max_window_bits` offer with the smaller value).
    /// Client: the window it asks the server to stay within (offered when
    /// below 15). 8–15, default 15.
    pub server_max_window_bits: u8,
    /// Server: the window it asks the client to compress with, which
    /// bounds the server's inflate memory (`2^bits` bytes) when the client's
    /// offer lets the server choose; an offer that does not (Firefox's) is
    /// still accepted, with 15 bits, if no other offer does. Client: the
    /// window it compresses with (offered when below 15). 8–15, default 15.
    pub client_max_window_bits: u8,
    /// Server: reset the compressor after every message (less memory, less
    /// compression). Client: ask the server to do so. Default off.
    pub server_no_context_takeover: bool,
    /// Server: require the client to reset its compressor after every
    /// message. Client: reset it (and say so). Default off.
    pub client_no_context_takeover: bool,
    /// Messages shorter than this are sent uncompressed. Default 64 bytes.
    pub threshold: usize,
    /// Memory level of this end's compressor, 1–9 (default 6): its hash
    /// table has `2^min(mem_level + 7, window bits)` entries. Memory:
    /// [`compressor_memory`] (144 KiB at the defaults: 15-bit window).
    pub mem_level: u8,
}

/// Builder-style setters: each sets the field of the same name (see its
/// documentation for the meaning and the default) and nothing else.
impl DeflateConfig {
    /// Sets [`level`](DeflateConfig::level).
    #[must_use]
    pub fn level(mut self, level: u32) -> Self {
        self.level = level;
        self
    }

    /// Sets [`server_max_window_bits`](DeflateConfig::server_max_window_bits).
    #[must_use]
    pub fn server_max_window_bits(mut self, server_max_window_bits: u8) -> Self {
        self.server_max_window_bits = server_max_window_bits;
        self
    }

    /// Sets [`client_max_window_bits`](DeflateConfig::client_max_window_bits).
    #[must_use]
    pub fn client_max_window_bits(mut self, client_max_window_bits: u8) -> Self {
        self.client_max_window_bits = client_max_window_bits;
        self
    }

    /// Sets [`server_no_context_takeover`](DeflateConfig::server_no_context_takeover).
    #[must_use]
    pub fn server_no_context_takeover(mut self, server_no_context_takeover: bool) -> Self {
        self.server_no_context_takeover = server_no_context_takeover;
        self
    }

    /// Sets [`client_no_context_takeover`](DeflateConfig::client_no_context_takeover).
    #[must_use]
    pub fn client_no_context_takeover(mut self, client_no_context_takeover: bool) -> Self {
        self.client_no_context_takeover = client_no_context_takeover;
        self
    }

    /// Sets [`threshold`](DeflateConfig::threshold).
    #[must_use]
    pub fn threshold(mut self, threshold: usize) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets [`mem_level`](DeflateConfig::mem_level).
    #[must_use]
    pub fn mem_level(mut self, mem_level: u8) -> Self {
        self.mem_level = mem_level;
        self
    }
}

/// Presets: points on the memory and ratio curve, measured on the corpus of
/// `benches/compression` (docs/compression.md has the tables). Memory is
/// per connection with the context kept, once a message went each way.
impl DeflateConfig {
    /// 12-bit windows both ways: a 24 KiB compressor and a 4 KiB inflater
    /// per connection; chat-like JSON to 0.30 of its size.
    ///
    /// ```
    /// use wsbolt_proto::deflate::{compressor_memory, DeflateConfig};
    /// let c = DeflateConfig::small();
    /// assert_eq!(compressor_memory(c.server_max_window_bits, c.mem_level), 24 * 1024);
    /// ```
    pub fn small() -> Self {
        DeflateConfig::default()
            .server_max_window_bits(12)
            .client_max_window_bits(12)
    }

    /// 13-bit windows both ways: a 48 KiB compressor and an 8 KiB
    /// inflater; chat-like JSON to 0.29 of its size, within 1% of C zlib at
    /// the same window. `wsbolt serve`'s default.
    ///
    /// ```
    /// use wsbolt_proto::deflate::{compressor_memory, DeflateConfig};
    /// let c = DeflateConfig::balanced();
    /// assert_eq!(compressor_memory(c.server_max_window_bits, c.mem_level), 48 * 1024);
    /// ```
    pub fn balanced() -> Self {
        DeflateConfig::default()
            .server_max_window_bits(13)
            .client_max_window_bits(13)
    }

    /// No context takeover either way: each message is compressed on its
    /// own by codecs the connections of a thread share, so an idle
    /// connection holds no deflate memory; similar small messages compress
    /// far less (chat-like JSON to 0.84 of its size).
    pub fn no_context_takeover() -> Self {
        DeflateConfig::default()
            .server_no_context_takeover(true)
            .client_no_context_takeover(true)
    }
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            level: 6,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            threshold: 64,
            mem_level: 6,
        }
    }
}

/// The parameters both ends agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compression context after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after every message.
    pub client_no_context_takeover: bool,
    /// The server compresses with at most this window (8–15).
    pub server_max_window_bits: u8,
    /// The client compresses with at most this window (8–15).
    pub client_max_window_bits: u8,
}

/// Parameters as one offer or answer states them, each at most once.
#[derive(Debug, Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (allowed in offers only).
    client_max_window_bits: Option<Option<u8>>,
}

fn bits(v: &Option<String>) -> Result<Option<u8>, ()> {
    match v {
        None => Ok(None),
        Some(s) if s.len() <= 2 && !s.starts_with('0') => match s.parse::<u8>() {
            Ok(n @ 8..=15) => Ok(Some(n)),
            _ => Err(()),
        },
        Some(_) => Err(()),
    }
}

/// Reads an offer's or answer's parameters: unknown, duplicated or invalid
/// ones make it unacceptable.
fn read_params(ext: &Extension) -> Result<Params, ()> {
    let mut p = Params::default();
    let mut seen = [false; 4];
    for (name, value) in &ext.params {
        let i = match name.as_str() {
            "server_no_context_takeover" => 0,
            "client_no_context_takeover" => 1,
            "server_max_window_bits" => 2,
            "client_max_window_bits" => 3,
            _ => return Err(()),
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(());
        }
        match i {
            0 | 1 if value.is_some() => return Err(()),
            0 => p.server_no_context_takeover = true,
            1 => p.client_no_context_takeover = true,
            2 => p.server_max_window_bits = Some(bits(value)?.ok_or(())?),
            _ => p.client_max_window_bits = Some(bits(value)?),
        }
    }
    Ok(p)
}

/// The server's choice: the first acceptable permessage-deflate offer among
/// the request's `Sec-WebSocket-Extensions` values, with the answer to send.
/// `None` declines (the handshake goes on without compression): no offer,
/// or none this configuration can accept, or a header that does not parse.
///
/// An offer that lets the server choose the client's window
/// (`client_max_window_bits`, as Chromium, Safari, Python `websockets` and
/// Node `ws` send) is preferred when [`DeflateConfig::client_max_window_bits`]
/// is below 15. Failing that, a bare offer (Firefox's) is accepted and the
/// client compresses with up to 15 bits: this end then inflates with a
/// 32 KiB window instead of declining compression.
pub fn negotiate_server(offers: &[String], cfg: &DeflateConfig) -> Option<(String, DeflateParams)> {
    let candidates = || {
        offers
            .iter()
            .filter_map(|value| parse(value).ok())
            .flatten()
            .filter(|e| e.name.eq_ignore_ascii_case(NAME))
            .filter_map(|e| read_params(&e).ok())
    };
    candidates()
        .find_map(|p| accept_offer(&p, cfg, true))
        .or_else(|| candidates().find_map(|p| accept_offer(&p, cfg, false)))
}

/// The answer to one offer. `strict`: decline an offer that does not let
/// the server bring the client's window down to the configured one.
fn accept_offer(p: &Params, cfg: &DeflateConfig, strict: bool) -> Option<(String, DeflateParams)> {
    let mut answer = String::from(NAME);
    let server_nct = p.server_no_context_takeover || cfg.server_no_context_takeover;
    if server_nct {
        answer.push_str("; server_no_context_takeover");
    }
    let client_nct = p.client_no_context_takeover || cfg.client_no_context_takeover;
    if client_nct {
        answer.push_str("; client_no_context_takeover");
    }
    // The server's window: never above what the client allows. Only echoed
    // when offered (RFC 7692 §7.1.2.1).
    let server_bits = match p.server_max_window_bits {
        Some(offered) => {
            let b = offered.min(cfg.server_max_window_bits);
            answer.push_str(&format!("; server_max_window_bits={b}"));
            b
        }
        None => cfg.server_max_window_bits,
    };
    // The client's window: the server may only set it if the client offered
    // the parameter (RFC 7692 §7.1.2.2); without that, the client may use 15.
    let client_bits = match p.client_max_window_bits {
        Some(offered) => {
            let b = offered.unwrap_or(15).min(cfg.client_max_window_bits);
            if b < 15 || offered.is_some() {
                answer.push_str(&format!("; client_max_window_bits={b}"));
            }
            b
        }
        None if strict && cfg.client_max_window_bits < 15 => return None,
        None => 15,
    };
    let params = DeflateParams {
        server_no_context_takeover: server_nct,
        client_no_context_takeover: client_nct,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    };
    Some((answer, params))
}

/// The client's offer for `cfg`. Always lets the server limit the client's
/// window (`client_max_window_bits`), as browsers do.
pub fn client_offer(cfg: &DeflateConfig) -> String {
    let mut o = String::from(NAME);
    if cfg.client_no_context_takeover {
        o.push_str("; client_no_context_takeover");
    }
    if cfg.server_no_context_takeover {
        o.push_str("; server_no_context_takeover");
    }
    if cfg.server_max_window_bits < 15 {
        o.push_str(&format!("; server_max_window_bits={}", cfg.server_max_window_bits));
    }
    if cfg.client_max_window_bits < 15 {
        o.push_str(&format!("; client_max_window_bits={}", cfg.client_max_window_bits));
    } else {
        o.push_str("; client_max_window_bits");
    }
    o
}

/// The client's check of the server's answer to [`client_offer`]: exactly
/// one permessage-deflate, nothing the offer did not allow. `Ok(None)` when
/// the server declined.
pub fn accept_client(answer: Option<&str>, cfg: &DeflateConfig) -> Result<Option<DeflateParams>, HandshakeError> {
    let Some(answer) = answer else { return Ok(None) };
    let exts = parse(answer).map_err(|_| HandshakeError::InvalidExtensionHeader)?;
    let mut found = None;
    for ext in &exts {
        if !ext.name.eq_ignore_ascii_case(NAME) {
            return Err(HandshakeError::UnofferedExtension(ext.name.clone()));
        }
        if found.is_some() {
            return Err(HandshakeError::InvalidExtensionHeader);
        }
        let p = read_params(ext).map_err(|_| HandshakeError::InvalidExtensionHeader)?;
        // `client_max_window_bits` without a value is an offer-only form.
        if matches!(p.client_max_window_bits, Some(None)) {
            return Err(HandshakeError::InvalidExtensionHeader);
        }
        let server_bits = p.server_max_window_bits.unwrap_or(15);
        if server_bits > cfg.server_max_window_bits {
            return Err(HandshakeError::InvalidExtensionHeader);
        }
        let client_bits = p
            .client_max_window_bits
            .flatten()
            .unwrap_or(15)
            .min(cfg.client_max_window_bits);
        if cfg.server_no_context_takeover && !p.server_no_context_takeover {
            return Err(HandshakeError::InvalidExtensionHeader);
        }
        found = Some(DeflateParams {
            server_no_context_takeover: p.server_no_context_takeover,
            client_no_context_takeover: p.client_no_context_takeover || cfg.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        });
    }
    Ok(found)
}
