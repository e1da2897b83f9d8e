//! A `wsbolt serve` in the test's process on a free port, stopped on demand.
#![allow(dead_code)]

use std::time::Duration;

pub mod raw_h2;

use tokio::sync::oneshot;
use wsbolt_server::{ServeConfig, Server};

pub struct Running {
    pub addr: String,
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// `ws://` to `path`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// `wss://localhost` to `path` (the self-signed certificate's name).
    pub fn wss(&self, path: &str) -> String {
        format!("wss://localhost:{}{path}", self.port)
    }

    /// Stops the server and waits (at most 20 s) for its graceful end.
    pub async fn shutdown(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(20), self.done)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

/// Binds `config` on a free loopback port and runs it.
pub async fn start(mut config: ServeConfig) -> Running {
    config.listen = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(config).await.unwrap();
    let local = server.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let done = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    Running {
        addr: local.to_string(),
        port: local.port(),
        stop: Some(tx),
        done,
    }
}
