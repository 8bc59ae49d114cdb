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
    /// The busiest second of the busiest process, % of one core.
    pub peak_cpu_percent: f64,
    /// CPU time of every process over the run (ms).
    pub cpu_ms: u64,
    /// The largest event-loop lag p99 a process reported for a second (µs; `None`: none reported).
    pub event_loop_lag_p99_us: Option<u64>,
    /// The largest event-loop lag reported (µs).
    pub event_loop_lag_max_us: Option<u64>,
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
    /// Connections the mock had open from the cohort's addresses when the metrics were asked for.
    pub mock_open_connections: Option<u64>,
    /// Each process's figures, in process order.
    pub per_process: Vec<ProcessFigures>,
}

impl ExternalSummary {
    /// The summary of `record`, for `manager` serving `clients`.
    pub fn of(record: &ExternalRecord, manager: &ExternalManager, clients: u32) -> Self {
        let per_process: Vec<ProcessFigures> = record.processes.values().cloned().collect();
        let sum_rss: u64 = per_process.iter().map(|p| p.peak_rss_kib).sum();
        let lag = |f: fn(&ProcessFigures) -> u64| per_process.iter().map(f).filter(|v| *v > 0).max();
        ExternalSummary {
            command: manager.command.clone(),
            clients_per_process: manager.clients_per_process,
            processes: clients.div_ceil(manager.clients_per_process.max(1)),
            peak_rss_kib: per_process.iter().map(|p| p.peak_rss_kib).max().unwrap_or(0),
            rss_kib_per_client: if clients == 0 { 0 } else { sum_rss / u64::from(clients) },
            peak_cpu_percent: per_process.iter().map(|p| p.peak_cpu_percent).fold(0.0, f64::max),
            cpu_ms: per_process.iter().map(|p| p.cpu_ms).sum(),
            event_loop_lag_p99_us: lag(|p| p.lag_p99_us),
            event_loop_lag_max_us: lag(|p| p.lag_max_us),
            garbage_lines: record.garbage,
            garbage: record.garbage_kept.clone(),
            failed: record.failed,
            failures: record.failures.clone(),
            routing_errors: record.routing_errors,
            self_reported_connections: record.self_reported.and_then(|(a, _, _)| a),
            self_reported_retries: record.self_reported.and_then(|(_, r, _)| r),
            mock_open_connections: record.self_reported.map(|(_, _, m)| m),
            per_process,
        }
    }

    /// Whether the manager's own connection count disagrees with the mock's.
    pub fn misreports_connections(&self) -> bool {
        matches!((self.self_reported_connections, self.mock_open_connections), (Some(a), Some(m)) if a != m)
    }
}
