//! What the simulated clients report to the recorder: small events for connection life-cycle moments and
//! periodic delivery samples (a local histogram and counters per socket), never one message per delivery.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Index of a cohort in the run (`legacy`, `wsmanager`, …).
pub type CohortId = usize;

/// How a connection attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptOutcome {
    /// Upgraded (101).
    Connected,
    /// Refused with an HTTP status.
    Http(u16),
    /// TCP connection refused.
    Refused,
    /// No answer within the connect timeout.
    Timeout,
    /// Reset or closed during the handshake.
    Reset,
    /// Any other failure.
    Other,
}

impl AttemptOutcome {
    /// A label for tables and CSV (`http-429`).
    pub fn label(self) -> String {
        match self {
            Self::Connected => "connected".into(),
            Self::Http(status) => format!("http-{status}"),
            Self::Refused => "refused".into(),
            Self::Timeout => "timeout".into(),
            Self::Reset => "reset".into(),
            Self::Other => "other".into(),
        }
    }
}

/// Why a client-side connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionEnd {
    /// The server sent a close frame with this code.
    Closed(u16),
    /// The TCP connection ended without a close frame (1006).
    Abnormal,
    /// Connection reset.
    Reset,
    /// The manager's liveness check found it silent.
    Silent,
    /// The manager closed it (unsubscribe, idle cleanup, shutdown).
    Local,
    /// The mock ended it for this cause (an external manager's connections are judged by the mock's record).
    Server(crate::mock::outcome::CloseCause),
}

impl ConnectionEnd {
    /// A label for tables and CSV.
    pub fn label(self) -> String {
        match self {
            Self::Closed(code) => format!("close-{code}"),
            Self::Abnormal => "abnormal-1006".into(),
            Self::Reset => "reset".into(),
            Self::Silent => "silent".into(),
            Self::Local => "local".into(),
            Self::Server(cause) => format!("mock-{}", cause.label()),
        }
    }
}

/// One delivery latency and how many subscribers received the message (each is one latency observation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySample {
    /// Event time (or, for the kinds without one, publication time) to subscriber callback, µs.
    pub latency_us: u32,
    /// Subscribers that received the message at this latency.
    pub subscribers: u32,
    /// When it was received (ms since the start of the run).
    pub at_ms: u32,
    /// The upstream's share of the latency: event (or publication) time to the kernel's receive time of
    /// the read that brought it (µs; 0 when the kernel gave no time). The rest is the delivery share.
    pub upstream_us: u32,
}

/// Delivery counts of one stream, in subscriber-deliveries: `delivered + gaps − late` is what the upstream
/// published on it while it was subscribed (from its first event on), duplicates apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamTally {
    /// Socket messages read on the stream.
    pub received: u64,
    /// Distinct events handed to subscribers (late arrivals included).
    pub delivered: u64,
    /// Events skipped, or owed and never received when the accounting ended.
    pub gaps: u64,
    /// Of the gaps, events that arrived later out of order (not lost).
    pub late: u64,
    /// Events received again.
    pub duplicates: u64,
    /// Messages that could not be placed in the upstream's record (outside the identity).
    pub unresolved: u64,
}

impl StreamTally {
    /// Nothing counted.
    pub fn is_empty(&self) -> bool {
        *self == StreamTally::default()
    }

    /// Adds another tally.
    pub fn add(&mut self, other: &StreamTally) {
        self.received += other.received;
        self.delivered += other.delivered;
        self.gaps += other.gaps;
        self.late += other.late;
        self.duplicates += other.duplicates;
        self.unresolved += other.unresolved;
    }

    /// Lost: skipped and never arrived.
    pub fn lost(&self) -> u64 {
        self.gaps.saturating_sub(self.late)
    }
}

/// Deliveries seen by one socket since its last sample, in subscriber-deliveries.
#[derive(Debug, Clone)]
pub struct DeliverySample {
    pub cohort: CohortId,
    /// Distinct events handed to subscribers (one per subscriber of the stream).
    pub delivered: u64,
    /// Messages received from the upstream.
    pub received: u64,
    /// Events skipped, or owed and never received.
    pub gaps: u64,
    /// Of the gaps, events that arrived later out of order.
    pub late: u64,
    /// Events received again.
    pub duplicates: u64,
    /// Messages that could not be parsed.
    pub malformed: u64,
    /// Messages that could not be placed in the upstream's record.
    pub unresolved: u64,
    /// Latencies of the messages that carried an event time (recorded once per subscriber).
    pub latencies: Vec<LatencySample>,
    /// Per stream name.
    pub streams: Vec<(String, StreamTally)>,
    /// Subscriptions whose accounting ended: the longest time without data (µs) and their subscribers.
    pub without_data: Vec<(u64, u32)>,
}

