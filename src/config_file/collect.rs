//! Deserializing a configuration file while collecting every serde-level mistake (unknown keys, wrong
//! types, unparseable values), not only the first one serde stops at.
//!
//! When the whole document does not deserialize, each failing part is narrowed down to the smallest key
//! that fails on its own (a copy of the document holding only that key is tried), reported with its key
//! path and line, and left out, so that the rest of the file still deserializes and can be validated.
//! A TOML syntax error stays a single issue: nothing after it can be trusted. This module knows no
//! particular configuration; it works for any all-optional raw serde mirror.

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::source::{ConfigIssue, ConfigIssues, KeyIssue, KeyStep, SourceFile};

/// What a collecting parse produced.
#[derive(Debug)]
pub struct Collected<T> {
    /// The value deserialized from everything that was not left out (`None` when even that fails).
    pub value: Option<T>,
    /// Every serde-level problem, in file order.
    pub issues: Vec<ConfigIssue>,
    /// Key paths (`workload`, `faults[1]`) left out of `value` because of those problems.
    pub left_out: Vec<String>,
}

impl<T> Collected<T> {
    /// Whether `key` is, or lies under, a key path that was left out: a validation problem there is an
    /// echo of a problem already reported (a default stood in for the bad value).
    pub fn covers(&self, key: &str) -> bool {
        self.left_out.iter().any(|prefix| is_under(key, prefix))
    }
}

