//! An external cohort's own section of the summary: its processes as the harness measured them (memory,
//! CPU, their event loops' lag), what went wrong with them, its routing errors, and the manager's own
//! counts beside the mock's.

use serde::{Deserialize, Serialize};

use crate::manager::external::ExternalManager;
use crate::record::external::{ExternalRecord, Failure, ProcessFigures};

/// One external cohort's processes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExternalSummary {
    /// The command each process ran.
    pub command: Vec<String>,
    /// Clients per process.
    pub clients_per_process: u32,
    /// Processes started.
    pub processes: u32,
    /// The largest resident memory of one process (KiB).
    pub peak_rss_kib: u64,
    /// The processes' peak resident memory summed, per client (KiB).
    pub rss_kib_per_client: u64,
    /// What one manager instance would hold alone, in its own process (KiB): the largest over the
    /// processes of the runtime's own memory (read after `ready`, before any client started) plus the
    /// process's growth shared among its clients. With one client per process, its peak. `memory` judges it.
    pub rss_kib_per_instance: u64,
    /// The busiest stretch (0.9 s or more between samples) of the busiest process, % of one core.
    pub peak_cpu_percent: f64,
    /// CPU time of every process over the run (ms).
    pub cpu_ms: u64,
    /// The largest event-loop lag p99 of a process over the run (µs; `None`: none reported).
    pub event_loop_lag_p99_us: Option<u64>,
    /// The largest event-loop lag reported (µs).
    pub event_loop_lag_max_us: Option<u64>,
    /// The event-loop lag p99 above which a process could not keep up and its cohort's timed figures are
    /// the process's as much as the manager's (the scenario's `rig-delay`, µs).
    pub lag_threshold_us: u64,
    /// Lines that were not reports, and the first of them.
    pub garbage_lines: u64,
    /// The first garbage lines, with their line numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub garbage: Vec<String>,
    /// Processes that ended early, were killed, or failed (and the first of them).
    pub failed: u64,
    /// The first failures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
    /// Deliveries to a subscriber of a stream it had not subscribed to (002: at most 50).
    pub routing_errors: u64,
    /// The manager's own `activeConnections` at the end, summed over its clients (`None`: not reported).
    pub self_reported_connections: Option<u64>,
    /// The manager's own retry count at the end, summed (`None`: not reported).
    pub self_reported_retries: Option<u64>,
    /// Connections the mock had open from the cohort's addresses when the manager answered.
    pub mock_open_connections: Option<u64>,
    /// Retries the mock's record showed for the cohort's addresses (a reconnect after a drop or a refusal).
    pub mock_retries: Option<u64>,
    /// Whether every process was still (no command, no connection change for 500 ms) when its manager's
    /// counts were asked for; otherwise they are not compared.
    #[serde(default)]
    pub self_reported_settled: bool,
    /// Whether the CPU of every process was sampled over at least one 0.9 s stretch.
    #[serde(default)]
    pub cpu_measured: bool,
    /// Each process's figures, in process order.
    pub per_process: Vec<ProcessFigures>,
}

impl ExternalSummary {
    /// The summary of `record`, for `manager` serving `clients`.
    pub fn of(record: &ExternalRecord, manager: &ExternalManager, clients: u32, lag_threshold_us: u64) -> Self {
        let per_process: Vec<ProcessFigures> = record.processes.values().cloned().collect();
        let per_instance = |p: &ProcessFigures| {
            p.ready_rss_kib + p.peak_rss_kib.saturating_sub(p.ready_rss_kib) / u64::from(p.clients.max(1))
        };
        let sum_rss: u64 = per_process.iter().map(|p| p.peak_rss_kib).sum();
        let lag = |f: fn(&ProcessFigures) -> u64| per_process.iter().filter(|p| p.lag_reported).map(f).max();
        ExternalSummary {
            command: manager.command.clone(),
            clients_per_process: manager.clients_per_process,
            processes: clients.div_ceil(manager.clients_per_process.max(1)),
            peak_rss_kib: per_process.iter().map(|p| p.peak_rss_kib).max().unwrap_or(0),
            rss_kib_per_client: if clients == 0 { 0 } else { sum_rss / u64::from(clients) },
            rss_kib_per_instance: per_process.iter().map(per_instance).max().unwrap_or(0),
            peak_cpu_percent: per_process.iter().map(|p| p.peak_cpu_percent).fold(0.0, f64::max),
            cpu_ms: per_process.iter().map(|p| p.cpu_ms).sum(),
            event_loop_lag_p99_us: lag(|p| p.lag_p99_us),
            event_loop_lag_max_us: lag(|p| p.lag_max_us),
            lag_threshold_us,
            garbage_lines: record.garbage,
            garbage: record.garbage_kept.clone(),
            failed: record.failed,
            failures: record.failures.clone(),
            routing_errors: record.routing_errors,
            self_reported_connections: record.self_reported.and_then(|s| s.active_connections),
            self_reported_retries: record.self_reported.and_then(|s| s.retries),
            mock_open_connections: record.self_reported.map(|s| s.mock_open),
            mock_retries: record.self_reported.map(|s| s.mock_retries),
            self_reported_settled: record.self_reported.is_some_and(|s| s.settled),
            cpu_measured: !per_process.is_empty() && per_process.iter().all(|p| p.cpu_measured),
            per_process,
        }
    }

    /// Why the cohort's timed figures (latency, storms) measure its processes as much as its manager:
    /// `Some` when a process's event loop lagged past the threshold.
    pub fn lag_cause(&self) -> Option<String> {
        let p99 = self.event_loop_lag_p99_us.filter(|p99| *p99 > self.lag_threshold_us)?;
        let shared = if self.clients_per_process > 1 {
            format!(
                "; its {} clients share one event loop, which smears their reconnects and delays their \
                 deliveries: run fewer clients per process",
                self.clients_per_process
            )
        } else {
            String::new()
        };
        Some(format!(
            "an external process could not keep up: its event loop lagged p99 {:.1} ms > {:.1} ms{shared}",
            p99 as f64 / 1000.0,
            self.lag_threshold_us as f64 / 1000.0
        ))
    }
}
