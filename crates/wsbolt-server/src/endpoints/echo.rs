//! `/echo`: every text and binary message is sent back as received.

use std::future::{poll_fn, Future};
use std::task::Poll;

use futures_util::{FutureExt, StreamExt};

use super::{drain, ended, going_away, queue_counted, slow_consumer, tell, Ctx, Done, Ws};
use crate::metrics::Tally;

/// The route's entry point.
pub(crate) fn serve(ws: Ws, ctx: Ctx, done: Done) {
    done.spawn(run(ws, ctx));
}

/// Echoes until the connection ends. Answers are queued and written by the
/// read loop, so everything one read brought is answered with one write.
/// Once more than the write high-water mark is unwritten, echo stops
/// reading until it drains (TCP pushes back on the client); a client that
/// leaves it undrained for `write-timeout` seconds is a slow consumer.
///
/// Messages already read are taken as they are; only when none is ready are
/// the metrics told (one [`Tally`] per batch) and the shutdown signal polled,
/// so a read that brought many frames costs neither per frame.
///
/// The future an idle connection waits in is kept small: the rare paths
/// (draining, closing) are boxed when taken, so they take no room in it,
/// and it is an `async move` block rather than an `async fn`, whose
/// arguments would be stored twice (rust-lang/rust#62958).
#[allow(clippy::manual_async_fn)] // on purpose: see above
fn run(mut ws: Ws, ctx: Ctx) -> impl Future<Output = u16> + Send {
    async move {
        let Ctx {
            env: ctx,
            mut stop,
            mut access,
        } = ctx;
        let mut tally = Tally::default();
        loop {
            // The socket first; only when it has nothing are the metrics told
            // and the shutdown signal polled. One poll of the stream per
            // wake-up: taking ready messages with `now_or_never` and then
            // selecting polled it a third time per message.
            let next = poll_fn(|cx| {
                if let Poll::Ready(next) = ws.poll_next_unpin(cx) {
                    return Poll::Ready(Some(next));
                }
                tell(&mut tally, &ctx, &mut access);
                stop.poll_unpin(cx).map(|()| None)
            })
            .await;
            let Some(next) = next else {
                // Boxed in a statement of its own: a temporary in the
                // awaiting statement would keep its room in this future.
                let close = Box::pin(going_away(&mut ws));
                close.await;
                break;
            };
            let Some(Ok(msg)) = next else { break };
            if !msg.is_data() {
                continue;
            }
            tally.received(msg.len());
            let mut kept_up = queue_counted(&mut ws, msg, &ctx.limits, &mut tally);
            if kept_up && ws.buffered_amount() > ws.write_high_water() {
                tell(&mut tally, &ctx, &mut access);
                let drained = Box::pin(drain(&mut ws, &ctx));
                kept_up = drained.await;
            }
            if !kept_up {
                let close = Box::pin(slow_consumer(&mut ws, ctx.limits.slow_consumer_code));
                close.await;
                break;
            }
        }
        tell(&mut tally, &ctx, &mut access);
        ended(&ws, access)
    }
}
