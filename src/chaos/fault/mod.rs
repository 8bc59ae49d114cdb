//! A fault as configuration writes it, and validated.
//!
//! [`RawFault`] (`raw`) is what a scenario's `[[faults]]` table or a control-API request holds: one flat
//! table with a `kind` and the keys that kind takes (flat, so every mistake keeps its exact line).
//! [`Fault`] (`model`) is the validated form (`validate`): timing, selection and a [`FaultKind`] with only
//! the parameters that kind has. Validation reports every problem with its key path, including keys that
//! do not apply to the kind. The kinds themselves, and what a fault applies to, are the mock's effects
//! ([`crate::mock::faults`]); they are re-exported here.

mod model;
mod raw;
mod validate;

pub use crate::mock::faults::{CorruptVariant, FaultKind, FaultKindName, Refuse, StallMode};
pub use model::{Fault, Timing};
pub use raw::{DisconnectHow, RawFault, RefuseMode};
pub use validate::validate_all;
