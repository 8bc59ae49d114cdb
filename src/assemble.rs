//! A run's [`RunSummary`], assembled from the scenario it ran and what its recorder, self-check, canaries
//! and mock recorded, then judged. It sits above the summary model, the criteria and the rollout (it
//! uses all three) and below `commands::run`, which only wires the run and hands its records here.

use std::collections::HashMap;
use std::time::Duration;

use crate::criteria::verdict::Judging;
use crate::load::driver::source_address;
use crate::load::population::CohortPlan;
use crate::manager::assumptions::Assumption;
use crate::manager::settings::ManagerKind;
use crate::mock::stats::MockSnapshot;
use crate::record::canary::CanaryRecord;
use crate::record::{recorder, selfcheck};
use crate::rollout::controller::RehearsalRecord;
use crate::run_dir::baseline_json::BaselineInput;
use crate::scenario::Scenario;
use crate::summary::build;
use crate::summary::external::ExternalSummary;
use crate::summary::rig::{RigInputs, RigPart, RigSummary, rig_summary};
use crate::summary::{
    BaselineInfo, CohortSummary, FaultWindow, RunInfo, RunSummary, SCHEMA_VERSION, ShardInfo, ShardRun, WindowLabel,
};

/// What one execution of a scenario recorded on the harness side.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    /// The recorder's per-cohort records, event count and rehearsal steps.
    pub recording: recorder::Recording,
    /// The scheduler-lag self-check.
    pub health: selfcheck::Health,
    /// The canaries' record, when the run had canaries.
    pub canary: Option<CanaryRecord>,
    /// Connection attempts the kernel's listen queues dropped during the run (loopback upstreams only).
    pub listen_drops: Option<u64>,
    /// The mock's open connections, sampled once a second.
    pub server_open: Vec<u64>,
    /// How long the run lasted.
    pub elapsed: Duration,
    /// Whether Ctrl-C or SIGTERM ended it.
    pub interrupted: bool,
    /// Each cohort's planned size, in cohort order.
    pub plans: Vec<CohortPlan>,
    /// The rehearsal controller's record, for a rehearsal.
    #[serde(default)]
    pub rehearsed: Option<RehearsalRecord>,
}

/// What the run knew about itself besides its records.
pub struct RunFacts<'a> {
    /// The mock's last counters (`None` when they could not be read, or for an external upstream).
    pub snapshot: Option<&'a MockSnapshot>,
    /// Milliseconds between the mock's start and the run's.
    pub mock_offset_ms: u64,
    /// When the run started, in Unix milliseconds.
    pub started_unix_ms: u64,
    /// Which upstream the run targeted (`embedded`, `child-process`, `external`).
    pub upstream: String,
    /// The baseline the run is compared against, if one was given.
    pub baseline: Option<&'a BaselineInput>,
    /// The shard of a sharded run this is.
    pub shard: Option<ShardInfo>,
    /// The shards a merged run was merged from (empty otherwise): a shard whose rig lagged makes the merged
    /// run's rig lagged too.
    pub shards: Vec<ShardRun>,
    /// Every client connected from a loopback address of its own (a loopback upstream), so the mock's
    /// per-address counts are each client's.
    pub sources_bound: bool,
}

/// The run's summary, every criterion judged.
pub fn summary(scenario: &Scenario, recorded: &Recorded, facts: RunFacts<'_>) -> RunSummary {
    let faults = facts.snapshot.map(|s| build::fault_windows(&s.faults, facts.mock_offset_ms)).unwrap_or_default();
    let mut cohorts = cohorts(scenario, recorded, &faults);
    // Past the mock's cap on the addresses it counts apart, some cohorts' upgrades are pooled: not told (a
    // fleet of replicas may count more addresses between them, each below its cap).
    // Off loopback every client connects from the harness's one address: nobody's attempts in particular.
    let counted_apart = |s: &&MockSnapshot| !s.upgrades_per_ip.contains_key(&crate::mock::stats::OTHER_SOURCES);
    if let Some(snapshot) = facts.snapshot.filter(counted_apart).filter(|_| facts.sources_bound) {
        server_attempts(&mut cohorts, recorded, snapshot);
    }
    let mut summary = unjudged(scenario, recorded, &facts, cohorts, faults);
    let judging = Judging {
        overrides: &scenario.criteria,
        thresholds: &scenario.thresholds,
        baseline: facts.baseline.map(|b| (&b.baseline, &scenario.baseline)),
        latency_floor: scenario.harness.latency_floor,
        gate: scenario.rollout.gate,
    };
    summary.verdicts = crate::rollout::verdicts::judge_run(&summary, &judging);
    summary
}

