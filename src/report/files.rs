//! The reports of a run directory, rendered from its files alone ([`write_reports`]): `report.md`,
//! `junit.xml`, `report.html` and `charts/*.svg|png`, and the Markdown report appended to a CI step
//! summary. The run's own files and their formats are [`crate::run_dir`]'s.

use std::path::Path;

use anyhow::Result;

use crate::report::charts::{self, Chart, draw};
use crate::report::html::{self, InlineChart};
use crate::run_dir::{RunDirectory, fs};
use crate::summary::RunSummary;

/// The notification of a run's start, ready to post.
pub const NOTIFY_START: &str = "notify-start.txt";

/// The notification of its result, ready to post.
pub const NOTIFY_RESULT: &str = "notify-result.txt";

/// A report rendered in memory: where it goes in the run directory, and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFile {
    /// Path relative to the run directory (`report.md`, `charts/latency.svg`).
    pub path: String,
    /// The contents.
    pub text: String,
}

/// Renders the text reports of the run directory `dir`: each chart as SVG, `report.md`, `junit.xml`,
/// `report.html` with the charts inline, and the notifications ready to post (`notify-start.txt`,
/// `notify-result.txt`). No I/O.
pub fn render_reports(summary: &RunSummary, charts: &[Chart], dir: &Path) -> Result<Vec<ReportFile>> {
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
    let notes = crate::report::notify::render(summary, &dir.display().to_string());
    files.push(ReportFile { path: NOTIFY_START.into(), text: notes.start });
    files.push(ReportFile { path: NOTIFY_RESULT.into(), text: notes.result });
    Ok(files)
}

/// Writes every report of a run directory rendered from `run`: the text reports and the PNG charts.
pub fn write_rendered(dir: &Path, run: &RunDirectory) -> Result<()> {
    let charts = charts::all(run);
    let chart_dir = dir.join("charts");
    fs::create_dir(&chart_dir, "chart directory")?;
    for file in render_reports(&run.summary, &charts, dir)? {
        fs::write(&dir.join(&file.path), file.text)?;
    }
    for chart in &charts {
        fs::write(&chart_dir.join(format!("{}.png", chart.file_stem)), draw::png(chart)?)?;
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
    fs::append(Path::new(&path), crate::report::markdown::render(summary).as_bytes(), "step summary")
}
