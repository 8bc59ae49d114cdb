//! `wschaos run <scenario.toml>`: run a scenario against the embedded mock (or a given upstream), record
//! everything, and write the run directory. Ctrl-C stops the run and still writes what was measured.

mod console;
mod external;
mod metrics;
mod planned_faults;
mod pool;
mod processes;
mod start;
mod upstream;

use console::{Console, Mode};
use metrics::LiveMetrics;
use start::{StartGate, until_stopped, wait_for_start};
use upstream::{Upstream, control_api, open_upstream, resolve_target, sample_server};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::adapter::cohort::ExternalRun;
use crate::assemble::{Recorded, RunFacts};
use crate::cli::RunArgs;
use crate::commands::process::{Outcome, StopSignals, UsageError};
use crate::config_file::SourceFile;
use crate::load::driver::{self, DriveContext};
use crate::load::placement;
use crate::load::population::{ClientPlan, StreamDraw, population};
use crate::load::shard::Shard;
use crate::manager::audience::RunContext;
use crate::mock::process::ControlApi;
use crate::mock::stats::MockSnapshot;
use crate::record::canary;
use crate::record::progress::{Progress, RigReceivers};
use crate::record::steps::StepLog;
use crate::record::{recorder, selfcheck};
use crate::run_dir::baseline_json;
use crate::run_dir::records_json::{self, ScenarioText, ShardFacts};
use crate::scenario::{self, Scenario};
use crate::summary::ShardInfo;
use crate::vocab::calendar::utc_compact;

