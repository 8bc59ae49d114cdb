//! The shards of a run checked against each other and combined into one run's records. Pure: the shards'
//! records in, the merged run's records and facts out.
//!
//! The shards' own records add up as one recorder's would ([`Recording::absorb`]). Of what each shard's
//! process measured of itself, the merged run keeps the worst, so that no shard's trouble is averaged away:
//! the scheduler lag and the canaries of the shard whose p99 was highest, each second's highest figure;
//! memory and CPU are the shards' totals. The shared mock's counters are those read last (they are
//! cumulative), its fault records placed against shard 0's start, which applied them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::assemble::Recorded;
use crate::mock::stats::MockSnapshot;
use crate::record::canary::CanaryRecord;
use crate::record::recorder::Recording;
use crate::record::selfcheck::Health;
use crate::rollout::controller::RehearsalRecord;
use crate::run_dir::records_json::{ScenarioText, ShardRecords};
use crate::summary::{CohortPlan, ShardRun};

/// One shard's records, with the directory they came from.
pub(super) struct ShardInput {
    /// Its run directory.
    pub(super) dir: PathBuf,
    /// Its records.
    pub(super) records: ShardRecords,
}

/// The merged run.
#[derive(Debug)]
pub(super) struct Merged {
    /// The scenario every shard ran.
    pub(super) scenario: ScenarioText,
    /// Its seed.
    pub(super) seed: u64,
    /// Its run length.
    pub(super) duration: Duration,
    /// Everything the shards recorded, added.
    pub(super) recorded: Recorded,
    /// The shared mock's counters, read last.
    pub(super) snapshot: Option<MockSnapshot>,
    /// Milliseconds between the mock's start and shard 0's.
    pub(super) mock_offset_ms: u64,
    /// Shard 0's start, Unix ms.
    pub(super) started_unix_ms: u64,
    /// Each shard, in index order.
    pub(super) shards: Vec<ShardRun>,
    /// Every shard's clients connected from addresses of their own.
    pub(super) sources_bound: bool,
    /// Each shard's rehearsal record, in index order (empty outside a rehearsal): judged again by the merge,
    /// which knows the plan.
    pub(super) rehearsals: Vec<RehearsalRecord>,
}

/// Why the given directories are not the shards of one run, every reason at once (empty when they are).
pub(super) fn problems(inputs: &[ShardInput]) -> Vec<String> {
    let Some(first) = inputs.first() else { return vec!["no shard given".into()] };
    let mut problems = Vec::new();
    let f = &first.records.facts;
    for input in &inputs[1..] {
        let (g, dir) = (&input.records.facts, input.dir.display());
        let name = first.dir.display();
        if g.scenario.text != f.scenario.text {
            problems
                .push(format!("{dir} ran another scenario than {name} ({} vs {})", g.scenario.path, f.scenario.path));
        }
        if g.seed != f.seed {
            problems.push(format!("{dir} ran seed {} and {name} seed {}", g.seed, f.seed));
        }
        if g.duration_ms != f.duration_ms {
            problems.push(format!("{dir} ran {} ms and {name} {} ms", g.duration_ms, f.duration_ms));
        }
        if g.replicas != f.replicas {
            problems.push(format!("{dir} ran against {} mock replicas and {name} against {}", g.replicas, f.replicas));
        }
        if g.shard.count != f.shard.count {
            problems.push(format!("{dir} is a shard of {} and {name} of {}", g.shard.count, f.shard.count));
        }
        if input.records.wschaos_version != first.records.wschaos_version {
            let (a, b) = (&input.records.wschaos_version, &first.records.wschaos_version);
            problems.push(format!("{dir} was run by wschaos {a} and {name} by {b}"));
        }
    }
    problems.extend(coverage_problems(inputs, f.shard.count));
    problems.extend(mock_problems(inputs));
    for input in inputs {
        if input.records.recorded.plans.iter().any(|p| p.external) {
            problems.push(format!("{} has external cohorts, which are not sharded", input.dir.display()));
        }
    }
    problems
}

