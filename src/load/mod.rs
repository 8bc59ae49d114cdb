//! The load model: the scenario's workload section ([`workload`]), who subscribes to what ([`population`])
//! and the task that drives the clients through ramp-up and churn ([`driver`]).

pub mod driver;
pub mod placement;
pub mod population;
pub mod workload;