/// Whether the key path `key` equals `prefix` or names something inside it.
fn is_under(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// One key that fails on its own, and how.
struct Failure {
    steps: Vec<KeyStep>,
    error: toml::de::Error,
}

impl SourceFile {
    /// Deserializes the file into `T`, collecting every serde-level problem; `Err` only for a syntax
    /// error (one issue).
    pub fn parse_collecting<T: DeserializeOwned>(&self) -> Result<Collected<T>, ConfigIssues> {
        let root = match DeTable::parse(&self.text) {
            Ok(table) => Spanned::new(table.span(), DeValue::Table(table.into_inner())),
            Err(e) => return Err(ConfigIssues(vec![self.syntax_issue(&e)])),
        };
        let error = match attempt::<T>(root.clone()) {
            Ok(value) => return Ok(Collected { value: Some(value), issues: Vec::new(), left_out: Vec::new() }),
            Err(e) => e,
        };
        let failures = failures_in::<T>(&root, error);
        let (value, left_out) = without_failures::<T>(root, &failures);
        let mut issues: Vec<ConfigIssue> =
            failures.iter().map(|f| self.issue(Some(key_path(&f.steps)), &f.error)).collect();
        issues.sort_by_key(|i| (i.line.is_none(), i.line, i.column));
        Ok(Collected { value, issues, left_out })
    }

    /// Deserializes the file into `R` and validates it with `validate`, which is given the raw value and
    /// the key paths left out of it; every problem of both stages is reported at once, in file order.
    pub fn load_with<R, V>(
        &self,
        validate: impl FnOnce(&R, &[String]) -> Result<V, Vec<KeyIssue>>,
    ) -> Result<V, ConfigIssues>
    where
        R: DeserializeOwned,
    {
        let collected = self.parse_collecting::<R>()?;
        let validated = collected.value.as_ref().map(|raw| validate(raw, &collected.left_out));
        let semantic = match validated {
            Some(Ok(value)) if collected.issues.is_empty() => return Ok(value),
            Some(Ok(_)) | None => Vec::new(),
            Some(Err(issues)) => issues.into_iter().filter(|i| !collected.covers(&i.key)).collect(),
        };
        let mut all = collected.issues;
        all.extend(self.place(semantic).0);
        all.sort_by_key(|i| (i.line.is_none(), i.line, i.column));
        if self.is_empty() {
            let message = "the file is empty (nothing but blank lines and comments); it needs at least the keys \
                           below (`wschaos schema` lists every key)";
            all.insert(
                0,
                ConfigIssue { file: self.path.clone(), line: None, column: None, key: None, message: message.into() },
            );
        }
        Err(ConfigIssues(all))
    }

    /// Whether the file holds no key at all.
    fn is_empty(&self) -> bool {
        DeTable::parse(&self.text).is_ok_and(|table| table.get_ref().is_empty())
    }

    /// A deserialization error as an issue, on the line of its span.
    fn issue(&self, key: Option<String>, error: &toml::de::Error) -> ConfigIssue {
        let (line, column) =
            error.span().map(|span| self.line_column(span.start)).map_or((None, None), |(l, c)| (Some(l), Some(c)));
        let key = key.filter(|k| !k.is_empty());
        ConfigIssue { file: self.path.clone(), line, column, key, message: plain_expectation(error.message().trim()) }
    }
}

/// serde names Rust types in what it expected (`expected u32`); a user reads a kind of value instead.
fn plain_expectation(message: &str) -> String {
    const PLAIN: [(&str, &str); 12] = [
        ("u8", "a whole number, 0 or more"),
        ("u16", "a whole number, 0 or more"),
        ("u32", "a whole number, 0 or more"),
        ("u64", "a whole number, 0 or more"),
        ("usize", "a whole number, 0 or more"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
        ("a boolean", "true or false"),
        ("a sequence", "an array"),
        ("a map", "a table"),
    ];
    if let Some((head, name)) = message.rsplit_once("expected struct ") {
        if !name.contains(' ') {
            return format!("{head}expected a table");
        }
    }
    for (rust, plain) in PLAIN {
        if let Some(head) = message.strip_suffix(rust).and_then(|m| m.strip_suffix("expected ")) {
            return format!("{head}expected {plain}");
        }
    }
    message.to_owned()
}

fn attempt<T: DeserializeOwned>(document: Spanned<DeValue<'_>>) -> Result<T, toml::de::Error> {
    T::deserialize(toml::de::ValueDeserializer::from(document))
}

/// The smallest keys of `document` that fail on their own (`document` fails with `error`).
fn failures_in<T: DeserializeOwned>(document: &Spanned<DeValue<'_>>, error: toml::de::Error) -> Vec<Failure> {
    let mut failures = Vec::new();
    narrow::<T>(document, &mut Vec::new(), document, error, &mut failures);
    failures
}

/// Finds the keys under `node` (at `steps`, failing with `error`) that fail on their own. A child whose
/// isolated document fails at the node itself (a missing field of the node) does not count: then the
/// node is the smallest failing key.
fn narrow<T: DeserializeOwned>(
    root: &Spanned<DeValue<'_>>,
    steps: &mut Vec<KeyStep>,
    node: &Spanned<DeValue<'_>>,
    error: toml::de::Error,
    failures: &mut Vec<Failure>,
) {
    // An unknown key is the mistake itself, whatever it holds: its items are not narrowed into.
    if is_unknown(steps, &error) {
        failures.push(Failure { steps: steps.clone(), error });
        return;
    }
    let mut narrowed = false;
    for (step, child) in children(node.get_ref()) {
        steps.push(step);
        if let Some(Err(child_error)) = isolate(root, steps).map(attempt::<T>) {
            if child_error.span() != Some(node.span()) {
                narrowed = true;
                narrow::<T>(root, steps, child, child_error, failures);
            }
        }
        steps.pop();
    }
    if !narrowed {
        failures.push(Failure { steps: steps.clone(), error });
    }
}

/// Whether `error` says the key at the end of `steps` is unknown.
fn is_unknown(steps: &[KeyStep], error: &toml::de::Error) -> bool {
    matches!(steps.last(), Some(KeyStep::Key(name)) if error.message().contains(&format!("unknown field `{name}`")))
}

/// The direct children of a table or an array.
fn children<'a, 'i>(node: &'a DeValue<'i>) -> Vec<(KeyStep, &'a Spanned<DeValue<'i>>)> {
    match node {
        DeValue::Table(table) => table.iter().map(|(k, v)| (KeyStep::Key(k.get_ref().to_string()), v)).collect(),
        DeValue::Array(items) => items.iter().enumerate().map(|(i, v)| (KeyStep::Index(i), v)).collect(),
        _ => Vec::new(),
    }
}

/// A copy of `node` holding only the value at `steps` and the tables and arrays that lead to it.
fn isolate<'i>(node: &Spanned<DeValue<'i>>, steps: &[KeyStep]) -> Option<Spanned<DeValue<'i>>> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(node.clone());
    };
    let only = match (node.get_ref(), step) {
        (DeValue::Table(table), KeyStep::Key(name)) => {
            let (key, child) = table.get_key_value(name.as_str())?;
            let mut only = DeTable::new();
            only.insert(key.clone(), isolate(child, rest)?);
            DeValue::Table(only)
        }
        (DeValue::Array(items), KeyStep::Index(i)) => {
            let mut only = DeArray::new();
            only.push(isolate(items.get(*i)?, rest)?);
            DeValue::Array(only)
        }
        _ => return None,
    };
    Some(Spanned::new(node.span(), only))
}

