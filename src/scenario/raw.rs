//! The scenario file as written: a serde mirror of the TOML with every key optional, so that validation
//! can report every missing or bad value at once with its key path (`workload.clients`, `faults[2].at`).
//! The domains' tables are their own (`[workload]` in [`crate::load::workload`], `[managers]` in
//! [`crate::manager::settings`], `[rollout]`, `[criteria]`, `[thresholds]`, `[baseline]`, `[mock]`,
//! `[[faults]]` in theirs); this file holds the scenario's own tables and puts them together.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::chaos::fault::RawFault;
use crate::config_file::HumanDuration;
use crate::criteria::RawOverride;
use crate::criteria::baseline::RawBaselineSettings;
use crate::criteria::custom::RawThreshold;
pub use crate::load::workload::{RawChurn, RawWorkload};
pub use crate::manager::settings::{RawLegacy, RawManagers, RawUnified, RawWsManager};
use crate::mock::config::RawMockConfig;
use crate::rollout::plan::RawRollout;

/// How two managers share the population.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CohortMode {
    /// Every listed manager runs the whole population at the same time, against the same mock.
    SideBySide,
    /// A share of the clients (by a stable hash of the client id) runs the new manager, the rest legacy.
    Split,
}

/// `[cohorts]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCohorts {
    /// `side-by-side` or `split`.
    pub mode: Option<CohortMode>,
    /// side-by-side: the managers compared: models (`legacy`, `wsmanager`, `unified`) and external managers
    /// by their `[managers.<name>]`.
    pub managers: Option<Vec<String>>,
    /// split: share of clients on the new manager.
    pub new_share: Option<f64>,
    /// split: which manager is the new one (a model, or an external manager by name).
    pub new_manager: Option<String>,
    /// split: client ids always on the new manager (002's `WEBSOCKET_ROLLOUT_USER_LIST`; with new-share = 0,
    /// its testing mode).
    pub new_clients: Option<Vec<u32>>,
    /// split: client ids always on legacy (002's `WEBSOCKET_FORCE_LEGACY_USERS`), whatever the share.
    pub legacy_clients: Option<Vec<u32>>,
}

/// `[harness]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawHarness {
    /// Scheduler-lag p99 above which the run is marked saturated.
    pub saturation_lag: Option<HumanDuration>,
    /// Deadline for a dropped subscription to resume (reconnection success).
    pub recovery_deadline: Option<HumanDuration>,
    /// Latency differences up to this are measurement noise, not a regression (default 1ms).
    pub latency_floor: Option<HumanDuration>,
    /// How often every live subscription's staleness is sampled (default 100ms).
    pub staleness_every: Option<HumanDuration>,
    /// The rig's own delay (canary latency, the mock's write and feed lag, each at p99) above which the
    /// run's latency and storm figures are not measurable (default 5ms).
    pub rig_delay: Option<HumanDuration>,
    /// Canary connections on the mock's quiet canary stream, 0 to 16 (default 2; 0 turns them off).
    pub canaries: Option<u32>,
    /// Run the mock in its own process even when it would fit in the harness's (default false): the rig's
    /// work splits over two runtimes and the mock's CPU and memory are reported apart.
    pub mock_in_own_process: Option<bool>,
}

/// A scenario file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawScenario {
    /// Name used in reports and the run directory.
    pub name: Option<String>,
    /// What the scenario is for.
    pub description: Option<String>,
    /// Length of the run.
    pub duration: Option<HumanDuration>,
    /// Seed of everything random (overridden by `--seed`).
    pub seed: Option<u64>,
    /// The population.
    pub workload: Option<RawWorkload>,
    /// Who runs which manager.
    pub cohorts: Option<RawCohorts>,
    /// Manager parameters.
    pub managers: Option<RawManagers>,
    /// The embedded mock's configuration (same tables as `wschaos mock --config`).
    pub mock: Option<RawMockConfig>,
    /// Faults, from the chaos catalogue.
    pub faults: Option<Vec<RawFault>>,
    /// Harness self-checks.
    pub harness: Option<RawHarness>,
    /// Overrides of the built-in success criteria by id (`[criteria.latency-p95] threshold = 150.0`).
    pub criteria: Option<BTreeMap<String, RawOverride>>,
    /// The rollout phase this run rehearses (a preset, or steps of its own), and the gate.
    pub rollout: Option<RawRollout>,
    /// The scenario's own thresholds on any recorded metric.
    pub thresholds: Option<Vec<RawThreshold>>,
    /// Tolerances against a baseline given with `--baseline`.
    pub baseline: Option<RawBaselineSettings>,
}
