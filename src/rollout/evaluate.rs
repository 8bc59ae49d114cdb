//! Judging one step of a rehearsal against the automatic-rollback triggers: the new cohort's error rate,
//! p95 latency, connection success, fallbacks and health checks within the step, and the subscriptions its
//! handovers preserved. Pure: the step's figures in, the figures and the triggers that fired out.

use serde::{Deserialize, Serialize};

use crate::record::steps::StepFigures;
use crate::rollout::plan::Triggers;
pub use crate::summary::rollout::{Fired, StepJudgement};

/// Who is on the new manager during the step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// Clients on the new manager.
    pub clients: u32,
    /// Their subscriptions.
    pub subscriptions: u64,
}

impl Exposure {
    /// Adds another shard's clients on the new manager.
    pub fn absorb(&mut self, other: Exposure) {
        self.clients += other.clients;
        self.subscriptions += other.subscriptions;
    }
}

fn percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| (100_000.0 * part / whole).round() / 1000.0)
}

/// The longest run of seconds whose failed attempts exceed `max_failed_percent` of that second's attempts.
fn longest_failing_run(by_second: &[(u64, u64)], max_failed_percent: f64) -> u32 {
    let (mut run, mut longest) = (0u32, 0u32);
    for (attempts, failed) in by_second {
        let failing = *attempts > 0 && (*failed as f64) * 100.0 > max_failed_percent * (*attempts as f64);
        run = if failing { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

fn above(fired: &mut Vec<Fired>, trigger: &str, unit: &str, measured: Option<f64>, threshold: Option<f64>) {
    if let (Some(m), Some(t)) = (measured, threshold) {
        if m > t {
            fired.push(Fired { trigger: trigger.to_owned(), measured: m, threshold: t, unit: unit.to_owned() });
        }
    }
}

fn below(fired: &mut Vec<Fired>, trigger: &str, unit: &str, measured: Option<f64>, threshold: Option<f64>) {
    if let (Some(m), Some(t)) = (measured, threshold) {
        if m < t {
            fired.push(Fired { trigger: trigger.to_owned(), measured: m, threshold: t, unit: unit.to_owned() });
        }
    }
}

/// Judges one step of the new cohort.
pub fn judge_step(triggers: &Triggers, figures: &StepFigures, exposure: Exposure) -> StepJudgement {
    let c = &figures.counts;
    let failed = c.attempts.saturating_sub(c.connected) + c.give_up_subscribers + c.errors;
    let h = &figures.handovers;
    let judgement = StepJudgement {
        error_rate: percent(failed as f64, (c.attempts + exposure.subscriptions) as f64),
        latency_p95_ms: (!c.latency.is_empty()).then(|| c.latency.value_at_quantile(0.95) as f64 / 1000.0),
        connection_success: percent(c.connected as f64, c.attempts as f64),
        fallback_rate: percent(c.fallbacks as f64, f64::from(exposure.clients)),
        max_consecutive_failures: longest_failing_run(&c.failed_by_second, triggers.error_rate.unwrap_or(0.0)),
        subscription_preservation: percent(h.subscriptions_preserved as f64, h.subscriptions as f64),
        fired: Vec::new(),
    };
    let mut fired = Vec::new();
    above(&mut fired, "error-rate", "%", judgement.error_rate, triggers.error_rate);
    above(&mut fired, "latency-p95", "ms", judgement.latency_p95_ms, triggers.latency_p95_ms);
    below(&mut fired, "connection-success", "%", judgement.connection_success, triggers.connection_success);
    let failures = Some(f64::from(judgement.max_consecutive_failures));
    let limit = triggers.consecutive_failures.map(|n| f64::from(n.saturating_sub(1)));
    above(&mut fired, "consecutive-failures", "checks", failures, limit);
    above(&mut fired, "fallback-rate", "%", judgement.fallback_rate, triggers.fallback_rate);
    below(
        &mut fired,
        "subscription-preservation",
        "%",
        judgement.subscription_preservation,
        triggers.subscription_preservation,
    );
    StepJudgement { fired, ..judgement }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::steps::{HandoverTotals, StepCounts};

    fn figures(attempts: u64, connected: u64, by_second: Vec<(u64, u64)>) -> StepFigures {
        let counts = StepCounts { attempts, connected, failed_by_second: by_second, ..Default::default() };
        StepFigures { counts, handovers: HandoverTotals::default() }
    }

    const EXPOSURE: Exposure = Exposure { clients: 10, subscriptions: 100 };

    #[test]
    fn a_clean_step_fires_nothing() {
        let triggers = crate::criteria::preset::Preset::Gradual.triggers();
        let judged = judge_step(&triggers, &figures(10, 10, vec![(10, 0)]), EXPOSURE);
        assert_eq!(judged.fired, []);
        assert_eq!((judged.error_rate, judged.connection_success), (Some(0.0), Some(100.0)));
    }

    #[test]
    fn failures_fire_the_error_rate_success_and_consecutive_checks() {
        let triggers = crate::criteria::preset::Preset::Gradual.triggers();
        let judged = judge_step(&triggers, &figures(40, 20, vec![(10, 0), (10, 5), (10, 10), (10, 5)]), EXPOSURE);
        let names: Vec<&str> = judged.fired.iter().map(|f| f.trigger.as_str()).collect();
        assert_eq!(names, ["error-rate", "connection-success", "consecutive-failures"]);
        assert_eq!(judged.error_rate, Some(14.286), "20 failures of 140 operations");
        assert_eq!(judged.max_consecutive_failures, 3);
    }

    #[test]
    fn two_failing_checks_are_not_three() {
        assert_eq!(longest_failing_run(&[(1, 1), (1, 1), (1, 0), (1, 1)], 5.0), 2);
        assert_eq!(longest_failing_run(&[(0, 0), (100, 4)], 5.0), 0, "4 % is within a 5 % budget");
    }
}