/// Each cohort's summary, with its figures during each judged fault window and after it.
fn cohorts(scenario: &Scenario, recorded: &Recorded, faults: &[FaultWindow]) -> Vec<CohortSummary> {
    let grace = scenario.harness.recovery_deadline;
    let labels = window_labels(scenario);
    let records = &recorded.recording.cohorts;
    records
        .iter()
        .zip(&recorded.plans)
        .map(|(record, plan)| {
            let mut cohort = build::cohort_summary(record, plan.clone(), faults, grace);
            build::stretch_figures(&mut cohort, record, &labels);
            let external = plan.external.then(|| scenario.managers.external.iter().find(|e| e.name == plan.name));
            if let Some(manager) = external.flatten() {
                let lag_threshold_us = scenario.harness.rig_delay.as_micros() as u64;
                cohort.external = Some(ExternalSummary::of(&record.external, manager, plan.clients, lag_threshold_us));
            }
            cohort
        })
        .collect()
}

/// Each cohort's attempts as the mock counted them, by the source addresses of its clients; none for the
/// cohorts of a rehearsal, whose clients keep their address on either side.
fn server_attempts(cohorts: &mut [CohortSummary], recorded: &Recorded, snapshot: &MockSnapshot) {
    let mut owners: HashMap<u32, usize> = HashMap::new();
    for record in &recorded.recording.cohorts {
        for client in record.clients() {
            *owners.entry(client).or_default() += 1;
        }
    }
    for (cohort, record) in cohorts.iter_mut().zip(&recorded.recording.cohorts) {
        if record.clients().any(|c| owners.get(&c).is_some_and(|n| *n > 1)) {
            continue;
        }
        let per_ip = &snapshot.upgrades_per_ip;
        let counted = record.clients().map(|c| per_ip.get(&source_address(c)).map_or(0, |u| u.attempts())).sum();
        cohort.server_attempts = Some(counted);
    }
}

/// The planned fault windows that get figures of their own, named after their faults.
fn window_labels(scenario: &Scenario) -> Vec<WindowLabel> {
    scenario
        .fault_plan()
        .judged_windows()
        .map(|w| {
            let fault = scenario.faults.get(w.fault);
            WindowLabel {
                name: fault.and_then(|f| f.name.clone()),
                kind: fault.map_or_else(String::new, |f| f.kind.name().as_str().to_owned()),
                start_ms: w.start.as_millis() as u64,
                end_ms: w.end.as_millis() as u64,
            }
        })
        .collect()
}

fn unjudged(
    scenario: &Scenario,
    recorded: &Recorded,
    facts: &RunFacts<'_>,
    cohorts: Vec<CohortSummary>,
    faults: Vec<FaultWindow>,
) -> RunSummary {
    let peak_connections: i64 = cohorts.iter().map(|c| c.connections.high_water).sum();
    let named: Vec<(String, &recorder::CohortRecord)> =
        cohorts.iter().map(|c| c.name.clone()).zip(&recorded.recording.cohorts).collect();
    let streams = build::stream_summaries(&named, facts.snapshot);
    RunSummary {
        schema_version: SCHEMA_VERSION,
        wschaos_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario: serde_json::to_value(scenario).unwrap_or_default(),
        mock_config: serde_json::to_value(&scenario.mock).unwrap_or_default(),
        run: RunInfo {
            started_unix_ms: facts.started_unix_ms,
            elapsed_ms: recorded.elapsed.as_millis() as u64,
            interrupted: recorded.interrupted,
            upstream: facts.upstream.clone(),
            events_recorded: recorded.recording.events,
            shard: facts.shard,
            shards: facts.shards.clone(),
        },
        cohorts,
        server: facts.snapshot.map(build::server_summary),
        faults,
        harness: build::harness_summary(&recorded.health, scenario.harness.saturation_lag, peak_connections),
        rig: with_shards(rig_summary(rig_inputs(scenario, recorded, facts)), &facts.shards, scenario),
        verdicts: Vec::new(),
        streams,
        rollout: scenario
            .rollout
            .plan
            .as_ref()
            .zip(recorded.rehearsed.as_ref())
            .map(|(plan, record)| crate::rollout::summary::summarize(plan, record, &recorded.recording.steps)),
        assumptions: assumptions(scenario, recorded),
        baseline: facts.baseline.map(|b| BaselineInfo {
            path: b.path.display().to_string(),
            scenario: b.baseline.scenario.clone(),
            seed: b.baseline.seed,
            started_unix_ms: b.baseline.started_unix_ms,
        }),
    }
}

