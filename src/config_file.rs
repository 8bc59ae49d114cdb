//! Loading TOML configuration files and reporting their mistakes the way a user can act on them.
//!
//! Owns: reading a file, turning `toml` errors into [`ConfigIssue`]s with file, line, column and key
//! path, locating a key path in the source for semantic (validation) errors, and two value shapes every
//! configuration uses: human durations (`"30s"`, `"5m"`) and limits that can be switched `"off"`, with
//! their serde forms and their JSON Schemas. It does not know any particular configuration; callers bring
//! their own serde types. Collecting every serde-level mistake of a file, not only the first, is
//! the work of the `collect` submodule.

mod collect;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

pub use collect::Collected;

/// One problem in a configuration file, with where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted key path (`limits.message-rate`), when known.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, ": `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in one or more configuration files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigIssues(pub Vec<ConfigIssue>);

impl fmt::Display for ConfigIssues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = if self.0.len() == 1 { "problem" } else { "problems" };
        write!(f, "{} {noun} in configuration:", self.0.len())?;
        for issue in &self.0 {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}

/// A validation problem before it is placed in a file: the key path and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIssue {
    /// Dotted key path, e.g. `feed.symbols[3]`.
    pub key: String,
    /// What is wrong, the bad value and the fix.
    pub message: String,
}

impl KeyIssue {
    /// A problem with the value at `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        KeyIssue { key: key.into(), message: message.into() }
    }
}

/// A parsed TOML source kept beside its path so later validation errors can be placed on a line.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Where it was read from (or a label such as `<inline>`).
    pub path: PathBuf,
    /// The text.
    pub text: String,
}

impl SourceFile {
    /// Reads a file; an unreadable file, or one that is not UTF-8 text, is a single issue naming it (and
    /// the line and column of the first byte that is not UTF-8).
    pub fn read(path: &Path) -> Result<SourceFile, ConfigIssues> {
        let issue = |line, column, message| {
            ConfigIssues(vec![ConfigIssue { file: path.to_owned(), line, column, key: None, message }])
        };
        let bytes = std::fs::read(path).map_err(|e| issue(None, None, format!("cannot read the file: {e}")))?;
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile { path: path.to_owned(), text }),
            Err(e) => {
                let (line, column, message) = not_utf8(e.as_bytes(), e.utf8_error().valid_up_to());
                Err(issue(Some(line), Some(column), message))
            }
        }
    }

    /// Deserializes the whole file into `T`; a syntax or type error becomes an issue with its line.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigIssues> {
        toml::from_str(&self.text).map_err(|e| ConfigIssues(vec![self.syntax_issue(&e)]))
    }

    /// A TOML syntax error as an issue on its line; a duplicate key or table is named, with the line where
    /// it was first given.
    pub(crate) fn syntax_issue(&self, error: &toml::de::Error) -> ConfigIssue {
        let (line, column) =
            error.span().map(|span| self.line_column(span.start)).map_or((None, None), |(l, c)| (Some(l), Some(c)));
        let message = error.message().trim();
        let duplicate = (message == "duplicate key").then(|| error.span()).flatten().and_then(|s| self.duplicate(s));
        let (key, message) = match duplicate {
            Some((key, message)) => (Some(key), message),
            None => (None, message.to_owned()),
        };
        ConfigIssue { file: self.path.clone(), line, column, key, message }
    }

    /// The key a duplicate-key error points at, and a message naming where it was first given.
    fn duplicate(&self, span: Range<usize>) -> Option<(String, String)> {
        let key = self.text.get(span.clone())?.trim().trim_matches('"').to_owned();
        if key.is_empty() {
            return None;
        }
        let (line, _) = self.line_column(span.start);
        let header = self.text[..span.start].rsplit('\n').next().is_some_and(|l| l.trim_start().starts_with('['));
        let before: Vec<&str> = self.text.lines().take(line - 1).collect();
        // A table is defined once in the file; a key, once in the section of its table.
        let earlier = if header {
            before.iter().position(|l| defines(l, &key, true))
        } else {
            let section = before.iter().rposition(|l| l.trim_start().starts_with('[')).map_or(0, |h| h + 1);
            before[section..].iter().position(|l| defines(l, &key, false)).map(|i| i + section)
        }
        .map(|i| i + 1);
        let what = if header { "table" } else { "key" };
        let first = earlier.map_or(String::new(), |l| format!(" (first on line {l})"));
        let message = format!("duplicate {what} `{key}`: it is already defined{first}; keep one of them");
        Some((key, message))
    }

    /// Places validation problems on the lines of their keys (the nearest enclosing key that exists).
    pub fn place(&self, issues: Vec<KeyIssue>) -> ConfigIssues {
        let table = toml::de::DeTable::parse(&self.text).ok();
        let issues = issues
            .into_iter()
            .map(|issue| {
                let span = table.as_ref().and_then(|t| locate(t.get_ref(), &split_key_path(&issue.key)));
                let (line, column) =
                    span.map(|s| self.line_column(s.start)).map_or((None, None), |(l, c)| (Some(l), Some(c)));
                ConfigIssue { file: self.path.clone(), line, column, key: Some(issue.key), message: issue.message }
            })
            .collect();
        ConfigIssues(issues)
    }

    /// 1-based line and column of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }
}

/// Whether a line defines `key`: as a table header (`[key]`, `[a.key]`) or as a key (`key = `, `key.x = `).
fn defines(line: &str, key: &str, header: bool) -> bool {
    let line = line.trim();
    if header {
        let name = line.trim_start_matches('[').split(']').next().unwrap_or("").trim();
        return line.starts_with('[') && (name == key || name.ends_with(&format!(".{key}")));
    }
    let name = line.split(['=', '.']).next().unwrap_or("").trim().trim_matches('"');
    !line.starts_with('[') && !line.starts_with('#') && name == key
}

