//! `wschaos compare RUN_A RUN_B`: read both run directories' `summary.json` and print their criteria and
//! key figures side by side (Markdown, or JSON with `--json`). Exit 0 when no criterion regressed, 1 when
//! one passed in A and fails in B, 2 when a directory is not a run directory.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::CompareArgs;
use crate::commands::process::{Outcome, UsageError};
use crate::report::compare::{NamedRun, compare, markdown};
use crate::run_dir::read_summary;
use crate::summary::RunSummary;

/// Compares the two runs and prints the comparison.
pub fn run(args: &CompareArgs) -> Result<Outcome> {
    let (a, b) = (read(&args.run_a)?, read(&args.run_b)?);
    let (dir_a, dir_b) = (args.run_a.display().to_string(), args.run_b.display().to_string());
    let comparison = compare(NamedRun { dir: &dir_a, summary: &a }, NamedRun { dir: &dir_b, summary: &b });
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&comparison).context("could not render the comparison")?;
        json.push('\n');
        json
    } else {
        markdown::render(&comparison)
    };
    std::io::stdout().write_all(text.as_bytes()).context("could not write the comparison to stdout")?;
    Ok(if comparison.regressions > 0 { Outcome::CriteriaFailed } else { Outcome::Success })
}

/// A run directory's summary; anything unreadable is the user's mistake (exit 2).
fn read(dir: &Path) -> Result<RunSummary, UsageError> {
    read_summary(dir).map_err(|e| UsageError(format!("{e:#}")))
}
