//! A sharded rehearsal's records as one run's: each step judged again on the sum of the shards'
//! contributions ([`crate::rollout::pool`]), which must be what every shard decided. Pure.

use crate::rollout::controller::{JudgedStep, RehearsalRecord};
use crate::rollout::evaluate::judge_step;
use crate::rollout::plan::RolloutPlan;
use crate::rollout::pool::Contribution;

/// The shards' rehearsal records (in shard order) as one run's: each step judged again on the sum of the
/// shards' contributions, which must be what every shard decided; the performed rollback from the shard
/// that began it first. Why not, when a shard decided otherwise than the pooled figures say.
pub fn merge_records(plan: &RolloutPlan, shards: &[RehearsalRecord]) -> Result<RehearsalRecord, String> {
    let judged = shards.iter().map(|s| s.steps.len()).min().unwrap_or(0);
    let mut merged = RehearsalRecord::default();
    for k in 0..judged {
        let own: Vec<Contribution> = shards.iter().map(|s| s.steps[k].own.clone()).collect();
        let pooled = Contribution::pooled(&own);
        let step = shards[0].steps[k].step;
        let judgement = judge_step(&plan.triggers, &pooled.figures, pooled.exposure);
        if let Some(i) = shards.iter().position(|s| s.steps[k].step != step || s.steps[k].judgement != judgement) {
            return Err(format!(
                "shard {i} judged step {} otherwise than the shards' pooled figures do: were the shards \
                 pooled through one mock?",
                step.index + 1
            ));
        }
        let fired = !judgement.fired.is_empty();
        merged.steps.push(JudgedStep { step, clients_on_new: pooled.exposure.clients, judgement, own: pooled });
        if fired && merged.first_rollback.is_none() {
            merged.first_rollback = Some(step.index);
        }
    }
    // A rollback at a step some shard never judged (it was cancelled first, or the board closed it for the
    // others) is the shorter shard's gap below, not a disagreement.
    let disagrees =
        |s: &RehearsalRecord| s.first_rollback.is_some_and(|k| k < judged && Some(k) != merged.first_rollback);
    if let Some(i) = shards.iter().position(disagrees) {
        return Err(format!("shard {i} rolled back at another step than the shards' pooled figures say"));
    }
    let first = shards.iter().filter(|s| s.rolled_back_at.is_some()).min_by_key(|s| s.rolled_back_at);
    if let Some(first) = first {
        merged.rolled_back_at = first.rolled_back_at;
        merged.rollback_moves.clone_from(&first.rollback_moves);
        merged.rolled_back = shards.iter().filter(|s| s.rolled_back_at.is_some()).all(|s| s.rolled_back);
    }
    merged.unpooled = shards.iter().find_map(|s| s.unpooled.clone());
    if let Some(i) = shards.iter().position(|s| s.steps.len() > judged).filter(|_| merged.unpooled.is_none()) {
        let shorter = shards.iter().position(|s| s.steps.len() == judged).unwrap_or(0);
        let why = format!("shard {shorter} did not judge step {} (shard {i} did): it ended first", judged + 1);
        merged.unpooled = Some((judged, why));
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::steps::{StepCounts, StepFigures};
    use crate::rollout::evaluate::Exposure;
    use crate::rollout::plan::{RawRollout, validate};
    use std::time::Duration;

    fn plan() -> RolloutPlan {
        let preset = Some(crate::criteria::preset::Preset::Gradual);
        let raw = RawRollout { steps: Some(vec![0.5, 1.0]), preset, ..Default::default() };
        validate(&raw, Duration::ZERO, Duration::from_secs(60), &mut Vec::new()).unwrap()
    }

    fn contribution(attempts: u64, connected: u64) -> Contribution {
        let mut counts = StepCounts { attempts, connected, ..Default::default() };
        counts.failed_by_second = vec![(attempts, attempts - connected)];
        counts.latency.record(1000).unwrap();
        let figures = StepFigures { counts, ..Default::default() };
        Contribution { figures, exposure: Exposure { clients: 5, subscriptions: 50 } }
    }

    /// What a shard's controller records having pooled `all` at step `index`.
    fn judged(plan: &RolloutPlan, index: usize, own: &Contribution, all: &[Contribution]) -> JudgedStep {
        let pooled = Contribution::pooled(all);
        let judgement = judge_step(&plan.triggers, &pooled.figures, pooled.exposure);
        JudgedStep { step: plan.steps[index], clients_on_new: pooled.exposure.clients, judgement, own: own.clone() }
    }

    #[test]
    fn the_merge_judges_again_on_the_pooled_figures() {
        let plan = plan();
        // Shard 1 fails 9 of 10 attempts: alone shard 0's step is clean, pooled it fires.
        let (a, b) = (contribution(10, 10), contribution(10, 1));
        let all = [a.clone(), b.clone()];
        let shard = |own: &Contribution| RehearsalRecord {
            steps: vec![judged(&plan, 0, own, &all)],
            first_rollback: Some(0),
            ..Default::default()
        };
        let merged = merge_records(&plan, &[shard(&a), shard(&b)]).unwrap();
        assert_eq!(merged.first_rollback, Some(0));
        assert_eq!(merged.steps[0].clients_on_new, 10);
        assert_eq!(merged.steps[0].judgement.connection_success, Some(55.0));
        let alone =
            RehearsalRecord { steps: vec![judged(&plan, 0, &a, std::slice::from_ref(&a))], ..Default::default() };
        let refused = merge_records(&plan, &[alone, shard(&b)]).unwrap_err();
        assert!(refused.starts_with("shard 0 judged step 1 otherwise"), "{refused}");
    }
}
