//! Baselines: phase 0 records the legacy manager's figures (`baseline.json` in its run directory); later
//! phases, run with `--baseline FILE`, judge the new manager against them: `latency-regression` and
//! `error-rate-regression` compare with the baseline instead of the same run's legacy cohort, and every metric
//! given a tolerance in `[[baseline.tolerance]]` may change by at most that share.
//!
//! Pure: the file format and the comparisons. Reading and writing the file is the run directory's work.

use serde::{Deserialize, Serialize};

use crate::config_file::KeyIssue;
use crate::criteria::custom::{MetricScope, Threshold};
use crate::manager::settings::ManagerKind;
use crate::summary::{CohortSummary, RunSummary};

/// Version of the `baseline.json` format.
pub const BASELINE_VERSION: u32 = 1;

/// The file name a run writes its baseline to.
pub const BASELINE_FILE: &str = "baseline.json";

/// A stored baseline: one cohort's figures from an earlier run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// [`BASELINE_VERSION`].
    pub baseline_version: u32,
    /// The wschaos version that recorded it.
    pub wschaos_version: String,
    /// The scenario it was recorded with.
    pub scenario: String,
    /// Its seed.
    pub seed: u64,
    /// Unix time the run started (ms).
    pub started_unix_ms: u64,
    /// The figures compared with.
    pub cohort: CohortSummary,
}

impl Baseline {
    /// The legacy cohort of a run as a baseline (the first cohort when there is no legacy one).
    pub fn from_summary(summary: &RunSummary) -> Option<Baseline> {
        let cohort = summary.cohorts.iter().find(|c| c.manager == ManagerKind::Legacy).or(summary.cohorts.first())?;
        Some(Baseline {
            baseline_version: BASELINE_VERSION,
            wschaos_version: summary.wschaos_version.clone(),
            scenario: summary.scenario["name"].as_str().unwrap_or_default().to_owned(),
            seed: summary.scenario["seed"].as_u64().unwrap_or_default(),
            started_unix_ms: summary.run.started_unix_ms,
            cohort: cohort.clone(),
        })
    }
}

/// Which way a metric may not move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Worse {
    /// Higher is worse (latency, gaps, attempts).
    Increase,
    /// Lower is worse (delivered, recovered).
    Decrease,
}

/// `[[baseline.tolerance]]` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawTolerance {
    /// Dotted path of a cohort metric in `summary.json` (`latency_us.p99`, `delivery.gaps`).
    pub metric: Option<String>,
    /// The new cohort may be at most this many percent higher than the baseline.
    pub max_increase: Option<f64>,
    /// The new cohort may be at most this many percent lower than the baseline.
    pub max_decrease: Option<f64>,
}

/// `[baseline]` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawBaselineSettings {
    /// Tolerances per metric (default: `latency_us.p50` at most 5 % higher).
    pub tolerance: Option<Vec<RawTolerance>>,
}

/// One validated tolerance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tolerance {
    /// The metric as written.
    pub metric: String,
    /// Its path in a cohort summary.
    pub path: Vec<String>,
    /// Which way is worse.
    pub worse: Worse,
    /// The most it may move that way (%).
    pub percent: f64,
}

/// Validated baseline settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineSettings {
    /// Tolerances per metric.
    pub tolerances: Vec<Tolerance>,
}

impl Default for BaselineSettings {
    fn default() -> Self {
        let p50 = Tolerance {
            metric: "latency_us.p50".into(),
            path: vec!["latency_us".into(), "p50".into()],
            worse: Worse::Increase,
            percent: 5.0,
        };
        BaselineSettings { tolerances: vec![p50] }
    }
}

