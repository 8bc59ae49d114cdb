//! The harness's own health: scheduler lag sampled every 10 ms (a timer's lateness is time the runtime
//! was too busy to run tasks, which would otherwise show up as "latency"), and the process's CPU time and
//! resident memory each second. A run whose lag p99 passes the scenario's threshold is saturated. Each
//! second's lag p99 is also published on a watch channel for the live display.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::record::event::latency_histogram;

/// The tick of the lag sampler.
pub const LAG_TICK: Duration = Duration::from_millis(10);

/// What the self-check measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    /// Timer lateness per tick (µs).
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub lag: Histogram<u64>,
    /// Lag p99 per second (µs).
    pub lag_p99_per_second: Vec<u64>,
    /// Resident memory per second (KiB).
    pub rss_kib_per_second: Vec<u64>,
    /// Resident memory when the self-check started, before any client connected (KiB).
    pub rss_at_start_kib: u64,
    /// CPU seconds used by the process over the run.
    pub cpu_seconds: f64,
}

/// A summary of [`Health`] for the run summary.
#[derive(Debug, Clone, Serialize)]
pub struct HealthSummary {
    /// Lag p50 (µs).
    pub lag_p50_us: u64,
    /// Lag p99 (µs).
    pub lag_p99_us: u64,
    /// Largest lag (µs).
    pub lag_max_us: u64,
    /// Largest resident memory (KiB).
    pub max_rss_kib: u64,
    /// Resident memory at the start (KiB).
    pub rss_at_start_kib: u64,
    /// CPU seconds used.
    pub cpu_seconds: f64,
}

impl Health {
    /// The summary figures.
    pub fn summary(&self) -> HealthSummary {
        HealthSummary {
            lag_p50_us: self.lag.value_at_quantile(0.5),
            lag_p99_us: self.lag.value_at_quantile(0.99),
            lag_max_us: self.lag.max(),
            max_rss_kib: self.rss_kib_per_second.iter().copied().max().unwrap_or(0),
            rss_at_start_kib: self.rss_at_start_kib,
            cpu_seconds: self.cpu_seconds,
        }
    }
}

/// Samples until `cancel`, publishing each second's lag p99 (µs) on `lag_p99`; `rss_at_start_kib` is the
/// memory before anything of the run started (read by the caller, before it spawns anything).
pub async fn run(cancel: CancellationToken, lag_p99: watch::Sender<u64>, rss_at_start_kib: u64) -> Health {
    let cpu_start = cpu_seconds();
    let mut health = Health {
        lag: latency_histogram(),
        lag_p99_per_second: Vec::new(),
        rss_kib_per_second: Vec::new(),
        rss_at_start_kib,
        cpu_seconds: 0.0,
    };
    let mut second = latency_histogram();
    let mut next = Instant::now() + LAG_TICK;
    let mut ticks = 0u32;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(next) => {}
        }
        let lag = Instant::now().saturating_duration_since(next);
        let lag_us = (lag.as_micros() as u64).max(1);
        health.lag.saturating_record(lag_us);
        second.saturating_record(lag_us);
        next += LAG_TICK;
        if next < Instant::now() {
            next = Instant::now() + LAG_TICK;
        }
        ticks += 1;
        if ticks % 100 == 0 {
            let p99 = second.value_at_quantile(0.99);
            health.lag_p99_per_second.push(p99);
            lag_p99.send_replace(p99);
            health.rss_kib_per_second.push(rss_kib());
            second.reset();
        }
    }
    // The kernel's high-water mark also catches a peak between two samples.
    health.rss_kib_per_second.push(rss_kib().max(crate::os::peak_rss_kib()));
    health.cpu_seconds = cpu_seconds() - cpu_start;
    health
}

pub use crate::os::{cpu_seconds, rss_kib};
