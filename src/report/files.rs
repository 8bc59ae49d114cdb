//! The files of a run directory: `summary.json` (the [`RunSummary`]), `timeseries.csv` (one row per
//! second per cohort), `latency-<cohort>.hgrm` (HdrHistogram percentile distributions, in milliseconds)
//! and `events.csv` (faults and notable moments), `baseline.json` (the legacy cohort's figures, for later
//! phases' `--baseline`), and the reports rendered from these files alone ([`write_reports`]): `report.md`,
//! `junit.xml`, `report.html` and `charts/*.svg|png`.

use std::path::Path;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::criteria::baseline::{BASELINE_FILE, Baseline};
use crate::record::recorder::CohortRecord;
use crate::report::charts::{self, Chart, draw};
use crate::report::html::{self, InlineChart};
use crate::report::run_dir::RunDirectory;
use crate::summary::RunSummary;

/// One row of `timeseries.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeseriesRow {
    /// Seconds since the start of the run.
    pub second: usize,
    /// Cohort name.
    pub cohort: String,
    /// Connection attempts started.
    pub attempts: u64,
    /// Attempts that upgraded.
    pub connected: u64,
    /// Attempts that failed.
    pub failed: u64,
    /// Reconnect attempts.
    pub retries: u64,
    /// Connections that ended.
    pub ended: u64,
    /// Client-side open connections at the end of the second.
    pub open: i64,
    /// Subscriber-deliveries.
    pub delivered: u64,
    /// Subscriber-deliveries skipped or owed and never received.
    pub gaps: u64,
    /// Silent sockets detected.
    pub detections: u64,
    /// Delivery latency p50 of the messages recorded in that second (µs; empty without any).
    #[serde(default)]
    pub latency_p50_us: Option<u64>,
    /// Delivery latency p99 in that second (µs).
    #[serde(default)]
    pub latency_p99_us: Option<u64>,
    /// Staleness p50 of the samples taken in that second (µs; empty without any).
    #[serde(default)]
    pub staleness_p50_us: Option<u64>,
    /// Staleness p99 in that second (µs).
    #[serde(default)]
    pub staleness_p99_us: Option<u64>,
    /// Server-side open connections (the mock's count; all cohorts).
    pub server_open: Option<u64>,
    /// Harness scheduler-lag p99 in that second (µs).
    pub harness_lag_p99_us: Option<u64>,
    /// The rig's canary latency p99 in that second (µs; empty without canary samples).
    #[serde(default)]
    pub canary_p99_us: Option<u64>,
}

/// The rig's figures per second of the run (µs), for `timeseries.csv`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RigSeconds<'a> {
    /// The harness's scheduler-lag p99.
    pub lag: &'a [u64],
    /// The canaries' latency p99 (0: no sample).
    pub canary: &'a [u64],
}

/// The per-second rows of every cohort.
pub fn timeseries(
    summary: &RunSummary,
    records: &[CohortRecord],
    server_open: &[u64],
    rig: RigSeconds<'_>,
) -> Vec<TimeseriesRow> {
    let mut rows = Vec::new();
    // The seconds the run lasted; a run stopped early ends there, not at its planned length. A later second
    // is kept only when something happened in it (the teardown's closes).
    let lasted = summary.run.elapsed_ms.div_ceil(1000) as usize;
    for (cohort, record) in summary.cohorts.iter().zip(records) {
        let end = record.seconds.iter().rposition(|s| s.attempts + s.connected + s.failed + s.ended + s.delivered > 0);
        let rows_kept = lasted.max(end.map_or(0, |last| last + 1));
        for (second, s) in record.seconds.iter().enumerate().take(rows_kept) {
            rows.push(TimeseriesRow {
                second,
                cohort: cohort.name.clone(),
                attempts: s.attempts,
                connected: s.connected,
                failed: s.failed,
                retries: s.retries,
                ended: s.ended,
                open: s.open,
                delivered: s.delivered,
                gaps: s.gaps,
                detections: s.detections,
                latency_p50_us: (s.latency_p99_us > 0).then_some(s.latency_p50_us),
                latency_p99_us: (s.latency_p99_us > 0).then_some(s.latency_p99_us),
                staleness_p50_us: (s.staleness_p99_us > 0).then_some(s.staleness_p50_us),
                staleness_p99_us: (s.staleness_p99_us > 0).then_some(s.staleness_p99_us),
                server_open: server_open.get(second).copied(),
                harness_lag_p99_us: rig.lag.get(second).copied(),
                canary_p99_us: rig.canary.get(second).copied().filter(|p99| *p99 > 0),
            });
        }
    }
    rows
}

