//! Scenario files: what QA writes and CI runs. [`raw`] mirrors the TOML; this module validates it into a
//! [`Scenario`] (each table in `sections`), collecting every problem with its key path and line, so the run
//! code never re-checks its inputs; [`schema`] is the format's JSON Schema.

pub mod cost;
pub mod raw;
pub mod schema;
mod sections;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::chaos::fault::{Fault, RawFault};
use crate::config_file::{ConfigIssues, HumanDuration, KeyIssue, SourceFile};
use crate::criteria::baseline::BaselineSettings;
use crate::criteria::custom::Threshold;
use crate::criteria::preset::Preset;
use crate::criteria::{GateScope, RawOverride, validate_overrides};
use crate::mock::config::{MockConfig, RawMockConfig};
use crate::rollout::plan::RolloutPlan;
pub use raw::{CohortMode, LegacyReconnect, ManagerKind, RawScenario};
use sections::{cohorts, duration_or, faults, managers, place_in_steps, rehearsal, with_rollout, workload};

/// Subscribers replaced over the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Churn {
    /// Period.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub every: Duration,
    /// Share replaced each period.
    pub share: f64,
}

/// The population.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    /// Clients (manager instances) per cohort.
    pub clients: u32,
    /// Subscribers per client.
    pub subscribers_per_client: u32,
    /// Streams per subscriber.
    pub streams_per_subscriber: u32,
    /// Clients start evenly over this time.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub ramp_up: Duration,
    /// Zipf exponent over the mock's symbols (most popular first).
    pub popularity_exponent: f64,
    /// Stream-kind suffixes (`trade`, `depth@100ms`) and their weights.
    pub kinds: Vec<(String, f64)>,
    /// Subscribers leaving and arriving.
    pub churn: Option<Churn>,
}

/// Who runs which manager.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Cohorts {
    /// Each manager runs the whole population, concurrently, against the same mock.
    SideBySide {
        /// The managers compared.
        managers: Vec<ManagerKind>,
    },
    /// A stable-hash share of the clients runs the new manager, the rest legacy.
    Split {
        /// Share on the new manager.
        new_share: f64,
        /// The new manager.
        new_manager: ManagerKind,
    },
}

impl Cohorts {
    /// The managers that run, legacy first.
    pub fn managers(&self) -> Vec<ManagerKind> {
        match self {
            Cohorts::SideBySide { managers } => managers.clone(),
            Cohorts::Split { new_manager, .. } => vec![ManagerKind::Legacy, *new_manager],
        }
    }
}

/// Legacy manager parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacySettings {
    /// Delay policy (no jitter).
    pub reconnect: LegacyReconnect,
    /// Delay.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub delay: Duration,
    /// Largest delay.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub max_delay: Duration,
    /// Attempts before giving up (`None`: never).
    pub max_attempts: Option<u32>,
    /// Silence before a socket is declared dead (`None`: never).
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub liveness: Option<Duration>,
    /// Connect time limit.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub connect_timeout: Duration,
}

/// WSManager parameters (003).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WsManagerSettings {
    /// Backoff base.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub base_delay: Duration,
    /// Backoff cap.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub max_delay: Duration,
    /// Attempts before the error reaches the subscribers.
    pub max_attempts: u32,
    /// Idle streams closed after this.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub idle_timeout: Duration,
    /// Sweep period.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub sweep_interval: Duration,
    /// Silence before a socket is declared dead.
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub liveness: Option<Duration>,
    /// Connect time limit.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub connect_timeout: Duration,
}

/// Unified manager parameters (002).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnifiedSettings {
    /// Backoff base.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub base_delay: Duration,
    /// Backoff cap.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub max_delay: Duration,
    /// Attempts per outage before counting a failure.
    pub max_attempts: u32,
    /// Streams per socket.
    pub max_streams: u32,
    /// Control messages per second per socket.
    pub messages_per_second: u32,
    /// Consecutive failures before falling back to legacy (`None`: never).
    pub fallback_after: Option<u32>,
    /// Silence before a socket is declared dead.
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub liveness: Option<Duration>,
    /// Connect time limit.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub connect_timeout: Duration,
}

/// Every manager's parameters (echoed in the output).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManagerSettings {
    /// Legacy.
    pub legacy: LegacySettings,
    /// WSManager.
    pub wsmanager: WsManagerSettings,
    /// Unified.
    pub unified: UnifiedSettings,
}

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
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Run length.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub duration: Duration,
    /// Seed.
    pub seed: u64,
    /// Population.
    pub workload: Workload,
    /// Cohorts.
    pub cohorts: Cohorts,
    /// Managers.
    pub managers: ManagerSettings,
    /// The embedded mock.
    #[serde(skip)]
    pub mock: MockConfig,
    /// The `[mock]` tables as written (for a mock in its own process).
    #[serde(skip)]
    pub mock_raw: RawMockConfig,
    /// The faults as written (for a mock in its own process, through its control API).
    #[serde(skip)]
    pub faults_raw: Vec<RawFault>,
    /// Faults.
    pub faults: Vec<Fault>,
    /// Harness.
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

