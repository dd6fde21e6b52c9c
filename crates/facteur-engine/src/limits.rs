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

/// Open connections, per client address and in all, across every listener (SMTP and HTTP):
/// one address cannot take the whole file descriptor limit, and all of them together cannot
/// either (past it `accept` fails with "Too many open files" and every listener stops).
#[derive(Clone)]
pub struct ConnectionLimiter {
    per_ip: usize,
    total: usize,
    open: Arc<Mutex<Open>>,
}

#[derive(Default)]
struct Open {
    by_ip: HashMap<IpAddr, usize>,
    total: usize,
}

/// Held while a connection is open.
pub struct ConnectionGuard {
    ip: IpAddr,
    open: Arc<Mutex<Open>>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    PerIp,
    Total,
}

impl ConnectionLimiter {
    pub fn new(per_ip: usize, total: usize) -> Self {
        ConnectionLimiter {
            per_ip,
            total,
            open: Arc::new(Mutex::new(Open::default())),
        }
    }

    pub fn acquire(&self, ip: IpAddr) -> Result<ConnectionGuard, Refusal> {
        let mut open = self.open.lock().unwrap();
        if open.total >= self.total {
            return Err(Refusal::Total);
        }
        let n = open.by_ip.entry(ip).or_insert(0);
        if *n >= self.per_ip {
            return Err(Refusal::PerIp);
        }
        *n += 1;
        open.total += 1;
        Ok(ConnectionGuard {
            ip,
            open: self.open.clone(),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap().total
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.by_ip.remove(&self.ip);
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
        let l = ConnectionLimiter::new(2, 3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = l.acquire(ip).unwrap();
        let _b = l.acquire(ip).unwrap();
        assert_eq!(l.acquire(ip).err(), Some(Refusal::PerIp));
        drop(a);
        let _a = l.acquire(ip).unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let _c = l.acquire(other).unwrap();
        assert_eq!(l.acquire(other).err(), Some(Refusal::Total));
        assert_eq!(l.open(), 3);
    }
}
