//! What each criterion measures in a run summary, in the criterion's unit: per cohort, a new cohort against
//! its reference (the same run's legacy cohort or a stored baseline), a scenario threshold's metric and a
//! baseline tolerance's change. Pure: summaries in, measurements out.

use std::time::Duration;

use crate::criteria::baseline::{Tolerance, Worse, worse_by};
use crate::criteria::custom::{MetricScope, Threshold, lookup};
use crate::criteria::interval;
use crate::summary::external::ExternalSummary;
use crate::summary::{CohortSummary, RunSummary};

/// A measurement, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// The value, in the criterion's unit.
    Value(f64),
    /// A value with a remark the report shows beside it.
    Noted(f64, String),
    /// A comparative value with its 95 % interval: it fails only when the interval's favourable end fails
    /// too (a difference within the noise is no regression).
    Interval {
        /// The point estimate.
        value: f64,
        /// The interval's ends.
        low: f64,
        /// See `low`.
        high: f64,
        /// What the interval was drawn from.
        note: String,
    },
    /// A value known only between two bounds (a merged run's high-water marks: the shards' peaks may not
    /// have coincided): it passes when both ends pass, fails when both fail, and is not measurable between.
    Bounded {
        /// The least it can be.
        low: f64,
        /// The most it can be.
        high: f64,
        /// Why it is bounded.
        note: String,
    },
    /// No finite value, and a failure all the same (a change from a zero baseline).
    Exceeded(String),
    /// Nothing to judge, and why.
    NotApplicable(&'static str),
    /// The run cannot tell, and why.
    NotMeasurable(String),
}

/// What a new cohort is compared with.
#[derive(Debug, Clone, Copy)]
pub enum Reference<'a> {
    /// The legacy cohort of the same run.
    Legacy(&'a CohortSummary),
    /// A stored baseline's cohort.
    Baseline(&'a CohortSummary),
}

impl<'a> Reference<'a> {
    /// The cohort compared with.
    pub fn cohort(self) -> &'a CohortSummary {
        match self {
            Reference::Legacy(c) | Reference::Baseline(c) => c,
        }
    }

    /// The interval of `new` against the reference's `series`: seconds in pairs within one run, apart
    /// against a baseline.
    fn interval(self, new: &[u64], series: &[u64], seed: u64) -> Option<interval::Estimate> {
        match self {
            Reference::Legacy(_) => interval::paired(new, series, seed),
            Reference::Baseline(_) => interval::unpaired(new, series, seed),
        }
    }
}

fn percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| 100.0 * part / whole)
}

fn value(v: Option<f64>, missing: &'static str) -> Measure {
    v.map_or(Measure::NotApplicable(missing), Measure::Value)
}

/// Failed operations (connect failures, give-ups, protocol errors) per operation (attempts and
/// subscriptions), in percent.
pub fn error_rate(c: &CohortSummary) -> Option<f64> {
    let failed = c.attempts.total.saturating_sub(c.attempts.connected)
        + c.attempts.give_up_subscribers
        + c.errors.values().sum::<u64>();
    percent(failed as f64, (c.attempts.total + c.subscriptions) as f64)
}

/// Whether the socket messages that could not be placed in the upstream's record, in subscriber-deliveries
/// (at the cohort's subscribers per socket message), are as many as the loss outside fault windows: then
/// the loss may be theirs alone.
fn unplaced_explain_the_loss(c: &CohortSummary) -> bool {
    let d = &c.delivery;
    if d.unresolved == 0 || d.steady_gaps == 0 {
        return false;
    }
    let per_message = d.delivered as f64 / d.received.max(1) as f64;
    d.unresolved as f64 * per_message.max(1.0) >= d.steady_gaps as f64
}

