//! `/broadcast`: every message goes to every client on the endpoint (the
//! sender included), on every node that shares the rooms.

use super::{member_loop, Ctx, Done, NoAlarm, Ws};

const ROOM: &str = "broadcast";

/// The route's entry point: relays until the connection ends.
pub(crate) fn serve(ws: Ws, ctx: Ctx, done: Done) {
    let rooms = ctx.env.rooms.clone();
    let me = rooms.join(ROOM, ctx.env.limits.max_outbound_queue);
    let id = me.id;
    let publish = rooms.clone();
    let on_message = move |msg| {
        publish.publish(ROOM, &msg);
        std::future::ready(Vec::new())
    };
    let on_leave = move || {
        rooms.leave(ROOM, id);
        std::future::ready(())
    };
    done.spawn(member_loop(ws, ctx, me, on_message, on_leave, NoAlarm));
}
