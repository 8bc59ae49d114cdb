//! A configuration file's text and the issues found in it: each placed on its file, line, column and key.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

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
pub(super) enum KeyStep {
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
