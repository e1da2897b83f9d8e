//! The server's shutdown signal, as its connections and background tasks
//! wait for it.
//!
//! Every connection polls the signal beside its socket on each wake-up, so a
//! poll has to be cheap: one atomic load, and a short lock that keeps the
//! task's waker (replaced only when it changed). The signal is pushed: firing
//! it wakes every task that waits. (It was a `futures` `Shared` future over a
//! oneshot receiver, whose poll also drove the receiver: about 200
//! instructions per echoed message under callgrind.)

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Resolves once its [`Trigger`] fires; every clone does. Cancel-safe: a
/// dropped clone only gives up its place in the list of waiting tasks.
pub(crate) struct Shutdown {
    signal: Arc<Signal>,
    /// This clone's slot in the waiting list, once it waited.
    slot: Option<usize>,
}

/// Fires the [`Shutdown`] it was made with.
pub(crate) struct Trigger(Arc<Signal>);

struct Signal {
    fired: AtomicBool,
    waiting: Mutex<Waiting>,
}

/// The wakers of the clones that wait, by slot; freed slots are reused, so
/// the list is as long as the most clones that ever waited at once.
#[derive(Default)]
struct Waiting {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Waiting {
    /// Keeps `waker` in a free slot; returns the slot.
    fn insert(&mut self, waker: Waker) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.wakers[i] = Some(waker);
                i
            }
            None => {
                self.wakers.push(Some(waker));
                self.wakers.len() - 1
            }
        }
    }

    /// Keeps `waker` in slot `i`, unless the one there already wakes the
    /// same task (the usual case: no clone, no drop).
    fn keep(&mut self, i: usize, waker: &Waker) {
        match &mut self.wakers[i] {
            Some(w) if w.will_wake(waker) => {}
            w => *w = Some(waker.clone()),
        }
    }

    /// Frees slot `i`.
    fn remove(&mut self, i: usize) {
        self.wakers[i] = None;
        self.free.push(i);
    }
}

/// A signal and its trigger.
pub(crate) fn signal() -> (Trigger, Shutdown) {
    let signal = Arc::new(Signal {
        fired: AtomicBool::new(false),
        waiting: Mutex::new(Waiting::default()),
    });
    (Trigger(signal.clone()), Shutdown { signal, slot: None })
}

impl Signal {
    fn waiting(&self) -> MutexGuard<'_, Waiting> {
        // Nothing panics while holding it; a poisoned list is still a list.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Trigger {
    /// Fires the signal: every clone resolves, the tasks waiting are woken.
    /// Firing again does nothing.
    pub(crate) fn fire(&self) {
        self.0.fired.store(true, Ordering::Release);
        let wakers: Vec<Waker> = self.0.waiting().wakers.iter_mut().filter_map(Option::take).collect();
        for waker in wakers {
            waker.wake();
        }
    }
}

impl Clone for Shutdown {
    fn clone(&self) -> Self {
        Shutdown {
            signal: self.signal.clone(),
            slot: None,
        }
    }
}

impl Future for Shutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let this = &mut *self;
        let mut waiting = this.signal.waiting();
        // Again under the lock: `fire` sets the flag before it takes the
        // wakers under this lock, so a waker kept now is woken by it.
        if this.signal.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        match this.slot {
            Some(i) => waiting.keep(i, cx.waker()),
            None => this.slot = Some(waiting.insert(cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Shutdown {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            self.signal.waiting().remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn every_clone_resolves_once_fired_and_waiting_tasks_wake() {
        let (trigger, stop) = signal();
        let waiters: Vec<_> = (0..3).map(|_| tokio::spawn(stop.clone())).collect();
        tokio::task::yield_now().await;
        let mut polled = stop.clone();
        assert!((&mut polled).now_or_never().is_none(), "not fired yet");
        trigger.fire();
        for w in waiters {
            tokio::time::timeout(std::time::Duration::from_secs(5), w)
                .await
                .expect("woken")
                .unwrap();
        }
        assert!(polled.now_or_never().is_some());
        assert!(stop.clone().now_or_never().is_some(), "a clone made after firing");
        trigger.fire();
    }

    #[test]
    fn dropped_clones_free_their_slots() {
        let (_trigger, stop) = signal();
        for _ in 0..100 {
            let mut a = stop.clone();
            let mut b = stop.clone();
            assert!((&mut a).now_or_never().is_none());
            assert!((&mut b).now_or_never().is_none());
        }
        assert_eq!(stop.signal.waiting().wakers.len(), 2, "slots reused");
    }
}
