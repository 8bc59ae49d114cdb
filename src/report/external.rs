//! External managers as report text, shared by `report.md` and `report.html`: one row of figures per
//! external cohort (its processes, their memory, CPU and event-loop lag, what went wrong, its routing
//! errors and the manager's own counts beside the mock's), and each failure and garbage line as a
//! sentence naming the process. Raw text only: each report escapes it the way its format needs. Pure.

use crate::summary::CohortSummary;
use crate::summary::external::ExternalSummary;

/// The headers of the external managers' table (the cells of an [`external_row`]).
pub const EXTERNAL_HEADERS: [&str; 12] = [
    "cohort",
    "processes × clients",
    "memory per instance (MB)",
    "largest process (MB)",
    "CPU peak (%)",
    "CPU (s)",
    "event-loop lag p99 / max (ms)",
    "garbage lines",
    "failed",
    "routing errors",
    "own connections / mock's",
    "own retries / mock's",
];

/// The external cohorts of a run with their processes' figures.
pub fn external_cohorts(cohorts: &[CohortSummary]) -> Vec<(&CohortSummary, &ExternalSummary)> {
    cohorts.iter().filter_map(|c| c.external.as_ref().map(|e| (c, e))).collect()
}

fn mb(kib: u64) -> String {
    format!("{:.1}", kib as f64 * 1024.0 / 1e6)
}

fn against(own: Option<u64>, mock: Option<u64>) -> String {
    let text = |v: Option<u64>| v.map_or_else(|| "–".to_owned(), |v| v.to_string());
    let mark = if matches!((own, mock), (Some(a), Some(b)) if a != b) { " (differs)" } else { "" };
    format!("{} / {}{mark}", text(own), text(mock))
}

/// One external cohort's figures, in [`EXTERNAL_HEADERS`] order.
pub fn external_row(c: &CohortSummary, e: &ExternalSummary) -> Vec<String> {
    let lag = match (e.event_loop_lag_p99_us, e.event_loop_lag_max_us) {
        (Some(p99), Some(max)) => {
            let over = if e.lag_cause().is_some() { " (could not keep up)" } else { "" };
            format!("{:.1} / {:.1}{over}", p99 as f64 / 1000.0, max as f64 / 1000.0)
        }
        _ => "not reported".to_owned(),
    };
    vec![
        c.name.clone(),
        format!("{} × {}", e.processes, e.clients_per_process),
        mb(e.rss_kib_per_instance),
        mb(e.peak_rss_kib),
        format!("{:.0}", e.peak_cpu_percent),
        format!("{:.2}", e.cpu_ms as f64 / 1000.0),
        lag,
        e.garbage_lines.to_string(),
        e.failed.to_string(),
        e.routing_errors.to_string(),
        against(e.self_reported_connections, e.mock_open_connections),
        against(e.self_reported_retries, e.mock_retries),
    ]
}

/// What went wrong with a cohort's processes, a sentence each: failures (with their last stderr line), then
/// the lines that were not reports.
pub fn external_problems(c: &CohortSummary, e: &ExternalSummary) -> Vec<String> {
    let failures = e.failures.iter().map(|f| {
        let stderr = f.stderr.last().map(|l| format!("; its stderr ended: {l}")).unwrap_or_default();
        format!("{}: process {} ({}): {}{stderr}", c.name, f.process, f.name, f.what)
    });
    let garbage = e.garbage.iter().map(|g| format!("{}: {g}", c.name));
    let more = |shown: usize, all: u64, what: &str| {
        (all > shown as u64).then(|| format!("{}: {} more {what} not shown", c.name, all - shown as u64))
    };
    failures
        .chain(more(e.failures.len(), e.failed, "failures"))
        .chain(garbage)
        .chain(more(e.garbage.len(), e.garbage_lines, "garbage lines"))
        .collect()
}
