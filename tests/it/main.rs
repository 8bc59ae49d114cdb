//! The one integration-test binary: real sockets on loopback, real WebSocket clients.

// Helpers outside `#[test]` functions fail the test by unwrapping, like the tests themselves.
#![allow(clippy::unwrap_used)]

mod adapters;
mod browser;
mod chaos;
mod cli;
mod compare;
mod conformance;
mod control;
mod deploy;
mod external;
mod figures;
mod fuzz_corpus;
mod gate;
mod harness;
mod hostile;
mod layering;
mod monitoring;
mod real_clients;
mod rehearsal;
mod reports;
mod robustness;
mod run_dir;
mod schema;
mod shards;
mod shipped;
mod support;
mod validate;
