//! The run directory: what a run leaves behind, one module per file format, each writing and parsing its
//! format ([`summary_json`], [`timeseries_csv`], [`hgrm`], [`events_csv`], [`baseline_json`], a shard's
//! [`records_json`]), with the
//! disk behind one edge ([`fs`]). [`RunDirectory`] is a run read back, what every report and chart is
//! rendered from and what a merge of runs stands on; [`write`] writes a finished run's files (the reports
//! rendered from them are the `report` module's).

pub mod baseline_json;
mod csv_text;
pub mod events_csv;
pub mod fs;
pub mod hgrm;
pub mod records_json;
pub mod summary_json;
pub mod timeseries_csv;

use std::path::Path;

use anyhow::{Context, Result};

use crate::criteria::baseline::{BASELINE_FILE, Baseline};
use crate::manager::settings::ManagerKind;
use crate::record::recorder::CohortRecord;
use crate::summary::RunSummary;
use hgrm::PercentilePoint;
use timeseries_csv::{RigSeconds, TimeseriesRow};

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

/// Reads a run directory's `summary.json`.
pub fn read_summary(dir: &Path) -> Result<RunSummary> {
    let path = dir.join(summary_json::FILE);
    let bytes = fs::read(&path, || format!("could not read '{}': is it a run directory?", path.display()))?;
    summary_json::parse(&bytes).with_context(|| format!("'{}' is not a wschaos run summary", path.display()))
}

fn read_hgrm(path: &Path) -> Result<Vec<PercentilePoint>> {
    hgrm::parse(&fs::read_text(path)?)
        .with_context(|| format!("'{}' is not an HdrHistogram distribution", path.display()))
}

/// Reads a cohort's two latency files; a cohort name that is no plain file-name part is refused rather
/// than followed out of the directory.
fn read_latency(dir: &Path, cohort: &str) -> Result<CohortLatency> {
    if cohort.is_empty() || cohort.starts_with('.') || cohort.contains(['/', '\\', '\0']) {
        anyhow::bail!("'{cohort}' in '{}' is not a cohort name", dir.join(summary_json::FILE).display());
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
        let summary = read_summary(dir)?;
        let path = dir.join(timeseries_csv::FILE);
        let bytes = fs::read(&path, || format!("could not read '{}'", path.display()))?;
        let timeseries = timeseries_csv::parse(&bytes)
            .with_context(|| format!("'{}' is not a wschaos time series", path.display()))?;
        let latency = summary.cohorts.iter().map(|c| read_latency(dir, &c.name)).collect::<Result<Vec<_>>>()?;
        Ok(RunDirectory { summary, timeseries, latency })
    }
}

/// Writes a finished run's files: `summary.json`, `baseline.json` (when a legacy cohort ran),
/// `timeseries.csv`, `events.csv` and each cohort's two `.hgrm` distributions.
pub fn write(
    dir: &Path,
    summary: &RunSummary,
    records: &[CohortRecord],
    server_open: &[u64],
    rig: RigSeconds<'_>,
) -> Result<()> {
    fs::create_dir(dir, "run directory")?;
    fs::write(&dir.join(summary_json::FILE), summary_json::render(summary)?)?;
    if summary.cohorts.iter().any(|c| c.manager == ManagerKind::Legacy) {
        if let Some(baseline) = Baseline::from_summary(summary) {
            fs::write(&dir.join(BASELINE_FILE), baseline_json::render(&baseline)?)?;
        }
    }
    let rows = timeseries_csv::rows(summary, records, server_open, rig);
    fs::write(&dir.join(timeseries_csv::FILE), timeseries_csv::render(&rows)?)?;
    fs::write(&dir.join(events_csv::FILE), events_csv::render(&events_csv::rows(summary))?)?;
    for (cohort, record) in summary.cohorts.iter().zip(records) {
        for (prefix, histogram) in [("latency", &record.latency), ("staleness", &record.staleness)] {
            fs::write(&dir.join(format!("{prefix}-{}.hgrm", cohort.name)), hgrm::render(histogram))?;
        }
    }
    Ok(())
}