/// A figure of cohort `c` the rig's own delay could be in: not measurable when the rig lagged, or when the
/// cohort's own external processes could not keep up.
fn timed(value: f64, c: &CohortSummary, summary: &RunSummary) -> Measure {
    if summary.rig_lagged() {
        return Measure::NotMeasurable(summary.rig_cause());
    }
    match lagging(c) {
        Some(cause) => Measure::NotMeasurable(cause),
        None => Measure::Value(value),
    }
}

fn latency(us: u64, c: &CohortSummary, summary: &RunSummary) -> Measure {
    timed(us as f64 / 1000.0, c, summary)
}

/// Why an external cohort's timed figures measure its processes (`None` for a model or a process that kept up).
fn lagging(c: &CohortSummary) -> Option<String> {
    c.external.as_ref().and_then(|e| e.lag_cause())
}

/// The criteria of an external manager's processes and its own metrics.
fn external(id: &str, e: &ExternalSummary) -> Measure {
    match id {
        "memory" if e.rss_kib_per_instance > 0 => Measure::Value(e.rss_kib_per_instance as f64 * 1024.0 / 1e6),
        "cpu" if e.cpu_measured => Measure::Value(e.peak_cpu_percent),
        "cpu" if e.rss_kib_per_instance > 0 => {
            Measure::NotMeasurable("a process ended before its CPU could be sampled over a second".to_owned())
        }
        "memory" | "cpu" => Measure::NotApplicable("no process could be sampled"),
        "routing-errors" => Measure::Value(e.routing_errors as f64),
        "adapter-failures" => Measure::Value((e.failed + e.garbage_lines) as f64),
        "self-reported-connections" => match (e.self_reported_connections, e.mock_open_connections) {
            (Some(_), Some(_)) if !e.self_reported_settled => Measure::NotMeasurable(
                "the manager was still opening or closing connections when asked (no 500 ms without a change \
                 within 3 s): its count and the mock's may differ by what was under way"
                    .to_owned(),
            ),
            (Some(own), Some(mock)) => Measure::Value(own.abs_diff(mock) as f64),
            _ => Measure::NotApplicable("the manager reported no activeConnections in getMetrics()"),
        },
        _ => Measure::NotApplicable("not measured by this run"),
    }
}

fn recovery(id: &str, c: &CohortSummary) -> Measure {
    match id {
        "recovery-time" if c.recovery_from_fault_end_us.count > 0 => {
            Measure::Value(c.recovery_from_fault_end_us.p99 as f64 / 1e6)
        }
        "recovery-time" => Measure::NotApplicable("nothing had to recover"),
        _ => {
            let judged = c.connections.subscriptions_dropped.saturating_sub(c.connections.subscriptions_abandoned);
            let recovered = c.connections.subscriptions_recovered_in_time.min(judged);
            value(percent(recovered as f64, judged as f64), "no subscription was dropped")
        }
    }
}

