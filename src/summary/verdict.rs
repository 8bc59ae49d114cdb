//! What a verdict says: the criterion, the cohort, the value measured against the threshold and how they
//! compare ([`Comparison`]), the outcome ([`Status`]) and whether it gates the exit code. The criteria
//! compute verdicts; the summary keeps them and the reports show them.

use serde::{Deserialize, Serialize};

/// How a measured value is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Comparison {
    /// The value must be below the threshold.
    Below,
    /// The value must be at most the threshold.
    AtMost,
    /// The value must be above the threshold.
    Above,
    /// The value must be at least the threshold.
    AtLeast,
}

impl Comparison {
    /// The operator as reports print it.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Below => "<",
            Comparison::AtMost => "≤",
            Comparison::Above => ">",
            Comparison::AtLeast => "≥",
        }
    }
}

/// The outcome of one criterion for one cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The measured value meets the threshold.
    Pass,
    /// It does not.
    Fail,
    /// The run cannot tell (a saturated harness for latency).
    NotMeasurable,
    /// The run has nothing to judge (no drops for recovery, no legacy cohort to compare with, …).
    NotApplicable,
    /// Switched off by the scenario.
    Disabled,
}

/// One verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Criterion id.
    pub criterion: String,
    /// The cohort judged (`None` for the harness).
    pub cohort: Option<String>,
    /// The measured value, in the criterion's unit.
    pub measured: Option<f64>,
    /// The threshold applied.
    pub threshold: f64,
    /// Unit of both.
    pub unit: String,
    /// How they compare.
    pub comparison: Comparison,
    /// The outcome.
    pub status: Status,
    /// Why, when not a plain pass or fail.
    pub note: String,
    /// The rollout document the criterion comes from.
    pub source: String,
    /// Whether it decides the exit code (false: the legacy cohort's figures, shown as the reference).
    #[serde(default = "gates_by_default")]
    pub gates: bool,
    /// A comparative figure's 95 % interval (low, high), in the criterion's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
}

fn gates_by_default() -> bool {
    true
}
