//! `events.csv`: the run's notable moments in time order (its start and end, every fault's window with
//! what it touched). Built from the summary, written and parsed here.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::run_dir::csv_text;
use crate::summary::RunSummary;

/// The file's name in a run directory.
pub const FILE: &str = "events.csv";

/// One row of `events.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    /// Milliseconds since the start of the run.
    pub time_ms: u64,
    /// What happened.
    pub event: String,
    /// More about it: the upstream at the start; a fault's label, counts, sources and streams.
    pub detail: String,
}

/// The notable moments of a run: its start and end, and every fault's window.
pub fn rows(summary: &RunSummary) -> Vec<EventRow> {
    let mut rows = vec![EventRow { time_ms: 0, event: "run-start".into(), detail: summary.run.upstream.clone() }];
    for fault in &summary.faults {
        let label = fault.name.clone().unwrap_or_else(|| fault.kind.clone());
        let mut detail = format!("{label}: {} connections, {} handshakes", fault.touched, fault.handshakes);
        if !fault.sources.is_empty() {
            let streams: Vec<String> = fault.streams.iter().map(|(s, n)| format!("{s}={n}")).collect();
            detail += &format!("; sources {}; streams {}", fault.sources.join(" "), streams.join(" "));
        }
        rows.push(EventRow {
            time_ms: fault.start_ms,
            event: format!("fault-start:{}", fault.kind),
            detail: detail.clone(),
        });
        if let Some(end) = fault.end_ms {
            rows.push(EventRow { time_ms: end, event: format!("fault-end:{}", fault.kind), detail });
        }
    }
    let end = if summary.run.interrupted { "run-interrupted" } else { "run-end" };
    rows.push(EventRow { time_ms: summary.run.elapsed_ms, event: end.into(), detail: String::new() });
    rows.sort_by_key(|r| r.time_ms);
    rows
}

/// The file's contents for `rows`.
pub fn render(rows: &[EventRow]) -> Result<Vec<u8>> {
    csv_text::render(rows)
}

/// The rows of the file's contents.
pub fn parse(bytes: &[u8]) -> Result<Vec<EventRow>, csv::Error> {
    csv_text::parse(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_with_commas_and_quotes_in_their_details() {
        let rows = vec![
            EventRow { time_ms: 0, event: "run-start".into(), detail: "embedded mock".into() },
            EventRow {
                time_ms: 2500,
                event: "fault-start:latency".into(),
                detail: "a \"slow\", one: 3 connections".into(),
            },
            EventRow { time_ms: 9000, event: "run-end".into(), detail: String::new() },
        ];
        let text = render(&rows).unwrap();
        assert!(text.starts_with(b"time_ms,event,detail\n"));
        assert_eq!(parse(&text).unwrap(), rows);
    }
}
