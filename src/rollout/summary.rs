//! A rehearsal in the run summary: each step with its share, its handovers (subscriptions and connections
//! preserved, messages lost or duplicated, time without data) and what the rollback triggers read, and the
//! outcome: every step completed, or the step and trigger that rolled it back (and, when performed, how long
//! the clients took to receive again on legacy). Built from the plan, the controller's record and the
//! recorder's step log.

use serde::{Deserialize, Serialize};

use crate::record::steps::{HandoverTotals, StepLog};
use crate::report::summary::Percentiles;
use crate::rollout::controller::RehearsalRecord;
use crate::rollout::evaluate::{Fired, StepJudgement};
use crate::rollout::plan::{Expectation, HandoverOrder, RollbackMode, RolloutPlan};
use crate::scenario::ManagerKind;

/// The handovers of one step (or of the rollback).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HandoverSummary {
    /// Clients moved.
    pub clients: u64,
    /// Clients whose every subscription received on the new manager in time.
    pub clients_preserved: u64,
    /// Subscriptions moved.
    pub subscriptions: u64,
    /// Subscriptions that received on the new manager in time.
    pub subscriptions_preserved: u64,
    /// Sequence ids no manager delivered (consecutive streams: trades, aggregate trades, diff depth).
    pub lost: u64,
    /// Sequence ids both managers delivered.
    pub duplicated: u64,
    /// Time without data per moved subscription (µs).
    pub without_data_us: Percentiles,
    /// Time per client from the start of its handover until every subscription received (µs).
    pub took_us: Percentiles,
}

impl HandoverSummary {
    fn of(totals: &HandoverTotals) -> HandoverSummary {
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

    /// Subscriptions preserved (%), when any moved.
    pub fn subscription_preservation(&self) -> Option<f64> {
        (self.subscriptions > 0).then(|| 100.0 * self.subscriptions_preserved as f64 / self.subscriptions as f64)
    }

    /// Clients whose connection to the market was kept (%), when any moved.
    pub fn connection_preservation(&self) -> Option<f64> {
        (self.clients > 0).then(|| 100.0 * self.clients_preserved as f64 / self.clients as f64)
    }
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    /// Position (0-based).
    pub index: usize,
    /// Share of clients on the new manager.
    pub share: f64,
    /// Start (ms after the run started).
    pub start_ms: u64,
    /// When it was judged (ms).
    pub judged_ms: u64,
    /// Whether the run reached its judgement.
    pub reached: bool,
    /// Clients on the new manager during the step.
    pub clients_on_new: u32,
    /// The step's handovers.
    pub handover: HandoverSummary,
    /// What the triggers read and what fired (`None` when not reached).
    pub judgement: Option<StepJudgement>,
}

/// How the rehearsal ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutOutcome {
    /// Every step was reached and none fired.
    pub completed: bool,
    /// The first step whose triggers fired (0-based).
    pub rollback_step: Option<usize>,
    /// Its triggers, as `trigger measured > threshold`.
    pub triggers: Vec<String>,
    /// The rollback was performed (clients moved back).
    pub performed: bool,
    /// From the rollback until the last moved-back client received on legacy again (ms).
    pub recovery_ms: Option<u64>,
    /// The outcome the scenario expected.
    pub expected: Expectation,
    /// Whether the outcome is the expected one.
    pub as_expected: bool,
}

/// A rehearsal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutSummary {
    /// The manager traffic moved to.
    pub new_manager: ManagerKind,
    /// Handover order.
    pub handover: HandoverOrder,
    /// Evaluate or perform rollbacks.
    pub rollback: RollbackMode,
    /// Every planned step.
    pub steps: Vec<StepSummary>,
    /// The rollback's handovers back to legacy.
    pub rollback_handover: HandoverSummary,
    /// Every step's handovers together.
    pub total: HandoverSummary,
    /// How it ended.
    pub outcome: RolloutOutcome,
}

/// A trigger that fired, as `trigger measured unit > threshold` (`<` for the floors: connection success,
/// subscription preservation).
pub fn fired_text(f: &Fired) -> String {
    let symbol =
        if matches!(f.trigger.as_str(), "connection-success" | "subscription-preservation") { "<" } else { ">" };
    format!("{} {} {} {symbol} {}", f.trigger, f.measured, f.unit, f.threshold)
}

fn trigger_text(judgement: &StepJudgement) -> Vec<String> {
    judgement.fired.iter().map(fired_text).collect()
}

fn total(log: &StepLog) -> HandoverTotals {
    let mut all = HandoverTotals::default();
    for step in &log.handovers {
        all.clients += step.clients;
        all.clients_preserved += step.clients_preserved;
        all.subscriptions += step.subscriptions;
        all.subscriptions_preserved += step.subscriptions_preserved;
        all.lost += step.lost;
        all.duplicated += step.duplicated;
        all.without_data.add(&step.without_data).unwrap_or_default();
        all.took.add(&step.took).unwrap_or_default();
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
                handover: log.handovers.get(step.index).map(HandoverSummary::of).unwrap_or_default(),
                judgement: judged.map(|j| j.judgement.clone()),
            }
        })
        .collect();
    let fired = record.first_rollback.and_then(|i| steps.get(i)).and_then(|s| s.judgement.as_ref()).map(trigger_text);
    let completed = record.first_rollback.is_none() && steps.iter().all(|s| s.reached);
    let recovery_ms = record
        .rolled_back_at
        .filter(|_| log.rollback.clients > 0)
        .map(|at| log.rollback.last_done.saturating_sub(at).as_millis() as u64);
    let as_expected = match plan.expect {
        Expectation::Complete => completed,
        Expectation::Rollback => record.first_rollback.is_some(),
    };
    RolloutSummary {
        new_manager: plan.new_manager,
        handover: plan.handover,
        rollback: plan.rollback,
        steps,
        rollback_handover: HandoverSummary::of(&log.rollback),
        total: HandoverSummary::of(&total(log)),
        outcome: RolloutOutcome {
            completed,
            rollback_step: record.first_rollback,
            triggers: fired.unwrap_or_default(),
            performed: record.rolled_back_at.is_some(),
            recovery_ms,
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
            rolled_back_at: None,
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
