//! An external manager's connections as the mock recorded them, by source address: its peer log turned
//! into the recorder's events, so that an external cohort's attempts, storms, connection counts and close
//! causes are the server's truth, counted by the same recorder as a model's. A manager in another process
//! cannot misreport them.
//!
//! The server cannot see why a client connects, so a retry is inferred: every connection of an address
//! that the client did not end itself, and every refused attempt, owes one reconnect; an attempt
//! while one is owed is a retry, and the time since the oldest owed one is its wait (the backoff delay plus
//! the TCP connect). A connection the client ended, with a close frame or without one (the `ws` package's
//! `terminate()`), owes nothing: on loopback nothing but the mock drops a connection, so a client's own TCP
//! close is the client's doing (an unsubscribe, a cleanup, or a liveness check giving up on a silent
//! socket, whose reconnect then counts as a new connection, not a retry). Pure: the caller supplies the
//! log's entries.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use crate::mock::outcome::{CloseCause, RejectReason};
use crate::mock::peer_log::{PeerEvent, PeerWhat};
use crate::mock::time::Micros;
use crate::record::event::{AttemptOutcome, CohortId, ConnectionEnd, Event};

/// Owed reconnects remembered per address (a client that never reconnects stops growing it).
const OWED_KEPT: usize = 4096;

/// Who an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its cohort.
    pub cohort: CohortId,
    /// Its client index in the run.
    pub client: u32,
}

/// The conversion's state: the reconnects each address owes.
#[derive(Debug, Default)]
pub struct Truth {
    /// The run's start (µs since the epoch).
    start: Micros,
    owed: HashMap<IpAddr, VecDeque<Micros>>,
}

/// What one log entry was.
#[derive(Debug, Clone)]
pub enum Seen {
    /// An attempt, for the recorder.
    Attempt(Event),
    /// A connection ended: the event waits for the subscriptions it carried, which the accounting knows.
    Closed {
        /// How it ended.
        end: ConnectionEnd,
        /// When (µs since the epoch).
        at: Micros,
        /// The streams it carried.
        streams: Vec<String>,
    },
}

impl Truth {
    /// A conversion for a run that started at `start` (µs since the epoch).
    pub fn new(start: Micros) -> Self {
        Truth { start, owed: HashMap::new() }
    }

    /// What the entry `event` of `peer` was.
    pub fn see(&mut self, peer: Peer, event: PeerEvent) -> Seen {
        let PeerEvent { ip, at, what } = event;
        match what {
            PeerWhat::Closed { cause, streams } => {
                if !client_ended(cause) {
                    self.owe(ip, at);
                }
                Seen::Closed { end: connection_end(cause), at, streams }
            }
            PeerWhat::Accepted { took_us } => self.attempt(peer, (ip, at), AttemptOutcome::Connected, took_us),
            PeerWhat::Rejected(reason) => {
                let seen = self.attempt(peer, (ip, at), attempt_outcome(reason), 0);
                self.owe(ip, at);
                seen
            }
        }
    }

    /// An attempt of `peer` from `ip` at `at` that ended as `outcome`, `took_us` after its TCP connection
    /// was accepted.
    fn attempt(&mut self, peer: Peer, (ip, at): (IpAddr, Micros), outcome: AttemptOutcome, took_us: u64) -> Seen {
        let (retry, waited) = self.settle(ip, at);
        let at = Duration::from_micros(at.saturating_sub(self.start));
        let took = Duration::from_micros(took_us);
        Seen::Attempt(Event::Attempt { cohort: peer.cohort, client: peer.client, at, outcome, took, retry, waited })
    }

    fn owe(&mut self, ip: IpAddr, at: Micros) {
        let owed = self.owed.entry(ip).or_default();
        if owed.len() < OWED_KEPT {
            owed.push_back(at);
        }
    }

