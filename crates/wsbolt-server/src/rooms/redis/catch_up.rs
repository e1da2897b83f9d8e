//! After an outage, the reader reads what it missed before the publisher
//! appends what waited in the outbox.
//!
//! Appending trims each stream to about `--redis-stream-length` entries. A
//! node cut off for a while comes back behind the other nodes' messages and
//! with its own backlog; appending the backlog first would trim entries its
//! reader has not read yet, although the stream alone was within its limit.
//! So the publisher, once connected, waits at most [`MAX_WAIT`] for the
//! reader to reach the end of every stream it follows, and counts an outage
//! as waited for only once a batch was appended after the wait: a wait
//! spent on a connection that turns out dead (the publisher learns it only
//! when it writes) is done again once connected. The reader's reconnection
//! waits are at most 5 s, so after a cut of any length it is back within
//! the limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// The longest the publisher waits for the reader (a reader that cannot
/// catch up must not hold this node's messages back for ever).
pub(super) const MAX_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub(super) struct CatchUp {
    /// Times the reader lost its connection.
    outages: AtomicU64,
    /// The outage after which the reader last reached the end of its streams.
    caught_up: AtomicU64,
    notify: Notify,
}

impl CatchUp {
    /// The reader lost its connection: it is behind until it says otherwise.
    pub(super) fn reader_lost(&self) {
        self.outages.fetch_add(1, Ordering::AcqRel);
    }

    /// The reader has read to the end of every stream it follows. True the
    /// first time after an outage.
    pub(super) fn reader_caught_up(&self) -> bool {
        let outages = self.outages.load(Ordering::Acquire);
        let first = self.caught_up.fetch_max(outages, Ordering::AcqRel) < outages;
        if first {
            self.notify.notify_waiters();
        }
        first
    }

    /// Waits until the reader has caught up after its last outage, at most
    /// `max`, unless `waited` (the publisher's record: the last outage a
    /// batch was appended after) covers it. Returns the outage this wait
    /// covered, for the publisher to record once its batch is appended.
    ///
    /// # Cancel safety
    /// Cancel-safe: nothing is recorded until the caller records it.
    pub(super) async fn wait(&self, waited: u64, max: Duration) -> u64 {
        let outages = self.outages.load(Ordering::Acquire);
        if waited >= outages {
            return waited;
        }
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.caught_up.load(Ordering::Acquire) < outages {
            let _ = tokio::time::timeout(max, notified).await;
        }
        outages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_per_outage_until_caught_up_or_the_limit_until_recorded() {
        let c = CatchUp::default();
        let mut waited = 0;
        // No outage: no wait.
        let start = tokio::time::Instant::now();
        waited = c.wait(waited, MAX_WAIT).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        // An outage the reader does not recover from: a wait of the limit;
        // not recorded (the append failed), so the next batch waits again.
        c.reader_lost();
        let covered = c.wait(waited, MAX_WAIT).await;
        assert_eq!((covered, start.elapsed()), (1, MAX_WAIT));
        c.wait(waited, MAX_WAIT).await;
        assert_eq!(start.elapsed(), 2 * MAX_WAIT);
        // Recorded (a batch was appended after it): no more waits for it.
        waited = covered;
        c.wait(waited, MAX_WAIT).await;
        assert_eq!(start.elapsed(), 2 * MAX_WAIT);
        // An outage the reader recovers from: the wait ends when it says so.
        c.reader_lost();
        let c = std::sync::Arc::new(c);
        let reader = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            reader.reader_caught_up();
        });
        assert_eq!(c.wait(waited, MAX_WAIT).await, 2);
        assert_eq!(start.elapsed(), 2 * MAX_WAIT + Duration::from_secs(2));
    }
}