/// Loads and validates a scenario file; every problem in it is reported at once.
pub fn load(path: &Path) -> Result<Scenario, ConfigIssues> {
    load_for(path, &cost::MachineLimits::default())
}

/// Loads and validates a scenario file, and checks that what it costs fits `limits` (see [`cost`]); every
/// problem is reported at once, the cost's on the keys that set it.
pub fn load_for(path: &Path, limits: &cost::MachineLimits) -> Result<Scenario, ConfigIssues> {
    from_source(&SourceFile::read(path)?, limits)
}

/// Validates a scenario's text (its `path` names it in the problems); what [`load_for`] does once the file
/// is read.
pub fn from_source(source: &SourceFile, limits: &cost::MachineLimits) -> Result<Scenario, ConfigIssues> {
    let fallback_name = source.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    source.load_with(|raw: &RawScenario, left_out: &[String]| {
        let scenario = Scenario::from_raw(&with_stand_ins(raw, left_out), &fallback_name)?;
        let issues = cost::check(&cost::cost(&scenario), limits);
        if issues.is_empty() { Ok(scenario) } else { Err(issues) }
    })
}

/// A run length no other key is compared against unfavourably, standing in for a `duration` that could
/// not be read, so that its one mistake does not also make the ramp-up and every fault "outside the run".
const STAND_IN_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

fn with_stand_ins(raw: &RawScenario, left_out: &[String]) -> RawScenario {
    let mut raw = raw.clone();
    if left_out.iter().any(|key| key == "duration") {
        raw.duration = Some(HumanDuration(STAND_IN_DURATION));
    }
    raw
}

