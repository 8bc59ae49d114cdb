//! What `wschaos run` says when a run is over. Pure: the run summary and the outcome in; the criteria table,
//! the cohort figures, the gate line and the `{"type":"result"}` JSON object out. Whether a verdict fails
//! the gate is [`any_failed`]'s decision, never this module's.

use std::path::Path;

use serde::Serialize;

use crate::commands::process::Outcome;
use crate::criteria::verdict::any_failed;
use crate::summary::verdict::{Status, Verdict};
use crate::summary::{CohortSummary, RunSummary};

/// Failed verdicts named on the gate line before it says how many more there are.
const NAMED_FAILURES: usize = 5;

/// The outcome as the gate line shows it, and as the JSON `outcome` field names it.
fn outcome_words(outcome: Outcome) -> (&'static str, &'static str) {
    match outcome {
        Outcome::Success => ("PASSED", "passed"),
        Outcome::CriteriaFailed => ("FAILED", "failed"),
        Outcome::HarnessError => ("HARNESS ERROR", "harness-error"),
        Outcome::Interrupted => ("INTERRUPTED", "interrupted"),
    }
}

/// The verdicts that fail the gate.
fn failures(verdicts: &[Verdict]) -> Vec<&Verdict> {
    verdicts.iter().filter(|v| any_failed(std::slice::from_ref(*v))).collect()
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Fail => "FAIL",
        Status::NotMeasurable => "not measurable",
        Status::NotApplicable => "n/a",
        Status::Disabled => "disabled",
    }
}

/// The verdict column: the failing cohorts when only some fail, otherwise the most telling status.
fn row_verdict(rows: &[&Verdict], cohorts: usize) -> String {
    let gating: Vec<&Verdict> = rows.iter().copied().filter(|v| v.gates).collect();
    let references: Vec<&str> =
        rows.iter().filter(|v| !v.gates && v.status == Status::Fail).filter_map(|v| v.cohort.as_deref()).collect();
    let failed: Vec<&str> =
        gating.iter().filter(|v| v.status == Status::Fail).filter_map(|v| v.cohort.as_deref()).collect();
    let main = if !failed.is_empty() && failed.len() < gating.len().min(cohorts) {
        format!("FAIL ({})", failed.join(", "))
    } else {
        let order = [Status::Fail, Status::NotMeasurable, Status::Pass, Status::NotApplicable, Status::Disabled];
        order.into_iter().find(|s| gating.iter().any(|v| v.status == *s)).map_or("reference", status_word).to_owned()
    };
    if references.is_empty() { main } else { format!("{main} [{} fails: reference]", references.join(", ")) }
}

