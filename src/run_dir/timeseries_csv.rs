//! `timeseries.csv`: one row per second per cohort (attempts, connections, deliveries, gaps, latency and
//! staleness percentiles of that second, the mock's open count, the rig's lag). Built from the recorder's
//! per-second records, written and parsed here.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::record::recorder::CohortRecord;
use crate::run_dir::csv_text;
use crate::summary::RunSummary;

/// The file's name in a run directory.
pub const FILE: &str = "timeseries.csv";

/// One row of `timeseries.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeseriesRow {
    /// Seconds since the start of the run.
    pub second: usize,
    /// Cohort name.
    pub cohort: String,
    /// Connection attempts started.
    pub attempts: u64,
    /// Attempts that upgraded.
    pub connected: u64,
    /// Attempts that failed.
    pub failed: u64,
    /// Reconnect attempts.
    pub retries: u64,
    /// Connections that ended.
    pub ended: u64,
    /// Client-side open connections at the end of the second.
    pub open: i64,
    /// Subscriber-deliveries.
    pub delivered: u64,
    /// Subscriber-deliveries skipped or owed and never received.
    pub gaps: u64,
    /// Silent sockets detected.
    pub detections: u64,
    /// Delivery latency p50 of the messages recorded in that second (µs; empty without any).
    #[serde(default)]
    pub latency_p50_us: Option<u64>,
    /// Delivery latency p99 in that second (µs).
    #[serde(default)]
    pub latency_p99_us: Option<u64>,
    /// Staleness p50 of the samples taken in that second (µs; empty without any).
    #[serde(default)]
    pub staleness_p50_us: Option<u64>,
    /// Staleness p99 in that second (µs).
    #[serde(default)]
    pub staleness_p99_us: Option<u64>,
    /// Server-side open connections (the mock's count; all cohorts).
    pub server_open: Option<u64>,
    /// Harness scheduler-lag p99 in that second (µs).
    pub harness_lag_p99_us: Option<u64>,
    /// The rig's canary latency p99 in that second (µs; empty without canary samples).
    #[serde(default)]
    pub canary_p99_us: Option<u64>,
}

/// The rig's figures per second of the run (µs), for `timeseries.csv`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RigSeconds<'a> {
    /// The harness's scheduler-lag p99.
    pub lag: &'a [u64],
    /// The canaries' latency p99 (0: no sample).
    pub canary: &'a [u64],
}

/// The per-second rows of every cohort.
pub fn rows(
    summary: &RunSummary,
    records: &[CohortRecord],
    server_open: &[u64],
    rig: RigSeconds<'_>,
) -> Vec<TimeseriesRow> {
    let mut rows = Vec::new();
    // The seconds the run lasted; a run stopped early ends there, not at its planned length. A later second
    // is kept only when something happened in it (the teardown's closes).
    let lasted = summary.run.elapsed_ms.div_ceil(1000) as usize;
    for (cohort, record) in summary.cohorts.iter().zip(records) {
        let end = record.seconds.iter().rposition(|s| s.attempts + s.connected + s.failed + s.ended + s.delivered > 0);
        let rows_kept = lasted.max(end.map_or(0, |last| last + 1));
        for (second, s) in record.seconds.iter().enumerate().take(rows_kept) {
            rows.push(TimeseriesRow {
                second,
                cohort: cohort.name.clone(),
                attempts: s.attempts,
                connected: s.connected,
                failed: s.failed,
                retries: s.retries,
                ended: s.ended,
                open: s.open,
                delivered: s.delivered,
                gaps: s.gaps,
                detections: s.detections,
                latency_p50_us: (s.latency_p99_us > 0).then_some(s.latency_p50_us),
                latency_p99_us: (s.latency_p99_us > 0).then_some(s.latency_p99_us),
                staleness_p50_us: (s.staleness_p99_us > 0).then_some(s.staleness_p50_us),
                staleness_p99_us: (s.staleness_p99_us > 0).then_some(s.staleness_p99_us),
                server_open: server_open.get(second).copied(),
                harness_lag_p99_us: rig.lag.get(second).copied(),
                canary_p99_us: rig.canary.get(second).copied().filter(|p99| *p99 > 0),
            });
        }
    }
    rows
}

/// The file's contents for `rows`.
pub fn render(rows: &[TimeseriesRow]) -> Result<Vec<u8>> {
    csv_text::render(rows)
}

/// The rows of the file's contents; columns added in later versions may be missing.
pub fn parse(bytes: &[u8]) -> Result<Vec<TimeseriesRow>, csv::Error> {
    csv_text::parse(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_with_missing_optional_columns() {
        let csv = "second,cohort,attempts,connected,failed,retries,ended,open,delivered,gaps,detections,server_open,harness_lag_p99_us\n\
                   0,legacy,640,640,0,0,0,640,3081,0,0,0,3273\n19,legacy,0,0,0,0,0,1200,18158,0,0,1289,\n";
        let rows = parse(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].attempts, rows[0].harness_lag_p99_us), (640, Some(3273)));
        assert_eq!((rows[1].open, rows[1].harness_lag_p99_us), (1200, None));
        assert!(parse(b"second,cohort\nx,legacy\n").is_err());
    }

    #[test]
    fn rows_round_trip() {
        let row = TimeseriesRow {
            second: 3,
            cohort: "wsmanager".into(),
            attempts: 2,
            connected: 1,
            failed: 1,
            retries: 1,
            ended: 0,
            open: -1,
            delivered: 900,
            gaps: 4,
            detections: 1,
            latency_p50_us: Some(800),
            latency_p99_us: Some(2500),
            staleness_p50_us: None,
            staleness_p99_us: None,
            server_open: Some(7),
            harness_lag_p99_us: None,
            canary_p99_us: Some(120),
        };
        let rows = vec![row.clone(), TimeseriesRow { second: 4, ..row }];
        assert_eq!(parse(&render(&rows).unwrap()).unwrap(), rows);
    }
}
