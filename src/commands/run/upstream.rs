//! Where a run's clients connect: the embedded mock, a mock in its own process (when the sockets do not fit
//! one process), or an upstream given with `--target`; and what of the mock the harness can see during and
//! after the run (open connections, fault plan, final counters).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::chaos::Inject;
use crate::chaos::plan::FaultPlan;
use crate::cli::RunArgs;
use crate::commands::process::{UsageError, raise_open_file_limit};
use crate::load::placement::client_sockets;
use crate::load::population::ClientPlan;
use crate::mock::MockServer;
use crate::mock::process::{ControlApi, MockProcess};
use crate::mock::stats::MockSnapshot;
use crate::record::freshness::{Freshness, Resolver};
use crate::scenario::Scenario;
use crate::scenario::cost::FD_MARGIN;

/// Where the clients connect, and what of the mock the harness can see.
pub(super) enum Upstream {
    /// The mock in this process.
    Embedded(MockServer),
    /// The mock in a child process (the scenario needs more sockets than one process may hold).
    Child(Box<MockProcess>),
    /// A mock already running, shared with other runs (the shards of one run), reached through its control
    /// API as a child mock is; only the run that `faults` applies the fault plan.
    Shared {
        /// The WebSocket address.
        addr: SocketAddr,
        /// Its control API.
        control: ControlApi,
        /// Whether this run applies the fault plan (shard 0).
        faults: bool,
    },
    /// An upstream already running.
    External(SocketAddr),
}

/// Reads the mock's open connections during the run.
pub(super) enum Probe {
    Embedded(MockServer),
    Child(ControlApi),
    Nothing,
}

impl Probe {
    async fn open_connections(&self) -> Option<u64> {
        match self {
            Probe::Embedded(mock) => Some(mock.open_connections()),
            Probe::Child(control) => crate::mock::process::connections_open(control).await.ok(),
            Probe::Nothing => None,
        }
    }
}

impl Upstream {
    pub(super) fn addr(&self) -> SocketAddr {
        match self {
            Upstream::Embedded(m) => m.local_addr(),
            Upstream::Child(p) => p.addr(),
            Upstream::Shared { addr, .. } | Upstream::External(addr) => *addr,
        }
    }

    pub(super) fn label(&self) -> String {
        match self {
            Upstream::Embedded(_) => "embedded".into(),
            Upstream::Child(_) => "child-process".into(),
            Upstream::Shared { .. } => "shared".into(),
            Upstream::External(_) => "external".into(),
        }
    }

    /// Whether the upstream is a wschaos mock whose record, counters and fault records this run reads.
    pub(super) fn is_mock(&self) -> bool {
        !matches!(self, Upstream::External(_))
    }

    /// The control API of a mock in another process.
    pub(super) fn control(&self) -> Option<ControlApi> {
        match self {
            Upstream::Child(p) => Some(ControlApi::at(p.control())),
            Upstream::Shared { control, .. } => Some(control.clone()),
            Upstream::Embedded(_) | Upstream::External(_) => None,
        }
    }

    /// Staleness watches over the mock's publication record: the embedded mock's own, or a mirror of a
    /// child mock's fetched through its control API every [`MIRROR_EVERY`] until `stop`. An external
    /// upstream keeps no record this process can read: staleness is then not measured and loss is counted
    /// from consecutive ids only.
    /// Also returns how far the record this process reads may lag the mock's own.
    pub(super) fn freshness(&self, symbols: &[String], stop: &CancellationToken) -> (Option<Arc<Freshness>>, Duration) {
        match self {
            Upstream::Embedded(m) => {
                (Some(Arc::new(Freshness::new(Resolver::new(m.publications(), symbols)))), Duration::ZERO)
            }
            Upstream::Child(_) | Upstream::Shared { .. } => {
                let control = self.control().expect("a mock in another process has a control API");
                let mirror = Arc::new(crate::mock::publications::Publications::default());
                let freshness = Arc::new(Freshness::new(Resolver::new(mirror.clone(), symbols)));
                let mirroring = crate::mock::process::mirror_publications(control, mirror, MIRROR_EVERY, stop.clone());
                tokio::spawn(mirroring);
                (Some(freshness), 3 * MIRROR_EVERY)
            }
            Upstream::External(_) => (None, Duration::ZERO),
        }
    }