impl DeliverySample {
    /// An empty sample of `cohort`.
    pub fn empty(cohort: CohortId) -> Self {
        DeliverySample {
            cohort,
            delivered: 0,
            received: 0,
            gaps: 0,
            late: 0,
            duplicates: 0,
            malformed: 0,
            unresolved: 0,
            latencies: Vec::new(),
            streams: Vec::new(),
            without_data: Vec::new(),
        }
    }

    /// Nothing to report.
    pub fn is_empty(&self) -> bool {
        self.received == 0
            && self.malformed == 0
            && self.unresolved == 0
            && self.gaps == 0
            && self.streams.is_empty()
            && self.without_data.is_empty()
    }
}

/// Which move a handover belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverPhase {
    /// Traffic shifted to the new manager at this step.
    Step(usize),
    /// Clients moved back to legacy by a rollback.
    Rollback,
}

/// One client's handover from one manager to the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoverReport {
    /// Which move.
    pub phase: HandoverPhase,
    /// When it started (run clock).
    pub at: Duration,
    /// Until every subscription received on the new manager (or the deadline).
    pub took: Duration,
    /// Subscriptions moved.
    pub subscriptions: u32,
    /// Of those, the ones that received on the new manager before the deadline.
    pub preserved: u32,
    /// Sequence ids between the old manager's last message and the new one's first.
    pub lost: u64,
    /// Sequence ids both managers delivered.
    pub duplicated: u64,
    /// Time without data, and the subscriptions that waited it.
    pub without_data: Vec<(Duration, u32)>,
}

/// Something a simulated client reports; `at` is the time since the start of the run.
#[derive(Debug, Clone)]
pub enum Event {
    /// A connection attempt ended.
    Attempt {
        cohort: CohortId,
        /// Source address index of the client.
        client: u32,
        /// When it started.
        at: Duration,
        /// How it ended.
        outcome: AttemptOutcome,
        /// TCP connect + upgrade time, for successful attempts.
        took: Duration,
        /// A reconnect (after a drop or a failed attempt), not a first connect.
        retry: bool,
        /// The backoff delay waited before this attempt.
        waited: Duration,
    },
    /// A connection ended.
    Ended {
        cohort: CohortId,
        /// Source address index of the client whose connection it was.
        client: u32,
        at: Duration,
        end: ConnectionEnd,
        /// Subscriptions it carried.
        subscriptions: u32,
    },
    /// Subscribers of a connection that had dropped received data again.
    Recovered {
        cohort: CohortId,
        /// When the first message arrived.
        at: Duration,
        /// Since the connection dropped.
        after: Duration,
        /// Subscribers it recovered.
        subscribers: u32,
    },
    /// Subscriptions whose connection was closed locally (unsubscribe, cleanup, end of run) while they were
    /// still waiting to recover from a drop.
    Abandoned {
        cohort: CohortId,
        /// Subscriptions it carried.
        subscriptions: u32,
        /// How long they had been waiting.
        waited: Duration,
    },
    /// A silent socket was detected by the liveness check.
    Detected {
        cohort: CohortId,
        at: Duration,
        /// Time since the socket's last traffic.
        silent_for: Duration,
    },
    /// A manager gave up reconnecting and reported the error to its subscribers.
    GaveUp {
        cohort: CohortId,
        at: Duration,
        /// Subscribers that got the error.
        subscribers: u32,
    },
    /// A unified client fell back to legacy.
    Fallback { cohort: CohortId, at: Duration },
    /// WSManager stream lifecycle (creations and idle or reference-count cleanups).
    Stream {
        cohort: CohortId,
        /// Created (true) or cleaned up (false).
        created: bool,
        /// By the idle sweep.
        idle: bool,
    },
    /// Deliveries since the last sample.
    Deliveries(Box<DeliverySample>),
    /// A client was handed over between managers (rollout rehearsals).
    Handover(Box<HandoverReport>),
    /// What an external manager's process did beside its deliveries.
    Process {
        cohort: CohortId,
        /// What.
        report: Box<crate::record::external::ProcessReport>,
    },
    /// An error reached a subscriber or the protocol (SUBSCRIBE refused, …).
    Error {
        cohort: CohortId,
        /// What kind.
        kind: &'static str,
    },
}

/// Upper bound of latency histograms (µs): one hour.
pub const LATENCY_MAX_US: u64 = 3_600_000_000;

/// A latency histogram with three significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("constant histogram bounds are valid")
}

/// Adds `other` into `into` (another shard's histogram of the same kind): both have the same bounds
/// (every histogram of a kind is made alike), so nothing is clipped.
pub fn add_histogram(into: &mut Histogram<u64>, other: &Histogram<u64>) {
    if into.add(other).is_err() {
        // Only a histogram of other bounds gets here: its values are clamped rather than lost.
        for v in other.iter_recorded() {
            into.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}