/// A histogram of microseconds in the HdrHistogram percentile-distribution text format, in milliseconds.
pub fn hgrm(histogram: &Histogram<u64>) -> String {
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    if !histogram.is_empty() {
        for v in histogram.iter_quantiles(5) {
            let quantile = v.quantile_iterated_to();
            let inverse = if quantile < 1.0 { format!("{:14.2}", 1.0 / (1.0 - quantile)) } else { String::new() };
            let value = v.value_iterated_to() as f64 / 1000.0;
            out.push_str(&format!("{value:12.3} {quantile:14.12} {:10} {inverse}\n", v.count_since_last_iteration()));
        }
    }
    let (mean, stdev, max) = (histogram.mean() / 1000.0, histogram.stdev() / 1000.0, histogram.max() as f64 / 1000.0);
    out.push_str(&format!("#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]\n"));
    out.push_str(&format!("#[Max     = {max:12.3}, Total count    = {:12}]\n", histogram.len()));
    out.push_str(&format!(
        "#[Buckets = {:12}, SubBuckets     = {:12}]\n",
        histogram.buckets(),
        histogram.distinct_values()
    ));
    out
}

/// One row of `events.csv`.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// Milliseconds since the start of the run.
    pub time_ms: u64,
    /// What happened.
    pub event: String,
    /// Details.
    pub detail: String,
}

/// The notable moments of a run: its start and end, and every fault's window.
pub fn events(summary: &RunSummary) -> Vec<EventRow> {
    let mut rows = vec![EventRow { time_ms: 0, event: "run-start".into(), detail: summary.run.upstream.clone() }];
    for fault in &summary.faults {
        let label = fault.name.clone().unwrap_or_else(|| fault.kind.clone());
        let mut detail = format!("{label}: {} connections, {} handshakes", fault.touched, fault.handshakes);
        if !fault.sources.is_empty() {
            let streams: Vec<String> = fault.streams.iter().map(|(s, n)| format!("{s}={n}")).collect();
            detail += &format!("; sources {}; streams {}", fault.sources.join(" "), streams.join(" "));
        }
        rows.push(EventRow {
            time_ms: fault.start_ms,
            event: format!("fault-start:{}", fault.kind),
            detail: detail.clone(),
        });
        if let Some(end) = fault.end_ms {
            rows.push(EventRow { time_ms: end, event: format!("fault-end:{}", fault.kind), detail });
        }
    }
    let end = if summary.run.interrupted { "run-interrupted" } else { "run-end" };
    rows.push(EventRow { time_ms: summary.run.elapsed_ms, event: end.into(), detail: String::new() });
    rows.sort_by_key(|r| r.time_ms);
    rows
}

fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut writer = csv::Writer::from_path(path).with_context(|| format!("could not create '{}'", path.display()))?;
    for row in rows {
        writer.serialize(row).with_context(|| format!("could not write '{}'", path.display()))?;
    }
    writer.flush().with_context(|| format!("could not write '{}'", path.display()))
}

/// A report rendered in memory: where it goes in the run directory, and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFile {
    /// Path relative to the run directory (`report.md`, `charts/latency.svg`).
    pub path: String,
    /// The contents.
    pub text: String,
}

/// Renders the text reports: each chart as SVG, `report.md`, `junit.xml`, and `report.html` with the
/// charts inline. No I/O.
pub fn render_reports(summary: &RunSummary, charts: &[Chart]) -> Result<Vec<ReportFile>> {
    let mut files = Vec::new();
    let mut inline = Vec::new();
    for chart in charts {
        let svg = draw::svg(chart)?;
        files.push(ReportFile { path: format!("charts/{}.svg", chart.file_stem), text: svg.clone() });
        inline.push(InlineChart { file_stem: chart.file_stem.to_owned(), title: chart.title.clone(), svg });
    }
    files.push(ReportFile { path: "report.md".into(), text: crate::report::markdown::render(summary) });
    files.push(ReportFile { path: "junit.xml".into(), text: crate::report::junit::render(summary) });
    files.push(ReportFile { path: "report.html".into(), text: html::render(summary, &inline)? });
    Ok(files)
}

