//! `wschaos run <scenario.toml>`: run a scenario against the embedded mock (or a given upstream), record
//! everything, and write the run directory. Ctrl-C stops the run and still writes what was measured.

mod console;
mod upstream;

use console::{Console, Mode};
use upstream::{Upstream, open_upstream, resolve_target, sample_server};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::commands::process::{Outcome, StopSignals, UsageError};
use crate::criteria::verdict::{Judging, any_failed};
use crate::load::driver::{self, DriveContext};
use crate::load::placement;
use crate::load::population::{ClientPlan, CohortPlan, StreamDraw, population};
use crate::manager::audience::RunContext;
use crate::mock::stats::MockSnapshot;
use crate::record::canary::{self, CanaryRecord};
use crate::record::progress::{Progress, RigReceivers};
use crate::record::steps::StepLog;
use crate::record::{recorder, selfcheck};
use crate::rollout::controller::RehearsalRecord;
use crate::run_dir::baseline_json::{self, BaselineInput};
use crate::scenario::{self, Scenario};
use crate::summary::build;
use crate::summary::rig::{RigInputs, rig_summary};
use crate::summary::{BaselineInfo, RunInfo, RunSummary, SCHEMA_VERSION, WindowLabel};
use crate::vocab::calendar::utc_compact;

/// Runs a scenario.
pub async fn run(args: RunArgs) -> Result<Outcome> {
    // From here on Ctrl-C and SIGTERM stop the command cleanly, at start-up too.
    let mut stop = StopSignals::register().context("could not listen for Ctrl-C and SIGTERM")?;
    let limits = crate::commands::process::machine_limits();
    let mut scenario = scenario::load_for(&args.scenario, &limits).map_err(|e| UsageError(e.to_string()))?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    if let Some(duration) = args.duration {
        scenario.duration = duration.0;
    }
    let target = resolve_target(&args)?;
    let baseline = match &args.baseline {
        Some(path) => Some(baseline_json::read(path).map_err(|e| UsageError(format!("{e:#}")))?),
        None => None,
    };
    let out = args.out.clone().unwrap_or_else(|| default_run_dir(&scenario.name));
    let started_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let own_process = args.mock_process || scenario.harness.mock_in_own_process;
    let w = &scenario.workload;
    let subscriptions = u64::from(w.clients)
        .saturating_mul(u64::from(w.subscribers_per_client))
        .saturating_mul(u64::from(w.streams_per_subscriber));
    if subscriptions >= LARGE_POPULATION && !args.quiet {
        eprintln!("wschaos run: {}: drawing {subscriptions} subscriptions (Ctrl-C stops it)", scenario.name);
    }
    let Some(people) = until_stopped(&mut stop, draw_population(&scenario)).await.transpose()? else {
        return Ok(interrupted_at_start_up());
    };
    let opened = until_stopped(&mut stop, open_upstream(&scenario, &people, target, &out, own_process)).await;
    let Some(upstream) = opened.transpose()? else {
        return Ok(interrupted_at_start_up());
    };
    let console = Console::new(Mode::of(&args), &scenario, upstream.applies_faults());
    console.started(&scenario, &upstream.label());
    let label = upstream.label();
    let (execution, finished) = execute(&scenario, &people, upstream, &mut stop, &console).await?;
    let (snapshot, offset_ms) = finished;
    let mock_failed = snapshot.is_none() && label != "external";
    let summary =
        build_summary(&scenario, &execution, snapshot.as_ref(), offset_ms, started_unix_ms, label, baseline.as_ref());
    let records = &execution.recording.cohorts;
    let canary_seconds = execution.canary.as_ref().map_or(&[][..], |c| &c.p99_per_second[..]);
    let seconds = crate::run_dir::timeseries_csv::RigSeconds {
        lag: &execution.health.lag_p99_per_second,
        canary: canary_seconds,
    };
    crate::run_dir::write(&out, &summary, records, &execution.server_open, seconds)?;
    crate::report::files::write_reports(&out)?;
    crate::report::files::append_step_summary(&summary)?;
    if mock_failed {
        eprintln!("wschaos run: the mock's counters could not be read (did the mock die?); the run is not trustworthy");
    }
    let outcome = if execution.interrupted {
        Outcome::Interrupted
    } else if mock_failed {
        Outcome::HarnessError
    } else if any_failed(&summary.verdicts) {
        // A criterion the rig cannot excuse (a count, a close code) failed: the rig's lag made only the
        // latency and storm verdicts not measurable, and the report says so.
        Outcome::CriteriaFailed
    } else if summary.rig_lagged() {
        Outcome::HarnessError
    } else {
        Outcome::Success
    };
    console.finish(outcome, &summary, &out)?;
    Ok(outcome)
}