/// Where the first byte that is not UTF-8 is (1-based line and column), and what to do.
fn not_utf8(bytes: &[u8], valid_up_to: usize) -> (usize, usize, String) {
    let before = String::from_utf8_lossy(&bytes[..valid_up_to]);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let byte = bytes.get(valid_up_to).copied().unwrap_or(0);
    let what = if bytes.iter().take(8192).any(|b| *b == 0) {
        "it looks like a binary file, not TOML text"
    } else {
        "text in another encoding"
    };
    let message = format!(
        "the file is not UTF-8 text: byte 0x{byte:02X} here is not valid UTF-8 ({what}); a configuration file \
         is TOML, saved as UTF-8"
    );
    (line, column, message)
}

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyStep {
    Key(String),
    Index(usize),
}

/// Splits `faults[2].at` into `faults`, `[2]`, `at`.
fn split_key_path(path: &str) -> Vec<KeyStep> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            steps.push(KeyStep::Key(name.to_owned()));
        }
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                steps.push(KeyStep::Index(i));
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    steps
}

/// The span of the deepest existing value along `steps` (the value for keys, the item for indices).
fn locate(table: &toml::de::DeTable<'_>, steps: &[KeyStep]) -> Option<Range<usize>> {
    let (KeyStep::Key(first), rest) = steps.split_first()? else {
        return None;
    };
    let (key, value) = table.get_key_value(first.as_str())?;
    let deeper = locate_value(value.get_ref(), rest);
    Some(deeper.unwrap_or_else(|| key.span()))
}

fn locate_value(value: &toml::de::DeValue<'_>, steps: &[KeyStep]) -> Option<Range<usize>> {
    let (step, rest) = steps.split_first()?;
    match (value, step) {
        (toml::de::DeValue::Table(t), KeyStep::Key(_)) => locate(t, steps),
        (toml::de::DeValue::Array(items), KeyStep::Index(i)) => {
            let item = items.get(*i)?;
            Some(locate_value(item.get_ref(), rest).unwrap_or_else(|| item.span()))
        }
        _ => None,
    }
}

/// A duration written the human way in configuration (`"30s"`, `"5m"`, `"1h 30m"`, `"200ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"5m\" or \"200ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(v).map(HumanDuration).map_err(|e| {
                    E::custom(format!(
                        "invalid duration {v:?} ({e}); write a number with a unit, such as \"30s\", \"5m\" or \"200ms\""
                    ))
                })
            }
        }
        deserializer.deserialize_str(DurationVisitor)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// The units `humantime` reads, in the duration pattern of the JSON Schema.
pub(crate) const DURATION_UNITS: [&str; 40] = [
    "nanos", "nsec", "ns", "usec", "us", "µs", "millis", "msec", "ms", "seconds", "second", "secs", "sec", "s",
    "minutes", "minute", "mins", "min", "m", "hours", "hour", "hrs", "hr", "h", "days", "day", "d", "weeks", "week",
    "wks", "wk", "w", "months", "month", "M", "years", "year", "yrs", "yr", "y",
];

/// Builds a schema from a JSON object literal (anything else is the schema that accepts everything).
fn schema_object(value: serde_json::Value) -> schemars::Schema {
    match value {
        serde_json::Value::Object(map) => schemars::Schema::from(map),
        _ => schemars::Schema::default(),
    }
}

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let units = DURATION_UNITS.join("|");
        schema_object(serde_json::json!({
            "type": "string",
            "description": "A duration: a number and a unit, or several (\"30s\", \"5m\", \"1h 30m\", \"1.5s\", \"200ms\").",
            "pattern": format!(r"^\s*(0|([0-9]+(\.[0-9]+)?\s*({units})\s*)+)$"),
            "examples": ["30s", "5m", "200ms"],
        }))
    }
}

/// A limit that is either a value or switched `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Switch<T> {
    /// The limit is not enforced.
    Off,
    /// The limit is enforced with this value.
    On(T),
}

impl<T> Switch<T> {
    /// The value when on.
    pub fn value(self) -> Option<T> {
        match self {
            Switch::Off => None,
            Switch::On(v) => Some(v),
        }
    }
}

impl<T: Serialize> Serialize for Switch<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Switch::Off => serializer.serialize_str("off"),
            Switch::On(v) => v.serialize(serializer),
        }
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Switch<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Switch_{}", T::schema_name()).into()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        format!("{}::Switch<{}>", module_path!(), T::schema_id()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let value = generator.subschema_for::<T>();
        schema_object(serde_json::json!({
            "anyOf": [value, { "const": "off", "description": "Switched off: the limit is not enforced." }],
        }))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Switch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SwitchVisitor(std::marker::PhantomData))
    }
}

struct SwitchVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SwitchVisitor<T> {
    type Value = Switch<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value, or \"off\" to switch the limit off")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Switch<T>, E> {
        if v == "off" {
            return Ok(Switch::Off);
        }
        T::deserialize(v.into_deserializer()).map(Switch::On)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Switch<T>, E> {
        T::deserialize(v.into_deserializer()).map(Switch::On)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Switch<T>, E> {
        T::deserialize(v.into_deserializer()).map(Switch::On)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Switch<T>, E> {
        T::deserialize(v.into_deserializer()).map(Switch::On)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Switch<T>, E> {
        T::deserialize(v.into_deserializer()).map(Switch::On)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Switch<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Switch::On)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Switch<T>, A::Error> {
        T::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Switch::On)
    }
}

#[cfg(test)]
mod tests {
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
