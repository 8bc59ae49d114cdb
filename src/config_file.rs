//! Loading TOML configuration files and reporting their mistakes the way a user can act on them.
//!
//! Owns: reading a file, turning `toml` errors into [`ConfigIssue`]s with file, line, column and key
//! path, locating a key path in the source for semantic (validation) errors, and two value shapes every
//! configuration uses: human durations (`"30s"`, `"5m"`) and limits that can be switched `"off"`, with
//! their serde forms and their JSON Schemas. It does not know any particular configuration; callers bring
//! their own serde types. Collecting every serde-level mistake of a file, not only the first, is
//! the work of the `collect` submodule.

mod collect;
mod defaults;
mod source;
mod values;

pub use collect::Collected;
pub use defaults::{duration_or, positive_count, switch_duration};
pub use source::{ConfigIssue, ConfigIssues, KeyIssue, SourceFile};
#[cfg(test)]
pub(crate) use values::DURATION_UNITS;
pub use values::{HumanDuration, Switch};

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[allow(dead_code)]
    struct Sample {
        #[serde(default)]
        limit: Option<Switch<u32>>,
        #[serde(default)]
        every: Option<Switch<HumanDuration>>,
        #[serde(default)]
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[allow(dead_code)]
    struct Nested {
        items: Vec<u32>,
    }

    fn source(text: &str) -> SourceFile {
        SourceFile { path: PathBuf::from("sample.toml"), text: text.to_owned() }
    }

    #[test]
    fn switch_reads_values_and_off() {
        let s: Sample = source("limit = 5\nevery = \"off\"\n").parse().unwrap();
        assert_eq!(s.limit, Some(Switch::On(5)));
        assert_eq!(s.every, Some(Switch::Off));
        let s: Sample = source("every = \"250ms\"\n").parse().unwrap();
        assert_eq!(s.every, Some(Switch::On(HumanDuration(Duration::from_millis(250)))));
    }

    #[test]
    fn parse_errors_carry_line_column_and_fix() {
        let err = source("limit = 5\nevery = \"30 parsecs\"\n").parse::<Sample>().unwrap_err();
        let issue = &err.0[0];
        assert_eq!(issue.line, Some(2));
        assert!(issue.message.contains("\"30s\""), "{}", issue.message);
        let err = source("\nlimt = 5\n").parse::<Sample>().unwrap_err();
        assert_eq!(err.0[0].line, Some(2));
        assert!(err.0[0].message.contains("unknown field `limt`"));
    }

    #[test]
    fn validation_issues_are_placed_on_their_keys() {
        let file = source("limit = 5\n\n[nested]\nitems = [1,\n  2]\n");
        let placed = file.place(vec![
            KeyIssue::new("nested.items[1]", "too big"),
            KeyIssue::new("limit", "bad"),
            KeyIssue::new("missing.key", "absent"),
        ]);
        assert_eq!(placed.0[0].line, Some(5));
        assert_eq!(placed.0[1].line, Some(1));
        assert_eq!(placed.0[2].line, None);
        assert_eq!(placed.0[0].to_string(), "sample.toml:5:3: `nested.items[1]`: too big");
    }
}