/// Measures a per-cohort criterion.
pub fn cohort(id: &str, c: &CohortSummary, summary: &RunSummary) -> Measure {
    match id {
        "memory" | "cpu" | "routing-errors" | "adapter-failures" | "self-reported-connections" => match &c.external {
            Some(e) => external(id, e),
            None => Measure::NotApplicable("judges external managers"),
        },
        "error-rate" => value(error_rate(c), "no operations"),
        "latency-p50" if c.latency_us.count > 0 => latency(c.latency_us.p50, c, summary),
        "latency-p95" if c.latency_us.count > 0 => latency(c.latency_us.p95, c, summary),
        "staleness-p99" if c.staleness_us.count > 0 => latency(c.staleness_us.p99, c, summary),
        "staleness-p99" => {
            Measure::NotApplicable("staleness needs the mock's record: not measured against an external upstream")
        }
        "latency-p50" | "latency-p95" => Measure::NotApplicable("no message carried a time"),
        "retry-rate" => Measure::Value(c.attempts.retry_rate_outside_faults),
        "connection-success" => value(percent(c.attempts.connected as f64, c.attempts.total as f64), "no attempts"),
        "message-delivery" if summary.rig_lagged() && unplaced_explain_the_loss(c) => Measure::NotMeasurable(format!(
            "{} socket messages could not be placed in the upstream's record while the rig lagged (the record \
                 this process reads fell behind), and their events count as lost: as many as the loss; {}",
            c.delivery.unresolved,
            summary.rig_cause()
        )),
        "message-delivery" => {
            let delivered = c.delivery.steady_delivered as f64;
            value(
                percent(delivered, delivered + c.delivery.steady_gaps as f64),
                "nothing received outside fault windows",
            )
        }
        "connection-preservation" | "consecutive-failures" | "subscription-preservation"
            if summary.rollout.is_some() && c.manager != crate::manager::settings::ManagerKind::Legacy =>
        {
            rehearsal(id, summary)
        }
        "reconnection-success" | "subscription-preservation" | "recovery-time" => recovery(id, c),
        "per-ip-connect-budget" => Measure::Value(c.attempts.max_per_ip_5m as f64),
        "fallback-rate" => value(percent(c.attempts.fallbacks as f64, f64::from(c.clients)), "no clients"),
        "connections-per-stream" => connections_per_stream(c),
        // A loaded rig smears a reconnect storm: its peak is the rig's as much as the manager's.
        "peak-connect-rate" => timed(c.attempts.peak_retries_per_second as f64, c, summary),
        "connection-leaks" => Measure::Value(c.connections.open_at_end.max(0) as f64),
        "connection-preservation" | "consecutive-failures" => Measure::NotApplicable("judged in rollout rehearsals"),
        _ => Measure::NotApplicable("not measured by this run"),
    }
}

/// The handover criteria of a rehearsal, for the new cohort.
fn rehearsal(id: &str, summary: &RunSummary) -> Measure {
    let Some(rollout) = &summary.rollout else { return Measure::NotApplicable("not a rehearsal") };
    match id {
        "connection-preservation" => value(rollout.total.connection_preservation(), "no client was handed over"),
        "subscription-preservation" => value(rollout.total.subscription_preservation(), "no client was handed over"),
        _ => {
            let judged = rollout.steps.iter().filter_map(|s| s.judgement.as_ref());
            value(judged.map(|j| f64::from(j.max_consecutive_failures)).reduce(f64::max), "no step was judged")
        }
    }
}

/// Why a figure read from a merged run's high-water marks is known only between bounds.
pub const MERGED_PEAKS: &str = "a merged run's high-water marks: the shards' peaks may not have coincided";

/// A cohort's most connections and most streams at once, each as (least, most): equal outside merged runs.
fn marks(c: &CohortSummary) -> ((f64, f64), (f64, f64)) {
    let connections = (c.connections.high_water_low.unwrap_or(c.connections.high_water), c.connections.high_water);
    let streams = (c.streams.high_water_low.unwrap_or(c.streams.high_water), c.streams.high_water);
    ((connections.0 as f64, connections.1 as f64), (streams.0 as f64, streams.1 as f64))
}

/// `low` and `high` as one value when they are one, else bounded.
fn between(low: f64, high: f64) -> Measure {
    if (high - low).abs() < 1e-9 {
        Measure::Value(high)
    } else {
        Measure::Bounded { low, high, note: MERGED_PEAKS.to_owned() }
    }
}

/// `part / whole`, infinite when `whole` is 0 (a bound the other end decides).
fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { f64::INFINITY }
}

fn connections_per_stream(c: &CohortSummary) -> Measure {
    let ((c_low, c_high), (s_low, s_high)) = marks(c);
    if s_high <= 0.0 {
        return Measure::NotApplicable("no streams");
    }
    between(c_low / s_high, ratio(c_high, s_low))
}

