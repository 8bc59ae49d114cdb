//! The documented exit codes of the `wschaos` binary. Only `main` turns them into a process exit.

/// Every criterion passed, or a command completed normally.
pub const SUCCESS: i32 = 0;
/// A success criterion failed (the CI gate).
pub const CRITERIA_FAILED: i32 = 1;
/// Usage or scenario/configuration error: nothing was run.
pub const USAGE: i32 = 2;
/// Harness error: the run could not be measured trustworthily (saturated harness, the mock died, I/O).
pub const HARNESS: i32 = 3;
/// Interrupted by Ctrl-C; whatever was measured has been written.
pub const INTERRUPTED: i32 = 130;