/// The shards of one replica read one mock's counters, those of different replicas different mocks' (a
/// shard pointed at another mock than it was told, or replicas that are one mock, would add up wrongly).
fn mock_problems(inputs: &[ShardInput]) -> Vec<String> {
    let replicas = inputs[0].records.facts.replicas.max(1);
    let mut seen: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let mut problems = Vec::new();
    for input in inputs {
        let facts = &input.records.facts;
        let Some(instance) = facts.snapshot.as_ref().map(|s| s.instance.as_str()).filter(|i| !i.is_empty()) else {
            continue;
        };
        let (index, replica) = (facts.shard.index, facts.shard.index % replicas);
        match seen.get(instance) {
            Some((other, r)) if *r != replica => problems.push(format!(
                "shards {other} and {index} read the counters of one mock ({instance}) but were to run against \
                 replicas {r} and {replica} of {replicas}"
            )),
            Some(_) => {}
            None => {
                let elsewhere = seen.iter().find(|(_, (_, r))| *r == replica);
                if let Some((theirs, (other, _))) = elsewhere {
                    problems.push(format!(
                        "shards {other} and {index} were to run against one mock (replica {replica} of {replicas}) \
                         but read the counters of two ({theirs} and {instance}): was every shard given the same \
                         --target and --control?"
                    ));
                }
                seen.insert(instance, (index, replica));
            }
        }
    }
    problems
}

/// Every index of `0..count` given exactly once.
fn coverage_problems(inputs: &[ShardInput], count: u32) -> Vec<String> {
    let mut seen: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for input in inputs {
        seen.entry(input.records.facts.shard.index).or_default().push(input.dir.display().to_string());
    }
    let mut problems: Vec<String> = seen
        .iter()
        .filter(|(_, dirs)| dirs.len() > 1)
        .map(|(index, dirs)| format!("shard {index}/{count} is given {} times: {}", dirs.len(), dirs.join(", ")))
        .collect();
    let missing: Vec<String> = (0..count).filter(|i| !seen.contains_key(i)).map(|i| format!("{i}/{count}")).collect();
    if !missing.is_empty() {
        problems.push(format!("shard(s) {} missing: a merge needs every shard of the run", missing.join(", ")));
    }
    problems
}

/// The shards' records combined, shards in index order ([`problems`] found none).
pub(super) fn combine(mut inputs: Vec<ShardInput>) -> Merged {
    inputs.sort_by_key(|i| i.records.facts.shard.index);
    let shards = shard_runs(&inputs);
    let snapshot = fleet_snapshot(&inputs);
    let sources_bound = inputs.iter().all(|i| i.records.facts.sources_bound);
    let first = &inputs[0].records;
    let (scenario, seed) = (first.facts.scenario.clone(), first.facts.seed);
    let duration = Duration::from_millis(first.facts.duration_ms);
    let (mock_offset_ms, started_unix_ms) = (first.facts.mock_offset_ms, first.facts.started_unix_ms);
    let server_open = fleet_open(&inputs);
    let mut records: Vec<Recorded> = inputs.into_iter().map(|i| i.records.recorded).collect();
    let rehearsals = records.iter_mut().filter_map(|r| r.rehearsed.take()).collect();
    let recorded = combined(records, server_open);
    Merged {
        scenario,
        seed,
        duration,
        recorded,
        snapshot,
        mock_offset_ms,
        started_unix_ms,
        shards,
        sources_bound,
        rehearsals,
    }
}

/// The shared mock's counters as read last (the longest uptime: they are cumulative) by one of its shards;
/// with replicas, each replica's so read, added. `None` when no shard of some replica read them.
fn fleet_snapshot(inputs: &[ShardInput]) -> Option<MockSnapshot> {
    let replicas = inputs[0].records.facts.replicas.max(1);
    let mut fleet: Option<MockSnapshot> = None;
    for replica in 0..replicas {
        let on_it = inputs.iter().filter(|i| i.records.facts.shard.index % replicas == replica);
        let latest = on_it.filter_map(|i| i.records.facts.snapshot.as_ref()).max_by_key(|s| s.uptime_ms)?;
        match &mut fleet {
            Some(fleet) => fleet.absorb_replica(latest),
            None => fleet = Some(latest.clone()),
        }
    }
    fleet
}

/// The mock's open connections each second: what the shards of one replica sampled (the highest), the
/// replicas' added.
fn fleet_open(inputs: &[ShardInput]) -> Vec<u64> {
    let replicas = inputs[0].records.facts.replicas.max(1);
    let per_replica: Vec<Vec<u64>> = (0..replicas)
        .map(|replica| {
            let on_it = inputs.iter().filter(|i| i.records.facts.shard.index % replicas == replica);
            highest_each(on_it.map(|i| &i.records.recorded.server_open[..]))
        })
        .collect();
    summed_each(per_replica.iter().map(|s| &s[..]))
}

