//! The accept loop: connection limits, TLS, routing, graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use wsbolt::{HandshakeError, MaybeTlsStream, ServerHandshake};

use crate::config::ServeConfig;
use crate::endpoints::{self, Ctx, Room};
use crate::metrics::Metrics;
use crate::web::Web;

/// Everything the connection tasks share.
pub(crate) struct State {
    pub config: ServeConfig,
    pub ws: wsbolt::ServerConfig,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub metrics: Metrics,
    pub web: Web,
    pub chat: Room,
    pub broadcast: Room,
    pub handler_slots: Arc<tokio::sync::Semaphore>,
    connections: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("config", &self.config)
            .field("tls", &self.tls.is_some())
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: Arc<State>,
}

/// Holds one connection's place in the limits until dropped.
struct Slot {
    state: Arc<State>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.state.connections.fetch_sub(1, Ordering::AcqRel);
        let mut map = self.state.per_ip.lock().expect("limits lock");
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl State {
    /// Takes a place for a connection from `ip`, or the status to refuse it with.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, u16> {
        if self.connections.fetch_add(1, Ordering::AcqRel) >= self.config.max_connections {
            self.connections.fetch_sub(1, Ordering::AcqRel);
            return Err(503);
        }
        let mut map = self.per_ip.lock().expect("limits lock");
        let n = map.entry(ip).or_default();
        if *n >= self.config.max_connections_per_ip {
            drop(map);
            self.connections.fetch_sub(1, Ordering::AcqRel);
            return Err(429);
        }
        *n += 1;
        Ok(Slot {
            state: self.clone(),
            ip,
        })
    }
}

impl Server {
    /// Binds the listening socket and prepares TLS, pages and handlers.
    pub async fn bind(config: ServeConfig) -> io::Result<Server> {
        let tls = crate::tls::acceptor(&config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let web = Web::new(config.web_root.clone()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if let Some(dir) = &config.handlers {
            if !dir.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("handlers folder {} not found", dir.display()),
                ));
            }
            for name in endpoints::handler::shadowed(dir) {
                tracing::warn!(
                    program = %dir.join(&name).display(),
                    "handler program /{name} is shadowed by the built-in route of the same name and will never run"
                );
            }
        }
        let listener = TcpListener::bind(config.listen).await?;
        let mut ws = config.ws_config();
        let allow = config.allow_origin.clone();
        ws.check_origin = Some(Arc::new(move |origin, req| crate::origin::allowed(origin, req, &allow)));
        let state = Arc::new(State {
            handler_slots: Arc::new(tokio::sync::Semaphore::new(config.max_handler_processes)),
            config,
            ws,
            tls,
            metrics: Metrics::default(),
            web,
            chat: Room::default(),
            broadcast: Room::default(),
            connections: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        });
        Ok(Server { listener, state })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The settings.
    pub fn config(&self) -> &ServeConfig {
        &self.state.config
    }

    /// Serves until `shutdown` completes, then shuts down gracefully: stops
    /// accepting, answers handshakes still in flight with 503, sends Close
    /// 1001 to every open connection after its queued messages, and waits up
    /// to `shutdown-grace` seconds for them to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let state = self.state.clone();
                        let stop = stop_rx.clone();
                        tasks.spawn(async move { handle(tcp, peer, state, stop).await });
                    }
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(self.listener);
        let _ = stop_tx.send(true);
        let open = tasks.len();
        tracing::info!(open, "shutting down: closing connections with 1001");
        let grace = Duration::from_secs(self.state.config.shutdown_grace);
        let drained = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                left = tasks.len(),
                "grace period over: dropping the remaining connections"
            );
            tasks.abort_all();
        }
        Ok(())
    }
}

