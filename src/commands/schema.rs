//! `wschaos schema`: print the JSON Schema of the scenario format (or of the mock configuration) to
//! stdout, for editors and CI.

use std::io::Write as _;

use anyhow::{Context, Result};

use crate::cli::SchemaArgs;
use crate::commands::process::Outcome;
use crate::scenario::schema;

/// Prints the schema.
pub fn run(args: &SchemaArgs) -> Result<Outcome> {
    let schema = if args.mock { schema::mock() } else { schema::scenario() };
    std::io::stdout().write_all(schema::to_text(&schema).as_bytes()).context("could not write the schema to stdout")?;
    Ok(Outcome::Success)
}
