//! The command line, declared with clap derive. Parsing only: what each command does lives in
//! [`crate::commands`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// wschaos: load-testing and chaos harness for Binance WebSocket connection managers.
#[derive(Debug, Parser)]
#[command(
    name = "wschaos",
    version,
    about,
    after_help = "Exit codes: 0 success; 1 a success criterion failed or a rehearsal would have rolled back \
                  (the gate); 2 usage or configuration error; 3 harness error (run not trustworthy: the rig \
                  lagged, the harness saturated, the mock died; nothing measured failed); 130 interrupted (the \
                  partial run is written)."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario: simulated clients through the managers against the mock; writes a run directory.
    Run(RunArgs),
    /// Serve the mock Binance spot market streams until Ctrl-C.
    Mock(MockArgs),
    /// Render report.md, junit.xml, report.html and charts/ again from a run directory's files alone.
    Report(ReportArgs),
    /// Check scenario files without running them; every problem of every file at once.
    Validate(ValidateArgs),
    /// Print the JSON Schema of the scenario format (for editors and CI).
    Schema(SchemaArgs),
    /// Compare two runs' criteria and key figures side by side; exit 1 when a criterion regressed.
    Compare(CompareArgs),
    /// Merge the run directories of a sharded run's shards into one run, every verdict judged again on the
    /// merged data; exits as `run` does.
    Merge(MergeArgs),
}

