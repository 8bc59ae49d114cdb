//! The `wschaos` binary: parse, build the runtime, run, map the outcome to an exit code.

use clap::Parser;

/// jemalloc, with its background threads purging what was freed: glibc's allocator keeps what a burst (a
/// hostile client, a reconnect storm, a large `/stats`) freed resident for good.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    #[cfg(feature = "jemalloc")]
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        eprintln!("warning: jemalloc's background purging could not start ({e}); freed memory returns more slowly");
    }
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
