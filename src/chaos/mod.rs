//! Chaos: faults injected into the mock upstream, from a pure seeded plan or on demand.
//!
//! [`fault`] reads and validates a fault as a scenario or a request writes it (the effects themselves, and
//! what a fault applies to, are the mock's: [`crate::mock::faults`]), [`plan`] is the seeded schedule of a
//! run, [`inject`] turns faults and plans into the orders a mock carries out, [`control`] is the HTTP
//! control API of the standalone mock (with [`barrier`], the start barrier of a sharded run, and
//! [`step_board`], where a sharded rehearsal's shards pool each step's figures), [`metrics`] its Prometheus
//! rendering.

pub mod barrier;
pub mod control;
pub mod fault;
pub mod inject;
pub mod metrics;
pub mod plan;
pub mod step_board;

pub use fault::{Fault, FaultKind, FaultKindName, RawFault};
pub use inject::Inject;
pub use plan::FaultPlan;
