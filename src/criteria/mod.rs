//! The success criteria of the rollout documents (`../shared/reference/success-criteria.md`): every
//! criterion with its stable id, what it measures, its default threshold, its alerting levels, the cohort
//! it applies to and its source; and a scenario's overrides of them by id.
//!
//! This module is the catalogue and the override format; judging a run against it is the verdicts' work.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config_file::KeyIssue;

pub mod baseline;
pub mod custom;
pub mod interval;
pub mod measure;
pub mod preset;
pub mod verdict;

pub use crate::summary::verdict::Comparison;

/// Which cohort a criterion judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applies {
    /// Every cohort.
    Each,
    /// The new manager's cohort (WSManager or unified).
    New,
    /// The new cohort against the legacy one.
    NewVsLegacy,
    /// The unified cohort.
    Unified,
    /// Each cohort of an external manager (a model's figures are the harness's own).
    External,
}

/// Which cohorts' verdicts decide the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GateScope {
    /// The new managers' cohorts and the harness; the legacy cohort's verdicts are the reference.
    #[default]
    New,
    /// Every cohort.
    All,
}

/// One criterion of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Criterion {
    /// Stable id (`latency-p95`), used in scenario files and CI.
    pub id: &'static str,
    /// What is measured.
    pub measures: &'static str,
    /// How it is compared.
    pub comparison: Comparison,
    /// Default threshold, in `unit`.
    pub threshold: f64,
    /// The unit of the threshold (`ms`, `%`, `/s`, …).
    pub unit: &'static str,
    /// Alerting warning level, when the documents give one.
    pub warning: Option<f64>,
    /// Alerting critical level, when the documents give one.
    pub critical: Option<f64>,
    /// Who it judges.
    pub applies: Applies,
    /// The document it comes from.
    pub source: &'static str,
    /// Judged only when a preset or the scenario switches it on (a gate of one rollout phase).
    pub opt_in: bool,
}

macro_rules! criterion {
    ($id:expr, $measures:expr, $cmp:ident, $threshold:expr, $unit:expr, $warn:expr, $crit:expr, $applies:ident, $source:expr) => {
        Criterion {
            id: $id,
            measures: $measures,
            comparison: Comparison::$cmp,
            threshold: $threshold,
            unit: $unit,
            warning: $warn,
            critical: $crit,
            applies: Applies::$applies,
            source: $source,
            opt_in: false,
        }
    };
    ($id:expr, $measures:expr, $cmp:ident, $threshold:expr, $unit:expr, $warn:expr, $crit:expr, $applies:ident, $source:expr, opt_in) => {
        Criterion {
            opt_in: true,
            ..criterion!($id, $measures, $cmp, $threshold, $unit, $warn, $crit, $applies, $source)
        }
    };
}

