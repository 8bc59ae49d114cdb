//! The command line, declared with clap derive. Parsing only: what each command does lives in
//! [`crate::commands`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// wschaos: load-testing and chaos harness for Binance WebSocket connection managers.
#[derive(Debug, Parser)]
#[command(
    name = "wschaos",
    version,
    about,
    after_help = "Exit codes: 0 success; 1 a success criterion failed; 2 usage or configuration error; \
                  3 harness error (run not trustworthy); 130 interrupted."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the mock Binance spot market streams until Ctrl-C.
    Mock(MockArgs),
}

/// `wschaos mock`
#[derive(Debug, clap::Args)]
pub struct MockArgs {
    /// Address to listen on (loopback; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9443", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Seed of the simulated market (same seed, same prices and ids for the same traffic).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
    /// Mock configuration file (TOML: [server], [heartbeat], [limits], [feed]).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Worker threads (default: one per core). `--threads 1` serves from a single core.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Print the mock's counters as JSON on stdout when it stops.
    #[arg(long)]
    pub stats_on_exit: bool,
    /// Allow listening on a non-loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Serve the fault control API (list/add/remove/reset faults, /metrics, /stats) on this address.
    #[arg(long, value_name = "ADDR")]
    pub control: Option<SocketAddr>,
    /// Require `Authorization: Bearer TOKEN` on the control API (needed to expose it beyond loopback).
    #[arg(long, env = "WSCHAOS_CONTROL_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,
}

impl Cli {
    /// Worker threads the runtime should have, when the command asks for a number.
    pub fn threads(&self) -> Option<usize> {
        match &self.command {
            Command::Mock(args) => args.threads,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