fn shard_runs(inputs: &[ShardInput]) -> Vec<ShardRun> {
    let earliest = inputs.iter().map(|i| i.records.facts.started_unix_ms).min().unwrap_or(0);
    inputs
        .iter()
        .map(|input| {
            let (facts, recorded) = (&input.records.facts, &input.records.recorded);
            ShardRun {
                index: facts.shard.index,
                clients: recorded.plans.iter().map(|p| u64::from(p.clients)).sum(),
                started_unix_ms: facts.started_unix_ms,
                start_offset_ms: facts.started_unix_ms - earliest,
                start_at_unix_ms: facts.start_at_unix_ms,
                elapsed_ms: recorded.elapsed.as_millis() as u64,
                lag_p99_us: recorded.health.lag.value_at_quantile(0.99),
                canary_p99_us: recorded.canary.as_ref().map(|c| c.latency.value_at_quantile(0.99)),
                rig_lagged: facts.rig_lagged,
            }
        })
        .collect()
}

/// The shards' records as one run's, with the mock's open connections each second.
fn combined(shards: Vec<Recorded>, server_open: Vec<u64>) -> Recorded {
    let mut recording = Recording::default();
    for shard in &shards {
        recording.absorb(&shard.recording);
    }
    recording.bound_peaks(&shards.iter().map(|s| &s.recording).collect::<Vec<_>>());
    Recorded {
        recording,
        health: worst_health(&shards),
        canary: worst_canary(&shards),
        listen_drops: shards.iter().filter_map(|s| s.listen_drops).max(),
        server_open,
        elapsed: shards.iter().map(|s| s.elapsed).max().unwrap_or_default(),
        interrupted: shards.iter().any(|s| s.interrupted),
        plans: added_plans(&shards),
        rehearsed: None,
    }
}

/// The series combined element by element with `combine`, the shorter ones padded with zeros.
fn each<'a>(series: impl Iterator<Item = &'a [u64]>, combine: fn(u64, u64) -> u64) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for s in series {
        if out.len() < s.len() {
            out.resize(s.len(), 0);
        }
        for (a, b) in out.iter_mut().zip(s) {
            *a = combine(*a, *b);
        }
    }
    out
}

/// Each element's highest value across the series.
fn highest_each<'a>(series: impl Iterator<Item = &'a [u64]>) -> Vec<u64> {
    each(series, u64::max)
}

/// Each element's sum across the series.
fn summed_each<'a>(series: impl Iterator<Item = &'a [u64]>) -> Vec<u64> {
    each(series, u64::saturating_add)
}

/// The lag of the shard whose scheduler lagged most, each second's highest; memory and CPU summed.
fn worst_health(shards: &[Recorded]) -> Health {
    let worst = shards.iter().max_by_key(|s| s.health.lag.value_at_quantile(0.99)).expect("a merge has shards");
    Health {
        lag: worst.health.lag.clone(),
        lag_p99_per_second: highest_each(shards.iter().map(|s| &s.health.lag_p99_per_second[..])),
        rss_kib_per_second: summed_each(shards.iter().map(|s| &s.health.rss_kib_per_second[..])),
        rss_at_start_kib: shards.iter().map(|s| s.health.rss_at_start_kib).sum(),
        cpu_seconds: shards.iter().map(|s| s.health.cpu_seconds).sum(),
    }
}

/// The canaries of the shard whose canaries were slowest, each second's highest p99.
fn worst_canary(shards: &[Recorded]) -> Option<CanaryRecord> {
    let with: Vec<&CanaryRecord> = shards.iter().filter_map(|s| s.canary.as_ref()).collect();
    let worst = with.iter().max_by_key(|c| c.latency.value_at_quantile(0.99))?;
    Some(CanaryRecord {
        p99_per_second: highest_each(with.iter().map(|c| &c.p99_per_second[..])),
        missed: with.iter().map(|c| c.missed).sum(),
        ..(*worst).clone()
    })
}

/// Each cohort's planned size, the shards' added.
fn added_plans(shards: &[Recorded]) -> Vec<CohortPlan> {
    let mut plans = shards[0].plans.clone();
    for shard in &shards[1..] {
        for (plan, other) in plans.iter_mut().zip(&shard.plans) {
            plan.clients += other.clients;
            plan.subscriptions += other.subscriptions;
            plan.distinct_streams += other.distinct_streams;
        }
    }
    plans
}
