//! The serving engine: threads that each drive many WebSockets through one
//! `epoll` (via `mio`), with no task, waker, channel or timer object per
//! connection or per message.
//!
//! Where a connection crosses from tokio: the intake (accept, admission,
//! TLS, the HTTP/1.1 request, routing, the Origin policy and the 101 answer)
//! stays on tokio, as do pages, HTTP/2, handler programs and Redis. A plain
//! (not TLS) HTTP/1.1 WebSocket to `/echo` is then handed to an engine
//! thread ([`Engine::adopt`]): the tokio socket is turned back into a
//! standard one, registered with the thread's `epoll`, and its protocol
//! state ([`wsbolt::proto::Connection`]) moves with it, with any bytes that
//! came with the handshake. From then on one readiness is one read (or a few,
//! for bulk data) and one write of every answer it earned.
//!
//! The threads end after server shutdown once their connections have closed
//! (each was sent Close 1001); the server's task tracker counts them, so
//! `shutdown-grace` covers them as it covers tasks.

mod conn;
mod event_loop;
mod sys;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::task::TaskTracker;
use wsbolt::MaybeTlsStream;

use crate::endpoints::access::AccessRecord;
use crate::endpoints::{Done, Limits, Ws};
use crate::metrics::{Metrics, Tally};

/// Each thread's read buffer for reads between frames.
const SCRATCH_LEN: usize = 64 * 1024;

/// What every connection of a thread shares: its settings and the read
/// buffer.
pub(crate) struct Settings {
    limits: Limits,
    metrics: Arc<Metrics>,
    /// Reading pauses while this many bytes are unwritten.
    high_water: usize,
    linger_time: Duration,
    linger_bytes: usize,
    scratch: Box<[u8]>,
    /// Messages counted since the thread last told the metrics.
    tally: Tally,
}

impl Settings {
    /// Adds what the thread counted to the shared metrics: once per wake-up,
    /// so a read that brought one message does not cost four atomic
    /// additions on a cache line every thread writes.
    pub(super) fn tell_metrics(&mut self) {
        self.tally.flush(&self.metrics);
    }
}

/// A connection on its way to an engine thread.
struct Adopted {
    tcp: std::net::TcpStream,
    ws: wsbolt::proto::Connection,
    done: Done,
    access: AccessRecord,
}

/// What the tokio side and one engine thread share.
struct Inbox {
    adopted: Mutex<Vec<Adopted>>,
    stop: AtomicBool,
    waker: mio::Waker,
}

/// The engine's threads; dropping it stops them (as shutdown does).
pub(crate) struct Engine {
    inboxes: Vec<Arc<Inbox>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("threads", &self.inboxes.len()).finish()
    }
}

impl Engine {
    /// Starts `threads` engine threads (at least one), each counted by
    /// `tasks` until it ends.
    ///
    /// # Errors
    ///
    /// An `epoll` instance or a thread cannot be made.
    pub(crate) fn start(
        threads: usize,
        limits: Limits,
        metrics: &Arc<Metrics>,
        ws: &wsbolt::Config,
        tasks: &TaskTracker,
    ) -> std::io::Result<Engine> {
        let mut inboxes = Vec::new();
        for i in 0..threads.max(1) {
            let poll = mio::Poll::new()?;
            let waker = mio::Waker::new(poll.registry(), event_loop::WAKE)?;
            let inbox = Arc::new(Inbox {
                adopted: Mutex::new(Vec::new()),
                stop: AtomicBool::new(false),
                waker,
            });
            let settings = Settings {
                limits,
                metrics: metrics.clone(),
                high_water: ws.write_high_water.max(1),
                linger_time: ws.linger_time,
                linger_bytes: ws.linger_bytes,
                scratch: vec![0; SCRATCH_LEN].into_boxed_slice(),
                tally: Tally::default(),
            };
            let thread_inbox = inbox.clone();
            let token = tasks.token();
            std::thread::Builder::new()
                .name(format!("wsbolt-engine-{i}"))
                .spawn(move || {
                    event_loop::run(poll, &thread_inbox, settings);
                    drop(token);
                })?;
            inboxes.push(inbox);
        }
        Ok(Engine {
            inboxes,
            next: AtomicUsize::new(0),
        })
    }

    /// Whether [`adopt`](Engine::adopt) takes this WebSocket (plain TCP).
    pub(crate) fn takes(ws: &Ws) -> bool {
        matches!(ws.get_ref(), MaybeTlsStream::Plain(_))
    }

    /// Hands an accepted plain-TCP WebSocket to the next thread, which
    /// echoes it until it ends (see [`Engine::takes`]).
    pub(crate) fn adopt(&self, ws: Ws, access: AccessRecord, done: Done) {
        let (io, conn) = ws.into_parts();
        let tcp = match io {
            MaybeTlsStream::Plain(tcp) => tcp.into_std(),
            _ => Err(std::io::Error::other("not plain TCP")),
        };
        let tcp = match tcp {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::warn!(error = %e, "cannot hand the connection to the engine");
                return done.finish(crate::endpoints::ended_with(None, access));
            }
        };
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.inboxes.len();
        let inbox = &self.inboxes[i];
        let adopted = Adopted {
            tcp,
            ws: conn,
            done,
            access,
        };
        let first = {
            let mut queue = inbox.adopted.lock().unwrap_or_else(|p| p.into_inner());
            queue.push(adopted);
            queue.len() == 1
        };
        // Only the first of a burst wakes the thread: it takes the whole
        // queue at once, so one wake-up (a system call here, a context
        // switch there) serves every connection queued before it looks.
        if first {
            if let Err(e) = inbox.waker.wake() {
                tracing::warn!(error = %e, "cannot wake an engine thread");
            }
        }
    }

    /// Server shutdown: every connection is sent Close 1001 after what is
    /// queued; each thread ends once its connections have.
    pub(crate) fn stop(&self) {
        for inbox in &self.inboxes {
            inbox.stop.store(true, Ordering::Release);
            let _ = inbox.waker.wake();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}