fn connection_reduction(new: &CohortSummary, legacy: &CohortSummary) -> Measure {
    if new.subscriptions == 0 || legacy.subscriptions == 0 {
        return Measure::NotApplicable("no subscriptions to compare");
    }
    let ((n_low, n_high), _) = marks(new);
    let ((l_low, l_high), _) = marks(legacy);
    let (n, l) = (new.subscriptions as f64, legacy.subscriptions as f64);
    if l_high <= 0.0 {
        return Measure::NotApplicable("no subscriptions to compare");
    }
    // A legacy mark that may have been 0 leaves the reduction unbounded below.
    let reduction = |new_mark: f64, legacy_mark: f64| 100.0 * (1.0 - ratio(new_mark / n, legacy_mark / l));
    between(reduction(n_high, l_low), reduction(n_low, l_high))
}

fn latency_regression(new: &CohortSummary, reference: Reference<'_>, floor: Duration, seed: u64) -> Measure {
    let cohort = reference.cohort();
    let (n, r) = (new.latency_us.p95, cohort.latency_us.p95);
    if r == 0 || new.latency_us.count == 0 {
        return Measure::NotApplicable("no latency to compare");
    }
    let worse = 100.0 * (n as f64 - r as f64) / r as f64;
    let floor_us = floor.as_micros() as u64;
    if floor_us > 0 && n.abs_diff(r) <= floor_us && worse > 0.0 {
        return Measure::Noted(0.0, format!("{worse:.1} % worse, within the {} ms noise floor", floor.as_millis()));
    }
    let estimate = reference.interval(&new.latency_per_second.p95_us, &cohort.latency_per_second.p95_us, seed);
    with_interval(worse, estimate, "p95")
}

/// The error-rate difference (points) with the interval of a bootstrap over the run's seconds.
fn error_regression(new: &CohortSummary, reference: Reference<'_>, points: f64, seed: u64) -> Measure {
    fn parts(c: &CohortSummary) -> interval::Operations<'_> {
        interval::Operations {
            failed: &c.operations_per_second.failed,
            attempts: &c.operations_per_second.attempts,
            fixed: c.subscriptions,
        }
    }
    let paired = matches!(reference, Reference::Legacy(_));
    match interval::error_points(parts(new), parts(reference.cohort()), paired, seed) {
        Some(e) => Measure::Interval {
            value: points,
            low: e.low,
            high: e.high,
            note: format!(
                "95 % interval [{:.3}, {:.3}] points from {} seconds (bootstrap of the per-second operations)",
                e.low, e.high, e.seconds
            ),
        },
        None => Measure::Noted(points, "no interval: fewer than 5 seconds on both sides".to_owned()),
    }
}

/// A comparative figure judged on its per-second estimate with that estimate's interval, when there are
/// enough seconds (the run-wide value `run_wide` is noted); the run-wide value alone otherwise.
fn with_interval(run_wide: f64, estimate: Option<interval::Estimate>, quantile: &str) -> Measure {
    match estimate {
        Some(e) => Measure::Interval {
            value: e.value,
            low: e.low,
            high: e.high,
            note: format!(
                "per-second {quantile} {:.1} % worse, 95 % interval [{:.1}, {:.1}] % from {} seconds; run-wide {quantile} \
                 {run_wide:.1} %",
                e.value, e.low, e.high, e.seconds
            ),
        },
        None => Measure::Noted(run_wide, "no interval: fewer than 5 seconds with latency on both sides".to_owned()),
    }
}

/// Measures a criterion of a new cohort against its reference.
pub fn compared(
    id: &str,
    new: &CohortSummary,
    reference: Reference<'_>,
    floor: Duration,
    summary: &RunSummary,
) -> Measure {
    let cohort = match reference {
        Reference::Legacy(c) | Reference::Baseline(c) => c,
    };
    match id {
        "connection-reduction" => match reference {
            Reference::Legacy(legacy) => connection_reduction(new, legacy),
            Reference::Baseline(_) => Measure::NotApplicable("needs both cohorts in the same run"),
        },
        "latency-regression" if summary.rig_lagged() => Measure::NotMeasurable(summary.rig_cause()),
        "latency-regression" => match lagging(new).or_else(|| lagging(cohort)) {
            Some(cause) => Measure::NotMeasurable(cause),
            None => latency_regression(new, reference, floor, summary.scenario["seed"].as_u64().unwrap_or(0)),
        },
        "error-rate-regression" => match (error_rate(new), error_rate(cohort)) {
            (Some(n), Some(r)) => {
                error_regression(new, reference, n - r, summary.scenario["seed"].as_u64().unwrap_or(0))
            }
            _ => Measure::NotApplicable("no operations to compare"),
        },
        _ => Measure::NotApplicable("not measured by this run"),
    }
}

