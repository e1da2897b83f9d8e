//! The permessage-deflate session (RFC 7692) of one connection: parameters
//! resolved for this end's role, and codecs created on first use.

use super::receive::InMessage;
use super::{Connection, Role};
use crate::deflate::pool;
use crate::deflate::{Compressor, Decompressor, DeflateConfig, DeflateParams};
use crate::error::ProtocolError;
use crate::frame::OpCode;
use crate::prepared::PreparedMessage;

/// permessage-deflate state, resolved for this end's role.
#[derive(Debug)]
pub(super) struct Deflate {
    pub(super) config: DeflateConfig,
    /// Window to compress with; `None` when the peer allows only 8 bits,
    /// which the compressor does not produce (nor does zlib): messages then
    /// go uncompressed.
    pub(super) compress_bits: Option<u8>,
    reset_compress: bool,
    inflate_bits: u8,
    reset_inflate: bool,
    // Created on first use. When the context is not kept, borrowed from the
    // thread's pool for one message and given back after it, so an idle
    // connection holds no codec memory.
    compressor: Option<Compressor>,
    decompressor: Option<Decompressor>,
    /// Broadcasts sent compressed by another compressor since this one
    /// last ran: the peer's inflater holds them, so the compressor takes
    /// them in before its next message (not at once: a connection that only
    /// receives broadcasts never pays for it).
    shared_history: SharedHistory,
}

/// Payloads of recent compressed broadcasts, oldest first: at most
/// [`SharedHistory::MAX_ENTRIES`], and no more than a window's worth beyond
/// the newest.
#[derive(Debug, Default)]
struct SharedHistory {
    entries: std::collections::VecDeque<bytes::Bytes>,
    len: usize,
    /// Older broadcasts were dropped: the compressor forgets everything
    /// before `entries`, which is always safe (it then refers back less).
    forget_before: bool,
}

impl SharedHistory {
    const MAX_ENTRIES: usize = 8;

    fn push(&mut self, payload: bytes::Bytes, window: usize) {
        self.len += payload.len();
        self.entries.push_back(payload);
        while self.entries.len() > Self::MAX_ENTRIES
            || self.entries.front().is_some_and(|f| self.len - f.len() >= window)
        {
            let f = self.entries.pop_front().expect("not empty");
            self.len -= f.len();
            self.forget_before = true;
        }
    }

    /// Brings `c` in step with the peer: forgets what came before the kept
    /// entries if some were dropped, then takes them in.
    fn catch_up(&mut self, c: &mut Compressor) {
        if std::mem::take(&mut self.forget_before) {
            c.reset();
        }
        for payload in self.entries.drain(..) {
            c.absorb(&payload);
        }
        self.len = 0;
    }
}

impl Connection {
    /// Turns on permessage-deflate with the negotiated `params` (call before
    /// any frame is received). `config` supplies the level, the threshold
    /// and this end's window cap.
    pub fn enable_deflate(&mut self, params: DeflateParams, config: DeflateConfig) {
        let (compress, reset_compress, inflate, reset_inflate) = match self.role {
            Role::Server => (
                params.server_max_window_bits.min(config.server_max_window_bits),
                params.server_no_context_takeover,
                params.client_max_window_bits,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits.min(config.client_max_window_bits),
                params.client_no_context_takeover,
                params.server_max_window_bits,
                params.server_no_context_takeover,
            ),
        };
        self.rules.allow_rsv1 = true;
        self.deflate = Some(Box::new(Deflate {
            config,
            compress_bits: (compress > 8).then_some(compress),
            reset_compress,
            inflate_bits: inflate,
            reset_inflate,
            compressor: None,
            decompressor: None,
            shared_history: SharedHistory::default(),
        }));
    }

    /// Whether permessage-deflate is on.
    pub fn deflate_enabled(&self) -> bool {
        self.deflate.is_some()
    }

    /// Compresses and frames `data` if deflate is on and allows it; `first`
    /// sets RSV1 (the first frame of a message), `fin` ends the message.
    pub(super) fn try_send_compressed(&mut self, opcode: OpCode, data: &[u8], first: bool, fin: bool) -> bool {
        let Some(df) = self.deflate.as_mut() else { return false };
        let Some(bits) = df.compress_bits else { return false };
        if first && fin && data.len() < df.config.threshold {
            return false;
        }
        let (level, mem, reset) = (df.config.level, df.config.mem_level, df.reset_compress);
        let c = df.compressor.get_or_insert_with(|| {
            if reset {
                pool::take_compressor(level, bits, mem)
            } else {
                Compressor::new(level, bits, mem, false)
            }
        });
        if first && !reset {
            df.shared_history.catch_up(c);
        }
        let mut out = pool::take_scratch();
        let compressed = c.compress(data, fin, &mut out);
        // Incompressible (random, already compressed): compression would
        // only add bytes, and a peer whose limit is exactly this message's
        // size would refuse the larger frame. Send it uncompressed and start
        // the compression history afresh (the peer's inflater keeps its own,
        // which is never wrong to hold). A compressor that keeps no context
        // has reset itself at the message's end already.
        let worse = compressed && first && fin && out.len() >= data.len();
        if worse && !reset {
            c.reset();
        }
        if reset && (fin || !compressed) {
            // Reset after the message (or by the failure): back to the pool.
            if let Some(c) = df.compressor.take() {
                pool::give_compressor(c);
            }
        }
        let sent = compressed && !worse;
        if sent {
            self.write_frame_rsv(opcode, fin, first, &out);
            if self.trace.is_some() {
                self.record_sent_data_len(data.len());
            }
        }
        pool::put_scratch(out);
        sent
    }

    /// The compressed frame of a prepared message, if deflate is on and the
    /// message is worth compressing; a context kept by this connection's
    /// compressor takes the message in before its own next message, as the
    /// peer's inflater did.
    pub(super) fn prepared_compressed(&mut self, prepared: &PreparedMessage) -> Option<bytes::Bytes> {
        let df = self.deflate.as_mut()?;
        let bits = df.compress_bits?;
        if prepared.len() < df.config.threshold {
            return None;
        }
        let (level, mem) = (df.config.level, df.config.mem_level);
        let frame = prepared.compressed_frame(bits, level, mem)?.clone();
        if !df.reset_compress {
            df.shared_history.push(prepared.payload_bytes(), 1 << bits);
        }
        Some(frame)
    }

    /// Inflates one frame of a compressed message into `m`, validating text
    /// as it comes out, within the message limit.
    pub(super) fn inflate_piece(&mut self, m: &mut InMessage, payload: &[u8], fin: bool) -> Result<(), ProtocolError> {
        let max = self.config.max_message_size;
        let text = m.opcode == OpCode::Text;
        let Connection { deflate, utf8, .. } = self;
        let df = deflate.as_mut().ok_or(ProtocolError::ReservedBits)?;
        let (bits, reset) = (df.inflate_bits, df.reset_inflate);
        let d = df.decompressor.get_or_insert_with(|| {
            if reset {
                pool::take_decompressor(bits)
            } else {
                Decompressor::new(bits, false)
            }
        });
        let mut check = |piece: &[u8]| {
            if text {
                utf8.feed(piece).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            Ok(())
        };
        d.inflate(payload, &mut m.buf, max, &mut check)?;
        if fin {
            d.finish_message(&mut m.buf, max, &mut check)?;
            if reset {
                // Only a message that ended well gives its decompressor back;
                // after an error the connection fails and drops it.
                if let Some(d) = df.decompressor.take() {
                    pool::give_decompressor(d);
                }
            }
        }
        Ok(())
    }
}