fn validate_tolerance(i: usize, raw: &RawTolerance, issues: &mut Vec<KeyIssue>) -> Option<Tolerance> {
    let key = format!("baseline.tolerance[{i}]");
    let as_threshold =
        crate::criteria::custom::RawThreshold { metric: raw.metric.clone(), at_most: Some(0.0), ..Default::default() };
    let checked: Option<Threshold> = match crate::criteria::custom::validate(&[as_threshold]) {
        Ok(mut v) => v.pop(),
        Err(found) => {
            issues.extend(found.into_iter().map(|f| KeyIssue::new(f.key.replace("thresholds[0]", &key), f.message)));
            None
        }
    };
    let limit = match (raw.max_increase, raw.max_decrease) {
        (Some(p), None) => Some((Worse::Increase, p)),
        (None, Some(p)) => Some((Worse::Decrease, p)),
        _ => {
            issues.push(KeyIssue::new(key.clone(), "needs exactly one of max-increase, max-decrease (percent)"));
            None
        }
    };
    let threshold = checked?;
    if threshold.scope != MetricScope::Cohort {
        issues.push(KeyIssue::new(format!("{key}.metric"), "baselines hold cohort metrics only"));
        return None;
    }
    let (worse, percent) = limit?;
    if !(percent.is_finite() && percent >= 0.0) {
        issues.push(KeyIssue::new(key, "the tolerance must be a percentage, 0 or more"));
    }
    Some(Tolerance { metric: threshold.name, path: threshold.path, worse, percent })
}

/// Validates `[baseline]`; every problem is reported with its key path.
pub fn validate(raw: &RawBaselineSettings) -> Result<BaselineSettings, Vec<KeyIssue>> {
    let mut issues = Vec::new();
    let mut settings = BaselineSettings::default();
    if let Some(list) = &raw.tolerance {
        settings.tolerances =
            list.iter().enumerate().filter_map(|(i, t)| validate_tolerance(i, t, &mut issues)).collect();
    }
    if issues.is_empty() { Ok(settings) } else { Err(issues) }
}

/// How far a value moved the worse way, in percent of the baseline (negative: it improved); `Err` when the
/// baseline is zero and the value moved the worse way (an unbounded change).
pub fn worse_by(worse: Worse, baseline: f64, now: f64) -> Result<f64, String> {
    let moved = match worse {
        Worse::Increase => now - baseline,
        Worse::Decrease => baseline - now,
    };
    if baseline == 0.0 {
        return if moved > 0.0 { Err(format!("the baseline was 0, now {now}")) } else { Ok(0.0) };
    }
    Ok(100.0 * moved / baseline.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances_name_cohort_metrics_and_one_direction() {
        let raw = RawBaselineSettings {
            tolerance: Some(vec![
                RawTolerance { metric: Some("latency_us.p99".into()), max_increase: Some(10.0), max_decrease: None },
                RawTolerance { metric: Some("delivery.delivered".into()), max_increase: None, max_decrease: Some(1.0) },
            ]),
        };
        let settings = validate(&raw).unwrap();
        assert_eq!(settings.tolerances[1].worse, Worse::Decrease);
        let bad = RawBaselineSettings {
            tolerance: Some(vec![
                RawTolerance { metric: Some("harness.lag_p99_us".into()), max_increase: Some(1.0), max_decrease: None },
                RawTolerance {
                    metric: Some("latency_us.p99".into()),
                    max_increase: Some(1.0),
                    max_decrease: Some(1.0),
                },
                RawTolerance { metric: Some("latency.p99".into()), max_increase: Some(1.0), max_decrease: None },
            ]),
        };
        let keys: Vec<String> = validate(&bad).unwrap_err().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["baseline.tolerance[0].metric", "baseline.tolerance[1]", "baseline.tolerance[2].metric"]);
    }

    #[test]
    fn changes_are_measured_the_worse_way() {
        assert_eq!(worse_by(Worse::Increase, 100.0, 110.0), Ok(10.0));
        assert_eq!(worse_by(Worse::Increase, 100.0, 90.0), Ok(-10.0));
        assert_eq!(worse_by(Worse::Decrease, 200.0, 190.0), Ok(5.0));
        assert_eq!(worse_by(Worse::Increase, 0.0, 0.0), Ok(0.0));
        assert!(worse_by(Worse::Increase, 0.0, 3.0).is_err());
    }
}
