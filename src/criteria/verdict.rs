//! Judging a run: every criterion of the table (with the scenario's overrides) against the run summary,
//! per cohort where it applies. Pure: summary in, verdicts out. A saturated harness makes latency
//! verdicts "not measurable", never a pass.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::criteria::{Applies, Comparison, Criterion, RawOverride, table};
use crate::report::summary::{CohortSummary, RunSummary};
use crate::scenario::ManagerKind;

/// The outcome of one criterion for one cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The measured value meets the threshold.
    Pass,
    /// It does not.
    Fail,
    /// The run cannot tell (a saturated harness for latency).
    NotMeasurable,
    /// The run has nothing to judge (no drops for recovery, no legacy cohort to compare with, …).
    NotApplicable,
    /// Switched off by the scenario.
    Disabled,
}

/// One verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Criterion id.
    pub criterion: String,
    /// The cohort judged (`None` for the harness).
    pub cohort: Option<String>,
    /// The measured value, in the criterion's unit.
    pub measured: Option<f64>,
    /// The threshold applied.
    pub threshold: f64,
    /// Unit of both.
    pub unit: String,
    /// How they compare.
    pub comparison: Comparison,
    /// The outcome.
    pub status: Status,
    /// Why, when not a plain pass or fail.
    pub note: String,
    /// The rollout document the criterion comes from.
    pub source: String,
}

/// A measurement, or why there is none.
enum Measure {
    Value(f64),
    NotApplicable(&'static str),
    NotMeasurable(&'static str),
}

fn percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| 100.0 * part / whole)
}

fn value(v: Option<f64>, missing: &'static str) -> Measure {
    v.map_or(Measure::NotApplicable(missing), Measure::Value)
}

/// Measures a per-cohort criterion.
fn measure(id: &str, c: &CohortSummary, summary: &RunSummary) -> Measure {
    let saturated = summary.harness.saturated;
    let latency = |us: u64| {
        if saturated { Measure::NotMeasurable("the harness was saturated") } else { Measure::Value(us as f64 / 1000.0) }
    };
    match id {
        "error-rate" => {
            let failed = (c.attempts.total - c.attempts.connected)
                + c.attempts.give_up_subscribers
                + c.errors.values().sum::<u64>();
            value(percent(failed as f64, (c.attempts.total + c.subscriptions) as f64), "no operations")
        }
        "latency-p50" if c.latency_us.count > 0 => latency(c.latency_us.p50),
        "latency-p95" if c.latency_us.count > 0 => latency(c.latency_us.p95),
        "latency-p50" | "latency-p95" => Measure::NotApplicable("no message carried a time"),
        "retry-rate" => Measure::Value(c.attempts.retry_rate_outside_faults),
        "connection-success" => value(percent(c.attempts.connected as f64, c.attempts.total as f64), "no attempts"),
        "message-delivery" => {
            let received = c.delivery.steady_received as f64;
            value(percent(received, received + c.delivery.steady_gaps as f64), "nothing received outside fault windows")
        }
        "reconnection-success" | "subscription-preservation" => {
            let judged = c.connections.subscriptions_dropped.saturating_sub(c.connections.subscriptions_abandoned);
            let recovered = c.connections.subscriptions_recovered_in_time.min(judged);
            value(percent(recovered as f64, judged as f64), "no subscription was dropped")
        }
        "recovery-time" if c.recovery_from_fault_end_us.count > 0 => {
            Measure::Value(c.recovery_from_fault_end_us.p99 as f64 / 1e6)
        }
        "recovery-time" => Measure::NotApplicable("nothing had to recover"),
        "per-ip-connect-budget" => Measure::Value(c.attempts.max_per_ip_5m as f64),
        "fallback-rate" => value(percent(c.attempts.fallbacks as f64, f64::from(c.clients)), "no clients"),
        "connections-per-stream" => value(
            (c.streams.high_water > 0).then(|| c.connections.high_water as f64 / c.streams.high_water as f64),
            "no streams",
        ),
        "peak-connect-rate" => Measure::Value(c.attempts.peak_retries_per_second as f64),
        "connection-preservation" | "consecutive-failures" => Measure::NotApplicable("judged in rollout rehearsals"),
        _ => Measure::NotApplicable("not measured by this run"),
    }
}

