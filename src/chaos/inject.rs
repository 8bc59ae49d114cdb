//! Asking a running mock for faults: a validated [`Fault`] becomes the mock's [`FaultOrder`], now or at
//! each occurrence of a run's [`FaultPlan`]. The mock carries orders out; nothing here touches its
//! internals.

use std::time::Duration;

use tokio::time::Instant;

use crate::chaos::fault::Fault;
use crate::chaos::plan::FaultPlan;
use crate::mock::MockServer;
use crate::mock::faults::{FaultId, FaultOrder};

impl Fault {
    /// This fault as the mock carries it out: drawn from `seed`, lasting `window`.
    pub fn order(&self, seed: u64, window: Option<Duration>) -> FaultOrder {
        FaultOrder { name: self.name.clone(), kind: self.kind.clone(), select: self.select.clone(), seed, window }
    }
}

/// Each occurrence of `plan` as the order the mock carries out, and when it starts (`start` is the start
/// of the run). The same plan gives the same orders, whichever process carries them out.
pub fn orders(faults: &[Fault], plan: &FaultPlan, start: Instant) -> Vec<(Instant, FaultOrder)> {
    plan.occurrences
        .iter()
        .filter_map(|occurrence| {
            let fault = faults.get(occurrence.fault)?;
            let order = fault.order(occurrence.seed, Some(occurrence.end - occurrence.start));
            Some((start + occurrence.start, order))
        })
        .collect()
}

/// Faults on demand and by plan, for a mock in this process.
pub trait Inject {
    /// Injects `fault` now (its `at` is ignored), drawn from the mock's seed; it lasts its window (duration
    /// or stagger), or until removed when it has none. Returns its id.
    fn inject(&self, fault: &Fault) -> FaultId;

    /// Runs the occurrences of a fault plan whose run started at `start`.
    fn run_plan(&self, faults: &[Fault], plan: &FaultPlan, start: Instant);
}

impl Inject for MockServer {
    fn inject(&self, fault: &Fault) -> FaultId {
        self.start_fault(&fault.order(self.seed(), fault.window()))
    }

    fn run_plan(&self, faults: &[Fault], plan: &FaultPlan, start: Instant) {
        for (at, order) in orders(faults, plan, start) {
            self.schedule_fault(order, at);
        }
    }
}