    pub(super) fn probe(&self) -> Probe {
        match self {
            Upstream::Embedded(m) => Probe::Embedded(m.clone()),
            Upstream::Child(p) => Probe::Child(ControlApi::at(p.control())),
            Upstream::Shared { control, .. } => Probe::Child(control.clone()),
            Upstream::External(_) => Probe::Nothing,
        }
    }

    /// Schedules the scenario's fault plan relative to `start`.
    pub(super) fn start_faults(&self, scenario: &Scenario, start: Instant, cancel: &CancellationToken) {
        let plan = FaultPlan::build(&scenario.faults, scenario.seed, scenario.duration);
        match self {
            Upstream::Embedded(mock) => mock.run_plan(&scenario.faults, &plan, start),
            Upstream::Child(process) => child_faults(&ControlApi::at(process.control()), scenario, plan, start, cancel),
            Upstream::Shared { control, faults: true, .. } => child_faults(control, scenario, plan, start, cancel),
            Upstream::Shared { faults: false, .. } => {}
            Upstream::External(_) if !plan.occurrences.is_empty() => {
                eprintln!(
                    "wschaos run: faults need the embedded mock; the {} faults of this scenario are skipped",
                    scenario.faults.len()
                );
            }
            Upstream::External(_) => {}
        }
    }

    /// Stops the mock and returns its counters with the offset of its clock from the run's start (ms).
    pub(super) async fn finish(self, run_start: Instant) -> (Option<MockSnapshot>, u64) {
        let offset = |s: &MockSnapshot| s.uptime_ms.saturating_sub(run_start.elapsed().as_millis() as u64);
        match self {
            Upstream::Embedded(mock) => {
                let snapshot = mock.shutdown().await;
                let offset = offset(&snapshot);
                (Some(snapshot), offset)
            }
            Upstream::Child(process) => {
                let mut process = *process;
                let snapshot = if process.alive() { process.snapshot().await.ok() } else { None };
                if let Err(e) = process.stop().await {
                    tracing::warn!("stopping the mock process: {e:#}");
                }
                let offset = snapshot.as_ref().map_or(0, offset);
                (snapshot, offset)
            }
            Upstream::Shared { control, .. } => {
                let snapshot = match crate::mock::process::snapshot_of(&control).await {
                    Ok(snapshot) => Some(snapshot),
                    Err(e) => {
                        tracing::warn!("reading the shared mock's counters: {e:#}");
                        None
                    }
                };
                let offset = snapshot.as_ref().map_or(0, offset);
                (snapshot, offset)
            }
            Upstream::External(_) => (None, 0),
        }
    }
}

/// How often a child mock's record is mirrored.
const MIRROR_EVERY: Duration = Duration::from_millis(20);

/// Posts each occurrence of the plan to a child mock's control API at its time, as the order the plan
/// decided (the same orders an embedded mock carries out).
fn child_faults(
    control: &ControlApi,
    scenario: &Scenario,
    plan: FaultPlan,
    start: Instant,
    cancel: &CancellationToken,
) {
    for (at, order) in crate::chaos::inject::orders(&scenario.faults, &plan, start) {
        let (cancel, control) = (cancel.clone(), control.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(at) => {}
            }
            if let Err(e) = crate::mock::process::order_fault(&control, &order).await {
                tracing::warn!("could not inject a fault into the mock process: {e:#}");
            }
        });
    }
}

