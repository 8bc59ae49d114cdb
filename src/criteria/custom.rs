//! A scenario's own thresholds on any recorded metric (`[[thresholds]]`): a dotted path into a cohort's
//! summary (`attempts.peak_retries_per_100ms`, `latency_us.p99`, `errors.protocol`) or into the run's
//! (`harness.lag_p99_us`, `server.messages_dropped`), a comparison and a value in the metric's own unit.
//!
//! Paths are checked against the summary model when the scenario is validated, so a typo is a scenario error,
//! not a silent "not applicable" after a long run.

use serde::{Deserialize, Serialize};

use crate::config_file::KeyIssue;
use crate::criteria::Comparison;
use crate::manager::settings::ManagerKind;
use crate::summary::{CohortSummary, HarnessSummary, ServerSummary};

/// `[[thresholds]]` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawThreshold {
    /// Name in reports (default: the metric path).
    pub name: Option<String>,
    /// Dotted path of the metric in `summary.json`: a cohort's field, or `harness.…` / `server.…`.
    pub metric: Option<String>,
    /// Judge only this cohort (default: every cohort).
    pub cohort: Option<ManagerKind>,
    /// The value must be below this.
    pub below: Option<f64>,
    /// The value must be at most this.
    pub at_most: Option<f64>,
    /// The value must be above this.
    pub above: Option<f64>,
    /// The value must be at least this.
    pub at_least: Option<f64>,
}

/// Where a metric lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricScope {
    /// A field of each cohort's summary.
    Cohort,
    /// A field of the harness summary.
    Harness,
    /// A field of the mock's summary.
    Server,
}

/// A validated threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    /// Name in reports.
    pub name: String,
    /// Where the metric lives.
    pub scope: MetricScope,
    /// The path inside its scope.
    pub path: Vec<String>,
    /// The cohort judged (`None`: every cohort).
    pub cohort: Option<ManagerKind>,
    /// How the value compares.
    pub comparison: Comparison,
    /// The limit.
    pub value: f64,
    /// The metric's unit, from its name (`µs`, `ms`, `KiB`, …).
    pub unit: String,
}

fn template(scope: MetricScope) -> serde_json::Value {
    match scope {
        MetricScope::Cohort => serde_json::to_value(CohortSummary::empty(ManagerKind::Legacy)).unwrap_or_default(),
        MetricScope::Harness => serde_json::to_value(HarnessSummary::default()).unwrap_or_default(),
        MetricScope::Server => serde_json::to_value(ServerSummary::default()).unwrap_or_default(),
    }
}

/// Whether `path` names a number in `template`; maps (empty objects in the template) take any key.
fn is_numeric_path(template: &serde_json::Value, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else { return template.is_number() };
    match template.as_object() {
        Some(map) if map.is_empty() => rest.is_empty(),
        Some(map) => map.get(first).is_some_and(|v| is_numeric_path(v, rest)),
        None => false,
    }
}

/// The numeric leaves of a template, as dotted paths (for error messages).
fn leaves(template: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match template.as_object() {
        Some(map) if map.is_empty() => out.push(format!("{prefix}.<key>")),
        Some(map) => {
            for (key, value) in map {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                leaves(value, &path, out);
            }
        }
        None if template.is_number() => out.push(prefix.to_owned()),
        None => {}
    }
}

/// The value at `path` in a serialized summary; an absent map key counts as 0.
pub fn lookup(value: &serde_json::Value, path: &[String]) -> Option<f64> {
    let mut node = value;
    for step in path {
        match node.as_object() {
            Some(map) => match map.get(step) {
                Some(next) => node = next,
                None => return Some(0.0),
            },
            None => return None,
        }
    }
    node.as_f64()
}

/// The unit of a metric from its name or the name of what holds it (`latency_us.p99`: µs); a histogram's
/// `count` is a count, whatever the histogram measures.
fn unit_of(path: &[String]) -> &'static str {
    if path.last().is_some_and(|step| step == "count") {
        return "";
    }
    const SUFFIXES: [(&str, &str); 6] =
        [("_us", "µs"), ("_ms", "ms"), ("_kib", "KiB"), ("_bytes", "bytes"), ("_seconds", "s"), ("_per_second", "/s")];
    path.iter()
        .rev()
        .find_map(|step| SUFFIXES.iter().find(|(suffix, _)| step.ends_with(suffix)).map(|(_, unit)| *unit))
        .unwrap_or("")
}

fn comparison(raw: &RawThreshold) -> Vec<(Comparison, f64)> {
    [
        (Comparison::Below, raw.below),
        (Comparison::AtMost, raw.at_most),
        (Comparison::Above, raw.above),
        (Comparison::AtLeast, raw.at_least),
    ]
    .into_iter()
    .filter_map(|(c, v)| v.map(|v| (c, v)))
    .collect()
}