/// Lines of cells, each column padded to its widest cell.
fn align(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The criteria table: criterion, threshold, the value measured per cohort, verdict.
pub(super) fn criteria_table(summary: &RunSummary) -> String {
    let cohorts: Vec<&str> = summary.cohorts.iter().map(|c| c.name.as_str()).collect();
    let mut header = vec!["criterion".to_owned(), "threshold".to_owned()];
    header.extend(cohorts.iter().map(|c| (*c).to_owned()));
    header.push("verdict".to_owned());
    let mut rows = vec![header];
    let mut ids: Vec<&str> = Vec::new();
    for v in &summary.verdicts {
        if !ids.contains(&v.criterion.as_str()) {
            ids.push(&v.criterion);
        }
    }
    for id in ids {
        let found: Vec<&Verdict> = summary.verdicts.iter().filter(|v| v.criterion == id).collect();
        let Some(first) = found.first() else { continue };
        let mut row = vec![id.to_owned(), format!("{} {} {}", first.comparison.symbol(), first.threshold, first.unit)];
        for name in &cohorts {
            let value = found.iter().find(|v| v.cohort.as_deref() == Some(name)).and_then(|v| v.measured);
            row.push(value.map_or_else(|| "–".to_owned(), |m| m.to_string()));
        }
        row.push(row_verdict(&found, cohorts.len()));
        rows.push(row);
    }
    align(&rows)
}

/// The cohort figures (connections, attempts, latency, delivery) and the harness's health.
pub(super) fn cohort_table(summary: &RunSummary) -> String {
    let mut out = format!(
        "{:<12} {:>8} {:>10} {:>9} {:>9} {:>10} {:>10} {:>12} {:>12} {:>8}\n",
        "cohort", "clients", "conns hwm", "attempts", "peak/s", "p50 ms", "p99 ms", "stale p99 ms", "delivered", "lost"
    );
    for c in &summary.cohorts {
        out.push_str(&format!(
            "{:<12} {:>8} {:>10} {:>9} {:>9} {:>10.2} {:>10.2} {:>12.2} {:>12} {:>8}\n",
            c.name,
            c.clients,
            c.connections.high_water,
            c.attempts.total,
            c.attempts.peak_per_second,
            c.latency_us.p50 as f64 / 1000.0,
            c.latency_us.p99 as f64 / 1000.0,
            c.staleness_us.p99 as f64 / 1000.0,
            c.delivery.delivered,
            c.delivery.lost
        ));
    }
    let h = &summary.harness;
    let state = if h.saturated { "SATURATED: latency figures measure the harness" } else { "ok" };
    out.push_str(&format!(
        "harness: scheduler lag p99 {:.1} ms ({state}), {:.0} MiB peak\n",
        h.lag_p99_us as f64 / 1000.0,
        h.max_rss_kib as f64 / 1024.0
    ));
    out.push_str(&split_line(summary));
    out.push_str(&rig_line(summary));
    out.push_str(&external_lines(summary));
    out
}

/// `js-legacy: 2 processes × 1 client, 62.6 MB per instance, CPU peak 8 %, event-loop lag p99 3.2 ms, …`,
/// then each thing that went wrong with the processes.
fn external_lines(summary: &RunSummary) -> String {
    use crate::report::external::{EXTERNAL_HEADERS, external_cohorts, external_problems, external_row};
    let mut out = String::new();
    for (c, e) in external_cohorts(&summary.cohorts) {
        let row = external_row(c, e);
        let figures: Vec<String> = EXTERNAL_HEADERS.iter().zip(&row).skip(1).map(|(h, v)| format!("{h} {v}")).collect();
        out.push_str(&format!("{}: {}\n", row[0], figures.join(", ")));
        for problem in external_problems(c, e) {
            out.push_str(&format!("  {problem}\n"));
        }
    }
    out
}

/// `latency p99 by who added it: legacy upstream 4.0 ms, delivery 2.9 ms; …`.
fn split_line(summary: &RunSummary) -> String {
    let split: Vec<String> = summary
        .cohorts
        .iter()
        .filter(|c| c.latency_split.split > 0)
        .map(|c| {
            let s = &c.latency_split;
            format!("{} upstream {:.1} ms, delivery {:.1} ms", c.name, ms(s.upstream_us.p99), ms(s.delivery_us.p99))
        })
        .collect();
    if split.is_empty() { String::new() } else { format!("latency p99 by who added it: {}\n", split.join("; ")) }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// `rig: canary p99 0.4 ms, mock writes p99 1.2 ms, mock feed p99 1.1 ms (ok, ≤ 5.0 ms)`.
fn rig_line(summary: &RunSummary) -> String {
    let rig = &summary.rig;
    let measured: Vec<String> = rig
        .parts
        .iter()
        .filter(|p| p.measured && p.part != "scheduler")
        .map(|p| match p.dropped {
            Some(n) => format!("{} drops {n}", p.part.replace('-', " ")),
            None => format!("{} p99 {:.1} ms", p.part.replace('-', " "), p.p99_us as f64 / 1000.0),
        })
        .collect();
    if measured.is_empty() {
        return String::new();
    }
    let threshold = rig.parts.iter().find(|p| p.part == "canary").map_or(0, |p| p.threshold_us);
    let state = if rig.lagged {
        format!("LAGGED: latency and storm figures measure the rig; {}", rig.cause())
    } else {
        format!("ok, ≤ {:.1} ms", threshold as f64 / 1000.0)
    };
    let cpu = match rig.mock_cpu_seconds {
        Some(mock) => format!("; CPU harness {:.1} s, mock {mock:.1} s", rig.harness_cpu_seconds),
        None => format!("; CPU {:.1} s", rig.harness_cpu_seconds),
    };
    format!("rig: {} ({state}){cpu}\n", measured.join(", "))
}

fn failure_list(failed: &[&Verdict]) -> String {
    let mut named: Vec<String> = failed
        .iter()
        .take(NAMED_FAILURES)
        .map(|v| match &v.cohort {
            Some(cohort) => format!("{} ({cohort})", v.criterion),
            None => v.criterion.clone(),
        })
        .collect();
    if failed.len() > NAMED_FAILURES {
        named.push(format!("and {} more", failed.len() - NAMED_FAILURES));
    }
    named.join(", ")
}

fn reason(outcome: Outcome, summary: &RunSummary) -> String {
    let failed = failures(&summary.verdicts);
    let h = &summary.harness;
    match outcome {
        Outcome::Success => {
            let passed = summary.verdicts.iter().filter(|v| v.status == Status::Pass).count();
            format!("no criterion failed ({passed} passed, {} not judged)", summary.verdicts.len() - passed)
        }
        Outcome::CriteriaFailed => {
            let noun = if failed.len() == 1 { "criterion" } else { "criteria" };
            format!("{} {noun} failed: {}", failed.len(), failure_list(&failed))
        }
        Outcome::HarnessError if summary.rig.lagged => {
            format!("{}: latency and storm verdicts are not measurable", summary.rig.cause())
        }
        Outcome::HarnessError if h.saturated => format!(
            "the harness was saturated (scheduler lag p99 {:.1} ms > {:.1} ms): the run is not trustworthy",
            h.lag_p99_us as f64 / 1000.0,
            h.saturation_threshold_us as f64 / 1000.0
        ),
        Outcome::HarnessError => match summary.external_lag_cause() {
            Some(cause) => format!("{cause}: its latency and storm verdicts are not measurable"),
            None => "the run is not trustworthy (see the error above)".to_owned(),
        },
        Outcome::Interrupted => format!(
            "stopped after {:.1} s; the partial run is written, its verdicts are not a gate",
            summary.run.elapsed_ms as f64 / 1000.0
        ),
    }
}

/// `gate: FAILED (exit 1): 2 criteria failed: latency-p50 (wsmanager), …`.
pub(super) fn gate_line(outcome: Outcome, summary: &RunSummary) -> String {
    format!("gate: {} (exit {}): {}", outcome_words(outcome).0, outcome.exit_code(), reason(outcome, summary))
}

/// Everything printed at the end of a run for a person, in order: criteria, cohorts, where the report
/// is, the gate.
pub(super) fn human_text(outcome: Outcome, summary: &RunSummary, run_dir: &Path) -> String {
    format!(
        "{}\n{}run directory: {}\nreport: {}\n{}\n",
        criteria_table(summary),
        cohort_table(summary),
        run_dir.display(),
        run_dir.join("report.md").display(),
        gate_line(outcome, summary)
    )
}

/// A cohort's key figures in the result object.
#[derive(Debug, Serialize)]
struct CohortResult {
    manager: &'static str,
    clients: u32,
    connections_high_water: i64,
    attempts: u64,
    reconnects: u64,
    peak_attempts_per_s: u64,
    peak_reconnects_per_s: u64,
    latency_p50_ms: f64,
    latency_p95_ms: f64,
    latency_p99_ms: f64,
    staleness_p99_ms: f64,
    without_data_max_ms: f64,
    published: u64,
    delivered: u64,
    lost: u64,
    gaps: u64,
    subscriptions_dropped: u64,
    subscriptions_recovered: u64,
}

impl CohortResult {
    fn of(c: &CohortSummary) -> CohortResult {
        let ms = |us: u64| us as f64 / 1000.0;
        CohortResult {
            manager: c.manager.as_str(),
            clients: c.clients,
            connections_high_water: c.connections.high_water,
            attempts: c.attempts.total,
            reconnects: c.attempts.retries,
            peak_attempts_per_s: c.attempts.peak_per_second,
            peak_reconnects_per_s: c.attempts.peak_retries_per_second,
            latency_p50_ms: ms(c.latency_us.p50),
            latency_p95_ms: ms(c.latency_us.p95),
            latency_p99_ms: ms(c.latency_us.p99),
            staleness_p99_ms: ms(c.staleness_us.p99),
            without_data_max_ms: ms(c.without_data_us.max),
            published: c.delivery.published,
            delivered: c.delivery.delivered,
            lost: c.delivery.lost,
            gaps: c.delivery.gaps,
            subscriptions_dropped: c.connections.subscriptions_dropped,
            subscriptions_recovered: c.connections.subscriptions_recovered,
        }
    }
}

/// The harness's health in the result object.
#[derive(Debug, Serialize)]
struct HarnessResult {
    lag_p99_ms: f64,
    saturated: bool,
    rig_lagged: bool,
    rig_lagging: Vec<String>,
    canary_p99_ms: Option<f64>,
    cpu_seconds: f64,
    max_rss_mib: f64,
}

/// The `result` JSON object, the last line of `--json`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "result")]
struct RunResult<'a> {
    run_dir: String,
    report: String,
    exit_code: i32,
    outcome: &'static str,
    gate: String,
    elapsed_s: f64,
    failed: usize,
    verdicts: &'a [Verdict],
    #[serde(serialize_with = "crate::vocab::serialize::as_map")]
    cohorts: Vec<(&'a str, CohortResult)>,
    harness: HarnessResult,
    /// The team's notifications of the run, ready to post (as in `notify-start.txt` and `notify-result.txt`).
    notifications: crate::report::notify::Notifications,
}

/// The `{"type":"result"}` object as one line of JSON.
pub(super) fn result_json(outcome: Outcome, summary: &RunSummary, run_dir: &Path) -> serde_json::Result<String> {
    let cohorts = summary.cohorts.iter().map(|c| (c.name.as_str(), CohortResult::of(c))).collect();
    let h = &summary.harness;
    let result = RunResult {
        run_dir: run_dir.display().to_string(),
        report: run_dir.join("report.md").display().to_string(),
        exit_code: outcome.exit_code(),
        outcome: outcome_words(outcome).1,
        gate: reason(outcome, summary),
        elapsed_s: summary.run.elapsed_ms as f64 / 1000.0,
        failed: failures(&summary.verdicts).len(),
        verdicts: &summary.verdicts,
        cohorts,
        harness: HarnessResult {
            lag_p99_ms: h.lag_p99_us as f64 / 1000.0,
            saturated: h.saturated,
            rig_lagged: summary.rig.lagged,
            rig_lagging: summary.rig.lagging.clone(),
            canary_p99_ms: summary.rig.part("canary").filter(|p| p.measured).map(|p| p.p99_us as f64 / 1000.0),
            cpu_seconds: h.cpu_seconds,
            max_rss_mib: (h.max_rss_kib as f64 / 1024.0 * 10.0).round() / 10.0,
        },
        notifications: crate::report::notify::render(summary, &run_dir.display().to_string()),
    };
    serde_json::to_string(&result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::sample::two_cohorts as summary;

    const LEGACY_P50_FAILS: &str = "[latency-p50]\nthreshold = 1.0\n";

    /// The block a person reads when a run ends (criteria, figures, where the run went, the gate), whole:
    /// a change of wording or layout is a reviewed snapshot diff.
    #[test]
    fn the_end_of_run_block_reads_as_its_snapshot() {
        let summary = summary(false, LEGACY_P50_FAILS);
        let text = human_text(Outcome::CriteriaFailed, &summary, Path::new("reports/t-20261201-120000"));
        insta::assert_snapshot!("end_of_run_block", text);
    }

    #[test]
    fn a_failing_reference_is_named_but_does_not_fail_the_row() {
        let mut summary = summary(false, LEGACY_P50_FAILS);
        for v in summary.verdicts.iter_mut().filter(|v| v.cohort.as_deref() == Some("legacy")) {
            v.gates = false;
        }
        let table = criteria_table(&summary);
        assert!(row(&table, "latency-p50").ends_with("pass [legacy fails: reference]"), "{table}");
    }

    fn row<'a>(table: &'a str, id: &str) -> &'a str {
        table.lines().find(|l| l.starts_with(&format!("{id} "))).unwrap()
    }

    #[test]
    fn the_criteria_table_shows_the_threshold_each_cohort_s_value_and_who_failed() {
        let table = criteria_table(&summary(false, LEGACY_P50_FAILS));
        let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["criterion", "threshold", "legacy", "wsmanager", "verdict"]);
        let p50: Vec<&str> = row(&table, "latency-p50").split_whitespace().collect();
        assert_eq!(p50, ["latency-p50", "<", "1", "ms", "2", "0.5", "FAIL", "(legacy)"]);
        let reduction: Vec<&str> = row(&table, "connection-reduction").split_whitespace().collect();
        assert_eq!(reduction, ["connection-reduction", "≥", "90", "%", "fewer", "–", "95", "pass"]);
        assert!(row(&table, "memory").ends_with("n/a"));
        let column = table.find("threshold").unwrap();
        for line in table.lines() {
            let (before, at) = (line.chars().nth(column - 1), line.chars().nth(column));
            assert!(before == Some(' ') && at != Some(' '), "thresholds aligned: {line}");
        }
    }

    #[test]
    fn the_gate_line_gives_the_outcome_the_exit_code_and_why() {
        let failed = summary(false, LEGACY_P50_FAILS);
        assert_eq!(
            gate_line(Outcome::CriteriaFailed, &failed),
            "gate: FAILED (exit 1): 1 criterion failed: latency-p50 (legacy)"
        );
        let passed = summary(false, "");
        let judged = passed.verdicts.iter().filter(|v| v.status == Status::Pass).count();
        assert_eq!(
            gate_line(Outcome::Success, &passed),
            format!(
                "gate: PASSED (exit 0): no criterion failed ({judged} passed, {} not judged)",
                passed.verdicts.len() - judged
            )
        );
        assert_eq!(
            gate_line(Outcome::HarnessError, &summary(true, "")),
            "gate: HARNESS ERROR (exit 3): the harness was saturated (scheduler lag p99 40.0 ms > 25.0 ms): the run \
             is not trustworthy"
        );
        assert_eq!(
            gate_line(Outcome::Interrupted, &passed),
            "gate: INTERRUPTED (exit 130): stopped after 12.3 s; the partial run is written, its verdicts are not a gate"
        );
    }

    #[test]
    fn a_long_list_of_failures_is_cut_after_five() {
        let mut failed = summary(false, LEGACY_P50_FAILS);
        let failing = failed.verdicts.iter().find(|v| v.status == Status::Fail).unwrap().clone();
        failed.verdicts = (0..7).map(|i| Verdict { criterion: format!("c{i}"), ..failing.clone() }).collect();
        assert_eq!(
            gate_line(Outcome::CriteriaFailed, &failed),
            "gate: FAILED (exit 1): 7 criteria failed: c0 (legacy), c1 (legacy), c2 (legacy), c3 (legacy), \
             c4 (legacy), and 2 more"
        );
    }

    #[test]
    fn the_human_text_reads_criteria_then_cohorts_then_the_report_then_the_gate() {
        let text = human_text(Outcome::CriteriaFailed, &summary(false, LEGACY_P50_FAILS), Path::new("reports/t-1"));
        let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle} in {text}"));
        assert!(at("criterion ") < at("cohort ") && at("cohort ") < at("harness: scheduler lag p99 40.0 ms"));
        assert!(at("harness: ") < at("report: reports/t-1/report.md") && at("report: ") < at("gate: FAILED"));
        assert!(text.ends_with("(legacy)\n"), "the gate line is last: {text}");
    }

    #[test]
    fn the_result_object_has_the_documented_fields() {
        let summary = summary(false, LEGACY_P50_FAILS);
        let text = result_json(Outcome::CriteriaFailed, &summary, Path::new("reports/t-1")).unwrap();
        assert!(!text.contains('\n'), "one line");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!((json["type"].as_str(), json["outcome"].as_str()), (Some("result"), Some("failed")));
        assert_eq!((json["exit_code"].as_i64(), json["failed"].as_u64()), (Some(1), Some(1)));
        assert_eq!(
            (json["run_dir"].as_str(), json["report"].as_str()),
            (Some("reports/t-1"), Some("reports/t-1/report.md"))
        );
        assert_eq!(json["gate"], "1 criterion failed: latency-p50 (legacy)");
        assert_eq!(json["elapsed_s"].as_f64(), Some(12.345));
        assert_eq!(json["verdicts"], serde_json::to_value(&summary.verdicts).unwrap(), "as in summary.json");
        assert!(text.find("\"legacy\":{").unwrap() < text.find("\"wsmanager\":{").unwrap(), "in cohort order");
        let legacy = &json["cohorts"]["legacy"];
        assert_eq!((legacy["manager"].as_str(), legacy["clients"].as_u64()), (Some("legacy"), Some(2)));
        assert_eq!((legacy["connections_high_water"].as_i64(), legacy["attempts"].as_u64()), (Some(20), Some(20)));
        assert_eq!((legacy["latency_p50_ms"].as_f64(), legacy["delivered"].as_u64()), (Some(2.0), Some(5_000)));
        for key in ["reconnects", "peak_attempts_per_s", "peak_reconnects_per_s", "latency_p95_ms", "latency_p99_ms"] {
            assert!(legacy[key].is_number(), "{key}");
        }
        for key in ["gaps", "subscriptions_dropped", "subscriptions_recovered"] {
            assert!(legacy[key].is_number(), "{key}");
        }
        let harness = &json["harness"];
        assert_eq!((harness["lag_p99_ms"].as_f64(), harness["saturated"].as_bool()), (Some(40.0), Some(false)));
        assert_eq!((harness["cpu_seconds"].as_f64(), harness["max_rss_mib"].as_f64()), (Some(1.5), Some(20.0)));
    }
}
