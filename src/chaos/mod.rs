//! Chaos: faults injected into the mock upstream, from a pure seeded plan or on demand.
//!
//! [`fault`] is the closed catalogue (raw and validated), [`select`] what a fault applies to, [`plan`] the
//! seeded schedule of a run, [`inject`] applies occurrences to a running mock and records what fired,
//! [`control`] is the HTTP control API of the standalone mock, [`metrics`] its Prometheus rendering.

pub mod control;
pub mod fault;
pub mod inject;
pub mod metrics;
pub mod plan;
pub mod select;

pub use fault::{Fault, FaultKind, FaultKindName, RawFault};
pub use plan::FaultPlan;
