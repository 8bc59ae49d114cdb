//! Judging a run: every criterion of the table (with a preset's gates and the scenario's overrides), the
//! scenario's own thresholds and a baseline's tolerances against the run summary, per cohort where each
//! applies, and which verdicts gate the exit code. Pure: summary in, verdicts out. A saturated harness
//! makes latency verdicts "not measurable", never a pass.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::criteria::baseline::{Baseline, BaselineSettings, Worse};
use crate::criteria::custom::{MetricScope, Threshold};
use crate::criteria::measure::{self, Measure, Reference};
use crate::criteria::{Applies, Comparison, Criterion, GateScope, RawOverride, table};
use crate::manager::settings::ManagerKind;
pub use crate::summary::verdict::{Status, Verdict};
use crate::summary::{CohortSummary, RunSummary};

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn meets(comparison: Comparison, value: f64, threshold: f64) -> bool {
    match comparison {
        Comparison::Below => value < threshold,
        Comparison::AtMost => value <= threshold,
        Comparison::Above => value > threshold,
        Comparison::AtLeast => value >= threshold,
    }
}

/// A verdict of `measure` against `threshold`, before the gate scope is applied.
pub struct Judged<'a> {
    /// Criterion id.
    pub criterion: String,
    /// The cohort judged (`None` for the harness).
    pub cohort: Option<&'a str>,
    /// How the measure compares with the threshold.
    pub comparison: Comparison,
    /// The threshold.
    pub threshold: f64,
    /// Unit of both.
    pub unit: String,
    /// Where the criterion comes from.
    pub source: String,
}

impl Judged<'_> {
    /// The verdict of `measure` (`Disabled` unless `enabled`), gating.
    pub fn verdict(self, measure: Measure, enabled: bool) -> Verdict {
        let mut interval = None;
        let (measured, status, note) = match measure {
            _ if !enabled => (None, Status::Disabled, "disabled by the scenario".to_owned()),
            Measure::Value(v) => self.judge_value(v, String::new()),
            Measure::Noted(v, note) => self.judge_value(v, note),
            Measure::Interval { value, low, high, note } => {
                let (measured, status, note) = self.judge_interval(value, (low, high), note);
                interval = Some([round3(low), round3(high)]);
                (measured, status, note)
            }
            Measure::Bounded { low, high, note } => {
                interval = Some([round3(low), round3(high)]);
                self.judge_bounds((low, high), note)
            }
            Measure::Exceeded(why) => (None, Status::Fail, why),
            Measure::NotApplicable(why) => (None, Status::NotApplicable, why.to_owned()),
            Measure::NotMeasurable(why) => (None, Status::NotMeasurable, why.to_owned()),
        };
        Verdict {
            criterion: self.criterion,
            cohort: self.cohort.map(str::to_owned),
            measured,
            threshold: self.threshold,
            unit: self.unit,
            comparison: self.comparison,
            status,
            note,
            source: self.source,
            gates: true,
            interval,
        }
    }

    fn judge_value(&self, v: f64, note: String) -> (Option<f64>, Status, String) {
        let v = round3(v);
        let status = if meets(self.comparison, v, self.threshold) { Status::Pass } else { Status::Fail };
        (Some(v), status, note)
    }

    /// A bounded value passes on its unfavourable end and fails on its favourable one; between, the run
    /// cannot tell.
    fn judge_bounds(&self, (low, high): (f64, f64), note: String) -> (Option<f64>, Status, String) {
        let (favourable, unfavourable) = match self.comparison {
            Comparison::Below | Comparison::AtMost => (low, high),
            Comparison::Above | Comparison::AtLeast => (high, low),
        };
        let (low, high) = (round3(low), round3(high));
        if meets(self.comparison, round3(unfavourable), self.threshold) {
            (Some(round3(unfavourable)), Status::Pass, format!("between {low} and {high}, {note}"))
        } else if !meets(self.comparison, round3(favourable), self.threshold) {
            (Some(round3(favourable)), Status::Fail, format!("between {low} and {high}, {note}"))
        } else {
            (None, Status::NotMeasurable, format!("between {low} and {high}, either side of the threshold: {note}"))
        }
    }

    /// A comparative value fails only when its interval's favourable end fails as well: a difference that
    /// is not beyond the noise is no regression.
    fn judge_interval(&self, v: f64, (low, high): (f64, f64), note: String) -> (Option<f64>, Status, String) {
        let favourable = match self.comparison {
            Comparison::Below | Comparison::AtMost => low,
            Comparison::Above | Comparison::AtLeast => high,
        };
        let (measured, status, note) = self.judge_value(v, note);
        if status == Status::Fail && meets(self.comparison, favourable, self.threshold) {
            return (measured, Status::Pass, format!("within the noise: {note}"));
        }
        (measured, status, note)
    }
}