/// The assumptions of the managers that ran (legacy too when unified clients may fall back to it).
fn assumptions(scenario: &Scenario, recorded: &Recorded) -> Vec<Assumption> {
    let mut ran: Vec<ManagerKind> = recorded.plans.iter().map(|p| p.manager).collect();
    if ran.contains(&ManagerKind::Unified) && scenario.managers.unified.fallback_after.is_some() {
        ran.push(ManagerKind::Legacy);
    }
    scenario.assumptions.iter().filter(|a| ran.contains(&a.manager)).cloned().collect()
}

/// How far apart the shards of a merged run may start (ms) and still be one run: their seconds are added
/// index by index, and one instant starts the fault windows of all.
const SHARDS_APART_MS: u64 = 1_000;

/// A merged run's rig with its shards' own checks: lagged when any shard's was (a shard's lag is not
/// averaged away by the others'), or when the shards did not start together at one planned instant.
fn with_shards(mut rig: RigSummary, shards: &[ShardRun], scenario: &Scenario) -> RigSummary {
    if shards.is_empty() {
        return rig;
    }
    let lagged: Vec<String> = shards.iter().filter(|s| s.rig_lagged).map(|s| s.index.to_string()).collect();
    let worst = shards.iter().map(|s| s.lag_p99_us).max().unwrap_or(0);
    let apart = shards.iter().map(|s| s.start_offset_ms).max().unwrap_or(0);
    let planned: std::collections::BTreeSet<Option<u64>> = shards.iter().map(|s| s.start_at_unix_ms).collect();
    let together = shards.len() < 2 || (apart <= SHARDS_APART_MS && planned.len() == 1 && !planned.contains(&None));
    let mut notes = Vec::new();
    if !lagged.is_empty() {
        notes.push(format!("shard(s) {} lagged", lagged.join(", ")));
    }
    if !together {
        notes.push(format!(
            "the shards did not start together ({apart} ms apart, {} start instant(s) planned): each one's \
             seconds and fault windows are not the others'",
            planned.len()
        ));
    }
    rig.parts.push(RigPart {
        part: "shards".into(),
        what: "each shard's own rig check (its scheduler, canaries and the shared mock as it saw them); the \
               figure is the worst shard's scheduler lag"
            .into(),
        p99_us: worst,
        threshold_us: scenario.harness.saturation_lag.as_micros() as u64,
        samples: shards.len() as u64,
        measured: true,
        lagged: !notes.is_empty(),
        note: notes.join("; "),
        ..RigPart::default()
    });
    if !notes.is_empty() {
        rig.lagged = true;
        rig.lagging.push("shards".into());
    }
    rig
}

fn rig_inputs<'a>(scenario: &Scenario, recorded: &'a Recorded, facts: &RunFacts<'a>) -> RigInputs<'a> {
    RigInputs {
        health: &recorded.health,
        canary: recorded.canary.as_ref(),
        mock: facts.snapshot,
        mock_in_own_process: facts.upstream == "child-process" || facts.upstream == "shared",
        scheduler_threshold_us: scenario.harness.saturation_lag.as_micros() as u64,
        rig_threshold_us: scenario.harness.rig_delay.as_micros() as u64,
        listen_drops: recorded.listen_drops,
        somaxconn: crate::os::somaxconn(),
    }
}
