//! The live figures of a run. Pure: two progress snapshots, the scheduler lag and the fault plan in;
//! per-second rates, the faults in force and the next one out. Serialized, the figures are the
//! `{"type":"progress"}` JSON object; how they read as text is [`super::text`]'s. Nothing here prints or waits.

use std::time::Duration;

use serde::Serialize;

use crate::commands::run::planned_faults::PlannedFault;
use crate::record::progress::{CohortProgress, Progress};

/// Rates are computed over at least this long.
pub(super) const MIN_RATE_INTERVAL: Duration = Duration::from_millis(500);

/// What stays fixed for the whole run.
#[derive(Debug, Clone)]
pub(super) struct LiveSetup {
    /// Cohort names, in cohort order.
    pub cohorts: Vec<String>,
    /// The run's planned length.
    pub duration: Duration,
    /// The fault plan (empty when the upstream does not apply faults).
    pub faults: Vec<PlannedFault>,
    /// Scheduler-lag p99 above which the harness is too busy to measure (µs).
    pub lag_threshold_us: u64,
    /// Canary latency p99 above which the rig is too loaded to measure (µs).
    pub rig_threshold_us: u64,
}

/// The rig's figures of the last second (µs; 0 before one is measured: a measured value is at least 1).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RigNow {
    /// The harness's scheduler-lag p99.
    pub lag_us: u64,
    /// The canaries' latency p99.
    pub canary_us: u64,
}

/// Whether the clients are still running or being stopped after the run's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum Phase {
    /// Before the run's length.
    Running,
    /// After it, while the clients close.
    Stopping,
}

/// One cohort's figures for the last snapshot interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct CohortFigures {
    /// Client-side connections open now.
    pub open: i64,
    /// Messages delivered to subscribers per second.
    pub delivered_per_s: f64,
    /// Connection attempts per second (first connects and reconnects).
    pub attempts_per_s: f64,
    /// Reconnect attempts per second.
    pub reconnects_per_s: f64,
    /// Messages delivered so far.
    pub delivered: u64,
    /// Attempts so far.
    pub attempts: u64,
    /// Reconnect attempts so far.
    pub reconnects: u64,
    /// Sequence ids missing so far.
    pub gaps: u64,
}

/// Everything the live display shows at one moment; serialized, it is the `progress` JSON object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "progress")]
pub(super) struct LiveFigures<'a> {
    /// Time since the start of the run (`elapsed_s`).
    #[serde(rename = "elapsed_s", serialize_with = "seconds")]
    pub elapsed: Duration,
    /// The run's planned length (`duration_s`).
    #[serde(rename = "duration_s", serialize_with = "seconds")]
    pub duration: Duration,
    /// Running or stopping.
    pub phase: Phase,
    /// Per cohort, in cohort order (a JSON object keyed by cohort name).
    #[serde(serialize_with = "crate::vocab::serialize::as_map")]
    pub cohorts: Vec<(&'a str, CohortFigures)>,
    /// Faults of the plan in force now.
    pub faults: Vec<&'a PlannedFault>,
    /// The next fault of the plan to start.
    pub next_fault: Option<&'a PlannedFault>,
    /// Scheduler-lag p99 of the last second (ms); `None` before the first second is measured.
    pub harness_lag_p99_ms: Option<f64>,
    /// That lag is above the scenario's saturation threshold: latency figures measure the harness.
    pub harness_lagging: bool,
    /// The canaries' latency p99 of the last second (ms): the rig's own delay; `None` before one is
    /// measured or without canaries.
    pub canary_p99_ms: Option<f64>,
    /// That delay is above the scenario's `rig-delay`: latency figures measure the rig.
    pub rig_lagging: bool,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_millis() as f64 / 1000.0)
}

fn per_second(now: u64, before: u64, interval: f64) -> f64 {
    if interval > 0.0 { (now.saturating_sub(before) as f64 / interval * 100.0).round() / 100.0 } else { 0.0 }
}

