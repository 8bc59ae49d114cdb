//! `summary.json`: the [`RunSummary`], pretty-printed JSON ending in a newline. Written and parsed here.

use anyhow::{Context, Result};

use crate::summary::RunSummary;

/// The file's name in a run directory.
pub const FILE: &str = "summary.json";

/// The file's contents for `summary`.
pub fn render(summary: &RunSummary) -> Result<Vec<u8>> {
    let mut json = serde_json::to_vec_pretty(summary).context("could not serialise the run summary")?;
    json.push(b'\n');
    Ok(json)
}

/// A summary from the file's contents.
pub fn parse(bytes: &[u8]) -> Result<RunSummary, serde_json::Error> {
    serde_json::from_slice(bytes)
}
