//! The process-level plumbing every command shares: how a command ended, usage errors, stop signals, the
//! runtime, logging and the machine's limits.

use anyhow::Result;

use crate::exit;

/// How a command ended, mapped to an exit code by `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Completed normally.
    Success,
    /// Stopped by Ctrl-C after writing what it had.
    Interrupted,
    /// The run could not be measured trustworthily (saturated harness, the mock died).
    HarnessError,
    /// A success criterion failed (the CI gate).
    CriteriaFailed,
}

impl Outcome {
    /// How a finished run (or a merged one) exits: interrupted, the mock's counters unread, a criterion
    /// the rig cannot excuse failed, the rig's delay in the figures, or success, in that order.
    pub fn of(summary: &crate::summary::RunSummary, interrupted: bool, mock_failed: bool) -> Outcome {
        if interrupted {
            Outcome::Interrupted
        } else if mock_failed {
            Outcome::HarnessError
        } else if crate::criteria::verdict::any_failed(&summary.verdicts) {
            // A criterion the rig cannot excuse (a count, a close code) failed: the rig's lag made only the
            // latency and storm verdicts not measurable, and the report says so.
            Outcome::CriteriaFailed
        } else if summary.not_measurable_cause().is_some() {
            Outcome::HarnessError
        } else {
            Outcome::Success
        }
    }

    /// The documented exit code.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Success => exit::SUCCESS,
            Outcome::Interrupted => exit::INTERRUPTED,
            Outcome::HarnessError => exit::HARNESS,
            Outcome::CriteriaFailed => exit::CRITERIA_FAILED,
        }
    }
}

/// A mistake in the command line or a configuration file: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// SIGINT (Ctrl-C) and SIGTERM, registered when created: create it before telling anyone the process is
/// ready, so an early signal stops the command cleanly instead of killing the process.
pub struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Registers the handlers now.
    pub fn register() -> Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    /// Resolves at the first SIGINT or SIGTERM.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Builds the tokio runtime: multi-threaded with `threads` workers (default: one per core).
pub fn build_runtime(threads: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = threads {
        builder.worker_threads(threads.max(1));
    }
    builder.enable_all().build()
}

/// Logs to stderr, filtered by `RUST_LOG` (default: warnings).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if subscriber.try_init().is_err() {
        // Already initialised (tests call this repeatedly): keep the first.
    }
}

/// What this machine allows a run: the open-file hard limit and the memory available.
pub fn machine_limits() -> crate::scenario::cost::MachineLimits {
    crate::scenario::cost::MachineLimits {
        open_files: crate::os::open_files_hard_limit(),
        memory_bytes: crate::os::available_memory_bytes(),
    }
}

/// Raises the soft limit on open files to the hard limit: every simulated client and every mock
/// connection is a file descriptor.
pub fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!("could not raise the open-file limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(soft, _)| soft)
        }
    }
}