fn cohort_figures(now: &CohortProgress, before: &CohortProgress, interval: f64) -> CohortFigures {
    CohortFigures {
        open: now.open,
        delivered_per_s: per_second(now.delivered, before.delivered, interval),
        attempts_per_s: per_second(now.attempts, before.attempts, interval),
        reconnects_per_s: per_second(now.reconnects, before.reconnects, interval),
        delivered: now.delivered,
        attempts: now.attempts,
        reconnects: now.reconnects,
        gaps: now.gaps,
    }
}

/// Whether `now` is far enough from `before` for its rates to mean something (the recorder's last
/// snapshot can come a moment after its last tick).
pub(super) fn worth_showing(before: &Progress, now: &Progress) -> bool {
    now.at.saturating_sub(before.at) >= MIN_RATE_INTERVAL
}

/// The figures at `now`, with rates over the interval since `before`, and the last second's rig figures.
pub(super) fn figures<'a>(setup: &'a LiveSetup, before: &Progress, now: &Progress, rig: RigNow) -> LiveFigures<'a> {
    let interval = now.at.saturating_sub(before.at).as_secs_f64();
    let idle = CohortProgress::default();
    let cohorts = setup
        .cohorts
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let current = now.cohorts.get(i).unwrap_or(&idle);
            (name.as_str(), cohort_figures(current, before.cohorts.get(i).unwrap_or(&idle), interval))
        })
        .collect();
    let t = now.at;
    LiveFigures {
        elapsed: t,
        duration: setup.duration,
        phase: if t < setup.duration { Phase::Running } else { Phase::Stopping },
        cohorts,
        faults: setup.faults.iter().take_while(|f| f.start <= t).filter(|f| f.active_at(t)).collect(),
        next_fault: setup.faults.iter().find(|f| f.start > t),
        harness_lag_p99_ms: (rig.lag_us > 0).then(|| rig.lag_us as f64 / 1000.0),
        harness_lagging: rig.lag_us > setup.lag_threshold_us,
        canary_p99_ms: (rig.canary_us > 0).then(|| rig.canary_us as f64 / 1000.0),
        rig_lagging: rig.canary_us > setup.rig_threshold_us,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::chaos::fault::{RawFault, validate_all};
    use crate::chaos::plan::FaultPlan;

    const S: fn(u64) -> Duration = Duration::from_secs;

    pub(crate) fn planned(kind: &'static str, name: Option<&str>, start: u64, end: u64) -> PlannedFault {
        PlannedFault { fault: 0, kind, name: name.map(str::to_owned), start: S(start), end: S(end) }
    }

    pub(crate) fn setup() -> LiveSetup {
        LiveSetup {
            cohorts: vec!["legacy".into(), "wsmanager".into()],
            duration: S(60),
            faults: vec![planned("disconnect", Some("drop-half"), 10, 10), planned("latency", None, 20, 30)],
            lag_threshold_us: 25_000,
            rig_threshold_us: 5_000,
        }
    }

    fn lag(lag_us: u64) -> RigNow {
        RigNow { lag_us, canary_us: 0 }
    }

    pub(crate) fn progress(at: Duration, legacy: CohortProgress) -> Progress {
        Progress { at, cohorts: vec![legacy] }
    }

    pub(crate) fn totals(open: i64, attempts: u64, reconnects: u64, delivered: u64) -> CohortProgress {
        CohortProgress { open, attempts, reconnects, delivered, gaps: 2, ..CohortProgress::default() }
    }

    #[test]
    fn rates_are_the_growth_of_the_totals_over_the_interval() {
        let setup = setup();
        let before = progress(S(1), totals(4, 5, 1, 100));
        let now = progress(S(3), totals(6, 9, 3, 700));
        let f = figures(&setup, &before, &now, lag(1_500));
        let expected = CohortFigures {
            open: 6,
            delivered_per_s: 300.0,
            attempts_per_s: 2.0,
            reconnects_per_s: 1.0,
            delivered: 700,
            attempts: 9,
            reconnects: 3,
            gaps: 2,
        };
        assert_eq!(f.cohorts[0], ("legacy", expected));
        assert_eq!(f.cohorts[1].1.delivered_per_s, 0.0, "a cohort without totals yet reads as idle");
        assert_eq!((f.phase, f.harness_lag_p99_ms, f.harness_lagging), (Phase::Running, Some(1.5), false));
        let late = figures(&setup, &before, &progress(S(61), totals(0, 9, 3, 700)), lag(0));
        assert_eq!((late.phase, late.harness_lag_p99_ms), (Phase::Stopping, None));
    }

    #[test]
    fn a_snapshot_right_after_the_last_is_not_worth_a_rate() {
        let before = progress(S(4), totals(0, 0, 0, 0));
        assert!(!worth_showing(&before, &progress(S(4) + Duration::from_millis(2), totals(0, 0, 0, 0))));
        assert!(worth_showing(&before, &progress(S(5), totals(0, 0, 0, 0))));
    }

    #[test]
    fn faults_in_force_follow_the_plan_and_an_instant_one_shows_for_a_second() {
        let setup = setup();
        let at = |t: Duration| {
            let f = figures(
                &setup,
                &progress(Duration::ZERO, totals(0, 0, 0, 0)),
                &progress(t, totals(0, 0, 0, 0)),
                lag(1),
            );
            let now: Vec<&str> = f.faults.iter().map(|p| p.kind).collect();
            (now, f.next_fault.map(|p| p.kind))
        };
        assert_eq!(at(S(9)), (vec![], Some("disconnect")));
        assert_eq!(at(Duration::from_millis(10_500)), (vec!["disconnect"], Some("latency")));
        assert_eq!(at(S(11)), (vec![], Some("latency")));
        assert_eq!(at(S(25)), (vec!["latency"], None));
        assert_eq!(at(S(30)), (vec![], None));
    }

    #[test]
    fn the_planned_faults_carry_the_kind_and_name_of_each_occurrence() {
        #[derive(serde::Deserialize)]
        struct File {
            faults: Vec<RawFault>,
        }
        let text = "[[faults]]\nkind = \"disconnect\"\nname = \"drop\"\nat = \"5s\"\nevery = \"20s\"\n\
                    [[faults]]\nkind = \"stall\"\nat = \"8s\"\nduration = \"4s\"\n";
        let file: File = toml::from_str(text).unwrap();
        let faults = validate_all(&file.faults, "faults").unwrap();
        let plan = FaultPlan::build(&faults, 1, S(30));
        let all = PlannedFault::all(&faults, &plan);
        assert_eq!(
            all,
            [
                planned("disconnect", Some("drop"), 5, 5),
                PlannedFault { fault: 1, ..planned("stall", None, 8, 12) },
                planned("disconnect", Some("drop"), 25, 25)
            ]
        );
    }

    #[test]
    fn the_progress_object_has_the_documented_fields() {
        let setup = setup();
        let rig = RigNow { lag_us: 2_000, canary_us: 7_500 };
        let f = figures(&setup, &progress(S(24), totals(1, 2, 0, 10)), &progress(S(25), totals(2, 4, 1, 30)), rig);
        let json: serde_json::Value = serde_json::to_value(&f).unwrap();
        assert_eq!(json["type"], "progress");
        assert_eq!((json["elapsed_s"].as_f64(), json["duration_s"].as_f64()), (Some(25.0), Some(60.0)));
        assert_eq!(json["phase"], "running");
        let legacy = &json["cohorts"]["legacy"];
        assert_eq!((legacy["open"].as_i64(), legacy["delivered_per_s"].as_f64()), (Some(2), Some(20.0)));
        assert_eq!((legacy["attempts_per_s"].as_f64(), legacy["reconnects_per_s"].as_f64()), (Some(2.0), Some(1.0)));
        assert_eq!((legacy["delivered"].as_u64(), legacy["attempts"].as_u64()), (Some(30), Some(4)));
        assert_eq!((legacy["reconnects"].as_u64(), legacy["gaps"].as_u64()), (Some(1), Some(2)));
        assert_eq!(
            json["faults"],
            serde_json::json!([{"kind": "latency", "name": null, "start_s": 20.0, "end_s": 30.0}])
        );
        assert_eq!(json["next_fault"], serde_json::Value::Null);
        assert_eq!((json["harness_lag_p99_ms"].as_f64(), json["harness_lagging"].as_bool()), (Some(2.0), Some(false)));
        assert_eq!((json["canary_p99_ms"].as_f64(), json["rig_lagging"].as_bool()), (Some(7.5), Some(true)));
    }
}
