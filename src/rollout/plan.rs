//! A rollout rehearsal as a scenario describes it (`[rollout]`): the steps (share of clients on the new
//! manager, how long each holds, the pause after it), the handover order, the rollback triggers and whether a
//! rollback is performed or only reported. Validated into a [`RolloutPlan`] with a pure schedule: when each step
//! starts and ends, relative to the start of the run.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config_file::{HumanDuration, KeyIssue};
use crate::criteria::GateScope;
use crate::criteria::preset::Preset;
use crate::load::placement::Pinned;
use crate::manager::external::ManagerRef;
use crate::manager::settings::ManagerKind;
pub use crate::summary::rollout::{Expectation, HandoverOrder, RollbackMode, RollbackSteps};

/// `[rollout.triggers]`: the automatic-rollback thresholds (a preset's by default).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawTriggers {
    /// Roll back when the new cohort's error rate in a step exceeds this (%).
    pub error_rate: Option<f64>,
    /// Roll back when the new cohort's p95 latency in a step exceeds this (ms).
    pub latency_p95: Option<f64>,
    /// Roll back when the new cohort's connection success in a step falls below this (%).
    pub connection_success: Option<f64>,
    /// Roll back after this many consecutive failed health checks (one per second).
    pub consecutive_failures: Option<u32>,
    /// Roll back when the share of unified clients that fell back to legacy exceeds this (%).
    pub fallback_rate: Option<f64>,
    /// Roll back when fewer subscriptions than this survive a handover (%).
    pub subscription_preservation: Option<f64>,
}

/// `[rollout]` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRollout {
    /// A rollout phase: its traffic share or steps (unless set here or in `[cohorts]`) and its gates.
    pub preset: Option<Preset>,
    /// Whose verdicts decide the exit code: `new` (default; legacy is the reference) or `all`.
    pub gate: Option<GateScope>,
    /// Shares of clients on the new manager, step by step (e.g. [0.05, 0.25, 0.5, 1.0]).
    pub steps: Option<Vec<f64>>,
    /// How long each step holds before it is judged (default 10s).
    pub hold: Option<HumanDuration>,
    /// Wait after each step is judged before the next one (default 0s).
    pub pause: Option<HumanDuration>,
    /// Time on legacy alone, after the ramp-up, before the first step (default 5s).
    pub warmup: Option<HumanDuration>,
    /// `make-before-break` (default) or `break-before-make`.
    pub handover: Option<HandoverOrder>,
    /// How long a moved client's subscriptions have to receive on the new manager (default 10s).
    pub handover_deadline: Option<HumanDuration>,
    /// `evaluate` (default: report what would roll back) or `perform` (move the clients back).
    pub rollback: Option<RollbackMode>,
    /// A performed rollback in steps (002's `rollback_websocket.py gradual --step 10`): the share it takes off
    /// the new manager at each step (0.1 is 10 points). Unset: every client at once (002's `emergency`).
    pub rollback_step: Option<f64>,
    /// Time between two steps of a gradual rollback (default: `hold`).
    pub rollback_every: Option<HumanDuration>,
    /// `complete` (default) or `rollback`: the outcome that passes.
    pub expect: Option<Expectation>,
    /// The automatic-rollback thresholds.
    pub triggers: Option<RawTriggers>,
}

/// The automatic-rollback thresholds, validated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Triggers {
    /// Error rate above this (%).
    pub error_rate: Option<f64>,
    /// p95 latency above this (ms).
    pub latency_p95_ms: Option<f64>,
    /// Connection success below this (%).
    pub connection_success: Option<f64>,
    /// Consecutive failed health checks.
    pub consecutive_failures: Option<u32>,
    /// Fallbacks above this (%).
    pub fallback_rate: Option<f64>,
    /// Subscriptions preserved through the handover below this (%).
    pub subscription_preservation: Option<f64>,
}