/// Rounds of leaving out keys before giving up on deserializing the rest (each round leaves out at least
/// one key, so a document rarely needs more than two: a misspelt key, then the key it left missing).
const MAX_ROUNDS: usize = 16;

/// The document without the failing keys, deserialized, and the key paths left out. A failing array
/// item that is a table is emptied (the other items keep their indices); any other failing item takes its
/// array with it. Leaving a key out can make its table fail (a required key was misspelt): such tables
/// are left out in further rounds, without being reported again.
fn without_failures<T: DeserializeOwned>(
    mut document: Spanned<DeValue<'_>>,
    failures: &[Failure],
) -> (Option<T>, Vec<String>) {
    let mut round: Vec<Vec<KeyStep>> = failures.iter().map(|f| f.steps.clone()).collect();
    let mut left_out = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let removed: Vec<Vec<KeyStep>> = round.iter().filter_map(|steps| remove(&mut document, steps)).collect();
        if removed.is_empty() {
            break;
        }
        left_out.extend(removed);
        match attempt::<T>(document.clone()) {
            Ok(value) => return (Some(value), dedup_paths(left_out)),
            Err(error) => round = failures_in::<T>(&document, error).into_iter().map(|f| f.steps).collect(),
        }
    }
    (None, dedup_paths(left_out))
}

fn dedup_paths(paths: Vec<Vec<KeyStep>>) -> Vec<String> {
    let mut out: Vec<String> = paths.iter().map(|p| key_path(p)).collect();
    out.sort();
    out.dedup();
    out
}

/// Removes the value at `steps` from `root` as [`without_failures`] describes; the path actually removed
/// (`None` for the root itself, which cannot be removed).
fn remove(root: &mut Spanned<DeValue<'_>>, steps: &[KeyStep]) -> Option<Vec<KeyStep>> {
    let (last, parent_steps) = steps.split_last()?;
    let parent = walk_mut(root, parent_steps)?;
    let removed = match (parent.get_mut(), last) {
        (DeValue::Table(table), KeyStep::Key(name)) => table.remove(name.as_str()).is_some(),
        (DeValue::Array(items), KeyStep::Index(i)) => match items.get_mut(*i) {
            Some(item) if matches!(item.get_ref(), DeValue::Table(_)) => {
                *item.get_mut() = DeValue::Table(DeTable::new());
                true
            }
            _ => false,
        },
        _ => return None,
    };
    if removed { Some(steps.to_vec()) } else { remove(root, parent_steps) }
}

fn walk_mut<'a, 'i>(node: &'a mut Spanned<DeValue<'i>>, steps: &[KeyStep]) -> Option<&'a mut Spanned<DeValue<'i>>> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(node);
    };
    let child = match (node.get_mut(), step) {
        (DeValue::Table(table), KeyStep::Key(name)) => table.get_mut(name.as_str())?,
        (DeValue::Array(items), KeyStep::Index(i)) => items.get_mut(*i)?,
        _ => return None,
    };
    walk_mut(child, rest)
}