/// Subscriptions from which drawing the population takes long enough to say so.
const LARGE_POPULATION: u64 = 100_000;

/// `work`, unless Ctrl-C or SIGTERM comes first (`None`).
async fn until_stopped<T>(stop: &mut StopSignals, work: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::select! {
        done = work => Some(done),
        _ = stop.recv() => None,
    }
}

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

/// What one execution produced.
struct Execution {
    recording: recorder::Recording,
    health: selfcheck::Health,
    canary: Option<CanaryRecord>,
    /// Connection attempts the kernel's listen queues dropped during the run (loopback upstreams only).
    listen_drops: Option<u64>,
    server_open: Vec<u64>,
    elapsed: Duration,
    interrupted: bool,
    plans: Vec<CohortPlan>,
    rehearsed: Option<RehearsalRecord>,
}

async fn execute(
    scenario: &Scenario,
    people: &[ClientPlan],
    upstream: Upstream,
    stop: &mut StopSignals,
    console: &Console,
) -> Result<(Execution, (Option<MockSnapshot>, u64))> {
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
    let run_cancel = CancellationToken::new();
    let drops_before = upstream.applies_faults().then(crate::os::listen_drops).flatten();
    let (events, events_rx) = mpsc::channel(65_536);
    let start = Instant::now();
    // A child mock's record is mirrored until every client has ended its accounting.
    let mirror_stop = CancellationToken::new();
    let (freshness, record_lag) = upstream.freshness(&symbols, &mirror_stop);
    let ctx = Arc::new(RunContext {
        target: upstream.addr(),
        start,
        events,
        cancel: run_cancel.clone(),
        freshness: freshness.clone(),
        settle: settle(scenario),
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
        windows: planned_windows(scenario).iter().map(|w| (w.start, w.end)).collect(),
    };
    let recorder = tokio::spawn(recorder::run(events_rx, setup));
    let health_cancel = CancellationToken::new();
    let (lag, lag_rx) = watch::channel(0);
    let health = tokio::spawn(selfcheck::run(health_cancel.clone(), lag, selfcheck::rss_kib()));
    let (canary_p99, canary_rx) = watch::channel(0);
    let canaries = (upstream.applies_faults() && scenario.harness.canaries > 0).then(|| {
        // The canaries measure the run, not its teardown: they stop when the clients are told to.
        tokio::spawn(canary::run(upstream.addr(), scenario.harness.canaries, run_cancel.clone(), canary_p99))
    });
    let names = cohorts.iter().map(|c| c.manager.as_str().to_owned()).collect();
    let live = console.spawn_live(names, progress_rx, RigReceivers { lag: lag_rx, canary: canary_rx });
    let sampler = tokio::spawn(sample_server(upstream.probe(), health_cancel.clone()));
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
                placements,
                plan,
                exposures,
                (queries, start, run_cancel.clone()),
            );
            (clients, Some(controller))
        }
        None => (driver::start(&drive, placements), None),
    };
    drop(drive);
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
    let finished = upstream.finish(start).await;
    let execution =
        Execution { recording, health, canary, listen_drops, server_open, elapsed, interrupted, plans, rehearsed };
    Ok((execution, finished))
}

/// Fault windows of the plan that get latency and staleness figures of their own: those with a length,
/// the first [`WINDOWS_JUDGED`] of them.
fn planned_windows(scenario: &Scenario) -> Vec<crate::chaos::plan::Occurrence> {
    let plan = crate::chaos::plan::FaultPlan::build(&scenario.faults, scenario.seed, scenario.duration);
    plan.occurrences.into_iter().filter(|o| o.end > o.start).take(WINDOWS_JUDGED).collect()
}

/// Fault windows with figures of their own, at most.
const WINDOWS_JUDGED: usize = 64;