/// One step of a rehearsal, on the run's clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Position (0-based).
    pub index: usize,
    /// Share of clients on the new manager.
    pub share: f64,
    /// When the step starts (its handovers begin).
    #[serde(with = "crate::vocab::serialize::millis")]
    pub start: Duration,
    /// When it is judged (start + hold).
    #[serde(with = "crate::vocab::serialize::millis")]
    pub judged_at: Duration,
    /// When the next step may start (judged_at + pause).
    #[serde(with = "crate::vocab::serialize::millis")]
    pub end: Duration,
}

/// A validated rehearsal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutPlan {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The manager traffic moves to.
    pub new_manager: ManagerKind,
    /// Handover order.
    pub handover: HandoverOrder,
    /// Time a moved subscription has to receive again.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub handover_deadline: Duration,
    /// Evaluate or perform rollbacks.
    pub rollback: RollbackMode,
    /// A performed rollback all at once or in steps.
    pub rollback_steps: RollbackSteps,
    /// The outcome that passes.
    pub expect: Expectation,
    /// The triggers.
    pub triggers: Triggers,
    /// Clients whose manager the share does not decide (`[cohorts] new-clients`, `legacy-clients`).
    pub pinned: Pinned,
    /// The external migration layer the clients run, when the new manager is one: its processes move each
    /// client by flipping its flag (`migrate`) instead of the harness handing it over between models.
    pub external: Option<ManagerRef>,
}

impl RolloutPlan {
    /// The shares a gradual rollback sets from `share` down, in order (the last is 0); a single 0 when the
    /// rollback is all at once.
    pub fn rollback_shares(&self, share: f64) -> Vec<f64> {
        let RollbackSteps::Gradual { step, .. } = self.rollback_steps else { return vec![0.0] };
        // Counted in whole steps from the top, so ten steps of 0.1 from 1.0 end at 0 exactly.
        let steps = (share / step - 1e-9).ceil().max(1.0) as u32;
        // Rounded to a millionth, so 0.35 less 0.1 is 0.25 and not 0.24999999999999997.
        (1..=steps).map(|k| ((share - step * f64::from(k)).max(0.0) * 1e6).round() / 1e6).collect()
    }

    /// The step running at `at` (the last one that started), if any.
    pub fn step_at(&self, at: Duration) -> Option<&Step> {
        self.steps.iter().rev().find(|s| s.start <= at)
    }

    /// Where step `index` starts, for placing faults inside it.
    pub fn step_start(&self, index: usize) -> Option<Duration> {
        self.steps.get(index).map(|s| s.start)
    }
}

impl Preset {
    /// The preset's automatic-rollback thresholds.
    pub fn triggers(self) -> Triggers {
        let none = Triggers::default();
        match self {
            Preset::Phase0 | Preset::Phase1 | Preset::Phase2 => none,
            Preset::Phase3 => {
                Triggers { error_rate: Some(1.0), latency_p95_ms: Some(500.0), connection_success: Some(95.0), ..none }
            }
            Preset::BlueGreen => Triggers {
                error_rate: Some(1.0),
                latency_p95_ms: Some(500.0),
                subscription_preservation: Some(100.0),
                ..none
            },
            Preset::Gradual => Triggers {
                error_rate: Some(5.0),
                connection_success: Some(95.0),
                fallback_rate: Some(10.0),
                consecutive_failures: Some(3),
                ..none
            },
        }
    }
}

fn triggers(preset: Option<Preset>, raw: Option<&RawTriggers>, issues: &mut Vec<KeyIssue>) -> Triggers {
    let base = preset.map_or_else(Triggers::default, Preset::triggers);
    let Some(raw) = raw else { return base };
    for (key, value) in [
        ("error-rate", raw.error_rate),
        ("latency-p95", raw.latency_p95),
        ("connection-success", raw.connection_success),
        ("fallback-rate", raw.fallback_rate),
        ("subscription-preservation", raw.subscription_preservation),
    ] {
        if value.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
            issues.push(KeyIssue::new(format!("rollout.triggers.{key}"), "must be a number, 0 or more"));
        }
    }
    Triggers {
        error_rate: raw.error_rate.or(base.error_rate),
        latency_p95_ms: raw.latency_p95.or(base.latency_p95_ms),
        connection_success: raw.connection_success.or(base.connection_success),
        consecutive_failures: raw.consecutive_failures.or(base.consecutive_failures),
        fallback_rate: raw.fallback_rate.or(base.fallback_rate),
        subscription_preservation: raw.subscription_preservation.or(base.subscription_preservation),
    }
}

