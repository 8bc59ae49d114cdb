//! What a rollout rehearsal did, as the run summary keeps it: each step with its share, its handovers
//! (subscriptions and connections preserved, messages lost or duplicated, time without data) and what the
//! rollback triggers read ([`StepJudgement`]), and the outcome against what the scenario expected. The
//! rollout computes these; the criteria and the reports read them.

use serde::{Deserialize, Serialize};

use crate::manager::settings::ManagerKind;
use crate::summary::percentiles::Percentiles;

/// In which order a client's old connections close and its new ones open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HandoverOrder {
    /// The new manager opens and receives on every stream before the old one closes (no gap, some overlap).
    #[default]
    MakeBeforeBreak,
    /// The old manager closes first, then the new one opens (a gap, no overlap).
    BreakBeforeMake,
}

/// What happens when a trigger fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackMode {
    /// Report the step and the trigger; keep stepping (what would have happened).
    #[default]
    Evaluate,
    /// Move every client back to the legacy manager, measure the recovery, stop stepping.
    Perform,
}

/// How a performed rollback moves the clients back.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RollbackSteps {
    /// Every client at once (002's `rollback_websocket.py emergency`).
    #[default]
    AllAtOnce,
    /// The share down by `step` every `every` (002's `rollback_websocket.py gradual --step 10`).
    Gradual {
        /// Share taken off the new manager per step.
        step: f64,
        /// Time between two steps.
        #[serde(with = "crate::vocab::serialize::millis")]
        every: std::time::Duration,
    },
}

/// One move of a performed rollback.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RollbackMove {
    /// When (ms after the run started).
    pub at_ms: u64,
    /// The share of clients left on the new manager.
    pub share: f64,
}

/// The outcome the scenario expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Expectation {
    /// Every step completes (a rollback fails the run).
    #[default]
    Complete,
    /// A rollback fires (a rehearsal of the rollback itself; completing fails the run).
    Rollback,
}

/// A trigger that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fired {
    /// Which (`error-rate`, `latency-p95`, …).
    pub trigger: String,
    /// What the step measured.
    pub measured: f64,
    /// The trigger's threshold.
    pub threshold: f64,
    /// The unit of both.
    pub unit: String,
}

/// A step's figures as the triggers read them, and what fired.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepJudgement {
    /// Failed operations / operations of the new cohort in the step (%).
    pub error_rate: Option<f64>,
    /// p95 delivery latency of the new cohort in the step (ms).
    pub latency_p95_ms: Option<f64>,
    /// Successful upgrades / attempts of the new cohort in the step (%).
    pub connection_success: Option<f64>,
    /// Fallbacks / clients on the new manager (%).
    pub fallback_rate: Option<f64>,
    /// The longest run of failed health checks (one per second).
    pub max_consecutive_failures: u32,
    /// Subscriptions that received on the new manager after the step's handovers (%).
    pub subscription_preservation: Option<f64>,
    /// The triggers that fired, in the order they are checked.
    pub fired: Vec<Fired>,
}

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
    /// From the rollback until the last moved-back client received on legacy again (ms); `None` when no
    /// client had to move back, or a gradual rollback had not reached 0 when the run ended.
    pub recovery_ms: Option<u64>,
    /// The shares the performed rollback set, in order (one move to 0 when all at once).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback_moves: Vec<RollbackMove>,
    /// Whether the run ended before a performed gradual rollback reached 0 (clients still on the new
    /// manager).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollback_unfinished: bool,
    /// The step (0-based) whose figures the shards of a sharded rehearsal could not pool, and why: stepping
    /// stopped there, so the run cannot tell how the rehearsal would have ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpooled: Option<(usize, String)>,
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
    /// The cohort it runs in (the model's name, or an external migration layer's).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub new_cohort: String,
    /// Handover order.
    pub handover: HandoverOrder,
    /// Evaluate or perform rollbacks.
    pub rollback: RollbackMode,
    /// A performed rollback all at once or in steps.
    #[serde(default)]
    pub rollback_steps: RollbackSteps,
    /// Every planned step.
    pub steps: Vec<StepSummary>,
    /// The rollback's handovers back to legacy.
    pub rollback_handover: HandoverSummary,
    /// Every step's handovers together.
    pub total: HandoverSummary,
    /// How it ended.
    pub outcome: RolloutOutcome,
}

impl RolloutSummary {
    /// The name of the cohort traffic moved to.
    pub fn new_cohort_name(&self) -> &str {
        if self.new_cohort.is_empty() { self.new_manager.as_str() } else { &self.new_cohort }
    }
}

/// A trigger that fired, as `trigger measured unit > threshold` (`<` for the floors: connection success,
/// subscription preservation).
pub fn fired_text(f: &Fired) -> String {
    let symbol =
        if matches!(f.trigger.as_str(), "connection-success" | "subscription-preservation") { "<" } else { ">" };
    format!("{} {} {} {symbol} {}", f.trigger, f.measured, f.unit, f.threshold)
}
