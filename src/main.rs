//! The `wschaos` binary: parse, build the runtime, run, map the outcome to an exit code.

use clap::Parser;

fn main() {
    let cli = wschaos::Cli::parse();
    wschaos::commands::init_logging();
    let runtime = match wschaos::commands::build_runtime(cli.threads()) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            std::process::exit(wschaos::exit::HARNESS);
        }
    };
    let code = match runtime.block_on(wschaos::run(cli)) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("error: {e:#}");
            e.downcast_ref::<wschaos::commands::UsageError>().map_or(wschaos::exit::HARNESS, |_| wschaos::exit::USAGE)
        }
    };
    drop(runtime);
    std::process::exit(code);
}