fn shares(raw: &RawRollout, issues: &mut Vec<KeyIssue>) -> Vec<f64> {
    let shares = raw.steps.clone().or_else(|| raw.preset.map(|p| p.shares().to_vec())).unwrap_or_default();
    if shares.iter().any(|s| !(0.0..=1.0).contains(s)) {
        issues
            .push(KeyIssue::new("rollout.steps", "every share must be between 0 and 1 (0.25 is 25 % of the clients)"));
    }
    if shares.is_empty() && raw.steps.is_some() {
        issues.push(KeyIssue::new("rollout.steps", "needs at least one share, e.g. [0.05, 0.25, 0.5, 1.0]"));
    }
    shares
}

/// Whether `[rollout]` describes a stepped rehearsal (a stepped preset, or steps of its own).
pub fn is_rehearsal(raw: &RawRollout) -> bool {
    raw.steps.is_some() || raw.preset.is_some_and(Preset::is_stepped)
}

/// Validates a rehearsal; `ramp_up` and `duration` place its steps on the run's clock.
pub fn validate(
    raw: &RawRollout,
    ramp_up: Duration,
    duration: Duration,
    issues: &mut Vec<KeyIssue>,
) -> Option<RolloutPlan> {
    if !is_rehearsal(raw) {
        return None;
    }
    let hold = raw.hold.map_or(Duration::from_secs(10), |d| d.0);
    if hold.is_zero() {
        issues.push(KeyIssue::new("rollout.hold", "must be longer than zero, e.g. hold = \"10s\""));
    }
    let pause = raw.pause.map_or(Duration::ZERO, |d| d.0);
    let mut clock = ramp_up + raw.warmup.map_or(Duration::from_secs(5), |d| d.0);
    let mut steps = Vec::new();
    for (index, share) in shares(raw, issues).into_iter().enumerate() {
        let start = clock;
        clock = start + hold + pause;
        steps.push(Step { index, share, start, judged_at: start + hold, end: clock });
    }
    if let Some(last) = steps.last().filter(|s| s.judged_at > duration) {
        issues.push(KeyIssue::new(
            "rollout.steps",
            format!(
                "{} steps of {hold:?} (after a {ramp_up:?} ramp-up and the warm-up) need {:?}; the run lasts {duration:?}: \
                 lengthen duration or shorten rollout.hold",
                steps.len(),
                last.judged_at
            ),
        ));
    }
    let new_manager = raw.preset.map_or(ManagerKind::Wsmanager, Preset::new_manager);
    let rollback = raw.rollback.unwrap_or_default();
    let rollback_steps = rollback_steps(raw, rollback, hold, issues);
    Some(RolloutPlan {
        steps,
        new_manager,
        handover: raw.handover.unwrap_or_default(),
        handover_deadline: raw.handover_deadline.map_or(Duration::from_secs(10), |d| d.0),
        rollback,
        rollback_steps,
        expect: raw.expect.unwrap_or_default(),
        triggers: triggers(raw.preset, raw.triggers.as_ref(), issues),
        pinned: Pinned::default(),
        external: None,
    })
}

