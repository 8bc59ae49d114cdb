//! The load model: who subscribes to what ([`population`]) and the task that drives the clients through
//! ramp-up and churn ([`driver`]).

pub mod driver;
pub mod population;
