//! The intake's last stage, shared by both HTTP stacks: a WebSocket
//! request's route (or 503 once shutdown has started), the handshake policy
//! with the route's subprotocol, and the endpoint started once accepted.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use wsbolt::{HandshakeError, ServerConfig};

use crate::admission::Slot;
use crate::endpoints::access::Access;
use crate::endpoints::{ended, going_away, Ctx, Done, Shutdown, Ws};
use crate::engine::Engine;
use crate::origin;
use crate::routes::{resolve, Routed};
use crate::state::State;
use crate::tokens::{self, Grant, Tokens};

/// Starts the endpoint of an accepted WebSocket in a task of its own; the
/// connection's places are given back when it ends.
pub(crate) fn start(ws: Ws, state: &State, stop: Shutdown, routed: Routed, slot: Option<Slot>, http2: bool) {
    state.metrics.accepted(http2);
    state.metrics.open.fetch_add(1, Ordering::Relaxed);
    let access = routed
        .access
        .map(|(peer, path)| Access::start(peer, path, ws.protocol(), http2));
    let done = Done {
        _slot: slot,
        _permit: routed.permit,
        metrics: state.metrics.clone(),
        tasks: state.tasks.clone(),
    };
    if state.stopping.load(Ordering::Acquire) {
        // A handshake that was in flight when shutdown started: accepted and
        // told at once to go elsewhere (1001), not refused with 503. A client
        // takes 1001 as "reconnect" (to the server that takes over in a
        // restart); a refused handshake is a failure to most.
        done.spawn(async move {
            let mut ws = ws;
            let close = Box::pin(going_away(&mut ws));
            close.await;
            ended(&ws, access)
        });
        return;
    }
    if let Some(engine) = state.engine.as_ref().filter(|_| routed.engine && Engine::takes(&ws)) {
        return engine.adopt(ws, access, done);
    }
    let ctx = Ctx {
        env: state.env.clone(),
        stop,
        access,
    };
    (routed.serve)(ws, ctx, done);
}

/// The endpoint for a WebSocket request (both HTTP stacks): its route.
///
/// The Origin policy (`allow-origin`) is applied here, on the request as
/// read, rather than as a library `check_origin` hook: a hook sees an
/// `http::Request`, whose making would cost every handshake about a tenth of
/// its instructions, and this server needs only two fields. A request with
/// more than one `Origin` is left to the handshake, which refuses it (400).
pub(crate) fn route(state: &State, req: &wsbolt::Request, peer: SocketAddr) -> Result<Routed, HandshakeError> {
    let mut routed = resolve(req, peer, state.handlers.as_ref())?;
    if state.config.access_log {
        routed.access = Some((peer, req.path().into()));
    }
    check_origin(req, &state.config.allow_origin)?;
    // After the Origin check: a page from a foreign origin gets 403 whatever
    // its token.
    if let (Some(granted), Some(tokens)) = (routed.granted, &state.env.tokens) {
        let grant = authenticate(tokens, req)?;
        routed.serve = Box::new(move |ws, ctx, done| granted(ws, ctx, done, grant));
    }
    Ok(routed)
}

/// 403 for a page of an origin `allow` does not admit.
pub(crate) fn check_origin(req: &wsbolt::Request, allow: &[String]) -> Result<(), HandshakeError> {
    if let Ok(origin) = req.headers.single("Origin") {
        // As the handshake reads it: a value that is not UTF-8 counts as none.
        let origin = origin.and_then(|o| std::str::from_utf8(o).ok());
        if !origin::allowed(origin, req.headers.get("Host"), allow) {
            return Err(HandshakeError::Forbidden);
        }
    }
    Ok(())
}

/// The grant of a request's token; 401 with the reason if it has none or
/// it is not valid.
pub(crate) fn authenticate(tokens: &Tokens, req: &wsbolt::Request) -> Result<Grant, HandshakeError> {
    let (token, via) = tokens::carried(req).ok_or_else(|| {
        HandshakeError::Unauthorized(format!(
            "a token is required: Authorization: Bearer, a {}TOKEN subprotocol, the {} cookie or ?token=",
            tokens::PROTOCOL_PREFIX,
            tokens::COOKIE
        ))
    })?;
    tokens.verify(&token).map_err(|why| {
        tracing::debug!(?via, "401: {why}");
        HandshakeError::Unauthorized(why)
    })
}

/// The server's handshake policy with a route's subprotocol selected.
pub(crate) fn routed_config<'a>(state: &'a State, protocol: Option<&'static str>) -> Cow<'a, ServerConfig> {
    match protocol {
        None => Cow::Borrowed(&state.ws),
        Some(p) => Cow::Owned(with_protocol(state.ws.clone(), p)),
    }
}

/// `cfg` selecting subprotocol `p` when the client offers it.
pub(crate) fn with_protocol(mut cfg: ServerConfig, p: &'static str) -> ServerConfig {
    cfg.select_protocol = Some(Arc::new(move |offered: &[String]| {
        offered.iter().find(|o| *o == p).cloned()
    }));
    cfg
}
