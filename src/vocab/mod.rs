//! The crate's shared vocabulary: small pieces every domain uses, which depend on nothing else in the crate.

pub mod calendar;
pub mod seed;
pub mod serialize;
pub mod token;
