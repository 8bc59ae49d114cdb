//! `wschaos merge DIR… --out DIR`: the shards of a sharded run read back from their run directories,
//! refused unless they are every shard of one run, combined ([`combine`]) and judged again as one run:
//! every criterion, custom threshold and baseline tolerance on the merged data, never on the shards'
//! verdicts. Writes an ordinary run directory (with each shard's start offset and rig check in
//! `summary.json`) and every report, and exits as `wschaos run` does.

mod combine;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::assemble::RunFacts;
use crate::commands::process::{Outcome, UsageError};
use crate::config_file::SourceFile;
use crate::run_dir::records_json;
use crate::run_dir::timeseries_csv::RigSeconds;
use crate::scenario::{self, cost::MachineLimits};
use crate::summary::RunSummary;
use combine::ShardInput;

/// Merges the shards' run directories `dirs` into the run directory `out`: its summary, and how the merged
/// run exits.
pub(super) fn merge(dirs: &[PathBuf], out: &Path, baseline: Option<&Path>) -> Result<(RunSummary, Outcome)> {
    let mut inputs = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let records = records_json::read(dir).map_err(|e| UsageError(format!("{e:#}")))?;
        inputs.push(ShardInput { dir: dir.clone(), records });
    }
    let problems = combine::problems(&inputs);
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        return Err(UsageError(format!("these are not the shards of one run:\n{}", list.join("\n"))).into());
    }
    let baseline = match baseline {
        Some(path) => Some(crate::run_dir::baseline_json::read(path).map_err(|e| UsageError(format!("{e:#}")))?),
        None => None,
    };
    let merged = combine::combine(inputs);
    let source = SourceFile { path: PathBuf::from(&merged.scenario.path), text: merged.scenario.text.clone() };
    // The shards checked the scenario against their own machines' limits; the merge runs nothing.
    let mut scenario = scenario::from_source(&source, &MachineLimits::default())
        .map_err(|e| UsageError(format!("the shards' scenario no longer validates: {e}")))?;
    scenario.seed = merged.seed;
    scenario.duration = merged.duration;
    let facts = RunFacts {
        snapshot: merged.snapshot.as_ref(),
        mock_offset_ms: merged.mock_offset_ms,
        started_unix_ms: merged.started_unix_ms,
        upstream: "shared".into(),
        baseline: baseline.as_ref(),
        shard: None,
        shards: merged.shards.clone(),
        sources_bound: merged.sources_bound,
    };
    let mut recorded = merged.recorded;
    if let Some(plan) = &scenario.rollout.plan {
        if merged.rehearsals.len() != merged.shards.len() {
            let (kept, count) = (merged.rehearsals.len(), merged.shards.len());
            return Err(UsageError(format!("{kept} of the {count} shards kept a rehearsal record")).into());
        }
        let rehearsed = crate::rollout::merged::merge_records(plan, &merged.rehearsals)
            .map_err(|why| UsageError(format!("the shards' rehearsal records do not agree: {why}")))?;
        recorded.rehearsed = Some(rehearsed);
    }
    let recorded = &recorded;
    let summary = crate::assemble::summary(&scenario, recorded, facts);
    let canary_seconds = recorded.canary.as_ref().map_or(&[][..], |c| &c.p99_per_second[..]);
    let seconds = RigSeconds { lag: &recorded.health.lag_p99_per_second, canary: canary_seconds };
    crate::run_dir::write(out, &summary, &recorded.recording.cohorts, &recorded.server_open, seconds)?;
    crate::report::files::write_reports(out)?;
    let mock_failed = merged.snapshot.is_none();
    if mock_failed {
        eprintln!("wschaos merge: no shard read the shared mock's counters; the merged run is not trustworthy");
    }
    let outcome = Outcome::of(&summary, recorded.interrupted, mock_failed);
    Ok((summary, outcome))
}
