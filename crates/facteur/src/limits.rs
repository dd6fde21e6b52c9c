//! Per-client-address limits: concurrent connections and failed AUTH attempts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Window in which failed AUTH attempts are counted.
pub const AUTH_WINDOW: Duration = Duration::from_secs(300);

pub struct AuthLimiter {
    max_failures: u32,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl AuthLimiter {
    pub fn new(max_failures: u32) -> Self {
        AuthLimiter {
            max_failures,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// True when this address has failed too often recently.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let map = self.failures.lock().unwrap();
        map.get(&ip).is_some_and(|(n, since)| {
            *n >= self.max_failures && now.duration_since(*since) < AUTH_WINDOW
        })
    }

    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap();
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| now.duration_since(*since) < AUTH_WINDOW);
        }
        let entry = map.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= AUTH_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn succeeded(&self, ip: IpAddr) {
        self.failures.lock().unwrap().remove(&ip);
    }
}

#[derive(Clone)]
pub struct ConnectionLimiter {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Held while a connection is open.
pub struct ConnectionGuard {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ConnectionLimiter {
    pub fn new(max: usize) -> Self {
        ConnectionLimiter {
            max,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn acquire(&self, ip: IpAddr) -> Option<ConnectionGuard> {
        let mut map = self.open.lock().unwrap();
        let n = map.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ConnectionGuard {
            ip,
            open: self.open.clone(),
        })
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut map = self.open.lock().unwrap();
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_failures_block_then_window_resets() {
        let l = AuthLimiter::new(3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(!l.blocked(ip, t0));
            l.failed(ip, t0);
        }
        assert!(l.blocked(ip, t0));
        assert!(!l.blocked("192.0.2.2".parse().unwrap(), t0));
        assert!(!l.blocked(ip, t0 + AUTH_WINDOW));
    }

    #[test]
    fn connection_limit() {
        let l = ConnectionLimiter::new(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = l.acquire(ip).unwrap();
        let _b = l.acquire(ip).unwrap();
        assert!(l.acquire(ip).is_none());
        drop(a);
        assert!(l.acquire(ip).is_some());
    }
}
