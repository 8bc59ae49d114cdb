//! Reading a run directory back: `summary.json`, `timeseries.csv` and the `latency-<cohort>.hgrm` files,
//! into one [`RunDirectory`] that every report and chart is rendered from. The I/O is here; the parsing
//! of each file's text is pure ([`parse_hgrm`], [`parse_timeseries`]) and never panics on bad input.

use std::path::Path;

use anyhow::{Context, Result};

use crate::report::files::TimeseriesRow;
use crate::summary::RunSummary;

/// One line of an HdrHistogram percentile distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PercentilePoint {
    /// The quantile, 0 to 1 (0.99 is the 99th percentile).
    pub quantile: f64,
    /// The latency at that quantile (ms).
    pub value_ms: f64,
}

/// A cohort's delivery latency and staleness distributions.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortLatency {
    /// Cohort name.
    pub cohort: String,
    /// From `latency-<cohort>.hgrm`.
    pub raw: Vec<PercentilePoint>,
    /// From `staleness-<cohort>.hgrm`.
    pub staleness: Vec<PercentilePoint>,
}

/// Everything the reports are rendered from.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDirectory {
    /// `summary.json`.
    pub summary: RunSummary,
    /// `timeseries.csv`: one row per second per cohort.
    pub timeseries: Vec<TimeseriesRow>,
    /// The `.hgrm` files, one entry per cohort of the summary, in its order.
    pub latency: Vec<CohortLatency>,
}

/// A line of a `.hgrm` file that is neither a header, a footer nor a percentile line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line} is not an HdrHistogram percentile line (value, percentile, count[, 1/(1-percentile)]): '{text}'")]
pub struct BadHgrmLine {
    /// 1-based line number.
    pub line: usize,
    /// The line as read.
    pub text: String,
}

/// Parses the HdrHistogram percentile-distribution text format: header and `#[…]` footer lines are
/// skipped, every other non-empty line gives its value (ms) and percentile.
pub fn parse_hgrm(text: &str) -> Result<Vec<PercentilePoint>, BadHgrmLine> {
    let mut points = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("Value") {
            continue;
        }
        let bad = || BadHgrmLine { line: index + 1, text: line.to_owned() };
        let mut fields = trimmed.split_whitespace().map(str::parse::<f64>);
        let (Some(Ok(value_ms)), Some(Ok(quantile))) = (fields.next(), fields.next()) else { return Err(bad()) };
        if !(0.0..=1.0).contains(&quantile) || !value_ms.is_finite() {
            return Err(bad());
        }
        points.push(PercentilePoint { quantile, value_ms });
    }
    Ok(points)
}

/// Parses `timeseries.csv`.
pub fn parse_timeseries(bytes: &[u8]) -> Result<Vec<TimeseriesRow>, csv::Error> {
    csv::Reader::from_reader(bytes).deserialize().collect()
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("could not read '{}'", path.display()))
}

fn read_hgrm(path: &Path) -> Result<Vec<PercentilePoint>> {
    parse_hgrm(&read_text(path)?).with_context(|| format!("'{}' is not an HdrHistogram distribution", path.display()))
}

/// Reads a cohort's two latency files; a cohort name that is no plain file-name part is refused rather
/// than followed out of the directory.
fn read_latency(dir: &Path, cohort: &str) -> Result<CohortLatency> {
    if cohort.is_empty() || cohort.starts_with('.') || cohort.contains(['/', '\\', '\0']) {
        anyhow::bail!("'{cohort}' in '{}' is not a cohort name", dir.join("summary.json").display());
    }
    Ok(CohortLatency {
        cohort: cohort.to_owned(),
        raw: read_hgrm(&dir.join(format!("latency-{cohort}.hgrm")))?,
        staleness: read_hgrm(&dir.join(format!("staleness-{cohort}.hgrm")))?,
    })
}

impl RunDirectory {
    /// Reads a run directory's summary, time series and latency distributions.
    pub fn read(dir: &Path) -> Result<RunDirectory> {
        let summary = crate::report::files::read_summary(dir)?;
        let path = dir.join("timeseries.csv");
        let bytes = std::fs::read(&path).with_context(|| format!("could not read '{}'", path.display()))?;
        let timeseries =
            parse_timeseries(&bytes).with_context(|| format!("'{}' is not a wschaos time series", path.display()))?;
        let latency = summary.cohorts.iter().map(|c| read_latency(dir, &c.name)).collect::<Result<Vec<_>>>()?;
        Ok(RunDirectory { summary, timeseries, latency })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hgrm_text_round_trips_through_the_parser() {
        let mut h = crate::record::event::latency_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let points = parse_hgrm(&crate::report::files::hgrm(&h)).unwrap();
        assert_eq!(points.first().map(|p| (p.quantile, p.value_ms)), Some((0.0, 1.0)));
        let last = points.last().unwrap();
        assert_eq!(last.quantile, 1.0);
        assert!((last.value_ms - 1000.447).abs() < 1e-9, "{last:?}");
        assert!(points.windows(2).all(|w| w[0].quantile <= w[1].quantile && w[0].value_ms <= w[1].value_ms));
    }

    #[test]
    fn an_empty_histogram_has_no_points_and_garbage_names_its_line() {
        let empty = crate::report::files::hgrm(&crate::record::event::latency_histogram());
        assert_eq!(parse_hgrm(&empty), Ok(vec![]));
        let err = parse_hgrm("       Value     Percentile\n\n   1.0 0.5 3\n   oops 0.9 1\n").unwrap_err();
        assert_eq!(err.line, 4);
        assert!(parse_hgrm("1.0 1.5 3\n").is_err(), "a percentile above 100 %");
    }

    #[test]
    fn timeseries_rows_read_back_with_missing_optional_columns() {
        let csv = "second,cohort,attempts,connected,failed,retries,ended,open,delivered,gaps,detections,server_open,harness_lag_p99_us\n\
                   0,legacy,640,640,0,0,0,640,3081,0,0,0,3273\n19,legacy,0,0,0,0,0,1200,18158,0,0,1289,\n";
        let rows = parse_timeseries(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].attempts, rows[0].harness_lag_p99_us), (640, Some(3273)));
        assert_eq!((rows[1].open, rows[1].harness_lag_p99_us), (1200, None));
        assert!(parse_timeseries(b"second,cohort\nx,legacy\n").is_err());
    }
}
