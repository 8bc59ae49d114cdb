//! wschaos: a load-testing and chaos harness for Binance WebSocket connection managers.
//!
//! The library holds everything; the binary only parses the command line, builds the runtime, calls
//! [`run`] and maps the [`Outcome`] to an exit code ([`exit`]).

pub mod adapter;
mod assemble;
pub mod chaos;
pub mod cli;
pub mod commands;
pub mod config_file;
pub mod criteria;
pub mod deadline;
pub mod exit;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod load;
pub mod manager;
pub mod mock;
pub mod os;
mod record;
pub mod report;
pub mod rollout;
pub mod run_dir;
pub mod scenario;
pub mod summary;
pub mod vocab;

pub use cli::Cli;
pub use commands::{Outcome, run};
