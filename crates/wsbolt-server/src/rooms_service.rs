//! `/rooms` as a service of your own HTTP server: [`RoomsService`] answers
//! WebSocket requests that hyper or axum received with the
//! `wsbolt.rooms.v1` protocol, as `wsbolt serve` does at `/rooms`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use tokio_util::task::TaskTracker;
use wsbolt::ServerConfig;

use crate::dispatch::{authenticate, check_origin, with_protocol};
use crate::endpoints::{rooms, Ctx, Done, Env, Shutdown};
use crate::metrics::Metrics;
use crate::rooms::log::wire::PROTOCOL;
use crate::rooms::{LocalRooms, RedisRooms, RoomLog, Rooms};
use crate::ServeConfig;

/// The rooms protocol (docs/rooms-protocol.md) for WebSocket requests an
/// application's own hyper or axum server received: history, presence,
/// recovery and tokens as `wsbolt serve` has them, with the settings of a
/// [`ServeConfig`] (`rooms-*`, `allow-origin`, `max-message-size`,
/// keepalive, deflate, `max-outbound-queue` …). Clones share the rooms.
///
/// In hyper, answer with [`upgrade`](RoomsService::upgrade) and serve the
/// connection `with_upgrades()`:
///
/// ```no_run
/// use hyper_util::rt::TokioIo;
/// use wsbolt_server::{RoomsService, ServeConfig};
///
/// # async fn run() -> std::io::Result<()> {
/// let service = RoomsService::new(&ServeConfig::default())?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     let service = service.clone();
///     tokio::spawn(async move {
///         let handle = hyper::service::service_fn(move |mut req| {
///             let answer = service.upgrade(&mut req);
///             async move { Ok::<_, std::convert::Infallible>(answer) }
///         });
///         let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), handle);
///         let _ = conn.with_upgrades().await;
///     });
/// }
/// # }
/// ```
///
/// In axum, a handler of one line (`examples/axum-app` mounts it at
/// `/live`):
///
/// ```text
/// async fn rooms(State(service): State<RoomsService>, mut req: Request) -> Response {
///     service.upgrade(&mut req).map(axum::body::Body::new)
/// }
/// ```
#[derive(Clone)]
pub struct RoomsService {
    env: Arc<Env>,
    ws: Arc<ServerConfig>,
    allow_origin: Arc<[String]>,
    stop: Shutdown,
    /// Fires `stop` ([`shutdown`](RoomsService::shutdown)).
    stopper: Arc<crate::shutdown::Trigger>,
    stopping: Arc<AtomicBool>,
    tasks: TaskTracker,
}

impl RoomsService {
    /// A service with `config`'s settings and rooms of its own, their
    /// history in this process (`config.redis` is not used: see
    /// [`start`](RoomsService::start)).
    ///
    /// # Errors
    ///
    /// `rooms-token-key` cannot be read or is not a usable key.
    pub fn new(config: &ServeConfig) -> std::io::Result<RoomsService> {
        RoomsService::with_rooms(config, Arc::new(LocalRooms::default()))
    }

    /// As [`new`](RoomsService::new), and with `redis` set in `config` the
    /// history lives in that Redis, shared with every `wsbolt serve --redis`
    /// node and service on the same Redis and key prefix: a client may come
    /// back on any of them and recover (docs/rooms-protocol.md, "With
    /// `--redis`"). Starts the Redis backend's tasks on the current runtime.
    ///
    /// # Errors
    ///
    /// As [`new`](RoomsService::new), and a Redis URL that is not one or
    /// credentials Redis refuses ([`RedisRooms::start`](crate::rooms::RedisRooms::start)).
    /// Redis being unreachable is not an error: requests that need it answer
    /// `unavailable` until it is back.
    pub async fn start(config: &ServeConfig) -> std::io::Result<RoomsService> {
        let Some(redis) = config.redis_config() else {
            return RoomsService::new(config);
        };
        let rooms = RedisRooms::start(redis)
            .await
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        RoomsService::with_rooms(config, Arc::new(rooms))
    }