impl Scenario {
    /// Validates a raw scenario; `fallback_name` names it when the file does not.
    pub fn from_raw(raw: &RawScenario, fallback_name: &str) -> Result<Scenario, Vec<KeyIssue>> {
        let mut issues = Vec::new();
        if raw.harness.as_ref().and_then(|h| h.canaries).is_some_and(|n| n > MAX_CANARIES) {
            issues.push(KeyIssue::new("harness.canaries", "must be 0 to 16, e.g. canaries = 2 (0 turns them off)"));
        }
        // A duration that is wrong is reported once; the keys compared against it see the stand-in.
        let duration = match raw.duration {
            Some(d) if !d.0.is_zero() => d.0,
            Some(_) => {
                issues.push(KeyIssue::new("duration", "must be longer than zero, e.g. duration = \"30s\""));
                STAND_IN_DURATION
            }
            None => {
                issues.push(KeyIssue::new("duration", "is required, e.g. duration = \"30s\""));
                STAND_IN_DURATION
            }
        };
        let mock = MockConfig::from_raw(&raw.mock.clone().unwrap_or_default()).unwrap_or_else(|mock_issues| {
            issues.extend(mock_issues.into_iter().map(|i| KeyIssue::new(format!("mock.{}", i.key), i.message)));
            MockConfig::default()
        });
        let workload = workload(&raw.workload.clone().unwrap_or_default(), duration, &mock, &mut issues);
        let rollout = raw.rollout.clone().unwrap_or_default();
        let raw_cohorts = with_rollout(&raw.cohorts.clone().unwrap_or_default(), &rollout);
        let cohorts = cohorts(&raw_cohorts, &mut issues);
        let plan = rehearsal(&rollout, &workload, duration, &cohorts, &mut issues);
        let managers = managers(&raw.managers.clone().unwrap_or_default(), &mut issues);
        let faults_raw = place_in_steps(raw.faults.as_deref().unwrap_or_default(), plan.as_ref(), &mut issues);
        let faults = faults(&faults_raw, duration, &mut issues);
        let harness = raw.harness.clone().unwrap_or_default();
        let criteria = validate_overrides(&raw.criteria.clone().unwrap_or_default()).unwrap_or_else(|e| {
            issues.extend(e);
            BTreeMap::new()
        });
        let criteria = rollout.preset.map_or(criteria.clone(), |p| p.merge_overrides(&criteria));
        let thresholds = crate::criteria::custom::validate(raw.thresholds.as_deref().unwrap_or_default())
            .unwrap_or_else(|e| {
                issues.extend(e);
                Vec::new()
            });
        let baseline =
            crate::criteria::baseline::validate(&raw.baseline.clone().unwrap_or_default()).unwrap_or_else(|e| {
                issues.extend(e);
                BaselineSettings::default()
            });
        let scenario = Scenario {
            name: raw.name.clone().unwrap_or_else(|| fallback_name.to_owned()),
            description: raw.description.clone().unwrap_or_default(),
            duration,
            seed: raw.seed.unwrap_or(1),
            workload,
            cohorts,
            managers,
            mock,
            mock_raw: raw.mock.clone().unwrap_or_default(),
            faults_raw,
            faults,
            harness: HarnessSettings {
                saturation_lag: duration_or(harness.saturation_lag, Duration::from_millis(25)),
                recovery_deadline: duration_or(harness.recovery_deadline, Duration::from_secs(60)),
                latency_floor: duration_or(harness.latency_floor, Duration::from_millis(1)),
                staleness_every: duration_or(harness.staleness_every, Duration::from_millis(100)),
                rig_delay: duration_or(harness.rig_delay, Duration::from_millis(5)),
                canaries: harness.canaries.unwrap_or(2).min(MAX_CANARIES),
                mock_in_own_process: harness.mock_in_own_process.unwrap_or(false),
            },
            criteria,
            rollout: Rollout { preset: rollout.preset, gate: rollout.gate.unwrap_or_default(), plan },
            thresholds,
            baseline,
        };
        if issues.is_empty() { Ok(scenario) } else { Err(issues) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, Vec<KeyIssue>> {
        let raw: RawScenario = toml::from_str(text).unwrap();
        Scenario::from_raw(&raw, "test")
    }

    #[test]
    fn a_minimal_scenario_gets_the_documented_defaults() {
        let s = parse("duration = \"30s\"\n[workload]\nclients = 10\n").unwrap();
        assert_eq!(s.name, "test");
        assert_eq!(s.cohorts.managers(), [ManagerKind::Legacy, ManagerKind::Wsmanager]);
        assert_eq!(s.managers.legacy.delay, Duration::from_secs(1));
        assert_eq!(s.managers.legacy.liveness, None, "off for legacy");
        assert_eq!(s.managers.wsmanager.max_attempts, 10);
        assert_eq!(s.managers.wsmanager.idle_timeout, Duration::from_secs(300));
        assert_eq!(s.managers.wsmanager.liveness, Some(Duration::from_secs(30)), "on for the new ones");
        assert_eq!(s.managers.unified.max_streams, 1024);
        assert_eq!(s.workload.kinds, [("trade".to_owned(), 1.0)]);
    }

    #[test]
    fn criteria_are_overridden_by_id() {
        let s = parse("duration = \"5s\"\n[workload]\nclients = 1\n[criteria.latency-p95]\nthreshold = 150.0\n[criteria.retry-rate]\nenabled = false\n").unwrap();
        assert_eq!(s.criteria["latency-p95"].threshold, Some(150.0));
        assert_eq!(s.criteria["retry-rate"].enabled, Some(false));
        let issues =
            parse("duration = \"5s\"\n[workload]\nclients = 1\n[criteria.latency-p99]\nthreshold = 1.0\n").unwrap_err();
        assert_eq!(issues[0].key, "criteria.latency-p99");
        assert!(issues[0].message.contains("latency-p95"), "names the criteria there are");
    }

    #[test]
    fn a_preset_sets_the_share_and_the_gates_and_the_scenario_wins() {
        let s = parse("duration = \"5s\"\n[workload]\nclients = 10\n[rollout]\npreset = \"phase-1\"\n").unwrap();
        assert_eq!(s.cohorts, Cohorts::Split { new_share: 0.1, new_manager: ManagerKind::Wsmanager });
        assert_eq!(s.criteria["error-rate-regression"].enabled, Some(true));
        let s = parse(
            "duration = \"10m\"\n[workload]\nclients = 10\n[rollout]\npreset = \"gradual\"\ngate = \"all\"\n\
             [cohorts]\nnew-share = 0.3\n[criteria.error-rate]\nthreshold = 2.0\n",
        )
        .unwrap();
        assert_eq!(s.cohorts, Cohorts::Split { new_share: 0.3, new_manager: ManagerKind::Unified });
        assert_eq!(s.criteria["error-rate"].threshold, Some(2.0));
        assert_eq!(s.rollout.gate, GateScope::All);
        let plan = s.rollout.plan.as_ref().unwrap();
        assert_eq!((plan.steps.len(), plan.new_manager), (15, ManagerKind::Unified), "a stepped preset rehearses");
        let s = parse("duration = \"5s\"\n[workload]\nclients = 1\n[rollout]\npreset = \"phase-0\"\n").unwrap();
        assert_eq!(s.cohorts.managers(), [ManagerKind::Legacy]);
    }

    #[test]
    fn every_mistake_is_reported_with_its_key() {
        let issues = parse(
            "[workload]\nramp-up = \"1m\"\nkinds = { trade = 1, \"nope\" = 2, depth5 = -1 }\n\
             [cohorts]\nmode = \"split\"\nnew-share = 1.5\nnew-manager = \"legacy\"\n\
             [mock.limits]\nmessage-rate = { max = 0, window = \"1s\" }\n\
             [[faults]]\nkind = \"stall\"\nat = \"2h\"\n",
        )
        .unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "duration",
                "mock.limits.message-rate.max",
                "workload.clients",
                "workload.kinds.depth5",
                "workload.kinds.nope",
                "cohorts.new-share",
                "cohorts.new-manager",
            ],
            "the ramp-up and the fault's `at` are not compared against a run length that is not there"
        );
    }
}
