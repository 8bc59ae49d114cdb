//! Binance's rate limits as small clocks-in, verdict-out structures: incoming messages per connection
//! (a sliding window: the 6th message inside any second closes the connection) and upgrade attempts per
//! source IP (a token bucket: a burst of 300, refilled at 300 per 5 minutes).
//!
//! Pure: callers pass `Instant`s; nothing here sleeps or touches sockets.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::mock::config::Rate;

/// Sliding-window limit on one connection's incoming messages.
#[derive(Debug)]
pub struct MessageRateWindow {
    limit: Rate,
    recent: VecDeque<Instant>,
}

impl MessageRateWindow {
    /// A window enforcing `limit`.
    pub fn new(limit: Rate) -> Self {
        MessageRateWindow { limit, recent: VecDeque::new() }
    }

    /// Records a message at `now`; false when it is one too many for the window.
    pub fn admit(&mut self, now: Instant) -> bool {
        while self.recent.front().is_some_and(|t| now.duration_since(*t) >= self.limit.window) {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.limit.max as usize {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token bucket per source IP for upgrade attempts.
#[derive(Debug)]
pub struct ConnectBudget {
    limit: Option<Rate>,
    buckets: HashMap<IpAddr, Bucket>,
    last_sweep: Option<Instant>,
}

impl ConnectBudget {
    /// A budget enforcing `limit` (`None`: unlimited).
    pub fn new(limit: Option<Rate>) -> Self {
        ConnectBudget { limit, buckets: HashMap::new(), last_sweep: None }
    }

    /// Changes the limit while running; existing buckets keep their tokens, capped at the new size.
    pub fn set_limit(&mut self, limit: Option<Rate>) {
        self.limit = limit;
        if let Some(limit) = limit {
            for bucket in self.buckets.values_mut() {
                bucket.tokens = bucket.tokens.min(f64::from(limit.max));
            }
        }
    }

    /// The limit in force.
    pub fn limit(&self) -> Option<Rate> {
        self.limit
    }

    /// Records an attempt from `ip`; false when the IP has no attempts left.
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        self.sweep(limit, now);
        let capacity = f64::from(limit.max);
        let per_second = capacity / limit.window.as_secs_f64().max(1e-9);
        let bucket = self.buckets.entry(ip).or_insert(Bucket { tokens: capacity, updated: now });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets buckets that have refilled completely, once per window, so memory follows active IPs.
    fn sweep(&mut self, limit: Rate, now: Instant) {
        let due = self.last_sweep.is_none_or(|t| now.duration_since(t) >= limit.window.max(Duration::from_secs(1)));
        if !due {
            return;
        }
        self.last_sweep = Some(now);
        self.buckets.retain(|_, b| now.duration_since(b.updated) < limit.window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(max: u32, ms: u64) -> Rate {
        Rate { max, window: Duration::from_millis(ms) }
    }

    #[test]
    fn sixth_message_within_a_second_is_refused() {
        let start = Instant::now();
        let mut w = MessageRateWindow::new(rate(5, 1000));
        for i in 0..5 {
            assert!(w.admit(start + Duration::from_millis(i * 100)));
        }
        assert!(!w.admit(start + Duration::from_millis(999)));
        let mut w = MessageRateWindow::new(rate(5, 1000));
        for i in 0..20 {
            assert!(w.admit(start + Duration::from_millis(i * 200)), "one every 200 ms holds");
        }
    }

    #[test]
    fn connect_budget_allows_a_burst_then_refills() {
        let start = Instant::now();
        let ip: IpAddr = "127.0.0.7".parse().unwrap();
        let other: IpAddr = "127.0.0.8".parse().unwrap();
        let mut b = ConnectBudget::new(Some(rate(300, 300_000)));
        for _ in 0..300 {
            assert!(b.admit(ip, start));
        }
        assert!(!b.admit(ip, start), "the 301st attempt within 5 minutes is refused");
        assert!(b.admit(other, start), "budgets are per IP");
        assert!(b.admit(ip, start + Duration::from_millis(1000)), "one token per second comes back");
        assert!(!b.admit(ip, start + Duration::from_millis(1001)));
        b.set_limit(None);
        assert!(b.admit(ip, start + Duration::from_millis(1002)));
    }
}
