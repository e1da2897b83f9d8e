//! The accept loop, the intake's first stage, and graceful shutdown.
//!
//! A connection goes one way through the intake: accept (here) →
//! admission ([`crate::admission`]: limits, slots) → HTTP
//! ([`crate::connection`]: TLS and the first request; the direct WebSocket
//! upgrade, or [`crate::http`] where hyper serves pages, keep-alive and
//! HTTP/2) → route ([`crate::dispatch`], from the table in [`crate::routes`])
//! → endpoint: a task of its own, or for a plain-TCP `/echo` a connection
//! on the serving engine's threads ([`crate::engine`]). No stage reaches
//! back into an earlier one.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::admission::Admission;
use crate::config::ServeConfig;
use crate::endpoints::handler::{self, Handlers};
use crate::endpoints::programs::{self, Entry};
use crate::endpoints::Env;
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::rooms::{LocalRooms, RedisRooms, Rooms};
use crate::state::State;
use crate::tls::TlsReloader;
use crate::web::Web;

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: Arc<State>,
    tls_reloader: Option<TlsReloader>,
}

impl Server {
    /// Binds the listening socket (`config.listen`) and prepares TLS, pages
    /// and handlers.
    ///
    /// # Errors
    ///
    /// The address cannot be bound, or a setting cannot be used (TLS files,
    /// the handlers folder, the web root, Redis).
    pub async fn bind(config: ServeConfig) -> io::Result<Server> {
        Self::prepare(config, None).await
    }

    /// Serves on a socket that is already listening (for example one
    /// inherited from systemd's socket activation: `wsbolt serve` takes it
    /// from `LISTEN_FDS`), instead of binding `config.listen`. A parent that
    /// keeps its own copy of the socket can start a new server on it while
    /// the old one drains: connections that arrive in between wait in the
    /// kernel's queue instead of being refused.
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:9998")?;
    /// let server = wsbolt_server::Server::from_listener(Default::default(), listener).await?;
    /// server.run(std::future::pending()).await
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Server::bind`], or the socket cannot be made non-blocking.
    pub async fn from_listener(config: ServeConfig, listener: std::net::TcpListener) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        Self::prepare(config, Some(TcpListener::from_std(listener)?)).await
    }

    async fn prepare(config: ServeConfig, listener: Option<TcpListener>) -> io::Result<Server> {
        let (tls, tls_reloader) =
            crate::tls::acceptor(&config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let web = Web::new(config.web_root.clone()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let reserved: Vec<&str> = crate::routes::reserved().collect();
        let mut routes: Vec<String> = crate::routes::ROUTES
            .iter()
            .map(|r| format!("{} (built-in)", r.path))
            .chain(crate::routes::HTTP_ROUTES.iter().map(|p| format!("{p} (plain HTTP)")))
            .collect();
        if let Some(dir) = &config.handlers {
            if !dir.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("handlers folder {} not found", dir.display()),
                ));
            }
            for name in handler::shadowed(dir, &reserved) {
                tracing::warn!(
                    program = %dir.join(&name).display(),
                    "handler program /{name} is shadowed by the built-in route of the same name and will never run"
                );
            }
            for entry in programs::survey(dir) {
                match entry {
                    Entry::Program(name) if reserved.contains(&format!("/{name}").as_str()) => {}
                    Entry::Program(name) => routes.push(format!("/{name} (handler {})", dir.join(&name).display())),
                    Entry::Unrunnable(name, why) => tracing::warn!(
                        file = %dir.join(&name).display(),
                        "not a handler program: {why}; a request for /{name} gets 404"
                    ),
                }
            }
        }
        tracing::info!("routes: {}", routes.join(", "));
        let listener = match listener {
            Some(l) => l,
            None => TcpListener::bind(config.listen).await?,
        };
        let ws = config.ws_config();
        let handlers = config.handlers.clone().map(|dir| {
            Handlers::new(
                dir,
                config.handlers_binary,
                config.max_message_size,
                config.max_handler_processes,
            )
        });
        let rooms: Arc<dyn Rooms> = match config.redis_config() {
            Some(redis) => Arc::new(
                RedisRooms::start(redis)
                    .await
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            ),
            None => Arc::new(LocalRooms::default()),
        };
        let metrics = Arc::new(Metrics::default());
        let tasks = TaskTracker::new();
        let env = Arc::new(Env::new(&config, rooms, metrics.clone())?);
        let engine = match config.engine_threads {
            0 => None,
            n => Some(Engine::start(n, env.limits, &metrics, &ws.ws, &tasks)?),
        };
        let admission = Admission::new(config.max_connections, config.max_connections_per_ip);
        let state = Arc::new(State {
            admission,
            config,
            ws,
            tls,
            metrics,
            web,
            handlers,
            env,
            tasks,
            engine,
            stopping: std::sync::atomic::AtomicBool::new(false),
        });
        Ok(Server {
            listener,
            state,
            tls_reloader,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// What reads `tls-cert` and `tls-key` again while the server runs
    /// (`wsbolt serve` does on SIGHUP and when the files change); `None`
    /// without certificate files.
    pub fn tls_reloader(&self) -> Option<TlsReloader> {
        self.tls_reloader.clone()
    }

    /// The settings.
    pub fn config(&self) -> &ServeConfig {
        &self.state.config
    }

    /// Serves until `shutdown` completes, then shuts down gracefully: stops
    /// accepting, accepts handshakes still in flight and closes them with
    /// 1001 at once (a client reconnects; it would count a 503 as a
    /// failure), sends Close 1001 to every open connection after its queued messages, and waits up
    /// to `shutdown-grace` seconds for them to finish. Connections still open
    /// then are left to end on their own (each is bounded by its close
    /// timeout); `wsbolt serve` exits at that point.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let (stop_trigger, stop_all) = crate::shutdown::signal();
        // Counts the connection tasks without a per-task entry (a JoinSet
        // keeps one for each: about 100 bytes per idle connection).
        let tasks = self.state.tasks.clone();
        // The routes' background work (not connections: outside the
        // tracker, so shutdown does not count or wait for it; each ends
        // when `stop_all` resolves).
        crate::routes::start_background(&self.state.env, &stop_all);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let state = self.state.clone();
                        let stop = stop_all.clone();
                        tasks.spawn(crate::connection::handle(tcp, peer, state, stop));
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
        self.state.stopping.store(true, Ordering::Release);
        stop_trigger.fire();
        if let Some(engine) = &self.state.engine {
            engine.stop();
        }
        // WebSockets (on tasks and on the engine); `tasks` also counts
        // handshakes in flight and each engine thread.
        let open = self.state.metrics.open.load(Ordering::Relaxed);
        tracing::info!(
            open,
            tasks = tasks.len(),
            "shutting down: closing connections with 1001"
        );
        let grace = Duration::from_secs(self.state.config.shutdown_grace);
        tasks.close();
        if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
            tracing::warn!(
                left = tasks.len(),
                "grace period over: leaving the remaining connections to their close timeout"
            );
        }
        // Members have left (each on its way out); a shared backend now
        // takes out any left and sends what it still holds.
        self.state.env.rooms.close().await;
        Ok(())
    }
}
