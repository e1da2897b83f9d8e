//! The route table of `wsbolt serve`: which endpoint serves which path.
//! Adding an endpoint is one file in `endpoints/` and one line here.

use wsbolt::{HandshakeError, Request};

use crate::tokens::Grant;

use crate::endpoints::handler::Handlers;
use crate::endpoints::{broadcast, chat, echo, rooms, Ctx, Done, Env, ServeFn, Shutdown, StartFn, Ws};

/// One built-in WebSocket route.
pub(crate) struct Route {
    pub path: &'static str,
    /// The subprotocol the route selects when the client offers it.
    pub protocol: Option<&'static str>,
    pub serve: ServeFn,
    /// Background work the route needs while the server runs (chat's user
    /// lists), started once by [`start_background`].
    pub start: Option<StartFn>,
    /// The entry point for a client whose token was verified, for a route
    /// that takes tokens when they are on (`rooms-token-key`).
    pub granted: Option<GrantedFn>,
    /// The serving engine (`crate::engine`) runs this route for plain-TCP
    /// WebSockets when there is one; true only for `/echo`, the endpoint it
    /// implements.
    pub engine: bool,
}

/// An endpoint's entry point for a client with a verified token.
pub(crate) type GrantedFn = fn(Ws, Ctx, Done, Grant);

/// The built-in WebSocket routes. They win over handler programs of the same
/// name (which are reported at start).
pub(crate) const ROUTES: &[Route] = &[
    Route {
        path: "/echo",
        protocol: None,
        serve: echo::serve,
        start: None,
        granted: None,
        engine: true,
    },
    Route {
        path: "/chat",
        protocol: Some("json"),
        serve: chat::serve,
        start: Some(chat::start),
        granted: None,
        engine: false,
    },
    Route {
        path: "/broadcast",
        protocol: None,
        serve: broadcast::serve,
        start: None,
        granted: None,
        engine: false,
    },
    Route {
        path: "/rooms",
        protocol: Some(crate::rooms::log::wire::PROTOCOL),
        serve: rooms::serve,
        start: None,
        granted: Some(rooms::serve_granted),
        engine: false,
    },
];

/// Paths the server answers itself as plain HTTP (`server_pages`); handler
/// programs cannot take them either.
pub(crate) const HTTP_ROUTES: &[&str] = &[
    "/metrics",
    "/healthz",
    "/readyz",
    "/wsbolt-rooms.js",
    "/wsbolt-rooms.d.ts",
];

/// Every path a handler program cannot take.
pub(crate) fn reserved() -> impl Iterator<Item = &'static str> {
    ROUTES.iter().map(|r| r.path).chain(HTTP_ROUTES.iter().copied())
}

/// Starts every route's background work; each ends when `stop` resolves.
pub(crate) fn start_background(env: &Env, stop: &Shutdown) {
    for start in ROUTES.iter().filter_map(|r| r.start) {
        start(env, stop.clone());
    }
}

/// A routed upgrade: what to negotiate and what to run once accepted.
pub(crate) struct Routed {
    pub protocol: Option<&'static str>,
    pub serve: Box<dyn FnOnce(Ws, Ctx, Done) + Send>,
    /// A handler program's process slot, held while it runs.
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The route's entry point for a client with a verified token.
    pub granted: Option<GrantedFn>,
    /// The peer and the path, for the access log when it is on.
    pub access: Option<(std::net::SocketAddr, Box<str>)>,
    /// The route runs on the serving engine (see [`Route::engine`]).
    pub engine: bool,
}

/// The endpoint for an upgrade request to `req`'s path: a built-in route, a
/// handler program (if a slot is free: 503 otherwise), or 404.
pub(crate) fn resolve(
    req: &Request,
    peer: std::net::SocketAddr,
    handlers: Option<&Handlers>,
) -> Result<Routed, HandshakeError> {
    let path = req.path();
    if let Some(route) = ROUTES.iter().find(|r| r.path == path) {
        let serve = route.serve;
        return Ok(Routed {
            protocol: route.protocol,
            serve: Box::new(serve),
            permit: None,
            granted: route.granted,
            access: None,
            engine: route.engine,
        });
    }
    if reserved().any(|p| p == path) {
        return Err(HandshakeError::NotFound);
    }
    let handlers = handlers.ok_or(HandshakeError::NotFound)?;
    let program = handlers.find(path).map_err(|why| {
        if let Some(why) = why {
            tracing::info!(path, "404: the handler file {why}");
        }
        HandshakeError::NotFound
    })?;
    let permit = handlers.slot().ok_or(HandshakeError::Unavailable)?;
    Ok(Routed {
        protocol: None,
        serve: Box::new(handlers.serve(program, req.clone(), peer)),
        permit: Some(permit),
        granted: None,
        access: None,
        engine: false,
    })
}