/// A scenario threshold's metric, for one cohort (`None` for harness and server metrics).
pub fn threshold(t: &Threshold, cohort: Option<&CohortSummary>, summary: &RunSummary) -> Measure {
    let serialized = match (t.scope, cohort) {
        (MetricScope::Cohort, Some(c)) => serde_json::to_value(c),
        (MetricScope::Harness, _) => serde_json::to_value(&summary.harness),
        (MetricScope::Server, _) => match &summary.server {
            Some(server) => serde_json::to_value(server),
            None => return Measure::NotApplicable("the mock's counters are only known for an embedded mock"),
        },
        (MetricScope::Cohort, None) => return Measure::NotApplicable("no such cohort in this run"),
    };
    let serialized = serialized.ok();
    let found = serialized.as_ref().and_then(|v| lookup(v, &t.path));
    // A merged run's high-water mark is known between bounds: judged at both ends.
    if let (Some(high), Some(low)) = (found, serialized.as_ref().and_then(|v| low_bound(v, &t.path))) {
        return between(low, high);
    }
    let measured = value(found, "the metric is not in this run's summary");
    if !(matches!(measured, Measure::Value(_)) && t.scope == MetricScope::Cohort && is_timed(&t.path)) {
        return measured;
    }
    if summary.rig_lagged() {
        return Measure::NotMeasurable(summary.rig_cause());
    }
    match cohort.and_then(lagging) {
        Some(cause) => Measure::NotMeasurable(cause),
        None => measured,
    }
}

/// The lower bound a merged run gives beside a metric (`high_water_low` beside `high_water`), if any.
fn low_bound(value: &serde_json::Value, path: &[String]) -> Option<f64> {
    let (last, parent) = path.split_last()?;
    let pointer: String = parent.iter().map(|p| format!("/{p}")).collect();
    value.pointer(&format!("{pointer}/{last}_low"))?.as_f64()
}

/// A tolerance on a metric a merged run knows between bounds (on either side): the change at every pair of
/// ends, judged at both of its own; `None` when neither side is bounded.
fn bounded_tolerance(t: &Tolerance, new: &CohortSummary, baseline: &CohortSummary) -> Option<Measure> {
    let ends = |c: &CohortSummary| {
        let v = serde_json::to_value(c).ok()?;
        let high = lookup(&v, &t.path)?;
        Some((low_bound(&v, &t.path), high))
    };
    let ((now_low, now), (before_low, before)) = (ends(new)?, ends(baseline)?);
    if now_low.is_none() && before_low.is_none() {
        return None;
    }
    let mut changes = Vec::new();
    for n in [now_low.unwrap_or(now), now] {
        for b in [before_low.unwrap_or(before), before] {
            match worse_by(t.worse, b, n) {
                Ok(change) => changes.push(change),
                Err(why) => return Some(Measure::NotMeasurable(format!("{why}, between bounds: {MERGED_PEAKS}"))),
            }
        }
    }
    let (low, high) = changes.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), c| (l.min(*c), h.max(*c)));
    Some(between(low, high))
}

/// True for a cohort metric the rig's own delay can be in: a latency, staleness or time-without-data
/// figure (`*_us`, but not its sample count), or a storm's peak or shape.
pub fn is_timed(path: &[String]) -> bool {
    let last = path.last().map_or("", String::as_str);
    (path.iter().any(|s| s.ends_with("_us")) && last != "count" && last != "split")
        || last.starts_with("peak")
        || last == "lockstep_index"
}

