//! `/broadcast`: every message goes to every client on the endpoint (the
//! sender included).

use super::{member_loop, Ctx, Ws};

/// Relays until the connection ends.
pub async fn run(ws: Ws, ctx: &Ctx) -> u16 {
    let room = &ctx.state.broadcast;
    let limit = ctx.state.config.max_outbound_queue;
    let me = room.join();
    let id = me.id;
    member_loop(ws, ctx, me, |msg| room.publish(&msg, limit), || room.leave(id)).await
}
