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
    /// Label.
    pub name: Option<String>,
    /// When.
    pub timing: Timing,
    /// To what.
    pub select: Selection,
    /// What.
    pub kind: FaultKind,
}