fn verdict(criterion: &Criterion, cohort: Option<&str>, measure: Measure, over: Option<&RawOverride>) -> Verdict {
    let judged = Judged {
        criterion: criterion.id.to_owned(),
        cohort,
        comparison: criterion.comparison,
        threshold: over.and_then(|o| o.threshold).unwrap_or(criterion.threshold),
        unit: criterion.unit.to_owned(),
        source: criterion.source.to_owned(),
    };
    judged.verdict(measure, over.and_then(|o| o.enabled) != Some(false))
}

/// What a run is judged with besides its summary.
#[derive(Debug, Clone, Copy)]
pub struct Judging<'a> {
    /// Criteria overrides by id (a preset's gates merged with the scenario's).
    pub overrides: &'a BTreeMap<String, RawOverride>,
    /// The scenario's own thresholds.
    pub thresholds: &'a [Threshold],
    /// A stored baseline to compare the new cohorts with, and the tolerances.
    pub baseline: Option<(&'a Baseline, &'a BaselineSettings)>,
    /// Latency differences up to this are measurement noise, not a regression.
    pub latency_floor: Duration,
    /// Whose verdicts decide the exit code.
    pub gate: GateScope,
}

impl Judging<'_> {
    /// Judging with the table's defaults only.
    pub fn defaults() -> Judging<'static> {
        static NONE: BTreeMap<String, RawOverride> = BTreeMap::new();
        Judging {
            overrides: &NONE,
            thresholds: &[],
            baseline: None,
            latency_floor: Duration::ZERO,
            gate: GateScope::New,
        }
    }
}

fn table_verdicts(summary: &RunSummary, judging: &Judging<'_>) -> Vec<Verdict> {
    let newer: Vec<&CohortSummary> = summary.cohorts.iter().filter(|c| c.manager != ManagerKind::Legacy).collect();
    let mut verdicts = Vec::new();
    for criterion in table() {
        let over = judging.overrides.get(criterion.id);
        if criterion.opt_in && !over.is_some_and(|o| o.enabled == Some(true) || o.threshold.is_some()) {
            continue;
        }
        let judge_each = |cohorts: &mut dyn Iterator<Item = &CohortSummary>, verdicts: &mut Vec<Verdict>| {
            for c in cohorts {
                verdicts.push(verdict(&criterion, Some(&c.name), cohort_measure(&criterion, c, summary, over), over));
            }
        };
        match criterion.applies {
            Applies::Each => judge_each(&mut summary.cohorts.iter(), &mut verdicts),
            Applies::New => judge_each(&mut newer.iter().copied(), &mut verdicts),
            Applies::Unified => {
                judge_each(&mut summary.cohorts.iter().filter(|c| c.manager == ManagerKind::Unified), &mut verdicts)
            }
            Applies::NewVsLegacy => {
                for c in &newer {
                    let m = match reference(criterion.id, legacy_of(c, summary), judging) {
                        Some(r) => measure::compared(criterion.id, c, r, judging.latency_floor, summary),
                        None => Measure::NotApplicable("no legacy cohort or baseline to compare with"),
                    };
                    verdicts.push(verdict(&criterion, Some(&c.name), m, over));
                }
            }
            Applies::External if summary.cohorts.iter().any(|c| c.external.is_some()) => {
                judge_each(&mut summary.cohorts.iter().filter(|c| c.external.is_some()), &mut verdicts)
            }
            Applies::External => {
                let m = Measure::NotApplicable(
                    "judges external managers; the models run inside the harness (see harness.max_rss_kib)",
                );
                verdicts.push(verdict(&criterion, None, m, over));
            }
        }
    }
    verdicts
}

fn cohort_measure(
    criterion: &Criterion,
    c: &CohortSummary,
    summary: &RunSummary,
    over: Option<&RawOverride>,
) -> Measure {
    if criterion.id == "peak-connect-rate" && over.and_then(|o| o.threshold).is_none() {
        return Measure::NotApplicable("give the upstream's admission rate as [criteria.peak-connect-rate] threshold");
    }
    measure::cohort(criterion.id, c, summary)
}

