//! Admission, the intake's second stage: a connection takes a place in the
//! limits (`max-connections`, `max-connections-per-ip`) before anything is
//! read from it, and gives it back when its [`Slot`] is dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The connections open now, in all and per client address.
#[derive(Debug)]
pub(crate) struct Admission {
    max_connections: usize,
    max_per_ip: usize,
    connections: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Holds one connection's place in the limits until dropped.
pub(crate) struct Slot {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.connections.fetch_sub(1, Ordering::AcqRel);
        let mut map = self.admission.per_ip.lock().expect("limits lock");
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl Admission {
    /// Limits of `max_connections` in all and `max_per_ip` per address.
    pub(crate) fn new(max_connections: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Admission {
            max_connections,
            max_per_ip,
            connections: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a place for a connection from `ip`, or the status to refuse it
    /// with: 503 when the server is full, 429 when `ip` has its share.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, u16> {
        if self.connections.fetch_add(1, Ordering::AcqRel) >= self.max_connections {
            self.connections.fetch_sub(1, Ordering::AcqRel);
            return Err(503);
        }
        let mut map = self.per_ip.lock().expect("limits lock");
        let n = map.entry(ip).or_default();
        if *n >= self.max_per_ip {
            drop(map);
            self.connections.fetch_sub(1, Ordering::AcqRel);
            return Err(429);
        }
        *n += 1;
        Ok(Slot {
            admission: self.clone(),
            ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_limited_in_all_and_per_address_and_given_back() {
        let a = Admission::new(3, 2);
        let (x, y) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let x1 = a.admit(x).unwrap();
        let _x2 = a.admit(x).unwrap();
        assert_eq!(a.admit(x).err(), Some(429));
        let _y1 = a.admit(y).unwrap();
        assert_eq!(a.admit(y).err(), Some(503));
        drop(x1);
        assert!(a.admit(y).is_ok());
    }
}