    /// Whether an attempt at `at` is a retry, and how long after what it owes.
    fn settle(&mut self, ip: IpAddr, at: Micros) -> (bool, Duration) {
        match self.owed.get_mut(&ip).and_then(VecDeque::pop_front) {
            Some(since) => (true, Duration::from_micros(at.saturating_sub(since))),
            None => (false, Duration::ZERO),
        }
    }
}

/// A refusal as the client saw it.
fn attempt_outcome(reason: RejectReason) -> AttemptOutcome {
    match reason {
        RejectReason::NotFound => AttemptOutcome::Http(404),
        RejectReason::BadRequest => AttemptOutcome::Http(400),
        RejectReason::MethodNotAllowed => AttemptOutcome::Http(405),
        RejectReason::UriTooLong => AttemptOutcome::Http(414),
        RejectReason::UpgradeRequired => AttemptOutcome::Http(426),
        RejectReason::HeadersTooLarge => AttemptOutcome::Http(431),
        RejectReason::TooManyRequests => AttemptOutcome::Http(429),
        RejectReason::Injected(status) => AttemptOutcome::Http(status),
        RejectReason::Withheld | RejectReason::HandshakeTimeout => AttemptOutcome::Timeout,
        RejectReason::HandshakeAborted => AttemptOutcome::Reset,
    }
}

/// Whether the client ended the connection itself (a close frame, or its own TCP close).
fn client_ended(cause: CloseCause) -> bool {
    matches!(cause, CloseCause::ClientClose | CloseCause::ClientVanished)
}

/// A connection's end as the mock recorded it: ended by the client is local, anything else is the
/// server's cause.
fn connection_end(cause: CloseCause) -> ConnectionEnd {
    if client_ended(cause) { ConnectionEnd::Local } else { ConnectionEnd::Server(cause) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: Micros, what: PeerWhat) -> PeerEvent {
        PeerEvent { ip: "127.1.0.1".parse().unwrap(), at, what }
    }

    fn attempt(seen: Seen) -> (bool, Duration, AttemptOutcome) {
        match seen {
            Seen::Attempt(Event::Attempt { retry, waited, outcome, .. }) => (retry, waited, outcome),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_reconnect_after_a_server_drop_is_a_retry_that_waited_since_the_drop() {
        let peer = Peer { cohort: 2, client: 7 };
        let mut truth = Truth::new(1_000_000);
        let first = truth.see(peer, entry(1_100_000, PeerWhat::Accepted { took_us: 300 }));
        assert_eq!(attempt(first), (false, Duration::ZERO, AttemptOutcome::Connected), "a first connect");
        let streams = vec!["btcusdt@trade".to_owned()];
        let closed =
            truth.see(peer, entry(2_000_000, PeerWhat::Closed { cause: CloseCause::ServerInitiated, streams }));
        assert!(matches!(closed, Seen::Closed { end: ConnectionEnd::Server(CloseCause::ServerInitiated), .. }));
        let refused = truth.see(peer, entry(2_500_000, PeerWhat::Rejected(RejectReason::Injected(503))));
        assert_eq!(attempt(refused), (true, Duration::from_millis(500), AttemptOutcome::Http(503)));
        let again = truth.see(peer, entry(3_500_000, PeerWhat::Accepted { took_us: 300 }));
        assert_eq!(attempt(again), (true, Duration::from_secs(1), AttemptOutcome::Connected), "owed by the 503");
        let later = truth.see(peer, entry(4_000_000, PeerWhat::Accepted { took_us: 300 }));
        assert!(!attempt(later).0, "nothing owed: a new socket, not a retry");
    }

    #[test]
    fn a_client_close_owes_nothing_and_is_a_local_end() {
        let peer = Peer { cohort: 0, client: 0 };
        let mut truth = Truth::new(0);
        let closed =
            truth.see(peer, entry(10, PeerWhat::Closed { cause: CloseCause::ClientClose, streams: Vec::new() }));
        assert!(matches!(closed, Seen::Closed { end: ConnectionEnd::Local, .. }));
        assert!(!attempt(truth.see(peer, entry(20, PeerWhat::Accepted { took_us: 1 }))).0);
    }
}
