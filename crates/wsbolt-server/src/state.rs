//! What the intake's stages share: the settings, TLS, the limits, the pages,
//! the handler programs and what endpoints see.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio_util::task::TaskTracker;

use crate::admission::Admission;
use crate::config::ServeConfig;
use crate::endpoints::handler::Handlers;
use crate::endpoints::Env;
use crate::metrics::Metrics;
use crate::web::Web;

/// What the accept loop and the connection stages share. Endpoints see only
/// the narrow [`Ctx`](crate::endpoints::Ctx) made from it; the page
/// server sees only [`Web`] and the metrics text.
pub(crate) struct State {
    pub config: ServeConfig,
    pub ws: wsbolt::ServerConfig,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub metrics: Arc<Metrics>,
    pub web: Web,
    pub handlers: Option<Handlers>,
    /// What endpoints see.
    pub env: Arc<Env>,
    /// Every connection task (handshakes and endpoints), for graceful shutdown.
    pub tasks: TaskTracker,
    /// Set when shutdown starts: a WebSocket accepted from then on is closed
    /// with 1001 at once, and `/readyz` answers 503.
    pub stopping: AtomicBool,
    /// The serving engine's threads (`engine-threads`), if any.
    pub engine: Option<crate::engine::Engine>,
    /// The connection limits.
    pub admission: Arc<Admission>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("config", &self.config)
            .field("tls", &self.tls.is_some())
            .field("admission", &self.admission)
            .finish_non_exhaustive()
    }
}

impl State {
    /// The text of `/metrics`: the server's counters, its rooms' and the
    /// rooms log's.
    pub(crate) fn metrics_text(&self) -> String {
        let mut text = self.metrics.render();
        self.env.rooms.write_metrics(&mut text);
        self.env.room_log.write_metrics(&mut text);
        text
    }
}