fn split_scope(metric: &str) -> (MetricScope, Vec<String>) {
    let steps: Vec<String> = metric.split('.').map(str::to_owned).collect();
    match steps.split_first() {
        Some((first, rest)) if first == "harness" => (MetricScope::Harness, rest.to_vec()),
        Some((first, rest)) if first == "server" => (MetricScope::Server, rest.to_vec()),
        _ => (MetricScope::Cohort, steps),
    }
}

fn validate_one(i: usize, raw: &RawThreshold, issues: &mut Vec<KeyIssue>) -> Option<Threshold> {
    let key = |k: &str| format!("thresholds[{i}].{k}");
    let Some(metric) = raw.metric.as_deref() else {
        issues
            .push(KeyIssue::new(key("metric"), "is required: a dotted path in summary.json, e.g. \"latency_us.p99\""));
        return None;
    };
    let (scope, path) = split_scope(metric);
    let shape = template(scope);
    if !is_numeric_path(&shape, &path) {
        let mut known = Vec::new();
        leaves(&shape, "", &mut known);
        let prefix = match scope {
            MetricScope::Cohort => "",
            MetricScope::Harness => "harness.",
            MetricScope::Server => "server.",
        };
        let known: Vec<String> = known.iter().map(|k| format!("{prefix}{k}")).collect();
        issues
            .push(KeyIssue::new(key("metric"), format!("{metric:?} is not a metric; use one of {}", known.join(", "))));
    }
    let comparisons = comparison(raw);
    if comparisons.len() != 1 {
        issues.push(KeyIssue::new(
            format!("thresholds[{i}]"),
            "needs exactly one of below, at-most, above, at-least (the limit, in the metric's unit)",
        ));
    }
    if raw.cohort.is_some() && scope != MetricScope::Cohort {
        issues.push(KeyIssue::new(key("cohort"), "applies to cohort metrics, not to harness.… or server.…"));
    }
    let (comparison, value) = *comparisons.first()?;
    if !value.is_finite() {
        issues.push(KeyIssue::new(format!("thresholds[{i}]"), "the limit must be a finite number"));
    }
    Some(Threshold {
        name: raw.name.clone().unwrap_or_else(|| metric.to_owned()),
        scope,
        unit: unit_of(&path).to_owned(),
        path,
        cohort: raw.cohort,
        comparison,
        value,
    })
}

/// Validates `[[thresholds]]`; every problem is reported with its key path.
pub fn validate(raw: &[RawThreshold]) -> Result<Vec<Threshold>, Vec<KeyIssue>> {
    let mut issues = Vec::new();
    let thresholds: Vec<Threshold> =
        raw.iter().enumerate().filter_map(|(i, t)| validate_one(i, t, &mut issues)).collect();
    if issues.is_empty() { Ok(thresholds) } else { Err(issues) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(metric: &str) -> RawThreshold {
        RawThreshold { metric: Some(metric.to_owned()), at_most: Some(50.0), ..Default::default() }
    }

    #[test]
    fn any_numeric_field_of_the_summary_is_a_metric() {
        let ok = validate(&[
            raw("attempts.peak_retries_per_100ms"),
            raw("latency_us.p99"),
            raw("errors.protocol"),
            raw("harness.lag_p99_us"),
            raw("server.messages_dropped"),
            raw("detection_us.count"),
        ])
        .unwrap();
        assert_eq!(ok[1].unit, "µs");
        assert_eq!(ok[5].unit, "", "a count of silent sockets, not microseconds");
        assert_eq!(ok[3].scope, MetricScope::Harness);
        assert_eq!(ok[0].comparison, Comparison::AtMost);
    }

    #[test]
    fn typos_and_ambiguous_limits_are_errors_naming_the_metrics() {
        let mut both = raw("latency_us.p99");
        both.below = Some(1.0);
        let issues = validate(&[raw("latency_us.p98"), both, raw("name")]).unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["thresholds[0].metric", "thresholds[1]", "thresholds[2].metric"]);
        assert!(issues[0].message.contains("latency_us.p99"), "{}", issues[0].message);
    }

    #[test]
    fn lookup_reads_nested_values_and_absent_map_keys_as_zero() {
        let v = serde_json::json!({"latency_us": {"p99": 1500}, "errors": {}});
        assert_eq!(lookup(&v, &["latency_us".into(), "p99".into()]), Some(1500.0));
        assert_eq!(lookup(&v, &["errors".into(), "protocol".into()]), Some(0.0));
    }
}