/// Measures a criterion of a new cohort against the legacy one.
fn compare(id: &str, new: &CohortSummary, legacy: &CohortSummary, summary: &RunSummary) -> Measure {
    match id {
        "connection-reduction" => {
            let per = |c: &CohortSummary| {
                (c.subscriptions > 0).then(|| c.connections.high_water as f64 / c.subscriptions as f64)
            };
            match (per(new), per(legacy)) {
                (Some(n), Some(l)) if l > 0.0 => Measure::Value(100.0 * (1.0 - n / l)),
                _ => Measure::NotApplicable("no subscriptions to compare"),
            }
        }
        "latency-regression" if summary.harness.saturated => Measure::NotMeasurable("the harness was saturated"),
        "latency-regression" => match (new.latency_us.p95, legacy.latency_us.p95) {
            (n, l) if l > 0 && new.latency_us.count > 0 => Measure::Value(100.0 * (n as f64 - l as f64) / l as f64),
            _ => Measure::NotApplicable("no latency to compare"),
        },
        _ => Measure::NotApplicable("not measured by this run"),
    }
}

fn meets(comparison: Comparison, value: f64, threshold: f64) -> bool {
    match comparison {
        Comparison::Below => value < threshold,
        Comparison::AtMost => value <= threshold,
        Comparison::Above => value > threshold,
        Comparison::AtLeast => value >= threshold,
    }
}

fn verdict(criterion: &Criterion, cohort: Option<&str>, measure: Measure, over: Option<&RawOverride>) -> Verdict {
    let threshold = over.and_then(|o| o.threshold).unwrap_or(criterion.threshold);
    let (measured, status, note) = match measure {
        _ if over.and_then(|o| o.enabled) == Some(false) => {
            (None, Status::Disabled, "disabled by the scenario".to_owned())
        }
        Measure::Value(v) => {
            let v = (v * 1000.0).round() / 1000.0;
            (
                Some(v),
                if meets(criterion.comparison, v, threshold) { Status::Pass } else { Status::Fail },
                String::new(),
            )
        }
        Measure::NotApplicable(why) => (None, Status::NotApplicable, why.to_owned()),
        Measure::NotMeasurable(why) => (None, Status::NotMeasurable, why.to_owned()),
    };
    Verdict {
        criterion: criterion.id.to_owned(),
        cohort: cohort.map(str::to_owned),
        measured,
        threshold,
        unit: criterion.unit.to_owned(),
        comparison: criterion.comparison,
        status,
        note,
        source: criterion.source.to_owned(),
    }
}

/// Every verdict of a run: each criterion of the table, per cohort where it applies.
pub fn judge(summary: &RunSummary, overrides: &BTreeMap<String, RawOverride>) -> Vec<Verdict> {
    let legacy = summary.cohorts.iter().find(|c| c.manager == ManagerKind::Legacy);
    let newer: Vec<&CohortSummary> = summary.cohorts.iter().filter(|c| c.manager != ManagerKind::Legacy).collect();
    let mut verdicts = Vec::new();
    for criterion in table() {
        let over = overrides.get(criterion.id);
        match criterion.applies {
            Applies::Each => {
                for c in &summary.cohorts {
                    let unset = criterion.id == "peak-connect-rate" && over.and_then(|o| o.threshold).is_none();
                    let m = if unset {
                        Measure::NotApplicable(
                            "give the upstream's admission rate as [criteria.peak-connect-rate] threshold",
                        )
                    } else {
                        measure(criterion.id, c, summary)
                    };
                    verdicts.push(verdict(&criterion, Some(&c.name), m, over));
                }
            }
            Applies::New => {
                for c in &newer {
                    verdicts.push(verdict(&criterion, Some(&c.name), measure(criterion.id, c, summary), over));
                }
            }
            Applies::Unified => {
                for c in summary.cohorts.iter().filter(|c| c.manager == ManagerKind::Unified) {
                    verdicts.push(verdict(&criterion, Some(&c.name), measure(criterion.id, c, summary), over));
                }
            }
            Applies::NewVsLegacy => {
                for c in &newer {
                    let m = legacy.map_or(Measure::NotApplicable("no legacy cohort to compare with"), |l| {
                        compare(criterion.id, c, l, summary)
                    });
                    verdicts.push(verdict(&criterion, Some(&c.name), m, over));
                }
            }
            Applies::Harness => {
                let m = Measure::NotApplicable("the managers are modelled inside the harness; see harness.max_rss_kib");
                verdicts.push(verdict(&criterion, None, m, over));
            }
        }
    }
    verdicts
}

/// True when any verdict failed.
pub fn any_failed(verdicts: &[Verdict]) -> bool {
    verdicts.iter().any(|v| v.status == Status::Fail)
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
        let v = verdict(&criterion, Some("legacy"), Measure::NotMeasurable("the harness was saturated"), None);
        assert_eq!((v.status, v.measured), (Status::NotMeasurable, None));
        let stricter = RawOverride { threshold: Some(0.5), enabled: None };
        let v = verdict(&criterion, Some("legacy"), Measure::Value(1.0), Some(&stricter));
        assert_eq!((v.status, v.threshold), (Status::Fail, 0.5));
        assert!(any_failed(&[v]));
    }
}
