//! What each subcommand does, and the process-level plumbing the binary needs (runtime, logging, file
//! limits). [`run`] is the one entry point; errors bubble up as `anyhow` and `main` reports them once.

mod compare;
mod merge;
mod mock;
mod process;
mod run;
mod schema;
mod validate;

use anyhow::Result;

use crate::cli::{Cli, Command};

pub use process::{
    Outcome, StopSignals, UsageError, build_runtime, init_logging, machine_limits, raise_open_file_limit,
};

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<Outcome> {
    raise_open_file_limit();
    match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Mock(args) => mock::run(args).await,
        Command::Report(args) => {
            let run = crate::run_dir::RunDirectory::read(&args.dir).map_err(|e| UsageError(format!("{e:#}")))?;
            crate::report::files::write_rendered(&args.dir, &run)?;
            println!("{}", args.dir.join("report.md").display());
            Ok(Outcome::Success)
        }
        Command::Validate(args) => validate::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Merge(args) => {
            let (summary, outcome) = merge::merge(&args.dirs, &args.out, args.baseline.as_deref())?;
            run::print_result((args.json, args.quiet), outcome, &summary, &args.out)?;
            Ok(outcome)
        }
    }
}
