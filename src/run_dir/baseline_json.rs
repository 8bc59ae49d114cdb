//! `baseline.json`: the legacy cohort's figures a phase-0 run leaves for later phases' `--baseline`.
//! Written and parsed here.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::criteria::baseline::{BASELINE_FILE, Baseline};
use crate::run_dir::fs;

/// The file's contents for `baseline`.
pub fn render(baseline: &Baseline) -> Result<Vec<u8>> {
    let mut json = serde_json::to_vec_pretty(baseline).context("could not serialise the baseline")?;
    json.push(b'\n');
    Ok(json)
}

/// A baseline from the file's contents.
pub fn parse(bytes: &[u8]) -> Result<Baseline, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// A baseline read for a run, with where it came from.
#[derive(Debug, Clone)]
pub struct BaselineInput {
    /// The file read.
    pub path: PathBuf,
    /// Its figures.
    pub baseline: Baseline,
}

/// Reads a baseline: a `baseline.json`, or a run directory holding one.
pub fn read(path: &Path) -> Result<BaselineInput> {
    let file = if path.is_dir() { path.join(BASELINE_FILE) } else { path.to_owned() };
    let bytes = fs::read(&file, || {
        format!("could not read the baseline '{}': give the baseline.json a phase-0 run wrote", file.display())
    })?;
    let baseline =
        parse(&bytes).with_context(|| format!("'{}' is not a wschaos baseline (baseline.json)", file.display()))?;
    Ok(BaselineInput { path: file, baseline })
}
