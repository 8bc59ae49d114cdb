//! The validated scenario: every section with its documented defaults filled in, what the run reads.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::chaos::fault::Fault;
use crate::criteria::baseline::BaselineSettings;
use crate::criteria::custom::Threshold;
use crate::criteria::preset::Preset;
use crate::criteria::{GateScope, RawOverride};
use crate::load::placement::Cohorts;
use crate::load::workload::Workload;
use crate::manager::settings::ManagerSettings;
use crate::mock::config::{MockConfig, RawMockConfig};
use crate::rollout::plan::RolloutPlan;

/// Harness self-checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HarnessSettings {
    /// Scheduler-lag p99 above which the run is saturated.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub saturation_lag: Duration,
    /// Time a dropped subscription has to resume.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub recovery_deadline: Duration,
    /// Latency differences up to this are measurement noise, not a regression.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub latency_floor: Duration,
    /// How often every live subscription's staleness is sampled.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub staleness_every: Duration,
    /// The rig's own delay at p99 above which latency and storm figures are not measurable.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub rig_delay: Duration,
    /// Canary connections.
    pub canaries: u32,
    /// The mock runs in its own process.
    pub mock_in_own_process: bool,
}

/// Most canary connections a scenario may ask for.
pub const MAX_CANARIES: u32 = 16;

/// A validated scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// The scenario's `name`, or else the file's stem: it names the reports and the run directory.
    pub name: String,
    /// What the scenario is for (`description`; empty when not given).
    pub description: String,
    /// Run length.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub duration: Duration,
    /// The seed of everything random (`seed`, default 1; `--seed` overrides it).
    pub seed: u64,
    /// The population: clients, subscribers, streams, ramp-up, popularity and churn (`[workload]`).
    pub workload: Workload,
    /// Who runs which manager: side by side or a stable-hash split (`[cohorts]`).
    pub cohorts: Cohorts,
    /// Each manager's reconnect, liveness and connect parameters (`[managers]`), defaults filled in.
    pub managers: ManagerSettings,
    /// What the manager models assume beyond their documents, and the manager settings written here.
    #[serde(skip)]
    pub assumptions: Vec<crate::manager::assumptions::Assumption>,
    /// The embedded mock.
    #[serde(skip)]
    pub mock: MockConfig,
    /// The `[mock]` tables as written (for a mock in its own process).
    #[serde(skip)]
    pub mock_raw: RawMockConfig,
    /// The faults to inject (`[[faults]]`), in the order written, their `at` on the run's clock.
    pub faults: Vec<Fault>,
    /// The harness's self-checks and settings (`[harness]`), defaults filled in.
    pub harness: HarnessSettings,
    /// Overrides of the built-in success criteria, by id: the preset's gates under the scenario's own.
    pub criteria: BTreeMap<String, RawOverride>,
    /// The rollout phase and the gate.
    pub rollout: Rollout,
    /// The scenario's own thresholds.
    pub thresholds: Vec<Threshold>,
    /// Tolerances against a baseline.
    pub baseline: BaselineSettings,
}

/// The rollout phase a run rehearses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollout {
    /// The preset, when one is named.
    pub preset: Option<Preset>,
    /// Whose verdicts decide the exit code.
    pub gate: GateScope,
    /// The steps of a rehearsal (stepped presets, or `[rollout] steps`).
    pub plan: Option<RolloutPlan>,
}