/// The legacy cohort a new one is compared with: of the same sort (an external manager's with an
/// external legacy, a model's with the legacy model) where the run has one, the first legacy otherwise.
fn legacy_of<'a>(c: &CohortSummary, summary: &'a RunSummary) -> Option<&'a CohortSummary> {
    let mut legacy = summary.cohorts.iter().filter(|l| l.manager == ManagerKind::Legacy);
    let first = legacy.clone().next();
    legacy.find(|l| l.external.is_some() == c.external.is_some()).or(first)
}

/// The reference of a comparative criterion: the baseline when one is given (for the latency and error-rate
/// regressions), the same run's legacy cohort otherwise.
fn reference<'a>(id: &str, legacy: Option<&'a CohortSummary>, judging: &Judging<'a>) -> Option<Reference<'a>> {
    match judging.baseline {
        Some((baseline, _)) if id != "connection-reduction" => Some(Reference::Baseline(&baseline.cohort)),
        _ => legacy.map(Reference::Legacy),
    }
}

fn threshold_verdicts(summary: &RunSummary, thresholds: &[Threshold]) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for t in thresholds {
        let judged = |cohort| Judged {
            criterion: format!("custom:{}", t.name),
            cohort,
            comparison: t.comparison,
            threshold: t.value,
            unit: t.unit.clone(),
            source: "scenario".to_owned(),
        };
        if t.scope != MetricScope::Cohort {
            verdicts.push(judged(None).verdict(measure::threshold(t, None, summary), true));
            continue;
        }
        let cohorts = summary.cohorts.iter().filter(|c| t.cohort.is_none_or(|m| m == c.manager));
        let mut any = false;
        for c in cohorts {
            any = true;
            verdicts.push(judged(Some(&c.name)).verdict(measure::threshold(t, Some(c), summary), true));
        }
        if let (false, Some(manager)) = (any, t.cohort) {
            let m = Measure::NotApplicable("no such cohort in this run");
            verdicts.push(judged(Some(manager.as_str())).verdict(m, true));
        }
    }
    verdicts
}

fn baseline_verdicts(
    summary: &RunSummary,
    baseline: &Baseline,
    settings: &BaselineSettings,
    floor: Duration,
) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for t in &settings.tolerances {
        for c in summary.cohorts.iter().filter(|c| c.manager != ManagerKind::Legacy) {
            let judged = Judged {
                criterion: format!("baseline:{}", t.metric),
                cohort: Some(&c.name),
                comparison: Comparison::AtMost,
                threshold: t.percent,
                unit: match t.worse {
                    Worse::Increase => "% higher".to_owned(),
                    Worse::Decrease => "% lower".to_owned(),
                },
                source: format!("baseline of {} (seed {})", baseline.scenario, baseline.seed),
            };
            verdicts.push(judged.verdict(measure::tolerance(t, c, &baseline.cohort, floor, summary), true));
        }
    }
    verdicts
}

/// Every verdict of a run: each criterion of the table, per cohort where it applies, then the scenario's
/// thresholds and the baseline's tolerances. Under [`GateScope::New`] the legacy cohort's verdicts are the
/// reference when a new cohort runs beside it, and do not gate; a legacy-only run (phase 0) gates nothing but
/// the harness and explicitly named cohorts. A legacy cohort is one whose manager is (or implements) legacy,
/// whatever its name. An external process that failed gates for every cohort: a reference whose adapter
/// crashed is no reference.
pub fn judge(summary: &RunSummary, judging: &Judging<'_>) -> Vec<Verdict> {
    let mut verdicts = table_verdicts(summary, judging);
    verdicts.extend(threshold_verdicts(summary, judging.thresholds));
    if let Some((baseline, settings)) = judging.baseline {
        verdicts.extend(baseline_verdicts(summary, baseline, settings, judging.latency_floor));
    }
    if judging.gate == GateScope::New {
        let named: Vec<String> = judging
            .thresholds
            .iter()
            .filter_map(|t| t.cohort.map(|m| format!("custom:{}/{}", t.name, m.as_str())))
            .collect();
        for v in &mut verdicts {
            let kind = v.cohort.as_deref().and_then(|name| summary.cohort(name)).map(|c| c.manager);
            let is_legacy = kind == Some(ManagerKind::Legacy) && v.criterion != "adapter-failures";
            let key = format!("{}/{}", v.criterion, v.cohort.as_deref().unwrap_or_default());
            v.gates = !is_legacy || named.contains(&key);
        }
    }
    verdicts
}

