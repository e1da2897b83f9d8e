//! The server's own plain-HTTP answers, over HTTP/1.1 and HTTP/2 alike:
//! `/metrics` (Prometheus text), `/healthz` (the process answers) and
//! `/readyz` (it takes new connections: 503 once shutdown has started, so an
//! orchestrator stops sending clients to a draining server, and, with
//! `redis-required`, while a link to Redis is down), and the browser client
//! of `/rooms` (`/wsbolt-rooms.js` with its TypeScript declarations), which
//! every server serves whatever its web root.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::state::State;

/// A server page: status, content type, body.
pub(crate) type Page = (u16, &'static str, Bytes);

const TEXT: &str = "text/plain; charset=utf-8";

/// The answer for `path` if the server answers it itself (the paths are in
/// `routes::HTTP_ROUTES`).
pub(crate) fn answer(path: &str, state: &State) -> Option<Page> {
    match path {
        "/metrics" => Some((200, "text/plain; version=0.0.4", state.metrics_text().into())),
        "/healthz" => Some((200, TEXT, Bytes::from_static(b"ok\n"))),
        "/readyz" => Some(readiness(
            state.stopping.load(Ordering::Acquire),
            state.config.redis_required && !state.env.rooms.connected(),
        )),
        "/wsbolt-rooms.js" => Some((200, "text/javascript; charset=utf-8", Bytes::from_static(ROOMS_JS))),
        "/wsbolt-rooms.d.ts" => Some((200, "text/plain; charset=utf-8", Bytes::from_static(ROOMS_DTS))),
        _ => None,
    }
}

/// The browser client of `wsbolt.rooms.v1`, compiled in.
const ROOMS_JS: &[u8] = crate::ROOMS_CLIENT_JS.as_bytes();
const ROOMS_DTS: &[u8] = crate::ROOMS_CLIENT_DTS.as_bytes();

/// `/readyz`: ready unless the server is draining or a required Redis is
/// out of reach.
fn readiness(stopping: bool, redis_down: bool) -> Page {
    if stopping {
        (503, TEXT, Bytes::from_static(b"draining: shutting down\n"))
    } else if redis_down {
        (
            503,
            TEXT,
            Bytes::from_static(b"not ready: Redis is out of reach (redis-required)\n"),
        )
    } else {
        (200, TEXT, Bytes::from_static(b"ready\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draining_server_is_not_ready() {
        assert_eq!(readiness(false, false).0, 200);
        let (status, _, body) = readiness(true, false);
        assert_eq!((status, &body[..]), (503, &b"draining: shutting down\n"[..]));
        assert_eq!(readiness(false, true).0, 503);
    }
}
