//! A time-stamped record of every upgrade and every connection end by source address, kept only when a
//! harness asks for it ([`PeerLog::enable`]): the server-side truth it judges the connections of an
//! external manager by (a manager in another process could misreport its own), drained as it runs.
//! Bounded: past [`PEER_LOG_KEPT`] undrained entries, further ones are counted, not kept.

use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::mock::outcome::{CloseCause, RejectReason};
use crate::mock::time::{Micros, now_micros};

/// Entries kept between two drains (a harness drains every few tens of milliseconds).
pub const PEER_LOG_KEPT: usize = 1 << 20;

/// What happened to one source address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerWhat {
    /// An upgrade answered 101, `took_us` after the TCP connection was accepted.
    Accepted {
        /// Accept to 101 written, µs.
        took_us: u64,
    },
    /// An upgrade refused (or abandoned by the client).
    Rejected(RejectReason),
    /// An established connection ended.
    Closed {
        /// Why.
        cause: CloseCause,
        /// The market streams it carried when it ended.
        streams: Vec<String>,
    },
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEvent {
    /// The client's source address.
    pub ip: IpAddr,
    /// When (µs since the Unix epoch).
    pub at: Micros,
    /// What.
    pub what: PeerWhat,
}

/// The record.
#[derive(Debug, Default)]
pub struct PeerLog {
    enabled: AtomicBool,
    entries: Mutex<Vec<PeerEvent>>,
    overflow: AtomicU64,
}

impl PeerLog {
    /// Starts keeping entries.
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Release);
    }

    /// Whether entries are kept.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Keeps an entry stamped now (nothing when not enabled).
    pub fn push(&self, ip: IpAddr, what: PeerWhat) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= PEER_LOG_KEPT {
            self.overflow.fetch_add(1, Ordering::Relaxed);
            return;
        }
        entries.push(PeerEvent { ip, at: now_micros(), what });
    }

    /// Every entry since the last drain, oldest first.
    pub fn drain(&self) -> Vec<PeerEvent> {
        std::mem::take(&mut *self.entries.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Entries not kept because the record was full.
    pub fn overflowed(&self) -> u64 {
        self.overflow.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_kept_until_enabled_and_a_drain_empties_it() {
        let log = PeerLog::default();
        let ip: IpAddr = "127.1.0.1".parse().unwrap();
        log.push(ip, PeerWhat::Accepted { took_us: 5 });
        assert!(log.drain().is_empty());
        log.enable();
        log.push(ip, PeerWhat::Accepted { took_us: 5 });
        log.push(ip, PeerWhat::Closed { cause: CloseCause::ClientClose, streams: vec!["btcusdt@trade".into()] });
        let drained = log.drain();
        assert_eq!(drained.len(), 2);
        assert!(drained[0].at <= drained[1].at);
        assert!(log.drain().is_empty());
        assert_eq!(log.overflowed(), 0);
    }
}
