//! A small per-client limiter for token lookups: a fixed one-minute window
//! per IP address, in a map bounded in size (a flood of addresses cannot
//! grow memory: when full, expired windows are dropped, and if none are,
//! new addresses are refused until a window ends).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
const MAX_CLIENTS: usize = 50_000;

pub struct RateLimiter {
    per_window: u32,
    clients: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_window: per_minute.max(1),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request from `ip`; false when it is over the limit.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if !clients.contains_key(&ip) && clients.len() >= MAX_CLIENTS {
            clients.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if clients.len() >= MAX_CLIENTS {
                return false;
            }
        }
        let entry = clients.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_and_window() {
        let l = RateLimiter::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t = Instant::now();
        assert!(l.allow(a, t));
        assert!(l.allow(a, t));
        assert!(!l.allow(a, t));
        assert!(l.allow(b, t));
        assert!(l.allow(a, t + WINDOW));
    }
}