/// A tolerance's change of a new cohort against the baseline, in percent the worse way.
/// `not-measurable` for a timed metric of a run whose rig lagged.
pub fn tolerance(
    t: &Tolerance,
    new: &CohortSummary,
    baseline: &CohortSummary,
    floor: Duration,
    summary: &RunSummary,
) -> Measure {
    if is_timed(&t.path) && summary.rig_lagged() {
        return Measure::NotMeasurable(summary.rig_cause());
    }
    if let Some(cause) = is_timed(&t.path).then(|| lagging(new).or_else(|| lagging(baseline))).flatten() {
        return Measure::NotMeasurable(cause);
    }
    tolerance_measured(t, new, baseline, floor)
}

fn tolerance_measured(t: &Tolerance, new: &CohortSummary, baseline: &CohortSummary, floor: Duration) -> Measure {
    if let Some(bounded) = bounded_tolerance(t, new, baseline) {
        return bounded;
    }
    let read = |c: &CohortSummary| serde_json::to_value(c).ok().and_then(|v| lookup(&v, &t.path));
    let (Some(now), Some(before)) = (read(new), read(baseline)) else {
        return Measure::NotApplicable("the metric is not in both summaries");
    };
    let is_latency = t.path.iter().any(|s| s.ends_with("_us"));
    let floor_us = floor.as_micros() as f64;
    match worse_by(t.worse, before, now) {
        Ok(worse) if is_latency && floor_us > 0.0 && (now - before).abs() <= floor_us && worse > 0.0 => {
            Measure::Noted(0.0, format!("{worse:.1} % worse, within the {} ms noise floor", floor.as_millis()))
        }
        Ok(worse) => {
            match (new.latency_per_second.of_metric(&t.path), baseline.latency_per_second.of_metric(&t.path)) {
                (Some(series), Some(before_series)) if t.worse == Worse::Increase => {
                    let estimate = interval::unpaired(series, before_series, 0);
                    let quantile = t.path.last().map_or("latency", String::as_str);
                    match with_interval(worse, estimate, quantile) {
                        Measure::Interval { value, low, high, note } => Measure::Interval {
                            value,
                            low,
                            high,
                            note: format!("baseline {before}, now {now}; {note}"),
                        },
                        other => other,
                    }
                }
                _ => Measure::Noted(worse, format!("baseline {before}, now {now}")),
            }
        }
        Err(why) => Measure::Exceeded(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::criteria::Comparison;
    use crate::criteria::custom::{MetricScope, Threshold};
    use crate::manager::settings::ManagerKind;

    #[test]
    fn a_merged_run_s_bounded_marks_are_judged_between_their_ends() {
        let mut summary = crate::summary::sample::two_cohorts(false, "");
        let c = &mut summary.cohorts[1];
        (c.connections.high_water, c.connections.high_water_low) = (12, Some(8));
        (c.streams.high_water, c.streams.high_water_low) = (10, Some(10));
        let c = summary.cohorts[1].clone();
        let Measure::Bounded { low, high, .. } = connections_per_stream(&c) else { panic!("bounded") };
        assert_eq!((low, high), (0.8, 1.2));
        let t = Threshold {
            name: "custom".into(),
            scope: MetricScope::Cohort,
            path: vec!["connections".into(), "high_water".into()],
            cohort: Some(ManagerKind::Wsmanager),
            comparison: Comparison::AtMost,
            value: 10.0,
            unit: String::new(),
        };
        let Measure::Bounded { low, high, .. } = threshold(&t, Some(&c), &summary) else { panic!("bounded") };
        assert_eq!((low, high), (8.0, 12.0));
        let unbounded = summary.cohorts[0].clone();
        let exact = threshold(&t, Some(&unbounded), &summary);
        assert!(matches!(exact, Measure::Value(v) if v == 20.0), "a run's own mark is exact: {exact:?}");
    }
}
