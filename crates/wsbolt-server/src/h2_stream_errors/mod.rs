//! HTTP/2 stream errors kept to their stream.
//!
//! RFC 9113 makes two mistakes of a peer errors of one stream: a
//! `WINDOW_UPDATE` with a zero increment on a stream (§6.9: `PROTOCOL_ERROR`)
//! and `DATA` on a stream the peer already ended (half-closed (remote), §5.1:
//! `STREAM_CLOSED`). h2, under hyper, answers both with GOAWAY, which ends
//! every WebSocket on the connection (all of a browser's tabs on one
//! server), and declined to change (hyperium/h2#892). [`StreamErrors`] sits
//! between the TLS stream and hyper and reads the frame headers going both
//! ways. For those two cases it drops the frame, sends the peer `RST_STREAM`
//! with the RFC's code, and hands h2 the same `RST_STREAM` as if the peer had
//! sent it, so that stream's WebSocket ends and the others go on. What the
//! peer still sends on such a stream (`DATA`, `WINDOW_UPDATE`,
//! `RST_STREAM`) is dropped too, `DATA` credited back to the connection's
//! window (§6.9: it counts whatever becomes of it). A zero increment on a
//! stream that is already closed is dropped without a word (nothing may be
//! sent on a closed stream).
//!
//! Everything else passes through unchanged, payloads without a copy: the
//! layer holds one frame header (and a `WINDOW_UPDATE`'s four bytes) at a
//! time, the open streams with the sides that ended them (at most
//! [`MAX_TRACKED`], ten times the server's concurrent stream limit; streams
//! past it are left to h2 as before), and the last [`MAX_RESET`] streams it
//! reset.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const PREFACE_LEN: usize = 24;
const HEADER_LEN: usize = 9;
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const WINDOW_UPDATE: u8 = 8;
const END_STREAM: u8 = 0x1;
const PROTOCOL_ERROR: u32 = 0x1;
const STREAM_CLOSED: u32 = 0x5;

/// Open streams followed at most (ten times the server's concurrent stream
/// limit); a stream opened past it is left to h2.
pub(crate) const MAX_TRACKED: usize = 1024;
/// Streams reset by this layer whose late frames are still dropped.
pub(crate) const MAX_RESET: usize = 64;

/// Which side ended a stream (`END_STREAM`).
const PEER_ENDED: u8 = 1;
const WE_ENDED: u8 = 2;

/// Where the reader is in the peer's bytes.
#[derive(Debug, Clone, Copy)]
enum In {
    /// In the client preface (this many bytes left), passed through.
    Preface(usize),
    /// Reading a frame header into `head` (with a `WINDOW_UPDATE`'s
    /// increment: 13 bytes).
    Header,
    /// Passing this many payload bytes to h2.
    Pass(usize),
    /// Dropping this many payload bytes.
    Drop(usize),
}

/// An HTTP/2 server connection's transport that turns two connection errors
/// h2 raises into the stream errors RFC 9113 asks for (see the module).
#[derive(Debug)]
pub(crate) struct StreamErrors<IO> {
    io: IO,
    state: In,
    head: [u8; HEADER_LEN + 4],
    head_len: usize,
    /// Bytes for h2 ahead of the peer's next ones: a held header let
    /// through, or a `RST_STREAM` made here.
    to_h2: Vec<u8>,
    /// Frames for the peer, sent at the next boundary of h2's frames.
    to_peer: Vec<u8>,
    /// h2's outgoing frames: header bytes seen of the current one, then its
    /// payload bytes left.
    out_head: [u8; HEADER_LEN],
    out_head_len: usize,
    out_left: usize,
    /// The open streams (the peer's HEADERS seen, not yet closed both ways
    /// or reset), with which sides ended them.
    open: HashMap<u32, u8>,
    reset: VecDeque<u32>,
    /// The highest stream the peer opened: a HEADERS above it opens one.
    max_opened: u32,
}

impl<IO> StreamErrors<IO> {
    pub(crate) fn new(io: IO) -> Self {
        StreamErrors {
            io,
            state: In::Preface(PREFACE_LEN),
            head: [0; HEADER_LEN + 4],
            head_len: 0,
            to_h2: Vec::new(),
            to_peer: Vec::new(),
            out_head: [0; HEADER_LEN],
            out_head_len: 0,
            out_left: 0,
            open: HashMap::new(),
            reset: VecDeque::new(),
            max_opened: 0,
        }
    }