/// True when any gating verdict failed.
pub fn any_failed(verdicts: &[Verdict]) -> bool {
    verdicts.iter().any(|v| v.gates && v.status == Status::Fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_follow_the_table() {
        assert!(meets(Comparison::Below, 0.09, 0.1) && !meets(Comparison::Below, 0.1, 0.1));
        assert!(meets(Comparison::AtMost, 1.0, 1.0) && !meets(Comparison::AtMost, 1.01, 1.0));
        assert!(meets(Comparison::Above, 99.91, 99.9) && !meets(Comparison::Above, 99.9, 99.9));
        assert!(meets(Comparison::AtLeast, 100.0, 100.0) && !meets(Comparison::AtLeast, 99.99, 100.0));
    }

    #[test]
    fn disabled_and_unmeasurable_are_never_a_pass() {
        let criterion = table().into_iter().find(|c| c.id == "latency-p95").unwrap();
        let off = RawOverride { threshold: None, enabled: Some(false) };
        let v = verdict(&criterion, Some("legacy"), Measure::Value(1.0), Some(&off));
        assert_eq!(v.status, Status::Disabled);
        let v = verdict(&criterion, Some("legacy"), Measure::NotMeasurable("the harness was saturated".into()), None);
        assert_eq!((v.status, v.measured), (Status::NotMeasurable, None));
        let stricter = RawOverride { threshold: Some(0.5), enabled: None };
        let v = verdict(&criterion, Some("legacy"), Measure::Value(1.0), Some(&stricter));
        assert_eq!((v.status, v.threshold), (Status::Fail, 0.5));
        assert!(any_failed(&[v]));
    }
}

#[cfg(test)]
mod judging {
    use super::*;
    use crate::criteria::baseline::Baseline;
    use crate::criteria::custom::RawThreshold;
    use crate::summary::{CohortSummary, HarnessSummary, RunInfo};

    #[test]
    fn a_bounded_value_passes_or_fails_only_on_both_ends() {
        let judged = |low: f64, high: f64| {
            let j = Judged {
                criterion: "connections-per-stream".into(),
                cohort: Some("wsmanager"),
                comparison: Comparison::AtMost,
                threshold: 1.0,
                unit: "connections".into(),
                source: String::new(),
            };
            j.verdict(Measure::Bounded { low, high, note: "merged".into() }, true)
        };
        let pass = judged(0.5, 1.0);
        assert_eq!((pass.status, pass.measured, pass.interval), (Status::Pass, Some(1.0), Some([0.5, 1.0])));
        assert_eq!((judged(1.2, 2.0).status, judged(1.2, 2.0).measured), (Status::Fail, Some(1.2)));
        let unsure = judged(0.9, 1.5);
        assert_eq!((unsure.status, unsure.measured), (Status::NotMeasurable, None));
        assert!(unsure.note.starts_with("between 0.9 and 1.5, either side"), "{}", unsure.note);
    }

    fn cohort(manager: ManagerKind, p95_us: u64, high_water: i64) -> CohortSummary {
        let mut c = CohortSummary::empty(manager);
        c.clients = 10;
        c.subscriptions = 100;
        (c.latency_us.count, c.latency_us.p50, c.latency_us.p95) = (1000, p95_us / 2, p95_us);
        (c.attempts.total, c.attempts.connected) = (100, 100);
        c.connections.high_water = high_water;
        c.attempts.peak_retries_per_100ms = 40;
        c
    }

    fn run(cohorts: Vec<CohortSummary>) -> RunSummary {
        RunSummary {
            schema_version: 1,
            wschaos_version: "test".into(),
            scenario: serde_json::json!({"name": "t", "seed": 1}),
            mock_config: serde_json::Value::Null,
            run: RunInfo {
                started_unix_ms: 0,
                elapsed_ms: 1000,
                interrupted: false,
                upstream: "embedded".into(),
                events_recorded: 0,
                shard: None,
                shards: Vec::new(),
            },
            cohorts,
            server: None,
            faults: Vec::new(),
            harness: HarnessSummary::default(),
            rig: Default::default(),
            verdicts: Vec::new(),
            baseline: None,
            rollout: None,
            streams: Vec::new(),
            assumptions: Vec::new(),
        }
    }

    fn find<'a>(verdicts: &'a [Verdict], id: &str, cohort: &str) -> &'a Verdict {
        verdicts.iter().find(|v| v.criterion == id && v.cohort.as_deref() == Some(cohort)).unwrap()
    }

    #[test]
    fn legacy_is_the_reference_unless_the_gate_is_all() {
        let mut legacy = cohort(ManagerKind::Legacy, 2000, 100);
        (legacy.attempts.total, legacy.attempts.connected) = (100, 50);
        let summary = run(vec![legacy, cohort(ManagerKind::Wsmanager, 2000, 10)]);
        let verdicts = judge(&summary, &Judging::defaults());
        let legacy_success = find(&verdicts, "connection-success", "legacy");
        assert_eq!((legacy_success.status, legacy_success.gates), (Status::Fail, false));
        assert!(!any_failed(&verdicts), "a failing legacy cohort is the finding, not a failed gate");
        let all = Judging { gate: GateScope::All, ..Judging::defaults() };
        assert!(any_failed(&judge(&summary, &all)));
        assert!(verdicts.iter().all(|v| v.criterion != "connection-leaks"), "opt-in gates stay off by default");
    }

    #[test]
    fn loss_from_messages_the_lagging_rig_could_not_place_is_not_measurable() {
        let mut wsmanager = cohort(ManagerKind::Wsmanager, 2000, 10);
        (wsmanager.delivery.steady_delivered, wsmanager.delivery.steady_gaps) = (99_000, 1_000);
        // 25 subscriber-deliveries per socket message: 40 unplaced messages are as many as the loss.
        (wsmanager.delivery.delivered, wsmanager.delivery.received) = (100_000, 4_000);
        wsmanager.delivery.unresolved = 40;
        let mut summary = run(vec![cohort(ManagerKind::Legacy, 2000, 100), wsmanager]);
        let failed = find(&judge(&summary, &Judging::defaults()), "message-delivery", "wsmanager").clone();
        assert_eq!(failed.status, Status::Fail, "a rig that kept up: the loss is measured, unresolved or not");
        summary.harness.saturated = true;
        let verdicts = judge(&summary, &Judging::defaults());
        let v = find(&verdicts, "message-delivery", "wsmanager");
        assert_eq!(v.status, Status::NotMeasurable);
        assert!(v.note.contains("40 socket messages could not be placed"), "{}", v.note);
        summary.cohorts[1].delivery.unresolved = 39;
        let v = find(&judge(&summary, &Judging::defaults()), "message-delivery", "wsmanager").clone();
        assert_eq!(v.status, Status::Fail, "more loss than unplaced messages: some of it is real");
        summary.cohorts[1].delivery.unresolved = 0;
        let v = find(&judge(&summary, &Judging::defaults()), "message-delivery", "wsmanager").clone();
        assert_eq!(v.status, Status::Fail, "every message placed: loss is loss, however the rig did");
    }

    #[test]
    fn scenario_thresholds_judge_any_metric() {
        let summary = run(vec![cohort(ManagerKind::Legacy, 2000, 100), cohort(ManagerKind::Wsmanager, 2000, 10)]);
        let raw = RawThreshold {
            metric: Some("attempts.peak_retries_per_100ms".into()),
            below: Some(30.0),
            cohort: Some(ManagerKind::Wsmanager),
            ..Default::default()
        };
        let thresholds = crate::criteria::custom::validate(&[raw]).unwrap();
        let verdicts = judge(&summary, &Judging { thresholds: &thresholds, ..Judging::defaults() });
        let v = find(&verdicts, "custom:attempts.peak_retries_per_100ms", "wsmanager");
        assert_eq!((v.status, v.measured, v.gates), (Status::Fail, Some(40.0), true));
        assert!(verdicts.iter().all(|v| v.cohort.as_deref() != Some("legacy") || !v.criterion.starts_with("custom:")));
    }

    #[test]
    fn the_timed_thresholds_and_tolerances_of_an_external_cohort_whose_processes_lagged_are_not_measurable() {
        let mut external = cohort(ManagerKind::Wsmanager, 2000, 10);
        external.external = Some(crate::summary::external::ExternalSummary {
            event_loop_lag_p99_us: Some(9_000),
            lag_threshold_us: 5_000,
            ..Default::default()
        });
        let summary = run(vec![cohort(ManagerKind::Legacy, 2000, 100), external]);
        let raw = |metric: &str| RawThreshold { metric: Some(metric.into()), below: Some(1.0), ..Default::default() };
        let thresholds = crate::criteria::custom::validate(&[raw("latency_us.p95"), raw("attempts.total")]).unwrap();
        let baseline = Baseline::from_summary(&run(vec![cohort(ManagerKind::Legacy, 2000, 100)])).unwrap();
        let settings = BaselineSettings::default();
        let judging =
            Judging { thresholds: &thresholds, baseline: Some((&baseline, &settings)), ..Judging::defaults() };
        let verdicts = judge(&summary, &judging);
        for id in ["custom:latency_us.p95", "baseline:latency_us.p50", "latency-p95"] {
            let v = find(&verdicts, id, "wsmanager");
            assert_eq!(v.status, Status::NotMeasurable, "{id}: {}", v.note);
            assert!(v.note.contains("event loop lagged p99 9.0 ms"), "{id}: {}", v.note);
        }
        let count = find(&verdicts, "custom:attempts.total", "wsmanager");
        assert_eq!(count.status, Status::Fail, "a count is judged however the process kept up");
        assert_eq!(find(&verdicts, "custom:latency_us.p95", "legacy").status, Status::Fail, "a model kept up");
        assert!(summary.not_measurable_cause().is_some_and(|c| c.starts_with("wsmanager: an external process")));
    }

    #[test]
    fn a_baseline_replaces_the_legacy_cohort_for_regressions_and_adds_tolerances() {
        let phase0 = run(vec![cohort(ManagerKind::Legacy, 2000, 100)]);
        let baseline = Baseline::from_summary(&phase0).unwrap();
        let settings = BaselineSettings::default();
        let phase1 = run(vec![cohort(ManagerKind::Legacy, 1000, 90), cohort(ManagerKind::Wsmanager, 2200, 10)]);
        let judging = Judging { baseline: Some((&baseline, &settings)), ..Judging::defaults() };
        let verdicts = judge(&phase1, &judging);
        let regression = find(&verdicts, "latency-regression", "wsmanager");
        assert_eq!(
            (regression.status, regression.measured),
            (Status::Fail, Some(10.0)),
            "2.2 ms vs the baseline's 2 ms"
        );
        let p50 = find(&verdicts, "baseline:latency_us.p50", "wsmanager");
        assert_eq!((p50.status, p50.measured), (Status::Fail, Some(10.0)));
        let judging = Judging {
            baseline: Some((&baseline, &settings)),
            latency_floor: Duration::from_millis(1),
            ..Judging::defaults()
        };
        let verdicts = judge(&phase1, &judging);
        let regression = find(&verdicts, "latency-regression", "wsmanager");
        assert_eq!(regression.status, Status::Pass, "0.2 ms is inside a 1 ms noise floor: {}", regression.note);
        assert!(regression.note.contains("noise floor"));
    }

    /// A cohort whose per-second p95 is `level_us` with ±20 % seeded noise over 30 seconds (and whose run-wide
    /// p95 is the level).
    fn noisy(manager: ManagerKind, level_us: u64, seed: u64, high_water: i64) -> CohortSummary {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut c = cohort(manager, level_us, high_water);
        c.latency_per_second.p95_us = (0..30).map(|_| (level_us as f64 * rng.random_range(0.8..1.2)) as u64).collect();
        c
    }

    #[test]
    fn a_regression_must_be_beyond_the_interval_of_the_per_second_figures() {
        // 6 % worse on the run-wide p95 but within the per-second noise: no regression.
        let within =
            run(vec![noisy(ManagerKind::Legacy, 20_000, 1, 100), noisy(ManagerKind::Wsmanager, 21_200, 2, 10)]);
        let v = find(&judge(&within, &Judging::defaults()), "latency-regression", "wsmanager").clone();
        assert_eq!(v.status, Status::Pass, "{}", v.note);
        assert!(v.measured.unwrap() > 5.0 && v.note.contains("run-wide p95 6.0 %"), "{v:?}");
        let [low, high] = v.interval.unwrap();
        assert!(low < 5.0 && high > 5.0, "{low} {high}");
        assert!(v.note.starts_with("within the noise"), "{}", v.note);
        // 40 % worse: beyond it.
        let beyond =
            run(vec![noisy(ManagerKind::Legacy, 20_000, 1, 100), noisy(ManagerKind::Wsmanager, 28_000, 2, 10)]);
        let v = find(&judge(&beyond, &Judging::defaults()), "latency-regression", "wsmanager").clone();
        assert_eq!(v.status, Status::Fail, "{v:?}");
        assert!(v.interval.unwrap()[0] > 5.0);
    }
}