/// Runs a scenario.
pub async fn run(args: RunArgs) -> Result<Outcome> {
    // From here on Ctrl-C and SIGTERM stop the command cleanly, at start-up too.
    let mut stop = StopSignals::register().context("could not listen for Ctrl-C and SIGTERM")?;
    let mut limits = crate::commands::process::machine_limits();
    let processes = args.shard.map(|s| s.count).or(args.processes);
    if let Some(count) = processes {
        // Each shard is a process of its own: the run's clients may hold `count` times one process's files.
        limits.open_files = limits.open_files.map(|files| files.saturating_mul(u64::from(count)));
    }
    let source = SourceFile::read(&args.scenario).map_err(|e| UsageError(e.to_string()))?;
    let mut scenario = scenario::from_source(&source, &limits).map_err(|e| UsageError(e.to_string()))?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    if let Some(duration) = args.duration {
        scenario.duration = duration.0;
    }
    let target = resolve_target(&args)?;
    external::check_upstream(&scenario, target.is_some(), args.mock_process || scenario.harness.mock_in_own_process)?;
    if let Some(shard) = args.shard {
        check_shardable(&scenario, &shard.to_string())?;
        check_shard_upstream(&scenario, &args, target.as_ref())?;
    }
    if let Some(count) = args.processes {
        check_shardable(&scenario, &format!("{count} processes"))?;
        if let Some(addr) = args.metrics {
            metrics::check_address(addr, args.metrics_token.as_deref())?;
            metrics::shard_address(addr, count - 1)?;
        }
        external::check_upstream(&scenario, true, false)?;
        let open_files = crate::commands::process::machine_limits().open_files;
        let replicas = processes::replicas(&scenario, (count, args.mock_processes), open_files)?;
        let out = args.out.clone().unwrap_or_else(|| default_run_dir(&scenario.name));
        let ran = processes::run(&args, &scenario, (count, replicas), &out, &mut stop).await;
        let (summary, outcome) = match ran {
            Err(e) if e.is::<processes::Interrupted>() => {
                eprintln!("wschaos run: {e}");
                return Ok(Outcome::Interrupted);
            }
            ran => ran?,
        };
        crate::report::files::append_step_summary(&summary)?;
        print_result((args.json, args.quiet), outcome, &summary, &out)?;
        return Ok(outcome);
    }
    let baseline = match &args.baseline {
        Some(path) => Some(baseline_json::read(path).map_err(|e| UsageError(format!("{e:#}")))?),
        None => None,
    };
    let metrics = match args.metrics {
        Some(addr) => Some(bind_metrics(addr, &args).await?),
        None => None,
    };
    let out = args.out.clone().unwrap_or_else(|| default_run_dir(&scenario.name));
    let own_process = args.mock_process || scenario.harness.mock_in_own_process;
    let w = &scenario.workload;
    let subscriptions = u64::from(w.clients)
        .saturating_mul(u64::from(w.subscribers_per_client))
        .saturating_mul(u64::from(w.streams_per_subscriber));
    if subscriptions >= LARGE_POPULATION && !args.quiet {
        eprintln!("wschaos run: {}: drawing {subscriptions} subscriptions (Ctrl-C stops it)", scenario.name);
    }
    let Some(mut people) = until_stopped(&mut stop, draw_population(&scenario)).await.transpose()? else {
        return Ok(interrupted_at_start_up());
    };
    if let Some(shard) = args.shard {
        people.retain(|p| shard.owns(p.id));
    }
    let opened = until_stopped(&mut stop, open_upstream(&scenario, &people, target, &out, own_process)).await;
    let Some(upstream) = opened.transpose()? else {
        return Ok(interrupted_at_start_up());
    };
    let console = Console::new(Mode::of(&args), &scenario, upstream.is_mock());
    console.started(&scenario, &upstream.label());
    let label = upstream.label();
    // Off loopback the clients cannot connect from addresses of their own: the mock's per-address counts
    // are then nobody's in particular.
    let sources_bound = upstream.addr().ip().is_loopback();
    let gate = StartGate::of(&args, upstream.control());
    let pooling = step_pool(&args, &scenario, upstream.control())?;
    let executed =
        execute(&scenario, &people, upstream, (&mut stop, gate, pooling, metrics.as_ref()), &console).await?;
    let Some((execution, finished)) = executed else {
        return Ok(interrupted_at_start_up());
    };
    let mock_failed = finished.snapshot.is_none() && label != "external";
    let shard = args.shard.map(|shard| ShardInfo {
        index: shard.index,
        count: shard.count,
        start_at_unix_ms: finished.start_at_unix_ms,
    });
    let facts = RunFacts {
        snapshot: finished.snapshot.as_ref(),
        mock_offset_ms: finished.offset_ms,
        started_unix_ms: finished.started_unix_ms,
        upstream: label,
        baseline: baseline.as_ref(),
        shard,
        shards: Vec::new(),
        sources_bound,
    };
    let summary = crate::assemble::summary(&scenario, &execution, facts);
    let records = &execution.recording.cohorts;
    let canary_seconds = execution.canary.as_ref().map_or(&[][..], |c| &c.p99_per_second[..]);
    let seconds = crate::run_dir::timeseries_csv::RigSeconds {
        lag: &execution.health.lag_p99_per_second,
        canary: canary_seconds,
    };
    crate::run_dir::write(&out, &summary, records, &execution.server_open, seconds)?;
    if let Some(shard) = args.shard {
        let facts = ShardFacts {
            shard,
            replicas: args.replicas,
            sources_bound,
            scenario: ScenarioText { path: source.path.display().to_string(), text: source.text.clone() },
            seed: scenario.seed,
            duration_ms: scenario.duration.as_millis() as u64,
            start_at_unix_ms: finished.start_at_unix_ms,
            started_unix_ms: finished.started_unix_ms,
            upstream: summary.run.upstream.clone(),
            snapshot: finished.snapshot.clone(),
            mock_offset_ms: finished.offset_ms,
            rig_lagged: summary.rig_lagged(),
        };
        records_json::write(&out, &facts, &execution)?;
    }
    crate::report::files::write_reports(&out)?;
    if args.shard.is_none() {
        // A shard's verdicts judge its slice alone: the merge's go to the step summary.
        crate::report::files::append_step_summary(&summary)?;
    }
    if mock_failed {
        eprintln!("wschaos run: the mock's counters could not be read (did the mock die?); the run is not trustworthy");
    }
    let outcome = Outcome::of(&summary, execution.interrupted, mock_failed);
    console.finish(outcome, &summary, &out)?;
    if let Some(metrics) = metrics {
        // The recorder's last publication is what a scrape reads from its end on, for the linger.
        let linger =
            if execution.interrupted { Duration::ZERO } else { args.metrics_linger.map_or(Duration::ZERO, |d| d.0) };
        metrics.finish(linger, &mut stop).await;
    }
    Ok(outcome)
}

/// A rehearsal through an external migration layer has external cohorts, which are not sharded.
fn check_shardable(scenario: &Scenario, how: &str) -> Result<()> {
    if let Some(layer) = scenario.rollout.plan.as_ref().and_then(|p| p.external.as_ref()) {
        return Err(UsageError(format!(
            "scenario '{}' rehearses through the external migration layer '{}', whose processes are not \
             sharded: it cannot run as {how}; run it in one process",
            scenario.name, layer.name
        ))
        .into());
    }
    Ok(())
}

