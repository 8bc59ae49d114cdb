//! The scenario's fault plan as a run shows it while it runs (the console's live lines, the `--metrics`
//! endpoint): each occurrence with its kind, name and window, and whether it is in force at an instant.

use std::time::Duration;

use serde::Serialize;

use crate::chaos::fault::Fault;
use crate::chaos::plan::FaultPlan;

/// How long an instant fault (a disconnect without stagger, a corrupt burst) stays on the display.
pub const INSTANT_SHOWN_FOR: Duration = Duration::from_secs(1);

/// One occurrence of the scenario's fault plan, as the display names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedFault {
    /// Its fault's position in the scenario's `[[faults]]` (one fault may occur many times).
    #[serde(skip)]
    pub fault: usize,
    /// The fault's kind (`disconnect`, `outage`, …).
    pub kind: &'static str,
    /// The fault's `name` in the scenario, if it has one.
    pub name: Option<String>,
    /// When it starts (seconds into the run).
    #[serde(rename = "start_s", serialize_with = "seconds")]
    pub start: Duration,
    /// When its window ends (equal to the start for instant faults).
    #[serde(rename = "end_s", serialize_with = "seconds")]
    pub end: Duration,
}

impl PlannedFault {
    /// Every occurrence of `plan`, in start order.
    pub fn all(faults: &[Fault], plan: &FaultPlan) -> Vec<PlannedFault> {
        plan.occurrences
            .iter()
            .filter_map(|o| {
                let fault = faults.get(o.fault)?;
                Some(PlannedFault {
                    fault: o.fault,
                    kind: fault.kind.name().as_str(),
                    name: fault.name.clone(),
                    start: o.start,
                    end: o.end,
                })
            })
            .collect()
    }

    /// In force at `t`: inside its window, or within [`INSTANT_SHOWN_FOR`] of its start.
    pub fn active_at(&self, t: Duration) -> bool {
        self.start <= t && t < self.end.max(self.start + INSTANT_SHOWN_FOR)
    }

    /// `disconnect "drop-half"`, or the kind alone.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {name:?}", self.kind),
            None => self.kind.to_owned(),
        }
    }
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_millis() as f64 / 1000.0)
}