/// How close to the end of a socket's accounting an event may be published and still be in flight: a
/// second, plus the longest delay a latency fault of the scenario holds messages for.
fn settle(scenario: &Scenario) -> Duration {
    let held = scenario.faults.iter().filter_map(|f| match f.kind {
        crate::chaos::fault::FaultKind::Latency { delay, jitter } => Some(delay + jitter),
        _ => None,
    });
    Duration::from_secs(1) + held.max().unwrap_or(Duration::ZERO)
}

fn build_summary(
    scenario: &Scenario,
    execution: &Execution,
    snapshot: Option<&MockSnapshot>,
    mock_offset_ms: u64,
    started_unix_ms: u64,
    upstream: String,
    baseline: Option<&BaselineInput>,
) -> RunSummary {
    let faults = snapshot.map(|s| build::fault_windows(&s.faults, mock_offset_ms)).unwrap_or_default();
    let grace = scenario.harness.recovery_deadline;
    let cohorts: Vec<_> = execution
        .recording
        .cohorts
        .iter()
        .zip(&execution.plans)
        .map(|(record, plan)| build::cohort_summary(record, *plan, &faults, grace))
        .collect::<Vec<_>>();
    let windows = planned_windows(scenario);
    let labels: Vec<WindowLabel> = windows
        .iter()
        .map(|w| WindowLabel {
            name: scenario.faults.get(w.fault).and_then(|f| f.name.clone()),
            kind: scenario.faults.get(w.fault).map_or_else(String::new, |f| f.kind.name().as_str().to_owned()),
            start_ms: w.start.as_millis() as u64,
            end_ms: w.end.as_millis() as u64,
        })
        .collect();
    let cohorts: Vec<_> = cohorts
        .into_iter()
        .zip(&execution.recording.cohorts)
        .map(|(mut c, record)| {
            build::stretch_figures(&mut c, record, &labels);
            c
        })
        .collect();
    let peak_connections: i64 = cohorts.iter().map(|c| c.connections.high_water).sum();
    let named: Vec<(String, &recorder::CohortRecord)> =
        cohorts.iter().map(|c| c.name.clone()).zip(&execution.recording.cohorts).collect();
    let streams = build::stream_summaries(&named, snapshot);
    let mock_in_own_process = upstream == "child-process";
    let mut summary = RunSummary {
        schema_version: SCHEMA_VERSION,
        wschaos_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario: serde_json::to_value(scenario).unwrap_or_default(),
        mock_config: serde_json::to_value(&scenario.mock).unwrap_or_default(),
        run: RunInfo {
            started_unix_ms,
            elapsed_ms: execution.elapsed.as_millis() as u64,
            interrupted: execution.interrupted,
            upstream,
            events_recorded: execution.recording.events,
        },
        cohorts,
        server: snapshot.map(build::server_summary),
        faults,
        harness: build::harness_summary(&execution.health, scenario.harness.saturation_lag, peak_connections),
        rig: rig_summary(RigInputs {
            health: &execution.health,
            canary: execution.canary.as_ref(),
            mock: snapshot,
            mock_in_own_process,
            scheduler_threshold_us: scenario.harness.saturation_lag.as_micros() as u64,
            rig_threshold_us: scenario.harness.rig_delay.as_micros() as u64,
            listen_drops: execution.listen_drops,
            somaxconn: crate::os::somaxconn(),
        }),
        verdicts: Vec::new(),
        streams,
        rollout: scenario
            .rollout
            .plan
            .as_ref()
            .zip(execution.rehearsed.as_ref())
            .map(|(plan, record)| crate::rollout::summary::summarize(plan, record, &execution.recording.steps)),
        baseline: baseline.map(|b| BaselineInfo {
            path: b.path.display().to_string(),
            scenario: b.baseline.scenario.clone(),
            seed: b.baseline.seed,
            started_unix_ms: b.baseline.started_unix_ms,
        }),
    };
    let judging = Judging {
        overrides: &scenario.criteria,
        thresholds: &scenario.thresholds,
        baseline: baseline.map(|b| (&b.baseline, &scenario.baseline)),
        latency_floor: scenario.harness.latency_floor,
        gate: scenario.rollout.gate,
    };
    summary.verdicts = crate::rollout::verdicts::judge_run(&summary, &judging);
    summary
}

/// `reports/<name>-<UTC timestamp>`.
fn default_run_dir(name: &str) -> PathBuf {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    PathBuf::from("reports").join(format!("{safe}-{}", utc_compact(secs)))
}