/// `faults[2].at` from its steps.
fn key_path(steps: &[KeyStep]) -> String {
    let mut path = String::new();
    for step in steps {
        match step {
            KeyStep::Key(name) if path.is_empty() => path.push_str(name),
            KeyStep::Key(name) => {
                path.push('.');
                path.push_str(name);
            }
            KeyStep::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde::Deserialize;

    use super::*;
    use crate::config_file::HumanDuration;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[allow(dead_code)]
    struct Doc {
        every: Option<HumanDuration>,
        section: Option<Section>,
        items: Option<Vec<Item>>,
        names: Option<Vec<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[allow(dead_code)]
    struct Section {
        count: Option<u32>,
        rate: Option<Rate>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rate {
        max: u32,
        window: HumanDuration,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        kind: Option<String>,
    }

    fn source(text: &str) -> SourceFile {
        SourceFile { path: PathBuf::from("doc.toml"), text: text.to_owned() }
    }

    fn keys<T>(collected: &Collected<T>) -> Vec<(Option<usize>, String)> {
        collected.issues.iter().map(|i| (i.line, i.key.clone().unwrap_or_default())).collect()
    }

    #[test]
    fn a_valid_file_has_no_issues() {
        let c = source("every = \"5s\"\n[section]\ncount = 3\n").parse_collecting::<Doc>().unwrap();
        assert!(c.issues.is_empty() && c.left_out.is_empty());
        assert_eq!(c.value.unwrap().section.unwrap().count, Some(3));
    }

    #[test]
    fn independent_mistakes_in_different_sections_are_all_reported_on_their_lines() {
        let text = "every = \"5 parsecs\"\nevry = 1\n[section]\ncount = \"x\"\ncuont = 2\n\
                    [[items]]\nkind = \"a\"\n[[items]]\nknid = \"b\"\n";
        let c = source(text).parse_collecting::<Doc>().unwrap();
        assert_eq!(
            keys(&c),
            [
                (Some(1), "every".to_owned()),
                (Some(2), "evry".to_owned()),
                (Some(4), "section.count".to_owned()),
                (Some(5), "section.cuont".to_owned()),
                (Some(9), "items[1].knid".to_owned()),
            ]
        );
        assert!(c.issues[1].message.contains("unknown field `evry`, expected one of `every`, `section`"), "{c:?}");
        assert_eq!(c.issues[2].message, "invalid type: string \"x\", expected a whole number, 0 or more");
        let value = c.value.expect("the rest still deserializes");
        let items = value.items.unwrap();
        assert_eq!(items[0].kind.as_deref(), Some("a"), "the other items keep their place");
        assert_eq!(items[1].kind, None);
        assert_eq!(c.left_out, ["every", "evry", "items[1].knid", "section.count", "section.cuont"]);
    }

    #[test]
    fn a_missing_field_is_reported_on_its_table_not_on_a_sibling() {
        let c = source("[section.rate]\nmax = 1\n").parse_collecting::<Doc>().unwrap();
        assert_eq!(keys(&c), [(Some(1), "section.rate".to_owned())], "on the table's header");
        assert!(c.issues[0].message.contains("missing field `window`"), "{c:?}");
        let c = source("[section]\nrate = { max = 1, windw = \"1s\" }\ncount = 2\n").parse_collecting::<Doc>().unwrap();
        assert_eq!(keys(&c), [(Some(2), "section.rate.windw".to_owned())], "the missing `window` is its echo");
        assert_eq!(c.left_out, ["section.rate", "section.rate.windw"], "the table it left incomplete goes too");
        assert_eq!(c.value.unwrap().section.unwrap().count, Some(2), "its siblings stay");
    }

    #[test]
    fn a_bad_scalar_item_takes_its_array_out() {
        let c = source("names = [\"a\", 5]\nevery = \"1s\"\nsection = 3\n").parse_collecting::<Doc>().unwrap();
        assert_eq!(c.issues[1].message, "invalid type: integer `3`, expected a table");
        assert_eq!(c.issues[0].message, "invalid type: integer `5`, expected a string");
        assert_eq!(keys(&c), [(Some(1), "names[1]".to_owned()), (Some(3), "section".to_owned())]);
        assert_eq!(c.left_out, ["names", "section"]);
        assert!(c.covers("names[0]") && c.covers("names") && !c.covers("namesake"));
        assert!(c.value.unwrap().every.is_some());
    }

    #[test]
    fn a_syntax_error_is_one_issue() {
        let err = source("every = \"1s\"\n[section\ncount = 1\n").parse_collecting::<Doc>().unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].line, Some(2));
    }

    #[test]
    fn an_unknown_key_holding_an_array_is_one_issue() {
        let c = source("names = [\"a\"]\nnmaes = [\"a\", \"b\", \"c\"]\n").parse_collecting::<Doc>().unwrap();
        assert_eq!(keys(&c), [(Some(2), "nmaes".to_owned())], "{c:?}");
        let c = source("[section]\ncuonts = [{ a = 1 }, { b = 2 }]\n").parse_collecting::<Doc>().unwrap();
        assert_eq!(keys(&c), [(Some(2), "section.cuonts".to_owned())], "{c:?}");
    }

    #[test]
    fn a_duplicate_key_or_table_is_named_with_its_first_line() {
        let err = source("every = \"1s\"\n\nevery = \"2s\"\n").parse_collecting::<Doc>().unwrap_err();
        assert_eq!(err.0[0].key.as_deref(), Some("every"));
        assert_eq!(err.0[0].line, Some(3));
        assert!(err.0[0].message.contains("duplicate key `every`") && err.0[0].message.contains("line 1"), "{err}");
        let err = source("[section]\ncount = 1\n[other]\ncount = 1\n[section]\ncount = 2\n").parse_collecting::<Doc>();
        let err = err.unwrap_err();
        assert_eq!(err.0[0].key.as_deref(), Some("section"), "{err}");
        assert!(err.0[0].message.contains("duplicate table `section`") && err.0[0].message.contains("line 1"), "{err}");
        let err = source("[a]\ncount = 1\n[b]\ncount = 1\ncount = 2\n").parse_collecting::<Doc>().unwrap_err();
        assert!(err.0[0].message.contains("first on line 4"), "the key's own table: {err}");
    }

    #[test]
    fn an_empty_file_says_so_before_the_missing_keys() {
        let err = source("# nothing yet\n\n")
            .load_with(|_: &Doc, _| Err::<(), _>(vec![KeyIssue::new("every", "is required")]))
            .unwrap_err();
        assert_eq!(err.0.len(), 2);
        assert!(err.0[0].message.starts_with("the file is empty"), "{err}");
        assert_eq!(err.0[1].key.as_deref(), Some("every"));
        assert!(source("").load_with(|_: &Doc, _| Ok::<_, Vec<KeyIssue>>(())).is_ok(), "empty and valid is fine");
    }

    #[test]
    fn a_file_that_is_not_utf8_is_named_with_the_line_of_its_first_bad_byte() {
        let dir = std::env::temp_dir().join(format!("wschaos-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let latin1 = dir.join("latin1.toml");
        std::fs::write(&latin1, b"name = \"ok\"\ndescription = \"caf\xe9\"\n").unwrap();
        let err = SourceFile::read(&latin1).unwrap_err();
        assert_eq!((err.0[0].line, err.0[0].column), (Some(2), Some(19)), "{err}");
        assert!(err.0[0].message.contains("0xE9") && err.0[0].message.contains("UTF-8"), "{err}");
        let binary = dir.join("binary.toml");
        std::fs::write(&binary, b"\x7fELF\x02\x01\x00\x00\xff\xfe").unwrap();
        let err = SourceFile::read(&binary).unwrap_err();
        assert!(err.0[0].message.contains("binary file"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn validation_problems_join_in_file_order_without_echoes_of_left_out_keys() {
        let text = "every = \"1s\"\n[section]\ncount = \"x\"\n\n[[items]]\nkind = \"\"\n";
        let err = source(text)
            .load_with(|doc: &Doc, left_out| {
                assert_eq!(left_out, ["section.count"]);
                assert!(doc.section.as_ref().is_some_and(|s| s.count.is_none()));
                Err::<(), _>(vec![
                    KeyIssue::new("items[0].kind", "must not be empty"),
                    KeyIssue::new("section.count", "is required"),
                ])
            })
            .unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|i| i.to_string()).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("doc.toml:3:9: `section.count`: invalid type"), "{lines:?}");
        assert_eq!(lines[1], "doc.toml:6:1: `items[0].kind`: must not be empty");
    }
}