/// All at once, or the gradual rollback `rollback-step` and `rollback-every` describe.
fn rollback_steps(raw: &RawRollout, mode: RollbackMode, hold: Duration, issues: &mut Vec<KeyIssue>) -> RollbackSteps {
    let Some(step) = raw.rollback_step else {
        if raw.rollback_every.is_some() {
            issues
                .push(KeyIssue::new("rollout.rollback-every", "belongs to a gradual rollback: set rollback-step too"));
        }
        return RollbackSteps::AllAtOnce;
    };
    if mode != RollbackMode::Perform {
        issues.push(KeyIssue::new(
            "rollout.rollback-step",
            "a gradual rollback is a performed one: set rollback = \"perform\" (evaluate only reports the step)",
        ));
    }
    if !(step > 0.0 && step <= 1.0) {
        issues.push(KeyIssue::new(
            "rollout.rollback-step",
            "must be above 0 and at most 1: the share taken off the new manager per step (0.1 is 002's --step 10)",
        ));
    }
    let every = raw.rollback_every.map_or(hold, |d| d.0);
    if every.is_zero() {
        issues.push(KeyIssue::new("rollout.rollback-every", "must be longer than zero, e.g. rollback-every = \"10s\""));
    }
    RollbackSteps::Gradual { step: step.clamp(f64::MIN_POSITIVE, 1.0), every }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn steps_follow_each_other_after_the_warm_up() {
        let raw = RawRollout {
            preset: Some(Preset::Phase3),
            hold: Some(HumanDuration(secs(10))),
            pause: Some(HumanDuration(secs(2))),
            ..Default::default()
        };
        let mut issues = Vec::new();
        let plan = validate(&raw, secs(3), secs(60), &mut issues).unwrap();
        assert!(issues.is_empty(), "{issues:?}");
        let starts: Vec<u64> = plan.steps.iter().map(|s| s.start.as_secs()).collect();
        assert_eq!(starts, [8, 20, 32, 44]);
        assert_eq!(plan.steps[3].judged_at, secs(54));
        assert_eq!(plan.triggers.latency_p95_ms, Some(500.0));
        assert_eq!(plan.step_at(secs(25)).map(|s| s.index), Some(1));
        assert_eq!(plan.step_at(secs(7)), None, "warm-up");
    }

    #[test]
    fn a_gradual_rollback_steps_down_to_zero_in_round_shares() {
        let raw = RawRollout {
            steps: Some(vec![0.35]),
            rollback: Some(RollbackMode::Perform),
            rollback_step: Some(0.1),
            ..Default::default()
        };
        let plan = validate(&raw, secs(0), secs(60), &mut Vec::new()).unwrap();
        assert_eq!(plan.rollback_shares(0.35), [0.25, 0.15, 0.05, 0.0]);
        assert_eq!(plan.rollback_shares(1.0).len(), 10, "ten steps of 10 points from 100 %");
        assert_eq!(plan.rollback_steps, RollbackSteps::Gradual { step: 0.1, every: secs(10) }, "every: hold");
        let mut issues = Vec::new();
        validate(&RawRollout { rollback: None, ..raw }, secs(0), secs(60), &mut issues);
        assert_eq!(issues[0].key, "rollout.rollback-step", "gradual needs perform: {issues:?}");
    }

    #[test]
    fn a_rehearsal_longer_than_the_run_is_refused_with_its_figure() {
        let raw = RawRollout { steps: Some(vec![0.1, 0.5, 1.5]), ..Default::default() };
        let mut issues = Vec::new();
        validate(&raw, secs(0), secs(20), &mut issues);
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["rollout.steps", "rollout.steps"]);
        assert!(issues[1].message.contains("need 35s"), "{}", issues[1].message);
    }

    #[test]
    fn the_scenario_overrides_a_preset_s_triggers() {
        let raw = RawRollout {
            preset: Some(Preset::Gradual),
            triggers: Some(RawTriggers { error_rate: Some(2.0), ..Default::default() }),
            ..Default::default()
        };
        let plan = validate(&raw, secs(0), secs(600), &mut Vec::new()).unwrap();
        assert_eq!(plan.triggers.error_rate, Some(2.0));
        assert_eq!(plan.triggers.consecutive_failures, Some(3));
        assert_eq!(plan.new_manager, ManagerKind::Unified);
        assert!(
            validate(
                &RawRollout { preset: Some(Preset::Phase1), ..Default::default() },
                secs(0),
                secs(9),
                &mut Vec::new()
            )
            .is_none()
        );
    }
}
