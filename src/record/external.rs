//! What an external manager's processes did beside their deliveries ([`ProcessReport`]: resident memory
//! and CPU once a second, the event loop's own lag, lines that were not reports, ends before the run's,
//! the manager's self-reported metrics against the mock's count), and the recorder's aggregate of them per
//! cohort ([`ExternalRecord`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Failures and garbage lines kept per cohort, with their text (the rest are counted).
pub const KEPT: usize = 20;

/// One thing an external process did.
#[derive(Debug, Clone, PartialEq)]
pub enum ProcessReport {
    /// Read once a second (and at the end).
    Sample {
        /// The process's index in its cohort.
        process: u32,
        /// Run time.
        at: Duration,
        /// Resident memory (KiB).
        rss_kib: u64,
        /// CPU time used so far, user and system (ms).
        cpu_ms: u64,
    },
    /// The process's own report of its event loop's (or scheduler's) lag over the last second.
    Lag {
        /// The process.
        process: u32,
        /// 99th percentile (µs).
        p99_us: u64,
        /// Largest (µs).
        max_us: u64,
    },
    /// A line that was not a report.
    Garbage {
        /// The process.
        process: u32,
        /// The problem, with its line number.
        problem: String,
    },
    /// The process ended before the run did, was killed after a stop it did not answer, or did not start.
    Failed {
        /// The process.
        process: u32,
        /// Its command line and pid.
        name: String,
        /// What happened.
        what: String,
        /// The last lines of its stderr.
        stderr: Vec<String>,
    },
    /// Rows for subscriptions that do not exist.
    RoutingErrors {
        /// How many.
        count: u64,
    },
    /// The manager's own metrics at the end of the run beside the mock's count for its addresses.
    SelfReported {
        /// The process.
        process: u32,
        /// `activeConnections` summed over its clients (`None`: it reported none).
        active_connections: Option<u64>,
        /// `retryCount` (or `reconnectAttempts`) summed over its clients.
        retries: Option<u64>,
        /// Connections the mock had open from the clients' addresses at the same time.
        mock_open: u64,
    },
}

/// One process's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessFigures {
    /// Largest resident memory seen (KiB).
    pub peak_rss_kib: u64,
    /// Busiest second's CPU, % of one core.
    pub peak_cpu_percent: f64,
    /// CPU time over the run (ms).
    pub cpu_ms: u64,
    /// Largest event-loop lag p99 it reported for a second (µs; 0: it reports none).
    pub lag_p99_us: u64,
    /// Largest event-loop lag it reported (µs).
    pub lag_max_us: u64,
    #[serde(skip)]
    last_cpu: Option<(Duration, u64)>,
}

/// A failure, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The process.
    pub process: u32,
    /// Its command line and pid.
    pub name: String,
    /// What happened.
    pub what: String,
    /// The last lines of its stderr.
    pub stderr: Vec<String>,
}

/// The aggregate of one cohort's processes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExternalRecord {
    /// Per process.
    pub processes: BTreeMap<u32, ProcessFigures>,
    /// Lines that were not reports.
    pub garbage: u64,
    /// The first of them.
    pub garbage_kept: Vec<String>,
    /// Failures (the first [`KEPT`]), and how many in all.
    pub failures: Vec<Failure>,
    /// Every failure.
    pub failed: u64,
    /// Routing errors.
    pub routing_errors: u64,
    /// `activeConnections`, `retries` and the mock's count, summed over the processes that reported.
    pub self_reported: Option<(Option<u64>, Option<u64>, u64)>,
}

impl ExternalRecord {
    /// Adds one report.
    pub fn add(&mut self, report: ProcessReport) {
        match report {
            ProcessReport::Sample { process, at, rss_kib, cpu_ms } => {
                let p = self.processes.entry(process).or_default();
                p.peak_rss_kib = p.peak_rss_kib.max(rss_kib);
                if let Some((then, used)) = p.last_cpu.filter(|(then, _)| at > *then) {
                    let elapsed_ms = (at - then).as_secs_f64() * 1000.0;
                    let percent = 100.0 * cpu_ms.saturating_sub(used) as f64 / elapsed_ms;
                    p.peak_cpu_percent = p.peak_cpu_percent.max((percent * 10.0).round() / 10.0);
                }
                p.last_cpu = Some((at, cpu_ms));
                p.cpu_ms = p.cpu_ms.max(cpu_ms);
            }
            ProcessReport::Lag { process, p99_us, max_us } => {
                let p = self.processes.entry(process).or_default();
                p.lag_p99_us = p.lag_p99_us.max(p99_us);
                p.lag_max_us = p.lag_max_us.max(max_us);
            }
            ProcessReport::Garbage { problem, .. } => {
                self.garbage += 1;
                if self.garbage_kept.len() < KEPT {
                    self.garbage_kept.push(problem);
                }
            }
            ProcessReport::Failed { process, name, what, stderr } => {
                self.failed += 1;
                if self.failures.len() < KEPT {
                    self.failures.push(Failure { process, name, what, stderr });
                }
            }
            ProcessReport::RoutingErrors { count } => self.routing_errors += count,
            ProcessReport::SelfReported { active_connections, retries, mock_open, .. } => {
                let (a, r, m) = self.self_reported.get_or_insert((None, None, 0));
                *a = sum(*a, active_connections);
                *r = sum(*r, retries);
                *m += mock_open;
            }
        }
    }
}

fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_the_busiest_second_and_memory_the_peak() {
        let mut record = ExternalRecord::default();
        let sample =
            |s: u64, rss_kib, cpu_ms| ProcessReport::Sample { process: 0, at: Duration::from_secs(s), rss_kib, cpu_ms };
        record.add(sample(1, 40_000, 100));
        record.add(sample(2, 52_000, 400));
        record.add(sample(3, 48_000, 1_150));
        let p = &record.processes[&0];
        assert_eq!((p.peak_rss_kib, p.cpu_ms), (52_000, 1_150));
        assert_eq!(p.peak_cpu_percent, 75.0, "750 ms of CPU in the third second");
        record.add(ProcessReport::SelfReported {
            process: 0,
            active_connections: Some(3),
            retries: None,
            mock_open: 4,
        });
        record.add(ProcessReport::SelfReported {
            process: 1,
            active_connections: Some(2),
            retries: None,
            mock_open: 2,
        });
        assert_eq!(record.self_reported, Some((Some(5), None, 6)));
    }
}
