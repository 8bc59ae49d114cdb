//! A validated fault: when it happens, what it applies to, and what it does (the effect is the mock's
//! [`FaultKind`]).

use std::time::Duration;

use serde::Serialize;

use crate::mock::faults::{FaultKind, Selection};

/// When a fault happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timing {
    /// Offset from the start of the run.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub at: Duration,
    /// Length of its window (`None`: until the end of the run, or instant).
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub duration: Option<Duration>,
    /// Repetition period.
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub every: Option<Duration>,
}

/// A validated fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    /// Its `name` label, shown in reports and the control API (`None`: unnamed).
    pub name: Option<String>,
    /// When it starts, how long its window lasts, and how often it repeats.
    pub timing: Timing,
    /// To what.
    pub select: Selection,
    /// What it does: its kind, with that kind's parameters.
    pub kind: FaultKind,
}
