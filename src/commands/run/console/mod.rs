//! The console of `wschaos run`: what a person or a CI job sees while a run goes and when it ends.
//!
//! Three modes. Human (the default): a start line, a live status on stderr (a block redrawn in place about
//! once a second on a terminal, a plain line every few seconds and at every fault change otherwise), then
//! the criteria table, the cohort figures, the report path and the gate line on stdout. `--quiet`: nothing
//! but errors. `--json`: no human text; stdout gets one `progress` JSON object per second and a final
//! `result` object. The live figures come from the recorder's and the self-check's watch channels, read
//! once a second: the console never touches the recorder's aggregates. The formatting is pure and lives in
//! [`live`], [`text`] and [`end`]; this file only decides where the text goes and writes it.

mod end;
mod live;
mod text;

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::chaos::plan::FaultPlan;
use crate::cli::RunArgs;
use crate::commands::process::Outcome;
use crate::record::progress::{Progress, RigReceivers};
use crate::scenario::Scenario;
use crate::summary::RunSummary;

use crate::commands::run::planned_faults::PlannedFault;
use live::{LiveFigures, LiveSetup};
use text::PlainSchedule;

/// Who reads the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Nothing but errors.
    Quiet,
    /// NDJSON on stdout for CI, no human text.
    Json,
    /// Text for a person; the live status is redrawn in place when stderr is a terminal.
    Human {
        /// stderr is a terminal that understands cursor movement.
        terminal: bool,
    },
}

impl Mode {
    /// The mode the flags ask for (`--json` and `--quiet` exclude each other on the command line).
    pub(super) fn of(args: &RunArgs) -> Mode {
        Mode::from_flags(args.json, args.quiet)
    }

    /// The mode of `--json` and `--quiet`.
    pub(super) fn from_flags(json: bool, quiet: bool) -> Mode {
        if json {
            Mode::Json
        } else if quiet {
            Mode::Quiet
        } else {
            let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
            Mode::Human { terminal: std::io::stderr().is_terminal() && !dumb }
        }
    }
}

/// The console of one run.
pub(super) struct Console {
    mode: Mode,
    setup: LiveSetup,
}

impl Console {
    /// The console for `scenario`; `faults_applied` is false when the upstream cannot apply the plan.
    pub(super) fn new(mode: Mode, scenario: &Scenario, faults_applied: bool) -> Console {
        let faults = if faults_applied {
            PlannedFault::all(&scenario.faults, &FaultPlan::build(&scenario.faults, scenario.seed, scenario.duration))
        } else {
            Vec::new()
        };
        let setup = LiveSetup {
            cohorts: Vec::new(),
            duration: scenario.duration,
            faults,
            lag_threshold_us: scenario.harness.saturation_lag.as_micros() as u64,
            rig_threshold_us: scenario.harness.rig_delay.as_micros() as u64,
        };
        Console { mode, setup }
    }

    /// The fault plan's occurrences as the console shows them (none when the upstream does not apply them).
    pub(super) fn planned_faults(&self) -> Vec<PlannedFault> {
        self.setup.faults.clone()
    }

    /// The start line (human mode only).
    pub(super) fn started(&self, scenario: &Scenario, upstream: &str) {
        if let Mode::Human { .. } = self.mode {
            eprintln!(
                "wschaos run: {} for {:?} against {upstream} (seed {})",
                scenario.name, scenario.duration, scenario.seed
            );
        }
    }

    /// Starts the live display of `cohorts` (in cohort order); it ends by itself when the recorder drops
    /// its progress sender. `None` in quiet mode.
    pub(super) fn spawn_live(
        &self,
        cohorts: Vec<String>,
        progress: watch::Receiver<Progress>,
        rig: RigReceivers,
    ) -> Option<JoinHandle<()>> {
        let sink = match self.mode {
            Mode::Quiet => return None,
            Mode::Json => Sink::Json,
            Mode::Human { terminal: true } => Sink::Terminal { drawn: 0 },
            Mode::Human { terminal: false } => Sink::Plain(PlainSchedule::default()),
        };
        let setup = LiveSetup { cohorts, ..self.setup.clone() };
        Some(tokio::spawn(show_live(setup, sink, progress, rig)))
    }

    /// What the run ends with: the tables and the gate line (human), the result object (JSON), or
    /// nothing (quiet).
    pub(super) fn finish(&self, outcome: Outcome, summary: &RunSummary, run_dir: &Path) -> Result<()> {
        print_result(self.mode, outcome, summary, run_dir)
    }
}

/// Prints a finished run's result: the criteria, the cohorts and the gate for a person, the result object
/// in JSON mode, nothing when quiet.
pub(super) fn print_result(mode: Mode, outcome: Outcome, summary: &RunSummary, run_dir: &Path) -> Result<()> {
    let text = match mode {
        Mode::Quiet => return Ok(()),
        Mode::Json => {
            let line = end::result_json(outcome, summary, run_dir).context("could not encode the result")?;
            format!("{line}\n")
        }
        Mode::Human { .. } => end::human_text(outcome, summary, run_dir),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).context("could not print the run's result")
}

/// Where the live figures go.
enum Sink {
    /// Redrawn in place on stderr; `drawn` lines are on screen.
    Terminal { drawn: usize },
    /// A line on stderr when due.
    Plain(PlainSchedule),
    /// A `progress` object per snapshot on stdout.
    Json,
}

impl Sink {
    /// Shows one snapshot.
    fn show(&mut self, figures: &LiveFigures<'_>, lag_threshold_us: u64) -> std::io::Result<()> {
        match self {
            Sink::Terminal { drawn } => {
                let block = text::status_block(figures, lag_threshold_us);
                let bytes = text::redraw(*drawn, &block);
                *drawn = block.len();
                write_flushed(&mut std::io::stderr().lock(), &bytes)
            }
            Sink::Plain(schedule) => {
                if !schedule.due(figures) {
                    return Ok(());
                }
                let line = text::plain_line(figures, lag_threshold_us);
                write_flushed(&mut std::io::stderr().lock(), &format!("{line}\n"))
            }
            Sink::Json => {
                let line = serde_json::to_string(figures).map_err(std::io::Error::other)?;
                write_flushed(&mut std::io::stdout().lock(), &format!("{line}\n"))
            }
        }
    }

    /// Clears what must not stay on screen once the run is over.
    fn close(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Terminal { drawn } => write_flushed(&mut std::io::stderr().lock(), &text::erase(*drawn)),
            Sink::Plain(_) | Sink::Json => Ok(()),
        }
    }
}

fn write_flushed(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Shows each progress snapshot until the recorder is done.
async fn show_live(setup: LiveSetup, mut sink: Sink, mut progress: watch::Receiver<Progress>, rig: RigReceivers) {
    let mut before = progress.borrow_and_update().clone();
    while progress.changed().await.is_ok() {
        let now = progress.borrow_and_update().clone();
        if !live::worth_showing(&before, &now) {
            continue;
        }
        let rig_now = live::RigNow { lag_us: *rig.lag.borrow(), canary_us: *rig.canary.borrow() };
        let figures = live::figures(&setup, &before, &now, rig_now);
        if let Err(e) = sink.show(&figures, setup.lag_threshold_us) {
            tracing::warn!("the live display stopped: {e}");
            return;
        }
        before = now;
    }
    if let Err(e) = sink.close() {
        tracing::warn!("could not clear the live display: {e}");
    }
}
