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
        /// Clients the process runs.
        clients: u32,
    },
    /// The process's own report of its event loop's (or scheduler's) lag since it started, cumulative.
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
        /// Retries the mock's record showed for the clients over the run.
        mock_retries: u64,
        /// Whether nothing had changed (no command, no connection opened or closed) for a while before
        /// they were asked: otherwise the two counts may differ by what was under way.
        settled: bool,
    },
}

/// One process's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessFigures {
    /// Clients it ran.
    pub clients: u32,
    /// Resident memory when it had answered `ready`, before its clients started (KiB): the runtime's own.
    pub ready_rss_kib: u64,
    /// Largest resident memory seen (KiB).
    pub peak_rss_kib: u64,
    /// Busiest stretch's CPU (at least 0.9 s between two samples), % of one core.
    pub peak_cpu_percent: f64,
    /// Whether a stretch that long was ever sampled (a process that died sooner has no CPU figure).
    #[serde(default)]
    pub cpu_measured: bool,
    /// CPU time over the run (ms).
    pub cpu_ms: u64,
    /// Its event loop's lag p99 over the run, as it last reported (µs; 0: it reports none).
    pub lag_p99_us: u64,
    /// Its largest event-loop lag (µs).
    pub lag_max_us: u64,
    #[serde(skip)]
    last_cpu: Option<(Duration, u64)>,
    #[serde(skip)]
    sampled: bool,
    /// Whether it reported its lag at all.
    #[serde(skip)]
    pub lag_reported: bool,
}

/// The shortest stretch a CPU percentage is computed over: two samples closer together (the last regular
/// one and the one at the stop) would turn a few milliseconds of CPU into a meaningless percentage.
const CPU_WINDOW: Duration = Duration::from_millis(900);

impl ProcessFigures {
    /// Takes the CPU used by `at` into the busiest stretch of at least [`CPU_WINDOW`].
    fn cpu(&mut self, at: Duration, cpu_ms: u64) {
        match self.last_cpu {
            Some((then, used)) if at >= then + CPU_WINDOW => {
                let elapsed_ms = (at - then).as_secs_f64() * 1000.0;
                let percent = 100.0 * cpu_ms.saturating_sub(used) as f64 / elapsed_ms;
                self.peak_cpu_percent = self.peak_cpu_percent.max((percent * 10.0).round() / 10.0);
                self.cpu_measured = true;
                self.last_cpu = Some((at, cpu_ms));
            }
            Some(_) => {}
            None => self.last_cpu = Some((at, cpu_ms)),
        }
    }
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

/// A manager's own counts beside the mock's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfReported {
    /// `activeConnections` summed over the clients that reported it.
    pub active_connections: Option<u64>,
    /// Its retry count summed.
    pub retries: Option<u64>,
    /// Connections the mock had open from the clients' addresses when they answered.
    pub mock_open: u64,
    /// Retries the mock's record showed.
    pub mock_retries: u64,
    /// Whether every process was still when asked.
    pub settled: bool,
}

/// The aggregate of one cohort's processes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// The manager's own counts and the mock's, summed over the processes that reported.
    pub self_reported: Option<SelfReported>,
}

impl ExternalRecord {
    /// Adds one report.
    pub fn add(&mut self, report: ProcessReport) {
        match report {
            ProcessReport::Sample { process, at, rss_kib, cpu_ms, clients } => {
                let p = self.processes.entry(process).or_default();
                if !p.sampled {
                    (p.ready_rss_kib, p.clients, p.sampled) = (rss_kib, clients, true);
                }
                p.peak_rss_kib = p.peak_rss_kib.max(rss_kib);
                p.cpu(at, cpu_ms);
                p.cpu_ms = p.cpu_ms.max(cpu_ms);
            }
            ProcessReport::Lag { process, p99_us, max_us } => {
                let p = self.processes.entry(process).or_default();
                (p.lag_p99_us, p.lag_max_us, p.lag_reported) = (p99_us, p.lag_max_us.max(max_us), true);
            }
            ProcessReport::Garbage { process, problem } => {
                self.garbage += 1;
                if self.garbage_kept.len() < KEPT {
                    self.garbage_kept.push(format!("process {process}: {problem}"));
                }
            }
            ProcessReport::Failed { process, name, what, stderr } => {
                self.failed += 1;
                if self.failures.len() < KEPT {
                    self.failures.push(Failure { process, name, what, stderr });
                }
            }
            ProcessReport::RoutingErrors { count } => self.routing_errors += count,
            ProcessReport::SelfReported { active_connections, retries, mock_open, mock_retries, settled, .. } => {
                let s =
                    self.self_reported.get_or_insert_with(|| SelfReported { settled: true, ..SelfReported::default() });
                s.settled &= settled;
                s.active_connections = sum(s.active_connections, active_connections);
                s.retries = sum(s.retries, retries);
                s.mock_open += mock_open;
                s.mock_retries += mock_retries;
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
        let sample = |s: u64, rss_kib, cpu_ms| ProcessReport::Sample {
            process: 0,
            at: Duration::from_secs(s),
            rss_kib,
            cpu_ms,
            clients: 4,
        };
        record.add(sample(1, 40_000, 100));
        record.add(sample(2, 52_000, 400));
        record.add(sample(3, 48_000, 1_150));
        let close = ProcessReport::Sample {
            process: 0,
            at: Duration::from_millis(3_020),
            rss_kib: 1,
            cpu_ms: 1_180,
            clients: 4,
        };
        record.add(close);
        let p = &record.processes[&0];
        assert_eq!((p.peak_rss_kib, p.cpu_ms), (52_000, 1_180));
        assert_eq!((p.ready_rss_kib, p.clients), (40_000, 4), "the first sample is the runtime's own");
        assert_eq!(p.peak_cpu_percent, 75.0, "750 ms of CPU in the third second; not 30 ms in 20 ms");
        record.add(ProcessReport::SelfReported {
            process: 0,
            active_connections: Some(3),
            retries: None,
            mock_open: 4,
            mock_retries: 1,
            settled: true,
        });
        record.add(ProcessReport::SelfReported {
            process: 1,
            active_connections: Some(2),
            retries: None,
            mock_open: 2,
            mock_retries: 0,
            settled: false,
        });
        let expected =
            SelfReported { active_connections: Some(5), retries: None, mock_open: 6, mock_retries: 1, settled: false };
        assert_eq!(record.self_reported, Some(expected));
    }
}
