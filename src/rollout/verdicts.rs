//! Judging a rehearsal: one verdict per step (a JUnit case each, gating when the scenario expects every step
//! to complete) and the rehearsal's outcome against what the scenario expects, with the criteria's
//! [`Judged`]; [`judge_run`] adds them to the criteria's verdicts of the run.

use crate::criteria::Comparison;
use crate::criteria::measure::Measure;
use crate::criteria::verdict::{Judged, Judging, Verdict, judge};
use crate::rollout::plan::Expectation;
use crate::summary::RunSummary;
use crate::summary::rollout::{RolloutSummary, StepSummary};

/// Every verdict of a run: the criteria's ([`judge`]), then the rehearsal's when the run rehearsed a rollout.
pub fn judge_run(summary: &RunSummary, judging: &Judging<'_>) -> Vec<Verdict> {
    let mut verdicts = judge(summary, judging);
    if let Some(rollout) = &summary.rollout {
        verdicts.extend(rollout_verdicts(rollout));
    }
    verdicts
}

fn step_verdict(rollout: &RolloutSummary, step: &StepSummary) -> Verdict {
    let judged = Judged {
        criterion: format!("rollout-step-{}", step.index + 1),
        cohort: Some(rollout.new_cohort_name()),
        comparison: Comparison::AtMost,
        threshold: 0.0,
        unit: "triggers".to_owned(),
        source: format!(
            "step {} of {} at {} % on the new manager",
            step.index + 1,
            rollout.steps.len(),
            step.share * 100.0
        ),
    };
    let unpooled = rollout.outcome.unpooled.as_ref().filter(|(k, _)| *k == step.index);
    let measure = match (&step.judgement, unpooled) {
        (None, Some((_, why))) => Measure::NotMeasurable(format!("the shards' figures were not pooled: {why}")),
        (None, None) => Measure::NotApplicable("the run ended before this step was judged"),
        (Some(j), _) if j.fired.is_empty() => Measure::Noted(0.0, "completed".to_owned()),
        (Some(j), _) => {
            let fired: Vec<String> =
                j.fired.iter().map(|f| format!("{} {} {} vs {}", f.trigger, f.measured, f.unit, f.threshold)).collect();
            Measure::Noted(j.fired.len() as f64, format!("would roll back: {}", fired.join("; ")))
        }
    };
    let mut verdict = judged.verdict(measure, true);
    verdict.gates = rollout.outcome.expected == Expectation::Complete;
    verdict
}

/// One verdict per step (a JUnit case each) and the rehearsal's outcome against what the scenario expects.
pub fn rollout_verdicts(rollout: &RolloutSummary) -> Vec<Verdict> {
    let mut verdicts: Vec<Verdict> = rollout.steps.iter().map(|step| step_verdict(rollout, step)).collect();
    let o = &rollout.outcome;
    let (comparison, threshold) = match o.expected {
        Expectation::Complete => (Comparison::AtMost, 0.0),
        Expectation::Rollback => (Comparison::AtLeast, 1.0),
    };
    let judged = Judged {
        criterion: "rollout-outcome".to_owned(),
        cohort: Some(rollout.new_cohort_name()),
        comparison,
        threshold,
        unit: "rollback step (0: none)".to_owned(),
        source: format!(
            "rehearsal expected to {}",
            match o.expected {
                Expectation::Complete => "complete",
                Expectation::Rollback => "roll back",
            }
        ),
    };
    let step = o.rollback_step.map_or(0.0, |s| s as f64 + 1.0);
    let note = match (o.rollback_step, o.recovery_ms) {
        (None, _) if o.completed => "every step completed".to_owned(),
        (None, _) => "the run ended before every step was judged".to_owned(),
        (Some(s), _) if o.performed => format!(
            "rolled back at step {}: {}; {}",
            s + 1,
            o.triggers.join("; "),
            crate::report::rehearsal::recovery(rollout)
        ),
        (Some(s), _) => format!("would roll back at step {}: {}", s + 1, o.triggers.join("; ")),
    };
    let measure = match &o.unpooled {
        // A rollback before the step that could not be pooled is an outcome; without one there is none.
        Some((k, why)) if o.rollback_step.is_none() => Measure::NotMeasurable(format!(
            "stepping stopped at step {}, whose figures the shards did not pool: {why}",
            k + 1
        )),
        _ => Measure::Noted(step, note),
    };
    verdicts.push(judged.verdict(measure, true));
    verdicts
}
