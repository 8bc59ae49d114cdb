//! Scenario files: what QA writes and CI runs. [`raw`] mirrors the TOML; this module validates it into a
//! [`Scenario`] ([`model`]), collecting every problem with its key path and line, so the run code never
//! re-checks its inputs; [`schema`] is the format's JSON Schema.
//!
//! Each domain owns its section, as written and validated: the workload ([`crate::load::workload`]), the
//! managers ([`crate::manager::settings`]), the criteria's overrides, thresholds and baseline tolerances
//! ([`crate::criteria`]), the rollout's plan ([`crate::rollout::plan`]) and the mock's and the faults'
//! tables; this module assembles them (the cohorts and the faults placed in a rehearsal's steps in
//! `sections`). The scenario depends on the domains; no domain imports it.

pub mod cost;
pub mod model;
pub mod raw;
pub mod schema;
mod sections;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::config_file::{ConfigIssues, HumanDuration, KeyIssue, SourceFile, duration_or};
use crate::criteria::baseline::BaselineSettings;
use crate::criteria::validate_overrides;
pub use crate::load::placement::Cohorts;
pub use crate::load::workload::{Churn, Workload};
pub use crate::manager::settings::{
    LegacyReconnect, LegacySettings, ManagerKind, ManagerSettings, UnifiedSettings, WsManagerSettings,
};
use crate::mock::config::MockConfig;
pub use model::{HarnessSettings, MAX_CANARIES, Rollout, Scenario};
pub use raw::{CohortMode, RawScenario};
use sections::{cohorts, faults, pinned_in_population, place_in_steps, rehearsal, with_rollout};

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
    /// Every fault occurrence of a run of this scenario.
    pub fn fault_plan(&self) -> crate::chaos::plan::FaultPlan {
        crate::chaos::plan::FaultPlan::build(&self.faults, self.seed, self.duration)
    }

    /// How close to the end of a socket's accounting an event may be published and still be in flight: a
    /// second, plus the longest delay a latency fault of the scenario holds messages for.
    pub fn in_flight_allowance(&self) -> Duration {
        let held = self.faults.iter().filter_map(|f| match f.kind {
            crate::chaos::fault::FaultKind::Latency { delay, jitter } => Some(delay + jitter),
            _ => None,
        });
        Duration::from_secs(1) + held.max().unwrap_or(Duration::ZERO)
    }

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
        let workload =
            crate::load::workload::validate(&raw.workload.clone().unwrap_or_default(), duration, &mock, &mut issues);
        let rollout = raw.rollout.clone().unwrap_or_default();
        let raw_cohorts = with_rollout(&raw.cohorts.clone().unwrap_or_default(), &rollout);
        let raw_managers = raw.managers.clone().unwrap_or_default();
        let managers = crate::manager::settings::validate(&raw_managers, &mut issues);
        let cohorts = cohorts(&raw_cohorts, &managers.external, &mut issues);
        pinned_in_population(&cohorts, workload.clients, &mut issues);
        let plan = rehearsal(&rollout, &workload, duration, &cohorts, &mut issues);
        let assumptions = crate::manager::assumptions::list(&raw_managers, &managers);
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
            assumptions,
            mock,
            mock_raw: raw.mock.clone().unwrap_or_default(),
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
    use crate::criteria::GateScope;
    use crate::manager::external::ManagerRef;

    fn parse(text: &str) -> Result<Scenario, Vec<KeyIssue>> {
        let raw: RawScenario = toml::from_str(text).unwrap();
        Scenario::from_raw(&raw, "test")
    }

    #[test]
    fn a_minimal_scenario_gets_the_documented_defaults() {
        let s = parse("duration = \"30s\"\n[workload]\nclients = 10\n").unwrap();
        assert_eq!(s.name, "test");
        let kinds = |s: &Scenario| s.cohorts.managers().iter().map(|m| m.kind).collect::<Vec<_>>();
        assert_eq!(kinds(&s), [ManagerKind::Legacy, ManagerKind::Wsmanager]);
        assert_eq!(s.managers.legacy.delay, Duration::from_secs(1));
        assert_eq!(s.managers.legacy.liveness, None, "off for legacy");
        assert_eq!(s.managers.wsmanager.max_attempts, 10);
        assert_eq!(s.managers.wsmanager.idle_timeout, Duration::from_secs(300));
        assert_eq!(s.managers.wsmanager.liveness, None, "003 describes no liveness check");
        assert_eq!(s.managers.wsmanager.connect_timeout, None, "nor a connect timeout");
        assert_eq!(s.managers.unified.liveness, None, "nor does 002");
        assert_eq!(s.managers.unified.max_streams, 1024);
        assert_eq!(s.workload.kinds, [("trade".to_owned(), 1.0)]);
    }

    #[test]
    fn pinned_clients_belong_to_a_split_of_the_population_or_its_rehearsal() {
        let split = "duration = \"5s\"\n[workload]\nclients = 10\n[cohorts]\nmode = \"split\"\nnew-share = 0.0\n";
        let s = parse(&format!("{split}new-clients = [7, 2, 2]\nlegacy-clients = [3]\n")).unwrap();
        let Cohorts::Split { pinned, .. } = &s.cohorts else { panic!("{:?}", s.cohorts) };
        assert_eq!((&pinned.new_clients[..], &pinned.legacy_clients[..]), (&[2, 7][..], &[3][..]), "sorted, once each");
        let issues = parse(&format!("{split}new-clients = [10]\n")).unwrap_err();
        assert_eq!(issues[0].key, "cohorts.new-clients");
        assert!(issues[0].message.contains("client 10 is not in the population: ids run from 0 to 9"), "{issues:?}");
        let side = "duration = \"5s\"\n[workload]\nclients = 10\n[cohorts]\nlegacy-clients = [1]\n";
        assert!(parse(side).unwrap_err()[0].message.contains("belong to mode = \"split\""));
        let stepped = format!("{split}new-clients = [1]\nlegacy-clients = [4]\n[rollout]\nsteps = [0.5, 1.0]\n")
            .replace("\"5s\"", "\"40s\"");
        let plan = parse(&stepped).unwrap().rollout.plan.expect("a rehearsal");
        assert_eq!((&plan.pinned.new_clients[..], &plan.pinned.legacy_clients[..]), (&[1][..], &[4][..]));
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
        let pinned = crate::load::placement::Pinned::default();
        assert_eq!(
            s.cohorts,
            Cohorts::Split { new_share: 0.1, new_manager: ManagerRef::model(ManagerKind::Wsmanager), pinned }
        );
        assert_eq!(s.criteria["error-rate-regression"].enabled, Some(true));
        let s = parse(
            "duration = \"10m\"\n[workload]\nclients = 10\n[rollout]\npreset = \"gradual\"\ngate = \"all\"\n\
             [cohorts]\nnew-share = 0.3\n[criteria.error-rate]\nthreshold = 2.0\n",
        )
        .unwrap();
        let pinned = crate::load::placement::Pinned::default();
        assert_eq!(
            s.cohorts,
            Cohorts::Split { new_share: 0.3, new_manager: ManagerRef::model(ManagerKind::Unified), pinned }
        );
        assert_eq!(s.criteria["error-rate"].threshold, Some(2.0));
        assert_eq!(s.rollout.gate, GateScope::All);
        let plan = s.rollout.plan.as_ref().unwrap();
        assert_eq!((plan.steps.len(), plan.new_manager), (15, ManagerKind::Unified), "a stepped preset rehearses");
        let s = parse("duration = \"5s\"\n[workload]\nclients = 1\n[rollout]\npreset = \"phase-0\"\n").unwrap();
        assert_eq!(s.cohorts.managers(), [ManagerRef::model(ManagerKind::Legacy)]);
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
