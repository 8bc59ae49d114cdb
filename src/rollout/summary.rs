//! Building a rehearsal's part of the run summary ([`RolloutSummary`], data of the summary model): each
//! step with its share, its handovers (subscriptions and connections preserved, messages lost or
//! duplicated, time without data) and what the rollback triggers read, and the outcome: every step
//! completed, or the step and trigger that rolled it back (and, when performed, how long the clients took
//! to receive again on legacy). Built from the plan, the controller's record and the recorder's step log.

use crate::record::steps::{HandoverTotals, StepLog};
use crate::rollout::controller::RehearsalRecord;
use crate::rollout::evaluate::StepJudgement;
use crate::rollout::plan::{Expectation, RolloutPlan};
use crate::summary::Percentiles;
pub use crate::summary::rollout::{
    HandoverSummary, RollbackMove, RolloutOutcome, RolloutSummary, StepSummary, fired_text,
};

/// The handover summary of recorded totals.
fn handovers(totals: &HandoverTotals) -> HandoverSummary {
    HandoverSummary {
        clients: totals.clients,
        clients_preserved: totals.clients_preserved,
        subscriptions: totals.subscriptions,
        subscriptions_preserved: totals.subscriptions_preserved,
        lost: totals.lost,
        duplicated: totals.duplicated,
        without_data_us: Percentiles::of(&totals.without_data),
        took_us: Percentiles::of(&totals.took),
    }
}

fn trigger_text(judgement: &StepJudgement) -> Vec<String> {
    judgement.fired.iter().map(fired_text).collect()
}

fn total(log: &StepLog) -> HandoverTotals {
    let mut all = HandoverTotals::default();
    for step in &log.handovers {
        all.absorb(step);
    }
    all
}

/// The rehearsal's summary.
pub fn summarize(plan: &RolloutPlan, record: &RehearsalRecord, log: &StepLog) -> RolloutSummary {
    let steps: Vec<StepSummary> = plan
        .steps
        .iter()
        .map(|step| {
            let judged = record.steps.iter().find(|j| j.step.index == step.index);
            StepSummary {
                index: step.index,
                share: step.share,
                start_ms: step.start.as_millis() as u64,
                judged_ms: step.judged_at.as_millis() as u64,
                reached: judged.is_some(),
                clients_on_new: judged.map_or(0, |j| j.clients_on_new),
                handover: log.handovers.get(step.index).map(handovers).unwrap_or_default(),
                judgement: judged.map(|j| j.judgement.clone()),
            }
        })
        .collect();
    let fired = record.first_rollback.and_then(|i| steps.get(i)).and_then(|s| s.judgement.as_ref()).map(trigger_text);
    let completed = record.first_rollback.is_none() && steps.iter().all(|s| s.reached);
    let recovery_ms = record
        .rolled_back_at
        .filter(|_| log.rollback.clients > 0 && record.rolled_back)
        .map(|at| log.rollback.last_done.saturating_sub(at).as_millis() as u64);
    let as_expected = match plan.expect {
        Expectation::Complete => completed,
        Expectation::Rollback => record.first_rollback.is_some(),
    };
    RolloutSummary {
        new_manager: plan.new_manager,
        new_cohort: plan.external.as_ref().map_or_else(|| plan.new_manager.as_str().to_owned(), |e| e.name.clone()),
        handover: plan.handover,
        rollback: plan.rollback,
        rollback_steps: plan.rollback_steps,
        steps,
        rollback_handover: handovers(&log.rollback),
        total: handovers(&total(log)),
        outcome: RolloutOutcome {
            completed,
            rollback_step: record.first_rollback,
            triggers: fired.unwrap_or_default(),
            performed: record.rolled_back_at.is_some(),
            recovery_ms,
            rollback_moves: record
                .rollback_moves
                .iter()
                .map(|(at, share)| RollbackMove { at_ms: at.as_millis() as u64, share: *share })
                .collect(),
            rollback_unfinished: record.rolled_back_at.is_some() && !record.rolled_back,
            unpooled: record.unpooled.clone(),
            expected: plan.expect,
            as_expected,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::controller::JudgedStep;
    use crate::rollout::evaluate::Fired;
    use crate::rollout::plan::{RawRollout, validate};
    use std::time::Duration;

    fn plan(expect: Expectation) -> RolloutPlan {
        let raw = RawRollout { steps: Some(vec![0.5, 1.0]), expect: Some(expect), ..Default::default() };
        validate(&raw, Duration::ZERO, Duration::from_secs(60), &mut Vec::new()).unwrap()
    }

    fn judged(plan: &RolloutPlan, index: usize, fired: bool) -> JudgedStep {
        let fired = if fired {
            vec![Fired { trigger: "error-rate".into(), measured: 3.0, threshold: 1.0, unit: "%".into() }]
        } else {
            Vec::new()
        };
        JudgedStep {
            step: plan.steps[index],
            clients_on_new: 5,
            judgement: StepJudgement { fired, ..Default::default() },
            own: Default::default(),
        }
    }

    #[test]
    fn the_outcome_is_judged_against_the_expectation() {
        let complete = plan(Expectation::Complete);
        let clean = RehearsalRecord {
            steps: vec![judged(&complete, 0, false), judged(&complete, 1, false)],
            ..Default::default()
        };
        let summary = summarize(&complete, &clean, &StepLog::new(vec![Duration::ZERO; 2], 2));
        assert!(summary.outcome.completed && summary.outcome.as_expected);
        let fired = RehearsalRecord {
            steps: vec![judged(&complete, 0, false), judged(&complete, 1, true)],
            first_rollback: Some(1),
            ..Default::default()
        };
        let summary = summarize(&complete, &fired, &StepLog::new(vec![Duration::ZERO; 2], 2));
        assert_eq!(summary.outcome.triggers, ["error-rate 3 % > 1"]);
        assert!(!summary.outcome.completed && !summary.outcome.as_expected);
        let expecting = plan(Expectation::Rollback);
        assert!(summarize(&expecting, &fired, &StepLog::new(vec![Duration::ZERO; 2], 2)).outcome.as_expected);
        let cut_short = RehearsalRecord { steps: vec![judged(&complete, 0, false)], ..Default::default() };
        let summary = summarize(&complete, &cut_short, &StepLog::new(vec![Duration::ZERO; 2], 2));
        assert!(!summary.outcome.completed && !summary.steps[1].reached, "a step the run never judged is not a pass");
    }
}
