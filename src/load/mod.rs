//! The load model: the scenario's workload section ([`workload`]), who subscribes to what ([`population`]),
//! the task that drives the clients through ramp-up and churn ([`driver`]) and the slice of the population a
//! shard of a run holds ([`shard`]).

pub mod driver;
pub mod placement;
pub mod population;
pub mod shard;
pub mod workload;