/// Where a shard of a rehearsal pools each step's figures with the other shards (`--pool`, else
/// `--control`); `None` outside a sharded rehearsal.
fn step_pool(args: &RunArgs, scenario: &Scenario, control: Option<ControlApi>) -> Result<Option<(ControlApi, Shard)>> {
    let Some(shard) = args.shard.filter(|s| s.count > 1 && scenario.rollout.plan.is_some()) else {
        return Ok(None);
    };
    let control = match &args.pool {
        Some(text) => control_api(args, "--pool", text)?,
        None => control.ok_or_else(|| UsageError("a shard of a rehearsal needs --control or --pool".into()))?,
    };
    Ok(Some((control, shard)))
}

/// Prints the result of a run written elsewhere than by `run` (a merge of shards) as `run` prints its own.
pub(super) fn print_result(
    (json, quiet): (bool, bool),
    outcome: Outcome,
    summary: &crate::summary::RunSummary,
    dir: &std::path::Path,
) -> Result<()> {
    console::print_result(Mode::from_flags(json, quiet), outcome, summary, dir)
}

/// A shard's upstream: a barrier is on one mock (replicas each have their own), and off loopback every client
/// connects from this host's one address, which a per-address connect limit would throttle as a whole.
fn check_shard_upstream(scenario: &Scenario, args: &RunArgs, target: Option<&upstream::Target>) -> Result<()> {
    if args.barrier && args.replicas > 1 {
        return Err(UsageError(format!(
            "--barrier with --replicas {}: each replica would hold a barrier of its own that only its shards reach; \
             start the shards with --start-at, or with --processes",
            args.replicas
        ))
        .into());
    }
    if scenario.rollout.plan.is_some() && args.shard.is_some_and(|s| s.count > 1) {
        check_rehearsal_shard(args)?;
    }
    let remote = target.is_some_and(|t| !t.addr.ip().is_loopback());
    if remote && scenario.mock.limits.connect_attempts.is_some() {
        return Err(UsageError(format!(
            "scenario '{}' runs off loopback, where all of a shard's clients connect from one address, but its mock \
             limits connection attempts per address (limits.connect-attempts): the limit would refuse the clients \
             as one, not the manager; set `connect-attempts = \"off\"` under [mock.limits]",
            scenario.name
        ))
        .into());
    }
    Ok(())
}

/// A rehearsal's shards step together and pool each step's figures on one board: they need one planned start
/// and, with replicas (each holding a board of its own), one board named.
fn check_rehearsal_shard(args: &RunArgs) -> Result<()> {
    if args.start_at.is_none() && !args.start_on_stdin && !args.barrier {
        return Err(UsageError(
            "a shard of a rollout rehearsal steps with the other shards: start them together with --start-at \
             or --barrier (or run them with --processes)"
                .into(),
        )
        .into());
    }
    if args.replicas > 1 && args.pool.is_none() {
        return Err(UsageError(format!(
            "a shard of a rollout rehearsal against {} mock replicas: each replica holds a board of its own; name \
             one for every shard with --pool (replica 0's control API)",
            args.replicas
        ))
        .into());
    }
    Ok(())
}

/// Subscriptions from which drawing the population takes long enough to say so.
const LARGE_POPULATION: u64 = 100_000;

/// Draws the population on a thread of its own, so that a signal is heard while it is drawn (an abandoned
/// thread ends with the process).
async fn draw_population(scenario: &Scenario) -> Result<Vec<ClientPlan>> {
    let (done, drawn) = tokio::sync::oneshot::channel();
    let workload = scenario.workload.clone();
    let symbols: Vec<String> = scenario.mock.feed.symbols.iter().map(|s| s.name.clone()).collect();
    let seed = scenario.seed;
    std::thread::Builder::new()
        .name("population".into())
        .spawn(move || done.send(population(&workload, &symbols, seed)))
        .context("could not start drawing the population")?;
    drawn.await.context("drawing the population failed")
}

/// A signal during start-up: nothing was measured, nothing is written.
fn interrupted_at_start_up() -> Outcome {
    eprintln!("wschaos run: interrupted during start-up, before any client connected; nothing was measured");
    Outcome::Interrupted
}

