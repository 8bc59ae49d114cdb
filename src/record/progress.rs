//! The live view of a run: a small snapshot of running totals per cohort that the recorder publishes once a
//! second on a `tokio::sync::watch` channel, and the scheduler lag the self-check publishes the same way.
//!
//! Readers (the console) get a copy of a few numbers per cohort; they never touch the recorder's aggregates,
//! take no lock on the clients' hot path and compute rates themselves from two snapshots.

use std::time::Duration;

use hdrhistogram::Histogram;
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
    /// Most connections open at once so far.
    pub open_high_water: i64,
    /// The most connections one client (manager instance) of the cohort holds open now.
    pub busiest_client_open: u32,
    /// Connection attempts that connected.
    pub connected: u64,
    /// Errors reported so far (protocol errors, unrecoverable stream errors), every kind.
    pub errors: u64,
    /// Give-ups so far (a manager that stopped retrying), and the subscribers that got the error.
    pub gave_up: (u64, u64),
    /// WSManager streams created, and cleaned up (by reference count or idle).
    pub streams: (u64, u64),
    /// WSManager streams active now.
    pub active_streams: i64,
    /// Delivery latency so far.
    pub latency: Buckets,
    /// Staleness so far (sampled per live subscription).
    pub staleness: Buckets,
}

/// The upper bounds (µs) of the live histograms' buckets: 1 ms to 10 s, with the seeds' alert levels
/// (200 ms, 500 ms) among them.
pub const BUCKET_BOUNDS_US: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// A distribution reduced to Prometheus histogram buckets: how many values lie at or under each bound of
/// [`BUCKET_BOUNDS_US`], to the histogram's precision (3 significant digits: a value is placed by the top of
/// its HdrHistogram range, so one within 0.1 % under a bound may count above it), their count and sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buckets {
    /// Values at or under each bound (cumulative).
    pub at_or_under: [u64; BUCKET_BOUNDS_US.len()],
    /// Every value.
    pub count: u64,
    /// Their sum (µs).
    pub sum_us: u64,
}

impl Buckets {
    /// The buckets of `histogram` (one pass over its recorded values).
    pub fn of(histogram: &Histogram<u64>) -> Buckets {
        let mut buckets = Buckets::default();
        for value in histogram.iter_recorded() {
            let (at, n) = (histogram.highest_equivalent(value.value_iterated_to()), value.count_at_value());
            buckets.count += n;
            buckets.sum_us = buckets.sum_us.saturating_add(histogram.median_equivalent(at).saturating_mul(n));
            // Bounds under the value's range do not count it; the rest (cumulative) do.
            let first = BUCKET_BOUNDS_US.partition_point(|&bound| bound < at);
            for under in &mut buckets.at_or_under[first..] {
                *under += n;
            }
        }
        buckets
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_every_value_at_or_under_each_bound() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        // 500 µs, 1 ms (on a bound), 150 ms, 20 s (over every bound).
        for (value, n) in [(500, 3), (1_000, 2), (150_000, 4), (20_000_000, 1)] {
            h.record_n(value, n).unwrap();
        }
        let b = Buckets::of(&h);
        assert_eq!(b.count, 10);
        assert_eq!(b.at_or_under[0], 5, "500 µs and 1 ms are at or under 1 ms");
        assert_eq!(b.at_or_under[6], 5, "nothing between 1 ms and 100 ms");
        assert_eq!(b.at_or_under[7], 9, "150 ms is under 200 ms");
        assert_eq!(b.at_or_under[12], 9, "20 s is over every bound: only +Inf holds it");
        let exact = 3 * 500 + 2 * 1_000 + 4 * 150_000 + 20_000_000;
        assert!(b.sum_us.abs_diff(exact) * 1000 <= exact, "sum {} within 0.1 % of {exact}", b.sum_us);
    }

    #[test]
    fn an_empty_histogram_has_empty_buckets() {
        let h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        assert_eq!(Buckets::of(&h), Buckets::default());
    }
}