/// Writes every report of a run directory rendered from `run`: the text reports and the PNG charts.
pub fn write_rendered(dir: &Path, run: &RunDirectory) -> Result<()> {
    let charts = charts::all(run);
    let chart_dir = dir.join("charts");
    std::fs::create_dir_all(&chart_dir)
        .with_context(|| format!("could not create the chart directory '{}'", chart_dir.display()))?;
    for file in render_reports(&run.summary, &charts)? {
        let path = dir.join(&file.path);
        std::fs::write(&path, file.text).with_context(|| format!("could not write '{}'", path.display()))?;
    }
    for chart in &charts {
        draw::write_png(chart, &chart_dir.join(format!("{}.png", chart.file_stem)))?;
    }
    Ok(())
}

/// Renders `report.md`, `junit.xml`, `report.html` and `charts/` from the run directory's files alone
/// (`summary.json`, `timeseries.csv`, the `.hgrm` files).
pub fn write_reports(dir: &Path) -> Result<()> {
    write_rendered(dir, &RunDirectory::read(dir)?)
}

/// Appends the Markdown report to the GitHub Actions step summary when `GITHUB_STEP_SUMMARY` names one.
pub fn append_step_summary(summary: &RunSummary) -> Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else { return Ok(()) };
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("could not open the step summary '{}'", path.to_string_lossy()))?;
    file.write_all(crate::report::markdown::render(summary).as_bytes()).context("could not write the step summary")
}

/// Reads a run directory's `summary.json`.
pub fn read_summary(dir: &Path) -> Result<RunSummary> {
    let path = dir.join("summary.json");
    let bytes =
        std::fs::read(&path).with_context(|| format!("could not read '{}': is it a run directory?", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("'{}' is not a wschaos run summary", path.display()))
}

/// A baseline read for a run, with where it came from.
#[derive(Debug, Clone)]
pub struct BaselineInput {
    /// The file read.
    pub path: std::path::PathBuf,
    /// Its figures.
    pub baseline: Baseline,
}

/// Reads a baseline: a `baseline.json`, or a run directory holding one.
pub fn read_baseline(path: &Path) -> Result<BaselineInput> {
    let file = if path.is_dir() { path.join(BASELINE_FILE) } else { path.to_owned() };
    let bytes = std::fs::read(&file).with_context(|| {
        format!("could not read the baseline '{}': give the baseline.json a phase-0 run wrote", file.display())
    })?;
    let baseline: Baseline = serde_json::from_slice(&bytes)
        .with_context(|| format!("'{}' is not a wschaos baseline (baseline.json)", file.display()))?;
    Ok(BaselineInput { path: file, baseline })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(value)?;
    json.push(b'\n');
    std::fs::write(path, json).with_context(|| format!("could not write '{}'", path.display()))
}

/// Writes every file of the run directory.
pub fn write_run(
    dir: &Path,
    summary: &RunSummary,
    records: &[CohortRecord],
    server_open: &[u64],
    rig: RigSeconds<'_>,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create the run directory '{}'", dir.display()))?;
    write_json(&dir.join("summary.json"), summary)?;
    if summary.cohorts.iter().any(|c| c.manager == crate::scenario::ManagerKind::Legacy) {
        if let Some(baseline) = Baseline::from_summary(summary) {
            write_json(&dir.join(BASELINE_FILE), &baseline)?;
        }
    }
    write_csv(&dir.join("timeseries.csv"), &timeseries(summary, records, server_open, rig))?;
    write_csv(&dir.join("events.csv"), &events(summary))?;
    for (cohort, record) in summary.cohorts.iter().zip(records) {
        for (prefix, histogram) in [("latency", &record.latency), ("staleness", &record.staleness)] {
            let path = dir.join(format!("{prefix}-{}.hgrm", cohort.name));
            std::fs::write(&path, hgrm(histogram)).with_context(|| format!("could not write '{}'", path.display()))?;
        }
    }
    write_reports(dir)?;
    append_step_summary(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hgrm_is_in_the_hdrhistogram_text_format() {
        let mut h = crate::record::event::latency_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let text = hgrm(&h);
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
        assert!(text.contains("#[Max     =     1000.447, Total count    =         1000]"), "{text}");
        let first = text.lines().nth(2).unwrap();
        assert!(first.trim_start().starts_with("1.000 0.000000000000"), "{first}");
    }
}