/// The embedded mock when the clients and the mock fit in this process's open-file limit, a mock in its
/// own process when only the clients do, or a refusal with the figures.
pub(super) async fn open_upstream(
    scenario: &Scenario,
    people: &[ClientPlan],
    target: Option<Target>,
    out: &std::path::Path,
    own_process: bool,
) -> Result<Upstream> {
    match target {
        Some(Target { addr, control: Some(control), faults }) => return Ok(Upstream::Shared { addr, control, faults }),
        Some(Target { addr, control: None, .. }) => return Ok(Upstream::External(addr)),
        None => {}
    }
    let limit = raise_open_file_limit();
    let clients = client_sockets(&scenario.cohorts, scenario.managers.unified.max_streams, people);
    if !own_process && (limit == 0 || 2 * clients + FD_MARGIN <= limit) {
        let listen = "127.0.0.1:0".parse()?;
        return Ok(Upstream::Embedded(
            MockServer::start(scenario.mock.clone(), listen, scenario.seed, CancellationToken::new()).await?,
        ));
    }
    if clients + FD_MARGIN <= limit {
        return Ok(Upstream::Child(Box::new(MockProcess::spawn(&scenario.mock_raw, scenario.seed, out).await?)));
    }
    Err(UsageError(format!(
        "scenario '{}' needs up to {} sockets for its clients (and as many for the mock, which then runs in its own \
         process), but one process may open {limit} files; reduce workload.clients or the subscriptions",
        scenario.name,
        clients + FD_MARGIN
    ))
    .into())
}

/// Samples the mock's open connections once a second.
pub(super) async fn sample_server(probe: Probe, stop: CancellationToken) -> Vec<u64> {
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return samples,
            _ = tick.tick() => {
                match probe.open_connections().await {
                    Some(open) => samples.push(open),
                    None => return samples,
                }
            }
        }
    }
}

/// An upstream given on the command line.
pub(super) struct Target {
    /// `--target`.
    pub(super) addr: SocketAddr,
    /// `--control`: the control API of the mock behind it, shared by several runs.
    pub(super) control: Option<ControlApi>,
    /// Whether this run applies the fault plan through it (no other shard does).
    pub(super) faults: bool,
}

/// The upstream of `--target` and `--control`: the control API on a loopback address unless remote
/// targets are allowed.
pub(super) fn resolve_target(args: &RunArgs) -> Result<Option<Target>> {
    let Some(addr) = resolve_target_addr(args)? else { return Ok(None) };
    let control = match &args.control {
        Some(text) => Some(control_api(args, "--control", text)?),
        None => None,
    };
    // The first shard on each replica applies the plan to it (shard 0 of a run with one mock).
    let faults = args.shard.is_none_or(|s| s.index < args.replicas);
    Ok(Some(Target { addr, control, faults }))
}

/// The control API `text` names (the value of `flag`), with the run's token: on loopback unless remote
/// targets are allowed.
pub(super) fn control_api(args: &RunArgs, flag: &str, text: &str) -> Result<ControlApi> {
    let host_port = text.strip_prefix("http://").unwrap_or(text).trim_end_matches('/');
    let addr = std::net::ToSocketAddrs::to_socket_addrs(host_port)
        .map_err(|e| UsageError(format!("{flag} {text}: {e}; write host:port, e.g. 127.0.0.1:9444")))?
        .next()
        .ok_or_else(|| UsageError(format!("{flag} {text}: no address")))?;
    if !addr.ip().is_loopback() && !args.allow_remote {
        return Err(UsageError(format!("{flag} {text} is not on loopback; pass --allow-remote")).into());
    }
    Ok(ControlApi { addr, token: args.control_token.clone() })
}

/// The upstream address for `--target`, refusing non-loopback (unless allowed) and Binance's own hosts
/// (unless insisted on).
fn resolve_target_addr(args: &RunArgs) -> Result<Option<SocketAddr>> {
    let Some(url) = &args.target else { return Ok(None) };
    let rest =
        url.strip_prefix("ws://").ok_or_else(|| UsageError(format!("--target {url}: use a ws://host:port URL")))?;
    let host_port = rest.split('/').next().unwrap_or(rest);
    let lower = host_port.to_ascii_lowercase();
    if (lower.contains("binance.com") || lower.contains("binance.vision")) && !args.insist_production {
        return Err(UsageError(format!("--target {url} is a Binance production host: a reconnect storm gets the IP banned; pass --insist-production to do it anyway")).into());
    }
    let addr = std::net::ToSocketAddrs::to_socket_addrs(host_port)
        .map_err(|e| UsageError(format!("--target {url}: {e}")))?
        .next()
        .ok_or_else(|| UsageError(format!("--target {url}: no address")))?;
    if !addr.ip().is_loopback() && !args.allow_remote {
        return Err(UsageError(format!(
            "--target {url} is not on loopback; pass --allow-remote to load a remote upstream"
        ))
        .into());
    }
    Ok(Some(addr))
}
