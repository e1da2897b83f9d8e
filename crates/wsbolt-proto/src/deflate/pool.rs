//! Codecs shared by the connections of one thread when no context is kept.
//!
//! Without context takeover a connection needs its compressor (or
//! decompressor) only while one message goes through it. Making one per
//! message costs an allocation of tens of KiB and its zeroing; keeping
//! one per connection costs that memory for every idle connection. So a
//! connection borrows one from its thread's pool for a message and gives it
//! back, reset, when the message ends: codec memory follows the messages in
//! flight, not the connections (uWebSockets' shared compressor, per thread).
//! A codec may be given back on another thread than it came from (a task
//! moved between a multi-threaded runtime's workers); it joins that pool.

use std::cell::RefCell;

use super::codec::{Compressor, Decompressor};

/// Codecs a thread keeps for reuse, per kind. Beyond this, returned codecs
/// are dropped: one thread compresses one message at a time, so a few cover
/// fragmented messages in progress on several connections.
pub const POOL_PER_THREAD: usize = 4;

thread_local! {
    static COMPRESSORS: RefCell<Vec<Compressor>> = const { RefCell::new(Vec::new()) };
    static DECOMPRESSORS: RefCell<Vec<Decompressor>> = const { RefCell::new(Vec::new()) };
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

type Pool<T> = std::thread::LocalKey<RefCell<Vec<T>>>;

/// Takes the first codec in `pool` that `fits`, if any.
fn take_from<T>(pool: &'static Pool<T>, fits: impl Fn(&T) -> bool) -> Option<T> {
    pool.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        let i = pool.iter().position(fits)?;
        Some(pool.swap_remove(i))
    })
    .ok()
    .flatten()
}

/// Keeps `codec` in `pool` unless it already holds [`POOL_PER_THREAD`].
fn give_to<T>(pool: &'static Pool<T>, codec: T) {
    let _ = pool.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL_PER_THREAD {
            pool.push(codec);
        }
    });
}

/// A compressor that resets after each message, from this thread's pool if
/// one with these settings is there.
pub(crate) fn take_compressor(level: u32, window_bits: u8, mem_level: u8) -> Compressor {
    let key = Compressor::key_for(level, window_bits, mem_level);
    take_from(&COMPRESSORS, |c| c.key() == key).unwrap_or_else(|| Compressor::new(level, window_bits, mem_level, true))
}

/// Gives back a compressor from [`take_compressor`] whose message ended (it
/// has reset itself).
pub(crate) fn give_compressor(c: Compressor) {
    give_to(&COMPRESSORS, c);
}

/// A decompressor that resets after each message, from this thread's pool
/// if one for this window is there.
pub(crate) fn take_decompressor(window_bits: u8) -> Decompressor {
    let bits = window_bits.clamp(9, 15);
    take_from(&DECOMPRESSORS, |d| d.window_bits() == bits).unwrap_or_else(|| Decompressor::new(window_bits, true))
}

/// Gives back a decompressor from [`take_decompressor`] whose message was
/// finished without error (it has reset itself).
pub(crate) fn give_decompressor(d: Decompressor) {
    give_to(&DECOMPRESSORS, d);
}

/// This thread's scratch buffer, empty: compressed output is built there,
/// then copied into the connection's output, so no connection keeps a
/// buffer of its own between messages. Give it back with [`put_scratch`].
pub(crate) fn take_scratch() -> Vec<u8> {
    let mut buf = SCRATCH
        .try_with(|s| std::mem::take(&mut *s.borrow_mut()))
        .unwrap_or_default();
    buf.clear();
    buf
}

/// Keeps `buf` as this thread's scratch buffer, unless it grew past 256 KiB.
pub(crate) fn put_scratch(buf: Vec<u8>) {
    if buf.capacity() <= 256 * 1024 {
        let _ = SCRATCH.try_with(|s| *s.borrow_mut() = buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_codecs_are_reused_only_for_the_same_settings_and_stay_bounded() {
        let c = take_compressor(1, 12, 5);
        let key = c.key();
        give_compressor(c);
        // Another setting makes a new one; the pooled one stays.
        let other = take_compressor(6, 15, 8);
        assert_ne!(other.key(), key);
        assert_eq!(COMPRESSORS.with(|p| p.borrow().len()), 1);
        let again = take_compressor(1, 12, 5);
        assert_eq!(again.key(), key);
        assert_eq!(COMPRESSORS.with(|p| p.borrow().len()), 0);
        for _ in 0..10 {
            give_compressor(Compressor::new(1, 12, 5, true));
        }
        assert_eq!(COMPRESSORS.with(|p| p.borrow().len()), POOL_PER_THREAD);
        for _ in 0..10 {
            give_decompressor(Decompressor::new(15, true));
        }
        assert_eq!(DECOMPRESSORS.with(|p| p.borrow().len()), POOL_PER_THREAD);
        assert_eq!(
            take_decompressor(12).window_bits(),
            12,
            "a 12-bit window is not served a 15-bit one"
        );
        assert_eq!(DECOMPRESSORS.with(|p| p.borrow().len()), POOL_PER_THREAD);
    }

    #[test]
    fn a_pooled_codec_carries_no_history_into_the_next_message() {
        // Two connections in turn through one pooled pair: each message must
        // inflate on a fresh decompressor, which fails if the compressor
        // referenced the previous connection's message.
        let msg = b"the same words again and again and again and again".repeat(20);
        for _ in 0..3 {
            let mut c = take_compressor(6, 15, 8);
            let mut wire = Vec::new();
            assert!(c.compress(&msg, true, &mut wire));
            give_compressor(c);
            let mut fresh = Decompressor::new(15, true);
            let mut out = Vec::new();
            let ok = &mut |_: &[u8]| Ok(());
            fresh.inflate(&wire, &mut out, 1 << 20, ok).unwrap();
            fresh.finish_message(&mut out, 1 << 20, ok).unwrap();
            assert_eq!(out, msg);
        }
    }
}