    /// As [`new`](RoomsService::new), on a [`Rooms`] backend of your own:
    /// its [`history_store`](Rooms::history_store), if it has one, keeps the
    /// history and presence.
    ///
    /// # Errors
    ///
    /// As [`new`](RoomsService::new).
    pub fn with_rooms(config: &ServeConfig, rooms: Arc<dyn Rooms>) -> std::io::Result<RoomsService> {
        let env = Env::new(config, rooms, Arc::new(Metrics::default()))?;
        let (stopper, stop) = crate::shutdown::signal();
        Ok(RoomsService {
            env: Arc::new(env),
            ws: Arc::new(with_protocol(config.ws_config(), PROTOCOL)),
            allow_origin: config.allow_origin.clone().into(),
            stop,
            stopper: Arc::new(stopper),
            stopping: Arc::new(AtomicBool::new(false)),
            tasks: TaskTracker::new(),
        })
    }

    /// The rooms and their history: [`RoomLog::write_metrics`] gives their
    /// gauges for a `/metrics` of your own.
    pub fn room_log(&self) -> &Arc<RoomLog> {
        &self.env.room_log
    }

    /// How many connections it serves now.
    pub fn connections(&self) -> usize {
        self.tasks.len()
    }

    /// Stops gracefully, as `wsbolt serve` does: new requests get 503, every
    /// open connection gets its queued messages then Close 1001 (clients
    /// reconnect elsewhere and recover), and this waits up to `grace` for
    /// them to end. Returns how many were still open then.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the connections are told at the first poll; dropping
    /// the future only stops the wait.
    pub async fn shutdown(&self, grace: std::time::Duration) -> usize {
        self.stopping.store(true, Ordering::Release);
        self.stopper.fire();
        self.tasks.close();
        let _ = tokio::time::timeout(grace, self.tasks.wait()).await;
        self.tasks.len()
    }

    /// Answers WebSocket request `req`: the response to send (101 for
    /// HTTP/1.1, 200 for HTTP/2, or a refusal: 400, 403 for an origin
    /// `allow-origin` does not admit, 401 without a valid token when
    /// `rooms-token-key` is set, 503 after [`shutdown`](RoomsService::shutdown),
    /// …), and, once accepted, the connection is
    /// served in a task of its own until it ends.
    ///
    /// The request must come from a hyper connection served with upgrades
    /// (axum's `serve` does), so that the transport can be taken over.
    pub fn upgrade<B>(&self, req: &mut http::Request<B>) -> http::Response<Full<Bytes>> {
        let head = wsbolt::upgrade::request_head(req);
        let grant = match self.admit(&head) {
            Ok(grant) => grant,
            Err(refusal) => return refusal.response().map(Full::new),
        };
        let (response, pending) = match wsbolt::upgrade::upgrade(req, &self.ws) {
            Ok(accepted) => accepted,
            Err(rejected) => return rejected.into_response(),
        };
        let service = self.clone();
        self.tasks.spawn(async move {
            let Ok(ws) = pending.into_maybe_tls().await else { return };
            service
                .env
                .metrics
                .open
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let done = Done {
                _slot: None,
                _permit: None,
                metrics: service.env.metrics.clone(),
                tasks: service.tasks.clone(),
            };
            let ctx = Ctx {
                env: service.env.clone(),
                stop: service.stop.clone(),
                access: None,
            };
            match grant {
                Some(grant) => rooms::serve_granted(ws, ctx, done, grant),
                None => rooms::serve(ws, ctx, done),
            }
        });
        response
    }

    /// Not stopping, the Origin policy, then the token when tokens are on.
    fn admit(&self, head: &wsbolt::Request) -> Result<Option<crate::tokens::Grant>, wsbolt::HandshakeError> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(wsbolt::HandshakeError::Unavailable);
        }
        check_origin(head, &self.allow_origin)?;
        self.env.tokens.as_ref().map(|t| authenticate(t, head)).transpose()
    }
}

impl std::fmt::Debug for RoomsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomsService")
            .field("connections", &self.tasks.len())
            .finish_non_exhaustive()
    }
}