/// The built-in table, in the order of `success-criteria.md` (one criterion per line, as in the document),
/// then the gates that are off unless a preset or the scenario switches them on (`error-rate-regression`,
/// `connection-leaks`, `staleness-p99`).
#[rustfmt::skip]
pub fn table() -> Vec<Criterion> {
    vec![
        criterion!("connection-reduction", "upstream connections of the new manager vs legacy for the same population", AtLeast, 90.0, "% fewer", None, None, NewVsLegacy, "000 success metrics; 003"),
        criterion!("connections-per-stream", "active connections of one new-manager instance per distinct stream it serves", AtMost, 1.0, "ratio", Some(50.0), Some(100.0), New, "000 step 3, alert table"),
        criterion!("error-rate", "failed operations / all operations", Below, 0.1, "%", Some(1.0), Some(5.0), Each, "000 success metrics, alert table; 004"),
        criterion!("latency-p50", "event time to subscriber, median", Below, 50.0, "ms", None, None, Each, "004 technical metrics; 000 baseline"),
        criterion!("latency-p95", "event time to subscriber, 95th percentile", Below, 100.0, "ms", Some(200.0), Some(500.0), Each, "004; 000 alert table; 001"),
        criterion!("latency-regression", "new cohort's p95 vs the legacy cohort (or a stored baseline)", AtMost, 5.0, "% worse", None, None, NewVsLegacy, "000 phase-1 validation, success metrics"),
        criterion!("retry-rate", "reconnect attempts per second per manager instance outside fault windows", Below, 0.1, "/s", Some(0.5), Some(1.0), Each, "000 success metrics, alert table; 003"),
        criterion!("connection-success", "successful upgrades / connection attempts", Above, 99.0, "%", None, Some(95.0), Each, "004 technical metrics, rollback triggers; 002"),
        criterion!("message-delivery", "subscriber-deliveries / delivered plus lost (gaps against the upstream's record) on the subscribed streams", Above, 99.9, "%", None, None, Each, "004"),
        criterion!("reconnection-success", "dropped subscriptions that received data again", Above, 95.0, "%", None, None, Each, "004"),
        criterion!("subscription-preservation", "subscriptions active before a disconnect or handover active again after", AtLeast, 100.0, "%", None, None, Each, "001"),
        criterion!("connection-preservation", "connections kept through a blue-green handover", Above, 95.0, "%", None, None, New, "001"),
        criterion!("recovery-time", "end of a fault to every affected subscriber receiving again (p99)", Below, 30.0, "s", None, None, Each, "001"),
        criterion!("memory", "resident memory of one instance of an external manager: its own process's peak, or with clients sharing a process the runtime's own plus the instance's share of the growth", Below, 120.0, "MB", Some(96.0), None, External, "000 success metrics; 004"),
        criterion!("cpu", "CPU of an external manager's busiest process in its busiest second (% of one core)", Below, 70.0, "%", None, None, External, "004 rollback triggers"),
        criterion!("peak-connect-rate", "peak reconnect attempts per second vs the upstream's admission rate (set it as the threshold)", AtMost, 0.0, "attempts/s", None, None, Each, "000 risk table"),
        criterion!("per-ip-connect-budget", "connection attempts per source address per rolling 5 minutes", AtMost, 300.0, "attempts", None, None, Each, "binance-streams.md §4"),
        criterion!("fallback-rate", "share of unified clients that fell back to legacy", AtMost, 10.0, "%", None, None, Unified, "002"),
        criterion!("routing-errors", "deliveries an external manager made to a subscriber of a stream it had not subscribed to", AtMost, 50.0, "deliveries", None, None, External, "002 (max_routing_errors)"),
        criterion!("adapter-failures", "an external manager's processes that crashed, hung (killed after an unanswered stop) or wrote lines that are not reports, and those lines", AtMost, 0.0, "failures", None, None, External, "wschaos adapter protocol (a misbehaving process counts against its cohort)"),
        criterion!("self-reported-connections", "an external manager's own getMetrics() activeConnections against the connections the mock had open from its addresses at that moment (difference, either way)", AtMost, 0.0, "connections", None, None, External, "000 monitoring; 003 getMetrics()"),
        criterion!("consecutive-failures", "consecutive failed health checks before rollback", Below, 3.0, "checks", None, None, Each, "002"),
        criterion!("error-rate-regression", "new cohort's error rate minus the legacy cohort's (or the baseline's)", AtMost, 0.0, "points", None, None, NewVsLegacy, "000 phase-1 gate (\"no error rate increase\")", opt_in),
        criterion!("connection-leaks", "connections still open after every client of the cohort stopped", AtMost, 0.0, "connections", None, None, Each, "000 phase-1 gate (\"no connection leaks\")", opt_in),
        criterion!("staleness-p99", "how far live subscriptions are behind the upstream, sampled at fixed instants, 99th percentile (a stall or an outage fails it even when latency passes)", Below, 500.0, "ms", None, None, Each, "measurement-truth.md (age of information); 004 rollback trigger (500 ms)", opt_in),
    ]
}

/// A scenario's override of one criterion (`[criteria.latency-p95]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawOverride {
    /// A different threshold, in the criterion's unit.
    pub threshold: Option<f64>,
    /// `false` switches the criterion off.
    pub enabled: Option<bool>,
}

/// Overrides by criterion id, validated: every id exists, every threshold is a finite number.
pub fn validate_overrides(raw: &BTreeMap<String, RawOverride>) -> Result<BTreeMap<String, RawOverride>, Vec<KeyIssue>> {
    let known = table();
    let mut issues = Vec::new();
    for (id, over) in raw {
        if !known.iter().any(|c| c.id == id) {
            let ids: Vec<&str> = known.iter().map(|c| c.id).collect();
            issues.push(KeyIssue::new(
                format!("criteria.{id}"),
                format!("is not a criterion; use one of {}", ids.join(", ")),
            ));
        }
        if over.threshold.is_some_and(|t| !t.is_finite() || t < 0.0) {
            issues.push(KeyIssue::new(
                format!("criteria.{id}.threshold"),
                "must be a number, 0 or more, in the criterion's unit",
            ));
        }
    }
    if issues.is_empty() { Ok(raw.clone()) } else { Err(issues) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_criterion_once() {
        let ids: Vec<&str> = table().iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), 25);
        assert_eq!(table().iter().filter(|c| c.opt_in).count(), 3, "two phase gates and staleness are off by default");
        let unique: std::collections::HashSet<&&str> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        let p95 = table().into_iter().find(|c| c.id == "latency-p95").unwrap();
        assert_eq!((p95.threshold, p95.warning, p95.critical), (100.0, Some(200.0), Some(500.0)));
    }

    #[test]
    fn overrides_name_known_criteria() {
        let mut raw = BTreeMap::new();
        raw.insert("latency-p95".to_owned(), RawOverride { threshold: Some(150.0), enabled: None });
        raw.insert("latency-p96".to_owned(), RawOverride::default());
        raw.insert("retry-rate".to_owned(), RawOverride { threshold: Some(-1.0), enabled: Some(false) });
        let issues = validate_overrides(&raw).unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["criteria.latency-p96", "criteria.retry-rate.threshold"]);
    }
}
