//! `/broadcast`: every message goes to every client on the endpoint (the
//! sender included).

use futures_util::StreamExt;

use super::{end_code, going_away, is_data, queue_out, slow_consumer, Ctx, Out, Ws};

/// Relays until the connection ends.
pub async fn run(mut ws: Ws, ctx: &Ctx) -> u16 {
    let room = &ctx.state.broadcast;
    let limit = ctx.state.config.max_outbound_queue;
    let code = ctx.state.config.slow_consumer.code();
    let mut me = room.join();
    let mut stop = ctx.stop.clone();
    loop {
        tokio::select! {
            _ = super::stopped(&mut stop) => {
                room.leave(me.id);
                // Messages already queued for this client go out before the Close.
                while let Ok(Out::Msg(m)) = me.rx.try_recv() {
                    queue_out(&mut ws, m, ctx);
                }
                going_away(&mut ws).await;
                break;
            }
            out = me.rx.recv() => match out {
                Some(Out::Msg(m)) => {
                    me.taken(&m);
                    if !queue_out(&mut ws, m, ctx) {
                        room.leave(me.id);
                        slow_consumer(&mut ws, code).await;
                        break;
                    }
                }
                Some(Out::Kick) | None => {
                    room.leave(me.id);
                    slow_consumer(&mut ws, code).await;
                    break;
                }
            },
            next = ws.next() => {
                let Some(Ok(msg)) = next else { break };
                if is_data(&msg) {
                    ctx.state.metrics.received(msg.len());
                    room.publish(&msg, limit);
                }
            }
        }
    }
    room.leave(me.id);
    end_code(&ws)
}
