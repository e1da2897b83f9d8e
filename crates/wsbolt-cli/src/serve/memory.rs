//! Giving freed memory back to the operating system.
//!
//! glibc's allocator keeps what a program frees for its next allocations;
//! it returns only the top of each heap, and after large blocks are freed
//! it raises the size above which it maps blocks of their own, so later
//! permessage-deflate buffers (64–300 KiB per connection) come from heaps
//! that never shrink. Measured (issue 30): 300 connections with
//! permessage-deflate, one echo each, closed, six times over: RSS 3 s after
//! each round 22.7, 106.9, 111.2, 119.6, 117.3, 118.8 MiB against 7.2 MiB
//! idle; `malloc_trim(0)` then brought it to 8.8 MiB. Nothing leaked: the
//! memory was free, and held.
//!
//! So `wsbolt serve` checks every [`PERIOD`] how much the allocator holds
//! free, and trims when that is more than [`MIN_FREE`] and more than what
//! is in use (after clients leave, or when fragmentation doubles the heap).
//! The same six rounds with it: RSS back to 9.0–11.0 MiB within 12 s of each
//! round (reproduction: `wsbolt serve --max-connections-per-ip
//! 1000`, then `wsbolt bench URL/echo --connections 300 --duration 2
//! --deflate --size 2000` six times, reading `VmRSS` between rounds).
//! Under a steady load free memory stays below what is in use and nothing
//! is trimmed, so no page is given back only to be faulted in again.
//!
//! This is the binary's policy, not the library's: a program embedding
//! `wsbolt-server` keeps its own allocator's behaviour.

use std::time::Duration;

/// How often the allocator's free memory is looked at.
pub(crate) const PERIOD: Duration = Duration::from_secs(10);
/// Free memory below this is left alone.
pub(crate) const MIN_FREE: usize = 8 << 20;

/// Starts a thread that trims every [`PERIOD`] when it is worth it; a no-op
/// where the allocator is not glibc's.
pub(crate) fn start_trimming() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let spawned = std::thread::Builder::new().name("wsbolt-trim".into()).spawn(|| loop {
            std::thread::sleep(PERIOD);
            if let Some(freed) = glibc::trim_if_worth_it() {
                tracing::debug!(free_mib = freed >> 20, "gave freed memory back to the OS");
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(%e, "cannot start the memory trimming thread; freed memory stays with the process");
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use super::MIN_FREE;

    /// Bytes the allocator holds free and bytes in use, over all arenas.
    pub(super) fn usage() -> (usize, usize) {
        // SAFETY: mallinfo2 only reads the allocator's statistics (taking
        // each arena's lock) and returns them by value; it has no
        // preconditions (glibc 2.33 and later, which Debian 12 has).
        let info = unsafe { libc::mallinfo2() };
        (info.fordblks, info.uordblks)
    }

    /// Trims when the free memory is more than [`MIN_FREE`] and more than
    /// what is in use; the free bytes it found, if it trimmed.
    pub(super) fn trim_if_worth_it() -> Option<usize> {
        let (free, used) = usage();
        if free < MIN_FREE || free < used {
            return None;
        }
        trim();
        Some(free)
    }

    pub(super) fn trim() {
        // SAFETY: malloc_trim(0) returns free pages of every arena to the
        // kernel (madvise) under the arenas' locks; it may be called from
        // any thread at any time and frees nothing that is in use.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn resident_bytes() -> usize {
            let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
            let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
            pages * 4096
        }

        #[test]
        fn freed_heap_memory_goes_back_to_the_os_once_it_is_worth_it() {
            // 64 MiB in 16 KiB blocks (below the size glibc maps on its own,
            // so they come from the heap), touched so they are resident, then
            // freed while a block allocated after them keeps the heap's top.
            let blocks: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8; 16 << 10]).collect();
            let keep_top = vec![1u8; 16 << 10];
            drop(blocks);
            let (free, _) = usage();
            assert!(free >= 60 << 20, "{free} bytes free");
            let before = resident_bytes();
            assert!(trim_if_worth_it().is_some(), "64 MiB free, little in use: worth it");
            let after = resident_bytes();
            assert!(
                before.saturating_sub(after) >= 32 << 20,
                "resident {before} → {after} bytes"
            );
            drop(keep_top);
        }
    }
}