    /// A complete frame header from the peer (and a `WINDOW_UPDATE`'s
    /// increment): what to do with the frame.
    fn judge(&mut self) -> In {
        let (len, kind, flags, stream) = parse_header(&self.head);
        let held = self.head_len - HEADER_LEN;
        if stream != 0 && self.reset.contains(&stream) && matches!(kind, DATA | WINDOW_UPDATE | RST_STREAM) {
            self.credit_if_data(kind, len);
            return In::Drop(len - held);
        }
        if kind == HEADERS && stream > self.max_opened {
            self.max_opened = stream;
            if self.open.len() < MAX_TRACKED {
                self.open.insert(stream, 0);
            }
        }
        // Only streams known to be open are judged: on the connection, an
        // idle or a closed stream h2 decides as before (an idle one is a
        // connection error, §5.1), but for a zero increment on a stream that
        // is no longer open, which is dropped (no frame may be sent on a
        // closed stream, and the client may not have learnt it closed yet).
        let zero_increment = kind == WINDOW_UPDATE && len == 4 && increment(&self.head) == 0;
        let error = match self.open.get(&stream) {
            Some(_) if zero_increment => Some(PROTOCOL_ERROR),
            Some(ended) if kind == DATA && ended & PEER_ENDED != 0 => Some(STREAM_CLOSED),
            None if zero_increment && stream != 0 && stream <= self.max_opened => return In::Drop(0),
            _ => None,
        };
        if let Some(code) = error {
            self.credit_if_data(kind, len);
            self.reset_stream(stream, code);
            return In::Drop(len - held);
        }
        if ends_stream(kind, flags) {
            self.note_end(stream, PEER_ENDED);
        }
        if kind == RST_STREAM {
            self.open.remove(&stream);
        }
        self.to_h2.extend_from_slice(&self.head[..self.head_len]);
        In::Pass(len - held)
    }

    /// A dropped `DATA` frame still counts against the connection's window
    /// (§6.9): give it back, as h2 never saw it.
    fn credit_if_data(&mut self, kind: u8, len: usize) {
        if kind == DATA && len > 0 {
            push_frame(&mut self.to_peer, WINDOW_UPDATE, 0, 0, &(len as u32).to_be_bytes());
        }
    }

    fn reset_stream(&mut self, stream: u32, code: u32) {
        tracing::debug!(
            stream,
            code,
            "HTTP/2 stream error: resetting the stream, not the connection"
        );
        push_frame(&mut self.to_peer, RST_STREAM, 0, stream, &code.to_be_bytes());
        push_frame(&mut self.to_h2, RST_STREAM, 0, stream, &code.to_be_bytes());
        self.open.remove(&stream);
        if self.reset.len() == MAX_RESET {
            self.reset.pop_front();
        }
        self.reset.push_back(stream);
    }

    /// One side ended `stream`; once both have, it is closed.
    fn note_end(&mut self, stream: u32, side: u8) {
        if let Some(ended) = self.open.get_mut(&stream) {
            *ended |= side;
            if *ended == PEER_ENDED | WE_ENDED {
                self.open.remove(&stream);
            }
        }
    }

    /// Follows h2's outgoing frames through `bytes` (written to the peer):
    /// their boundaries, and the streams h2 ends or resets.
    fn track_out(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.out_left > 0 {
                let k = self.out_left.min(bytes.len());
                self.out_left -= k;
                bytes = &bytes[k..];
                continue;
            }
            let k = (HEADER_LEN - self.out_head_len).min(bytes.len());
            self.out_head[self.out_head_len..self.out_head_len + k].copy_from_slice(&bytes[..k]);
            self.out_head_len += k;
            bytes = &bytes[k..];
            if self.out_head_len == HEADER_LEN {
                self.out_head_len = 0;
                let (len, kind, flags, stream) = parse_header(&self.out_head);
                self.out_left = len;
                if ends_stream(kind, flags) {
                    self.note_end(stream, WE_ENDED);
                } else if kind == RST_STREAM {
                    self.open.remove(&stream);
                }
            }
        }
    }

    /// Bytes of h2's output up to the end of its current frame (0: at a
    /// boundary, where frames of ours may go).
    fn out_to_boundary(&self) -> usize {
        if self.out_head_len > 0 {
            HEADER_LEN - self.out_head_len
        } else {
            self.out_left
        }
    }
}

impl<IO: AsyncWrite + Unpin> StreamErrors<IO> {
    /// Writes the frames made here for the peer, at a boundary of h2's.
    fn poll_to_peer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.to_peer.is_empty() && self.out_to_boundary() == 0 {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.to_peer))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.to_peer.drain(..n);
        }
        Poll::Ready(Ok(()))
    }

    /// How much of h2's `len` bytes may go now: all, unless frames of ours
    /// wait for the end of h2's current frame.
    fn writable(&self, len: usize) -> usize {
        if self.to_peer.is_empty() {
            len
        } else {
            len.min(self.out_to_boundary())
        }
    }
}

/// Whether a frame ends its side of the stream (`END_STREAM` on `DATA` or
/// `HEADERS`; the flag means something else on other frames).
fn ends_stream(kind: u8, flags: u8) -> bool {
    matches!(kind, DATA | HEADERS) && flags & END_STREAM != 0
}