/// How a run ended on the upstream's side.
struct Finished {
    /// The mock's last counters (`None` when they could not be read, or for an external upstream).
    snapshot: Option<MockSnapshot>,
    /// Milliseconds between the mock's start and the run's.
    offset_ms: u64,
    /// When the clients started, in Unix milliseconds.
    started_unix_ms: u64,
    /// The instant they were to start at (`--start-at`, or a barrier's), Unix ms.
    start_at_unix_ms: Option<u64>,
}

/// Milliseconds since the Unix epoch (0 before it).
fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

async fn execute(
    scenario: &Scenario,
    people: &[ClientPlan],
    upstream: Upstream,
    (stop, gate, pooling, metrics): (&mut StopSignals, StartGate, Option<(ControlApi, Shard)>, Option<&LiveMetrics>),
    console: &Console,
) -> Result<Option<(Recorded, Finished)>> {
    let symbols: Vec<String> = scenario.mock.feed.symbols.iter().map(|s| s.name.clone()).collect();
    let plan = scenario.rollout.plan.as_ref();
    let (cohorts, placements) = match plan {
        Some(plan) => crate::rollout::rehearsal::place(plan, people),
        None => placement::place(&scenario.cohorts, people, scenario.workload.clients),
    };
    let plans = match plan {
        Some(plan) => crate::rollout::rehearsal::cohort_sizes(plan, people),
        None => placement::cohort_sizes(&cohorts, &placements),
    };
    // Starting external processes takes seconds, so Ctrl-C is heard then; a scenario without any starts at
    // once, and an interrupt already on its way is heard by the run (which then writes what it measured).
    let launched = if external::any(scenario) {
        let launching = external::launch(scenario, &cohorts, &placements, &upstream);
        let Some(launched) = until_stopped(stop, launching).await else { return Ok(None) };
        launched?
    } else {
        None
    };
    let run_cancel = CancellationToken::new();
    let drops_before = upstream.is_mock().then(crate::os::listen_drops).flatten();
    let (events, events_rx) = mpsc::channel(65_536);
    let Some(planned) = wait_for_start(stop, gate).await? else {
        return Ok(None);
    };
    let start = Instant::now();
    let started_unix_ms = unix_ms(SystemTime::now());
    // The shards of one rehearsal name their board alike: the scenario, the seed and the start they agreed on.
    let pool = pooling.map(|(control, shard)| {
        let run = format!("{}:{}:{}", scenario.name, scenario.seed, planned.map_or(0, unix_ms));
        Arc::new(pool::MockBoard { control, run, shard }) as Arc<dyn crate::rollout::pool::StepPool>
    });
    // A child mock's record is mirrored until every client has ended its accounting.
    let mirror_stop = CancellationToken::new();
    let (freshness, record_lag) = upstream.freshness(&symbols, &mirror_stop);
    let ctx = Arc::new(RunContext {
        target: upstream.addr(),
        start,
        events,
        cancel: run_cancel.clone(),
        freshness: freshness.clone(),
        settle: scenario.in_flight_allowance(),
        record_lag,
    });
    let run_seconds = scenario.duration.as_secs() as usize + 1;
    let starts = plan.map(|p| p.steps.iter().map(|s| s.start).collect()).unwrap_or_default();
    let (queries, queries_rx) = mpsc::channel(8);
    let (progress, progress_rx) = watch::channel(Progress::start(cohorts.len()));
    let setup = recorder::Setup {
        cohorts: cohorts.len(),
        run_seconds,
        start,
        progress,
        steps: StepLog::new(starts, cohorts.len()),
        queries: queries_rx,
        freshness: freshness.map(|f| (f, scenario.harness.staleness_every)),
        windows: scenario.fault_plan().judged_windows().map(|w| (w.start, w.end)).collect(),
    };
    let recorder = tokio::spawn(recorder::run(events_rx, setup));
    let health_cancel = CancellationToken::new();
    let (lag, lag_rx) = watch::channel(0);
    let health = tokio::spawn(selfcheck::run(health_cancel.clone(), lag, selfcheck::rss_kib()));
    let (canary_p99, canary_rx) = watch::channel(0);
    let canaries = (upstream.is_mock() && scenario.harness.canaries > 0).then(|| {
        // The canaries measure the run, not its teardown: they stop when the clients are told to.
        tokio::spawn(canary::run(upstream.addr(), scenario.harness.canaries, run_cancel.clone(), canary_p99))
    });
    let names = cohorts.iter().map(|c| c.name.clone()).collect();
    let rig = RigReceivers { lag: lag_rx, canary: canary_rx };
    let live = console.spawn_live(names, progress_rx.clone(), rig.clone());
    let (targets, _) = watch::channel(crate::rollout::controller::Target::BEFORE);
    if let Some(metrics) = metrics {
        let following = plan.map(|p| metrics::Following {
            targets: targets.subscribe(),
            clients: clients_and_subscriptions(people),
            pinned: p.pinned.clone(),
        });
        metrics.feed(metrics.setup(scenario, &plans, console.planned_faults()), (progress_rx, rig), following);
    }
    let sampler = tokio::spawn(sample_server(upstream.probe(), health_cancel.clone()));
    // In a rehearsal the processes' migration layers move their clients between the legacy cohort (0) and theirs.
    let legacy_side = plan.map(|_| 0);
    let external = launched.map(|(started, mock)| ExternalRun::start(started, ctx.clone(), mock, legacy_side));
    let hosts = external.as_ref().map(|e| e.hosts.clone()).unwrap_or_default();
    upstream.start_faults(scenario, start, &run_cancel);
    let drive = DriveContext {
        run: ctx.clone(),
        settings: Arc::new(scenario.managers.clone()),
        workload: Arc::new(scenario.workload.clone()),
        draw: Arc::new(StreamDraw::new(&scenario.workload, &symbols)),
        seed: scenario.seed,
        clients: scenario.workload.clients,
    };
    let (mut clients, controller) = match plan {
        Some(plan) => {
            let exposures = crate::rollout::rehearsal::exposures(plan, people);
            let (clients, controller) = crate::rollout::rehearsal::start(
                &drive,
                (placements, &hosts),
                plan,
                (exposures, pool, targets),
                (queries, start, run_cancel.clone()),
            );
            (clients, Some(controller))
        }
        None => (driver::start(&drive, placements, &hosts), None),
    };
    drop((drive, hosts));
    let interrupted = tokio::select! {
        _ = tokio::time::sleep(scenario.duration) => false,
        _ = stop.recv() => true,
    };
    let elapsed = start.elapsed();
    run_cancel.cancel();
    let stopped =
        tokio::time::timeout(Duration::from_secs(30), async { while clients.join_next().await.is_some() {} }).await;
    if stopped.is_err() {
        tracing::warn!("some clients did not stop within 30 s; their last samples are lost");
        clients.abort_all();
    }
    if let Some(external) = external {
        if tokio::time::timeout(Duration::from_secs(30), external.finish()).await.is_err() {
            tracing::warn!("some external processes did not stop within 30 s; their last samples are lost");
        }
    }
    mirror_stop.cancel();
    let rehearsed = match controller {
        Some(controller) => Some(controller.await.context("the rehearsal controller failed")?),
        None => None,
    };
    drop(ctx);
    let recording = recorder.await.context("the recorder failed")?;
    if let Some(live) = live {
        live.await.context("the live display failed")?;
    }
    health_cancel.cancel();
    let health = health.await.context("the self-check failed")?;
    let canary = match canaries {
        Some(task) => Some(task.await.context("the canaries failed")?),
        None => None,
    };
    let server_open = sampler.await.unwrap_or_default();
    let listen_drops = drops_before.zip(crate::os::listen_drops()).map(|(before, after)| after.saturating_sub(before));
    let (snapshot, offset_ms) = upstream.finish(start).await;
    let execution =
        Recorded { recording, health, canary, listen_drops, server_open, elapsed, interrupted, plans, rehearsed };
    Ok(Some((execution, Finished { snapshot, offset_ms, started_unix_ms, start_at_unix_ms: planned.map(unix_ms) })))
}

/// Every client's id and subscriptions.
fn clients_and_subscriptions(people: &[ClientPlan]) -> Vec<(u32, u64)> {
    people.iter().map(|p| (p.id, p.subscriptions())).collect()
}

/// Serves `--metrics` (bound before anything of the run starts) and says where.
async fn bind_metrics(addr: std::net::SocketAddr, args: &RunArgs) -> Result<LiveMetrics> {
    let shard = args.shard.map(|s| s.to_string()).unwrap_or_default();
    let metrics = LiveMetrics::start(addr, args.metrics_token.clone(), shard).await?;
    eprintln!("wschaos run: metrics on http://{}/metrics", metrics.local_addr());
    Ok(metrics)
}

/// `reports/<name>-<UTC timestamp>`.
fn default_run_dir(name: &str) -> PathBuf {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    PathBuf::from("reports").join(format!("{safe}-{}", utc_compact(secs)))
}