/// `wschaos merge`
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  wschaos merge reports/soak-shard-0 reports/soak-shard-1 --out reports/soak\n  \
                        wschaos merge --json shards/* --out merged > result.json\n\n\
                        Each DIR is the run directory of one shard (`wschaos run --shard I/N`, which writes its \
                        records.json). Every shard of the run must be given once; shards of different scenarios, \
                        seeds, run lengths, shard counts or wschaos versions are refused (exit 2). Exit codes as for \
                        `wschaos run`: 0 every criterion passed, 1 one failed, 3 the merged run could not be \
                        measured (a shard's rig lagged, or the mock's counters were not read).")]
pub struct MergeArgs {
    /// The shards' run directories.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// The merged run directory to write.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Compare the merged run against this baseline (a phase-0 run's baseline.json, or its directory).
    #[arg(long, value_name = "PATH")]
    pub baseline: Option<PathBuf>,
    /// Print the result as one JSON object on stdout (as `run --json` does at its end).
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `wschaos validate`
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  wschaos validate scenarios/*.toml\n  wschaos validate --quiet scenarios/\n  \
                        wschaos validate --mock scenarios/mock/binance-spot.toml\n\n\
                        Each problem is printed to stderr as FILE:LINE:COLUMN: `key.path`: what is wrong and what \
                        was expected; `ok: FILE` to stdout for each valid file. Exit 0 when every file is valid, 2 \
                        otherwise.")]
pub struct ValidateArgs {
    /// Scenario files (a directory stands for the *.toml files in it).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// The files are mock configurations (`wschaos mock --config`), not scenarios.
    #[arg(long)]
    pub mock: bool,
    /// Print only the problems, not `ok: FILE`.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `wschaos schema`
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  wschaos schema > scenarios/wschaos.schema.json\n  \
                        wschaos schema --mock > scenarios/mock/wschaos-mock.schema.json\n\n\
                        JSON Schema draft-07, generated from the scenario types; see the README for editor setup \
                        (Taplo / Even Better TOML).")]
pub struct SchemaArgs {
    /// The schema of mock configuration files (`wschaos mock --config`) instead of scenarios.
    #[arg(long)]
    pub mock: bool,
}

/// `wschaos compare`
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  wschaos compare reports/smoke-baseline reports/smoke-20261122-061102\n  \
                        wschaos compare --json A B > comparison.json\n\n\
                        Exit 0 when no criterion regressed, 1 when one passed in RUN_A and fails in RUN_B, 2 when a \
                        directory is not a run directory.")]
pub struct CompareArgs {
    /// The run directory compared against (the baseline).
    #[arg(value_name = "RUN_A")]
    pub run_a: PathBuf,
    /// The run directory judged against it.
    #[arg(value_name = "RUN_B")]
    pub run_b: PathBuf,
    /// Print JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
}

/// `wschaos report`
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The run directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `wschaos run`
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// Seed of everything random (overrides the scenario's).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Run length (overrides the scenario's), e.g. 30s, 5m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<crate::config_file::HumanDuration>,
    /// The run directory (default: reports/<scenario>-<UTC time>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Use an upstream already running (ws://host:port) instead of the embedded mock; faults need the
    /// embedded mock.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// The control API (host:port) of the mock behind --target, a `wschaos mock --control ADDR
    /// --record-publications` shared by several runs: the run then measures loss and staleness against its
    /// record, reads its per-address truth and fault records at the end, and (shard 0 only) applies the
    /// scenario's fault plan through it.
    #[arg(long, value_name = "ADDR", requires = "target")]
    pub control: Option<String>,
    /// The token of the control API behind --control (a mock started with --control-token, as one that
    /// listens off loopback must be).
    #[arg(long, env = "WSCHAOS_CONTROL_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,
    /// Run only shard I of N (0 <= I < N) of the population: the clients whose stable hash falls in it,
    /// against a shared upstream (--target, with --control for faults and the mock's truth). Shard 0 applies
    /// the fault plan. Merge the shards' run directories with `wschaos merge`.
    #[arg(long, value_name = "I/N", requires = "control")]
    pub shard: Option<crate::load::shard::Shard>,
    /// Start the clients at this instant (RFC 3339, e.g. 2026-12-03T08:00:00Z, or Unix milliseconds), so
    /// that the shards of a run and its fault windows line up.
    #[arg(long, value_name = "TIME", value_parser = parse_instant, conflicts_with = "start_on_stdin")]
    pub start_at: Option<std::time::SystemTime>,
    /// Run the scenario as N shard processes on this machine against one mock process of its own, started
    /// together, and merge them into the run directory (each shard's under `shard-I/` in it): for
    /// populations past what one process may hold.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096),
          conflicts_with_all = ["target", "shard", "start_at", "mock_process"])]
    pub processes: Option<u32>,
    /// With --processes: mock replicas to run (seeded alike, started together; shard I connects to
    /// replica I mod M). By default as few as hold every client socket.
    #[arg(long, value_name = "M", requires = "processes", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub mock_processes: Option<u32>,
    /// With --shard: the mock behind --target is replica I mod R of R alike replicas serving the run's shards;
    /// the first shard on each (I < R) applies the fault plan to it.
    #[arg(long, value_name = "R", requires = "shard", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub replicas: u32,
    /// With --shard, in a rollout rehearsal: the control API (host:port) where the run's shards pool each
    /// step's figures, so that every shard decides the step on the whole population's (`POST /steps`). By
    /// default --control; with --replicas, every shard must name the same one (replica 0's).
    #[arg(long, value_name = "ADDR", requires = "shard")]
    pub pool: Option<String>,
    /// With --shard: start when every shard of the run has arrived at the start barrier of the mock behind
    /// --control (its `POST /barrier`): for shards no one parent starts, such as the pods of a Kubernetes
    /// Job. The mock names the start 2 s after the last arrival.
    #[arg(long, requires_all = ["shard", "control"], conflicts_with_all = ["start_at", "start_on_stdin"])]
    pub barrier: bool,
    /// A shard of `--processes`: print `ready` on stdout once set up, then start at the Unix millisecond
    /// the parent writes on stdin (`start MS`): the shards' start barrier.
    #[arg(long, hide = true, requires = "shard")]
    pub start_on_stdin: bool,
    /// Serve the run's live figures for Prometheus (OpenMetrics text at `GET /metrics`) on this address
    /// while it runs: per cohort the seeds' `ws_manager_*` metrics, deliveries, gaps, attempts, give-ups,
    /// latency and staleness histograms; the rig's delay, the fault windows in force, a rehearsal's step.
    /// Port 0 picks a free port (printed on stderr); 503 until the clients start. Loopback only, unless
    /// --metrics-token is set.
    /// With --processes, shard I serves the given port + I (any free port each with port 0), its own part:
    /// scrape every shard.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// After the run, keep serving --metrics this long (e.g. 30s, a scrape interval or two), so that a last
    /// scrape reads the final figures; Ctrl-C ends it. Default: stop with the run.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "metrics")]
    pub metrics_linger: Option<crate::config_file::HumanDuration>,
    /// Require `Authorization: Bearer TOKEN` on --metrics (needed to serve it beyond loopback; sent in the
    /// clear over HTTP, so keep it to a trusted network).
    #[arg(long, env = "WSCHAOS_METRICS_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Allow a --target that is not on loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// Run the embedded mock in its own process even when it would fit in this one (separates the
    /// harness's CPU and memory from the mock's; chosen automatically when the sockets do not fit).
    #[arg(long, conflicts_with = "target")]
    pub mock_process: bool,
    /// Allow a Binance production host as --target (a storm gets the IP banned).
    #[arg(long)]
    pub insist_production: bool,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
    /// Machine-readable output for CI: no human text; stdout gets one JSON object per line (NDJSON).
    ///
    /// Once a second: {"type":"progress", "elapsed_s", "duration_s", "phase" ("running" | "stopping"),
    /// "cohorts": {NAME: {"open", "delivered_per_s", "attempts_per_s", "reconnects_per_s", "delivered",
    /// "attempts", "reconnects", "gaps"}}, "faults": [{"kind", "name", "start_s", "end_s"}] (in force now),
    /// "next_fault" (the same, or null), "harness_lag_p99_ms" (last second), "harness_lagging" (above the
    /// scenario's saturation-lag)}.
    ///
    /// Last: {"type":"result", "run_dir", "report", "exit_code" (the process's), "outcome" ("passed" |
    /// "failed" | "harness-error" | "interrupted"), "gate" (why), "elapsed_s", "failed" (verdicts failing
    /// the gate), "verdicts" (as in summary.json), "cohorts": {NAME: {"manager", "clients",
    /// "connections_high_water", "attempts", "reconnects", "peak_attempts_per_s", "peak_reconnects_per_s",
    /// "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "delivered", "gaps", "subscriptions_dropped",
    /// "subscriptions_recovered"}}, "harness": {"lag_p99_ms", "saturated", "cpu_seconds", "max_rss_mib"},
    /// "notifications": {"start", "result"} (the team's notification texts, ready to post)}.
    /// No result object when the run cannot start (exit 2 or 3, the error on stderr).
    #[arg(long, conflicts_with = "quiet", verbatim_doc_comment)]
    pub json: bool,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Judge the new manager against a stored baseline (the baseline.json of a phase-0 run, or its run
    /// directory): latency and error-rate regressions and the scenario's [[baseline.tolerance]] metrics.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<crate::config_file::HumanDuration, String> {
    humantime::parse_duration(text)
        .map(crate::config_file::HumanDuration)
        .map_err(|e| format!("{e}; write e.g. 30s, 5m, 1h"))
}

fn parse_instant(text: &str) -> Result<std::time::SystemTime, String> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms));
    }
    humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("{e}; write an RFC 3339 time such as 2026-12-03T08:00:00Z, or Unix milliseconds"))
}

/// `wschaos mock`
#[derive(Debug, clap::Args)]
pub struct MockArgs {
    /// Address to listen on (loopback; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9443", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Seed of the simulated market (same seed, same prices and ids for the same traffic).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
    /// Mock configuration file (TOML: [server], [heartbeat], [limits], [feed]).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve as a run of this scenario would: its `[mock]` section and its seed (the mock shared by the
    /// shards of a run, or each of its replicas).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["config", "seed"])]
    pub scenario: Option<PathBuf>,
    /// Worker threads (default: one per core). `--threads 1` serves from a single core.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Print the mock's counters as JSON on stdout when it stops.
    #[arg(long)]
    pub stats_on_exit: bool,
    /// Allow listening on a non-loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Serve the fault control API (list/add/remove/reset faults, /metrics, /stats) on this address.
    #[arg(long, value_name = "ADDR")]
    pub control: Option<SocketAddr>,
    /// Require `Authorization: Bearer TOKEN` on the control API (needed to expose it beyond loopback).
    #[arg(long, env = "WSCHAOS_CONTROL_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,
    /// Keep a record of every event published, served as `GET /publications` on the control API (what a
    /// harness in another process measures loss and staleness against; memory grows with the feed's rate).
    #[arg(long)]
    pub record_publications: bool,
}

impl Cli {
    /// Worker threads the runtime should have, when the command asks for a number.
    pub fn threads(&self) -> Option<usize> {
        match &self.command {
            Command::Run(args) => args.threads,
            Command::Mock(args) => args.threads,
            Command::Report(_)
            | Command::Validate(_)
            | Command::Schema(_)
            | Command::Compare(_)
            | Command::Merge(_) => Some(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
