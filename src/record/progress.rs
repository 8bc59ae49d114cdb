//! The live view of a run: a small snapshot of running totals per cohort that the recorder publishes once a
//! second on a `tokio::sync::watch` channel, and the scheduler lag the self-check publishes the same way.
//!
//! Readers (the console) get a copy of a few numbers per cohort; they never touch the recorder's aggregates,
//! take no lock on the clients' hot path and compute rates themselves from two snapshots.

use std::time::Duration;

use tokio::sync::watch;

/// How often the recorder publishes a [`Progress`].
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// One cohort's running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CohortProgress {
    /// Client-side connections open now.
    pub open: i64,
    /// Connection attempts so far (first connects and reconnects).
    pub attempts: u64,
    /// Reconnect attempts so far.
    pub reconnects: u64,
    /// Messages delivered to subscribers so far.
    pub delivered: u64,
    /// Sequence ids missing so far.
    pub gaps: u64,
}

/// The running totals of every cohort at one moment of the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Time since the start of the run.
    pub at: Duration,
    /// Per cohort, in cohort order.
    pub cohorts: Vec<CohortProgress>,
}

impl Progress {
    /// The state before anything happened.
    pub fn start(cohorts: usize) -> Progress {
        Progress { at: Duration::ZERO, cohorts: vec![CohortProgress::default(); cohorts] }
    }
}

/// The scheduler lag p99 of the last second, in µs, as the self-check publishes it.
pub type LagReceiver = watch::Receiver<u64>;

/// The rig's figures of the last second as the self-checks publish them (µs; 0 before the first).
#[derive(Debug, Clone)]
pub struct RigReceivers {
    /// The harness's scheduler-lag p99.
    pub lag: LagReceiver,
    /// The canaries' latency p99.
    pub canary: watch::Receiver<u64>,
}