/// A `WINDOW_UPDATE`'s increment, from the 4 bytes after its header.
fn increment(head: &[u8; HEADER_LEN + 4]) -> u32 {
    u32::from_be_bytes([head[9], head[10], head[11], head[12]]) & 0x7fff_ffff
}

/// `(payload length, type, flags, stream)` of a frame header.
fn parse_header(h: &[u8]) -> (usize, u8, u8, u32) {
    let len = (h[0] as usize) << 16 | (h[1] as usize) << 8 | h[2] as usize;
    let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
    (len, h[3], h[4], stream)
}

fn push_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for StreamErrors<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let start = buf.filled().len();
        // The transport has nothing more now: h2 gets what this call
        // gathered, or waits.
        macro_rules! poll_io {
            ($e:expr) => {
                match $e {
                    Poll::Ready(r) => r?,
                    Poll::Pending if buf.filled().len() > start => return Poll::Ready(Ok(())),
                    Poll::Pending => return Poll::Pending,
                }
            };
        }
        // Several frames per call when they are there, as a plain transport
        // would give them.
        while buf.remaining() > 0 {
            // Our frames for the peer go whenever h2's output is between
            // frames; if the transport is full, h2's next write or read
            // tries again.
            if let Poll::Ready(Err(e)) = this.poll_to_peer(cx) {
                return Poll::Ready(Err(e));
            }
            if !this.to_h2.is_empty() {
                let k = this.to_h2.len().min(buf.remaining());
                buf.put_slice(&this.to_h2[..k]);
                this.to_h2.drain(..k);
                continue;
            }
            match this.state {
                In::Preface(n) | In::Pass(n) if n > 0 => {
                    // Straight into h2's buffer, up to the end of what passes.
                    let dst = buf.initialize_unfilled_to(n.min(buf.remaining()));
                    let mut sub = ReadBuf::new(dst);
                    poll_io!(Pin::new(&mut this.io).poll_read(cx, &mut sub));
                    let got = sub.filled().len();
                    if got == 0 {
                        return Poll::Ready(Ok(())); // end of stream
                    }
                    buf.advance(got);
                    this.state = match this.state {
                        In::Preface(n) => In::Preface(n - got),
                        _ => In::Pass(n - got),
                    };
                }
                In::Preface(_) | In::Pass(_) => {
                    this.state = In::Header;
                    this.head_len = 0;
                }
                In::Drop(0) => {
                    this.state = In::Header;
                    this.head_len = 0;
                }
                In::Drop(n) => {
                    let mut scratch = [0u8; 4096];
                    let mut sub = ReadBuf::new(&mut scratch[..n.min(4096)]);
                    poll_io!(Pin::new(&mut this.io).poll_read(cx, &mut sub));
                    let got = sub.filled().len();
                    if got == 0 {
                        return Poll::Ready(Ok(())); // end of stream
                    }
                    this.state = In::Drop(n - got);
                }
                In::Header => {
                    // The header, and a WINDOW_UPDATE's increment with it.
                    let want = if this.head_len >= HEADER_LEN
                        && this.head[3] == WINDOW_UPDATE
                        && parse_header(&this.head).0 == 4
                    {
                        HEADER_LEN + 4
                    } else {
                        HEADER_LEN
                    };
                    if this.head_len < want {
                        let mut sub = ReadBuf::new(&mut this.head[this.head_len..want]);
                        poll_io!(Pin::new(&mut this.io).poll_read(cx, &mut sub));
                        let got = sub.filled().len();
                        if got == 0 {
                            // End of stream inside a header: h2 gets what
                            // there was, and then the end.
                            let held = this.head_len;
                            this.to_h2.extend_from_slice(&this.head[..held]);
                            this.head_len = 0;
                            if held == 0 {
                                return Poll::Ready(Ok(()));
                            }
                            this.state = In::Pass(0);
                            continue;
                        }
                        this.head_len += got;
                        continue;
                    }
                    this.state = this.judge();
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for StreamErrors<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_to_peer(cx))?;
        let k = this.writable(buf.len());
        let n = ready!(Pin::new(&mut this.io).poll_write(cx, &buf[..k]))?;
        this.track_out(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_to_peer(cx))?;
        if !this.to_peer.is_empty() {
            // Frames of ours wait for a boundary: write up to it only.
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
            let k = this.writable(first.len());
            let n = ready!(Pin::new(&mut this.io).poll_write(cx, &first[..k]))?;
            this.track_out(&first[..n]);
            return Poll::Ready(Ok(n));
        }
        let n = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, bufs))?;
        let mut left = n;
        for b in bufs {
            let k = left.min(b.len());
            this.track_out(&b[..k]);
            left -= k;
            if left == 0 {
                break;
            }
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_to_peer(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_to_peer(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
