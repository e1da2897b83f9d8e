//! Bytes waiting to be written, as a short list of chunks.
//!
//! Small frames are copied into one contiguous tail, so many of them leave in
//! one write; a large payload that needs no masking is kept as its own shared
//! chunk next to its header, for a vectored write without a copy.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{FrameHeader, HeaderRules, MAX_HEADER_LEN};

/// Payloads at least this long are queued by reference instead of copied.
pub(crate) const SHARE_THRESHOLD: usize = 16 * 1024;

/// Outgoing bytes.
#[derive(Debug, Default)]
pub struct OutBuf {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
    /// The tail's capacity after the last append. Advancing a `BytesMut`
    /// shrinks its reported capacity but not its allocation, so whether a
    /// drained tail is worth keeping is judged from this.
    tail_alloc: usize,
    /// Bytes from the front to the end of the frame the front byte belongs
    /// to; 0 when the front is at a frame boundary. A write that stops inside
    /// a frame leaves it non-zero, and [`OutBuf::discard_unsent`] keeps that
    /// many bytes: a frame half on the wire must be finished.
    front_frame_left: usize,
}

/// A drained buffer (this output tail, or the connection's read buffer) up
/// to this size is kept for reuse; a larger one is freed, so a connection
/// holds little once its traffic has passed.
pub(crate) const KEEP_DRAINED: usize = 4 * 1024;

impl OutBuf {
    /// Total bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tail, to append small frames to. Callers must call
    /// [`OutBuf::note_appended`] with the count they added.
    pub(crate) fn tail_mut(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    pub(crate) fn note_appended(&mut self, n: usize) {
        self.len += n;
        self.tail_alloc = self.tail_alloc.max(self.tail.capacity());
    }

    /// Queues a shared chunk after everything already queued.
    pub(crate) fn push_shared(&mut self, b: Bytes) {
        if b.is_empty() {
            return;
        }
        if !self.tail.is_empty() {
            let t = self.tail.split().freeze();
            self.chunks.push_back(t);
        }
        self.len += b.len();
        self.chunks.push_back(b);
    }

    /// Fills `dst` with the queued chunks in order; returns how many it used.
    pub fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        // Chunks are never empty: `push_shared` skips empty ones and `advance`
        // pops drained ones.
        let tail = (!self.tail.is_empty()).then_some(&self.tail[..]);
        let mut n = 0;
        for c in self.chunks.iter().map(|c| &c[..]).chain(tail).take(dst.len()) {
            dst[n] = IoSlice::new(c);
            n += 1;
        }
        n
    }

    /// Whether everything queued is one contiguous chunk (what
    /// [`OutBuf::first_chunk`] returns), so one plain write can take it all.
    pub fn is_single_chunk(&self) -> bool {
        match self.chunks.len() {
            0 => true,
            1 => self.tail.is_empty(),
            _ => false,
        }
    }

    /// The first contiguous chunk (for transports without vectored writes).
    pub fn first_chunk(&self) -> &[u8] {
        match self.chunks.front() {
            Some(c) => c,
            None => &self.tail,
        }
    }

