//! `/echo`: every text and binary message is sent back as received.

use futures_util::StreamExt;

use super::{drain, end_code, going_away, is_data, queue_out, slow_consumer, Ctx, Ws};

/// Echoes until the connection ends. Answers are queued and written by the
/// read loop, so everything one read brought is answered with one write.
/// Once more than the write high-water mark is unwritten, echo stops
/// reading until it drains (TCP pushes back on the client); a client that
/// leaves it undrained for `write-timeout` seconds is a slow consumer.
pub async fn run(mut ws: Ws, ctx: &Ctx) -> u16 {
    let mut stop = ctx.stop.clone();
    loop {
        tokio::select! {
            _ = super::stopped(&mut stop) => {
                going_away(&mut ws).await;
                break;
            }
            next = ws.next() => {
                let Some(Ok(msg)) = next else { break };
                if !is_data(&msg) {
                    continue;
                }
                ctx.state.metrics.received(msg.len());
                let kept_up = queue_out(&mut ws, msg, ctx)
                    && (ws.buffered_amount() <= ws.config().write_high_water || drain(&mut ws, ctx).await);
                if !kept_up {
                    slow_consumer(&mut ws, ctx.state.config.slow_consumer.code()).await;
                    break;
                }
            }
        }
    }
    end_code(&ws)
}
