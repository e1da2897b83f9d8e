//! HTTP/2 connections shared by the WebSockets to one origin: one per
//! origin while any of its WebSockets is open, none after (the last stream
//! to close drops the connection's handle and its task ends).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use bytes::Bytes;

/// An open HTTP/2 connection that accepts extended CONNECT.
pub(crate) struct Shared {
    pub(crate) send: h2::client::SendRequest<Bytes>,
}

/// What makes two WebSockets share a connection: host, port, the TLS
/// settings (by identity) and the proxy (with its credentials).
// Not `Debug`: the proxy key holds its password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: usize,
    pub(crate) proxy: String,
}

fn pool() -> &'static Mutex<HashMap<Origin, Weak<Shared>>> {
    static POOL: OnceLock<Mutex<HashMap<Origin, Weak<Shared>>>> = OnceLock::new();
    POOL.get_or_init(Default::default)
}

/// The live connection to `origin`, if any (entries whose connection is
/// gone are dropped on the way).
pub(crate) fn get(origin: &Origin) -> Option<Arc<Shared>> {
    let mut map = pool().lock().expect("pool lock");
    map.retain(|_, w| w.strong_count() > 0);
    map.get(origin).and_then(Weak::upgrade)
}

/// Remembers `conn` as the connection to `origin`.
pub(crate) fn put(origin: Origin, conn: &Arc<Shared>) {
    pool().lock().expect("pool lock").insert(origin, Arc::downgrade(conn));
}

/// Forgets `origin`'s connection (it failed).
pub(crate) fn forget(origin: &Origin) {
    pool().lock().expect("pool lock").remove(origin);
}