async fn handle(tcp: TcpStream, peer: SocketAddr, state: Arc<State>, stop: watch::Receiver<bool>) {
    let _ = tcp.set_nodelay(true);
    let _slot = match state.admit(peer.ip()) {
        Ok(slot) => slot,
        Err(status) => {
            // Refused at once, without reading: cheap under a flood.
            state.metrics.handshake_failed(status);
            if state.tls.is_none() {
                let mut tcp = tcp;
                let body = bytes::Bytes::from_static(b"too many connections\n");
                if let Ok(r) = http::Response::builder().status(status).body(body) {
                    let _ = tcp.write_all(&wsbolt::http1::response_bytes(&r)).await;
                }
                let _ = tcp.shutdown().await;
            }
            return;
        }
    };
    let io = match &state.tls {
        None => MaybeTlsStream::Plain(tcp),
        Some(acceptor) => {
            let timeout = state.ws.ws.handshake_timeout;
            match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => MaybeTlsStream::ServerTls(Box::new(tls)),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            }
        }
    };
    let hs = match ServerHandshake::read(io, &state.ws).await {
        Ok(hs) => hs,
        Err(e) => {
            record_failure(&state, &e);
            tracing::debug!(%peer, error = %e, "bad request");
            return;
        }
    };
    if !hs.request().is_upgrade() {
        let (io, req, _) = hs.into_parts();
        crate::web::answer(io, &req, &state).await;
        return;
    }
    let path = hs.request().path().to_string();
    let endpoint = match path.as_str() {
        "/echo" => Some(Endpoint::Echo),
        "/chat" => Some(Endpoint::Chat),
        "/broadcast" => Some(Endpoint::Broadcast),
        // Built-in names win over handler programs (see `handler::shadowed`).
        p if endpoints::handler::BUILTIN_ROUTES.contains(&p.trim_start_matches('/')) => None,
        p => endpoints::handler::find(&state, p).map(Endpoint::Handler),
    };
    let Some(endpoint) = endpoint else {
        record_failure(&state, &hs.reject(HandshakeError::NotFound).await);
        return;
    };
    if *stop.borrow() {
        record_failure(&state, &hs.reject(HandshakeError::Unavailable).await);
        return;
    }
    // A handler program needs a process slot before the upgrade is accepted.
    let permit = match &endpoint {
        Endpoint::Handler(_) => match state.handler_slots.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                record_failure(&state, &hs.reject(HandshakeError::Unavailable).await);
                return;
            }
        },
        _ => None,
    };
    let mut cfg = state.ws.clone();
    if matches!(endpoint, Endpoint::Chat) {
        cfg.select_protocol = Some(Arc::new(|offered: &[String]| {
            offered.iter().find(|p| *p == "json").cloned()
        }));
    }
    let request = hs.request().clone();
    let ws = match hs.accept(&cfg).await {
        Ok(ws) => ws,
        Err(e) => {
            record_failure(&state, &e);
            tracing::debug!(%peer, error = %e, "handshake refused");
            return;
        }
    };
    state.metrics.accepted.fetch_add(1, Ordering::Relaxed);
    state.metrics.open.fetch_add(1, Ordering::Relaxed);
    let ctx = Ctx {
        state: state.clone(),
        stop,
        peer,
    };
    let code = match endpoint {
        Endpoint::Echo => endpoints::echo::run(ws, &ctx).await,
        Endpoint::Chat => endpoints::chat::run(ws, &ctx).await,
        Endpoint::Broadcast => endpoints::broadcast::run(ws, &ctx).await,
        Endpoint::Handler(program) => endpoints::handler::run(ws, &ctx, &program, &request).await,
    };
    drop(permit);
    state.metrics.open.fetch_sub(1, Ordering::Relaxed);
    state.metrics.closed(code);
}

/// Counts a handshake the library refused, by the status it answered.
fn record_failure(state: &State, e: &wsbolt::Error) {
    match e {
        wsbolt::Error::Handshake(h) => state.metrics.handshake_failed(h.status().as_u16()),
        wsbolt::Error::Refused(r) => state.metrics.handshake_failed(r.status().as_u16()),
        _ => {}
    }
}

enum Endpoint {
    Echo,
    Chat,
    Broadcast,
    Handler(std::path::PathBuf),
}