    /// Drops `n` written bytes from the front.
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advanced past the queued bytes");
        if n == self.len {
            // Everything was written (the usual case): no frame is cut.
            self.drained();
            return;
        }
        // A short write: walk the frames it passed, so the frame it stopped
        // in is known (one header read per frame, only under backpressure).
        while n > 0 {
            if self.front_frame_left == 0 {
                self.front_frame_left = self.front_frame_len();
            }
            let k = n.min(self.front_frame_left);
            self.front_frame_left -= k;
            n -= k;
            self.consume(k);
        }
    }

    /// The length of the frame that starts at the front (header and
    /// payload), read from its header. Frames are queued whole, so it is all
    /// here; a malformed header (never written by this crate) counts as
    /// running to the end of the queue, so nothing after it is dropped.
    fn front_frame_len(&self) -> usize {
        let mut head = [0u8; MAX_HEADER_LEN];
        let mut got = 0;
        let tail = (!self.tail.is_empty()).then_some(&self.tail[..]);
        for c in self.chunks.iter().map(|c| &c[..]).chain(tail) {
            let k = c.len().min(head.len() - got);
            head[got..got + k].copy_from_slice(&c[..k]);
            got += k;
            if got == head.len() {
                break;
            }
        }
        let head = &head[..got];
        // The frame parser, with every limit open: this crate wrote the frame.
        let rules = HeaderRules {
            expect_masked: head.get(1).is_some_and(|b| b & 0x80 != 0),
            allow_rsv1: true,
            max_payload: u64::MAX,
            max_compressed_payload: u64::MAX,
        };
        match FrameHeader::parse(head, &rules) {
            Ok(Some((header, header_len))) => {
                let payload = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
                header_len.saturating_add(payload).min(self.len)
            }
            _ => self.len,
        }
    }

    /// Drops `n` bytes from the front: less than the queued length (a
    /// short write), so the queue never drains here.
    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(c) => {
                    let k = n.min(c.len());
                    c.advance(k);
                    n -= k;
                    if c.is_empty() {
                        self.chunks.pop_front();
                    }
                }
                None => {
                    self.tail.advance(n);
                    n = 0;
                }
            }
        }
    }

    /// Drops every queued frame that has not begun to go out, keeping the
    /// rest of a frame a short write left half-written (the peer would
    /// otherwise read the next frame's bytes as that frame's). Returns the
    /// bytes dropped. What is queued next (a Close) is then the next frame
    /// on the wire.
    pub(crate) fn discard_unsent(&mut self) -> usize {
        let keep = self.front_frame_left;
        let dropped = self.len - keep;
        if keep == 0 {
            self.drained();
            return dropped;
        }
        let mut left = keep;
        let mut kept = 0;
        for c in self.chunks.iter_mut() {
            if left == 0 {
                break;
            }
            c.truncate(left);
            left -= c.len();
            kept += 1;
        }
        self.chunks.truncate(kept);
        self.tail.truncate(left);
        self.len = keep;
        dropped
    }

    /// Everything was written or taken: give a large tail back, so an idle
    /// connection holds almost nothing; a small one is kept for reuse.
    fn drained(&mut self) {
        // Checked first: clearing an empty `VecDeque` is still a call.
        if !self.chunks.is_empty() {
            self.chunks.clear();
        }
        self.tail.clear();
        self.len = 0;
        self.front_frame_left = 0;
        if self.tail_alloc > KEEP_DRAINED {
            self.tail = BytesMut::new();
            self.tail_alloc = 0;
        }
    }

    /// Takes every queued byte as a list of shared chunks, without copying.
    pub fn take_chunks(&mut self) -> Vec<Bytes> {
        let mut v: Vec<Bytes> = self.chunks.drain(..).collect();
        if !self.tail.is_empty() {
            v.push(self.tail.split().freeze());
        }
        self.drained();
        v
    }

    /// Takes every queued byte as one contiguous buffer (test helper and
    /// simple transports).
    pub fn take_all(&mut self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for c in &self.chunks {
            v.extend_from_slice(c);
        }
        v.extend_from_slice(&self.tail);
        self.drained();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_kept_across_copied_and_shared_chunks() {
        let mut o = OutBuf::default();
        o.tail_mut().extend_from_slice(b"ab");
        o.note_appended(2);
        o.push_shared(Bytes::from_static(b"cdef"));
        o.tail_mut().extend_from_slice(b"g");
        o.note_appended(1);
        assert_eq!(o.len(), 7);
        let mut slices = [IoSlice::new(&[]); 8];
        let n = o.chunks_vectored(&mut slices);
        let joined: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(joined, b"abcdefg");
        o.advance(3);
        assert_eq!(o.first_chunk(), b"def");
        o.advance(3);
        assert_eq!(o.first_chunk(), b"g");
        o.advance(1);
        assert!(o.is_empty());
    }

    #[test]
    fn a_large_tail_is_freed_once_drained_however_it_was_written() {
        let mut o = OutBuf::default();
        o.tail_mut().extend_from_slice(&[7u8; 64 * 1024]);
        o.note_appended(64 * 1024);
        // Written in pieces: the advanced BytesMut reports little capacity
        // but still holds the 64 KiB allocation.
        o.advance(60 * 1024);
        o.advance(4 * 1024);
        assert!(o.is_empty());
        assert_eq!(o.tail.capacity(), 0, "the drained 64 KiB tail was kept");
        // A small tail is kept for the next frames.
        o.tail_mut().extend_from_slice(b"ab");
        o.note_appended(2);
        let kept = o.tail.capacity();
        o.advance(2);
        assert!(kept > 0 && o.tail_alloc > 0 && o.tail_alloc <= KEEP_DRAINED);
    }

    #[test]
    fn vectored_respects_slice_count() {
        let mut o = OutBuf::default();
        for _ in 0..3 {
            o.push_shared(Bytes::from_static(b"xy"));
        }
        let mut slices = [IoSlice::new(&[]); 2];
        assert_eq!(o.chunks_vectored(&mut slices), 2);
    }
}
