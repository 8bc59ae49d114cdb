//! `wschaos validate FILE…`: check scenario files (or mock configurations) without running anything and
//! report every problem of every file at once, a scenario's cost against this machine's limits included.
//! Problems go to stderr as `file:line:column: key: message`; `ok: FILE: <cost>` (a scenario) or `ok: FILE`
//! (a mock configuration) goes to stdout for each valid file. Any invalid file makes the command a usage error (exit 2).

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::ValidateArgs;
use crate::commands::process::{Outcome, UsageError};
use crate::config_file::ConfigIssues;

/// Validates every file named (a directory stands for the `*.toml` files directly in it).
pub fn run(args: &ValidateArgs) -> Result<Outcome> {
    let files = expand(&args.files)?;
    let mut invalid = 0;
    for file in &files {
        match check(file, args.mock) {
            Ok(_) if args.quiet => {}
            Ok(None) => println!("ok: {}", file.display()),
            Ok(Some(cost)) => println!("ok: {}: {cost}", file.display()),
            Err(issues) => {
                invalid += 1;
                for issue in &issues.0 {
                    eprintln!("{issue}");
                }
            }
        }
    }
    if invalid == 0 {
        return Ok(Outcome::Success);
    }
    let verdict = if files.len() == 1 {
        "the file is invalid".to_owned()
    } else {
        format!("{invalid} of {} files are invalid", files.len())
    };
    Err(UsageError(verdict).into())
}

/// Every problem of one file, or `Ok` when it is valid (a scenario also when what it costs fits this
/// machine), with a scenario's cost.
fn check(path: &Path, mock: bool) -> Result<Option<String>, ConfigIssues> {
    if mock {
        return crate::commands::mock::load_file(path).map(|_| None);
    }
    let scenario = crate::scenario::load_for(path, &crate::commands::process::machine_limits())?;
    let cost = crate::scenario::cost::cost(&scenario);
    Ok(Some(format!("{cost}, about {} of memory", crate::scenario::cost::mebibytes(cost.memory_bytes))))
}

/// The files to check: each argument, with a directory replaced by its `*.toml` files in name order.
fn expand(arguments: &[PathBuf]) -> Result<Vec<PathBuf>, UsageError> {
    let mut files = Vec::new();
    for argument in arguments {
        if !argument.is_dir() {
            files.push(argument.clone());
            continue;
        }
        let entries = std::fs::read_dir(argument)
            .map_err(|e| UsageError(format!("could not list '{}': {e}", argument.display())))?;
        let mut tomls: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        if tomls.is_empty() {
            return Err(UsageError(format!("'{}' holds no .toml files", argument.display())));
        }
        tomls.sort();
        files.extend(tomls);
    }
    Ok(files)
}
