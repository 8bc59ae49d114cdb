//! The direction of the library's dependencies: no cycle between its modules.
//!
//! Every file under `src/` is a module. A module depends on another when its code names it: a `use` path or
//! an inline path that starts with `crate::`, `super::`, `self::` or the name of one of its own child
//! modules, resolved to the longest module prefix. Comments (and so doc links), string literals and
//! `#[cfg(test)]` items are left out, and so are files that are only compiled for tests. The `mod`
//! declarations themselves are not dependencies. Any strongly connected set of two or more modules fails
//! the test, with its members and the edges that close it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path below the crate root (`["mock", "hub"]`), the root being empty.
type ModPath = Vec<String>;

#[test]
fn the_library_modules_form_no_cycle() {
    let graph = Graph::of_crate(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.modules.len() > 50, "the scan found only {} modules", graph.modules.len());
    let cycles = graph.cycles();
    assert!(cycles.is_empty(), "{} cycle(s) between modules:\n{}", cycles.len(), graph.describe(&cycles));
}

#[test]
fn a_cycle_through_a_parent_module_s_items_is_found() {
    let src = crate::support::scratch_dir("layering-cycle");
    std::fs::create_dir_all(src.join("feed")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod feed;\npub mod hub;\n").unwrap();
    std::fs::write(src.join("hub.rs"), "pub struct Hub;\nfn f() { crate::feed::run(); }\n").unwrap();
    std::fs::write(src.join("feed/mod.rs"), "mod rate;\npub use rate::Rate;\npub fn run() {}\n").unwrap();
    std::fs::write(src.join("feed/rate.rs"), "use crate::hub::Hub;\npub struct Rate;\n").unwrap();
    let cycles = Graph::of_crate(&src).cycles();
    let shown: Vec<Vec<String>> = cycles.iter().map(|c| c.iter().map(show).collect()).collect();
    assert_eq!(shown, [["feed", "feed::rate", "hub"]]);
}

#[test]
fn the_scanner_reads_use_trees_inline_paths_and_leaves_out_tests() {
    let source = r#"
        //! See [`crate::report::Doc`].
        use crate::{chaos::{fault::Fault, plan}, mock as m};
        use super::sibling::Thing;
        use child::Item;
        mod child;
        fn f() { let _ = crate::record::recorder::Recorder::new("crate::not a path"); }
        #[serde(with = "crate::vocab::serialize::millis")]
        #[cfg(test)]
        mod tests { use crate::criteria::Verdict; }
    "#;
    let here: ModPath = vec!["load".into(), "driver".into()];
    let children = BTreeSet::from(["child".to_string()]);
    let paths = referenced_paths(&strip(source), &here, &children);
    let shown: BTreeSet<String> = paths.iter().map(|path| path.join("::")).collect();
    let expected: BTreeSet<String> = [
        "chaos::fault::Fault",
        "chaos::plan",
        "mock",
        "load::sibling::Thing",
        "load::driver::child::Item",
        "record::recorder::Recorder::new",
        "vocab::serialize::millis",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(shown, expected);
}

/// The library's modules and which modules each one names.
struct Graph {
    modules: BTreeSet<ModPath>,
    edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
    files: BTreeMap<ModPath, PathBuf>,
}

impl Graph {
    fn of_crate(src: &Path) -> Graph {
        let files = module_files(src);
        let test_only = test_only_modules(&files);
        let files: BTreeMap<ModPath, PathBuf> =
            files.into_iter().filter(|(module, _)| !test_only.iter().any(|t| module.starts_with(t))).collect();
        let modules: BTreeSet<ModPath> = files.keys().cloned().collect();
        let mut edges = BTreeMap::new();
        for (module, file) in &files {
            let text = strip(&std::fs::read_to_string(file).unwrap());
            let children: BTreeSet<String> = modules
                .iter()
                .filter(|other| other.len() == module.len() + 1 && other.starts_with(module))
                .map(|child| child[module.len()].clone())
                .collect();
            let targets: BTreeSet<ModPath> = referenced_paths(&text, module, &children)
                .iter()
                .filter_map(|path| longest_module_prefix(path, &modules))
                .filter(|target| target != module)
                .collect();
            edges.insert(module.clone(), targets);
        }
        Graph { modules, edges, files }
    }

    /// The strongly connected sets of two or more modules (Tarjan's algorithm).
    fn cycles(&self) -> Vec<Vec<ModPath>> {
        let mut tarjan = Tarjan {
            graph: self,
            next: 0,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            components: Vec::new(),
        };
        for module in &self.modules {
            if !tarjan.index.contains_key(module) {
                tarjan.visit(module);
            }
        }
        tarjan.components.into_iter().filter(|component| component.len() > 1).collect()
    }

    fn describe(&self, cycles: &[Vec<ModPath>]) -> String {
        let mut out = String::new();
        for members in cycles {
            let set: BTreeSet<&ModPath> = members.iter().collect();
            out.push_str(&format!("- {} modules:\n", members.len()));
            for module in members {
                let inside: Vec<String> =
                    self.edges[module].iter().filter(|target| set.contains(target)).map(show).collect();
                let file = self.files[module].display();
                out.push_str(&format!("    {} ({file}) -> {}\n", show(module), inside.join(", ")));
            }
        }
        out
    }
}

/// Tarjan's strongly-connected-components walk over a [`Graph`].
struct Tarjan<'g> {
    graph: &'g Graph,
    next: usize,
    index: BTreeMap<ModPath, usize>,
    low: BTreeMap<ModPath, usize>,
    stack: Vec<ModPath>,
    on_stack: BTreeSet<ModPath>,
    components: Vec<Vec<ModPath>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, module: &ModPath) {
        self.index.insert(module.clone(), self.next);
        self.low.insert(module.clone(), self.next);
        self.next += 1;
        self.stack.push(module.clone());
        self.on_stack.insert(module.clone());
        let graph = self.graph;
        for target in &graph.edges[module] {
            if !self.index.contains_key(target) {
                self.visit(target);
                let low = self.low[module].min(self.low[target]);
                self.low.insert(module.clone(), low);
            } else if self.on_stack.contains(target) {
                let low = self.low[module].min(self.index[target]);
                self.low.insert(module.clone(), low);
            }
        }
        if self.low[module] == self.index[module] {
            let mut component = Vec::new();
            while let Some(member) = self.stack.pop() {
                self.on_stack.remove(&member);
                let done = &member == module;
                component.push(member);
                if done {
                    break;
                }
            }
            component.sort();
            self.components.push(component);
        }
    }
}

fn show(module: &ModPath) -> String {
    if module.is_empty() { "crate".to_string() } else { module.join("::") }
}

/// Every `.rs` file below `src/` but the binary's `main.rs`, by the module it defines.
fn module_files(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut found = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    let mut budget = 10_000;
    while let Some(dir) = pending.pop() {
        budget -= 1;
        assert!(budget > 0, "more than 10,000 directories below {}", src.display());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let relative = path.strip_prefix(src).unwrap().with_extension("");
                let mut module: ModPath = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
                match module.last().map(String::as_str) {
                    Some("main") if module.len() == 1 => continue,
                    Some("lib") if module.len() == 1 => module.clear(),
                    Some("mod") => {
                        module.pop();
                    }
                    _ => {}
                }
                found.insert(module, path);
            }
        }
    }
    found
}

/// Child modules declared `#[cfg(test)] mod name;`: compiled for tests only.
fn test_only_modules(files: &BTreeMap<ModPath, PathBuf>) -> Vec<ModPath> {
    let mut test_only = Vec::new();
    for (module, file) in files {
        let text = strip_comments_and_literals(&std::fs::read_to_string(file).unwrap());
        let tokens = tokens(&text);
        for at in 0..tokens.len() {
            if is_cfg_test(&tokens, at) {
                let mut next = at + 7;
                while tokens.get(next) == Some(&"#") {
                    next = skip_attribute(&tokens, next);
                }
                if tokens.get(next) == Some(&"mod") && tokens.get(next + 2) == Some(&";") {
                    let mut child = module.clone();
                    child.push(tokens[next + 1].to_string());
                    test_only.push(child);
                }
            }
        }
    }
    test_only
}

fn longest_module_prefix(path: &[String], modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    (0..=path.len()).rev().map(|len| path[..len].to_vec()).find(|prefix| modules.contains(prefix))
}

/// The source without comments, literals and `#[cfg(test)]` items, as one string of tokens.
fn strip(source: &str) -> String {
    let text = strip_comments_and_literals(source);
    let tokens = tokens(&text);
    let mut kept = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        if is_cfg_test(&tokens, at) {
            at = skip_item(&tokens, at + 7);
        } else {
            kept.push(tokens[at]);
            at += 1;
        }
    }
    kept.join(" ")
}

/// `# [ cfg ( test ) ]` starting at `at`.
fn is_cfg_test(tokens: &[&str], at: usize) -> bool {
    tokens.get(at..at + 7) == Some(&["#", "[", "cfg", "(", "test", ")", "]"][..])
}

fn skip_attribute(tokens: &[&str], at: usize) -> usize {
    let mut depth = 0usize;
    for (offset, token) in tokens[at..].iter().enumerate() {
        match *token {
            "[" => depth += 1,
            "]" => {
                depth -= 1;
                if depth == 0 {
                    return at + offset + 1;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// Past the item that starts at `at`: its `;`, or the brace that closes its first block.
fn skip_item(tokens: &[&str], mut at: usize) -> usize {
    while tokens.get(at) == Some(&"#") {
        at = skip_attribute(tokens, at);
    }
    let mut depth = 0usize;
    for (offset, token) in tokens[at..].iter().enumerate() {
        match *token {
            ";" if depth == 0 => return at + offset + 1,
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return at + offset + 1;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// Identifiers, `::` and single punctuation characters.
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if byte.is_ascii_whitespace() {
            at += 1;
        } else if byte.is_ascii_alphanumeric() || byte == b'_' {
            let start = at;
            while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
                at += 1;
            }
            out.push(&text[start..at]);
        } else if text[at..].starts_with("::") {
            out.push("::");
            at += 2;
        } else {
            let width = text[at..].chars().next().map_or(1, char::len_utf8);
            out.push(&text[at..at + width]);
            at += width;
        }
    }
    out
}

/// The source with comments removed and every string and character literal emptied.
fn strip_comments_and_literals(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut at = 0;
    while at < chars.len() {
        let rest = &chars[at..];
        if rest.starts_with(&['/', '/']) {
            while at < chars.len() && chars[at] != '\n' {
                at += 1;
            }
        } else if rest.starts_with(&['/', '*']) {
            at = past_block_comment(&chars, at);
            out.push(' ');
        } else if let Some(end) = past_raw_string(&chars, at) {
            at = end;
            out.push_str("\"\"");
        } else if chars[at] == '"' {
            let end = past_quoted(&chars, at, '"');
            let content: String = chars[at + 1..end.saturating_sub(1).max(at + 1)].iter().collect();
            if is_path_text(&content) {
                out.push_str(&content);
            } else {
                out.push_str("\"\"");
            }
            at = end;
        } else if chars[at] == '\'' && is_char_literal(rest) {
            at = past_quoted(&chars, at, '\'');
            out.push_str("' '");
        } else {
            out.push(chars[at]);
            at += 1;
        }
    }
    out
}

/// A string that is a path of this crate, as serde's `with = "crate::…"` attributes name a module.
fn is_path_text(content: &str) -> bool {
    let mut segments = content.split("::");
    matches!(segments.next(), Some("crate" | "super" | "self"))
        && content.contains("::")
        && segments.all(|s| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

fn past_block_comment(chars: &[char], mut at: usize) -> usize {
    let mut depth = 0usize;
    while at < chars.len() {
        if chars[at..].starts_with(&['/', '*']) {
            depth += 1;
            at += 2;
        } else if chars[at..].starts_with(&['*', '/']) {
            depth -= 1;
            at += 2;
            if depth == 0 {
                return at;
            }
        } else {
            at += 1;
        }
    }
    at
}

/// Past `r"…"`, `r#"…"#` or `br#"…"#` starting at `at`, if one starts there.
fn past_raw_string(chars: &[char], at: usize) -> Option<usize> {
    let previous_is_ident = at > 0 && (chars[at - 1].is_alphanumeric() || chars[at - 1] == '_');
    if previous_is_ident {
        return None;
    }
    let mut next = at;
    if chars.get(next) == Some(&'b') {
        next += 1;
    }
    if chars.get(next) != Some(&'r') {
        return None;
    }
    next += 1;
    let hashes = chars[next..].iter().take_while(|c| **c == '#').count();
    next += hashes;
    if chars.get(next) != Some(&'"') {
        return None;
    }
    next += 1;
    while next < chars.len() {
        if chars[next] == '"' && chars[next + 1..].iter().take(hashes).filter(|c| **c == '#').count() == hashes {
            return Some(next + 1 + hashes);
        }
        next += 1;
    }
    Some(chars.len())
}

fn past_quoted(chars: &[char], mut at: usize, quote: char) -> usize {
    at += 1;
    while at < chars.len() {
        match chars[at] {
            '\\' => at += 2,
            c if c == quote => return at + 1,
            _ => at += 1,
        }
    }
    at
}

/// `'x'` or `'\n'` rather than a lifetime `'a`.
fn is_char_literal(rest: &[char]) -> bool {
    match rest.get(1) {
        Some('\\') => true,
        Some(_) => rest.get(2) == Some(&'\''),
        None => false,
    }
}

/// Every crate-internal path the stripped source names, made absolute from the crate root.
fn referenced_paths(text: &str, here: &ModPath, children: &BTreeSet<String>) -> Vec<ModPath> {
    let tokens = tokens(text);
    let mut paths = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        if tokens[at] == "use" {
            at = use_tree(&tokens, at + 1, Vec::new(), &mut paths);
        } else if tokens.get(at + 1) == Some(&"::") && (at == 0 || tokens[at - 1] != "::") {
            let (path, end) = path_at(&tokens, at);
            paths.push(path);
            at = end;
        } else {
            at += 1;
        }
    }
    paths.into_iter().filter_map(|path| absolute(&path, here, children)).collect()
}

/// Reads the use tree at `at` with the path so far in `prefix`; pushes each complete path.
fn use_tree(tokens: &[&str], mut at: usize, mut prefix: Vec<String>, paths: &mut Vec<Vec<String>>) -> usize {
    while at < tokens.len() {
        match tokens[at] {
            "::" => at += 1,
            "{" => {
                at += 1;
                while at < tokens.len() && tokens[at] != "}" {
                    at = use_tree(tokens, at, prefix.clone(), paths);
                    if tokens.get(at) == Some(&",") {
                        at += 1;
                    }
                }
                return at + 1;
            }
            "as" => at += 2,
            "," | "}" | ";" => {
                if !prefix.is_empty() {
                    paths.push(prefix);
                }
                return if tokens[at] == ";" { at + 1 } else { at };
            }
            "*" => at += 1,
            segment => {
                prefix.push(segment.to_string());
                at += 1;
            }
        }
    }
    at
}

/// The path of identifiers joined by `::` that starts at `at`, and where it ends.
fn path_at(tokens: &[&str], mut at: usize) -> (Vec<String>, usize) {
    let mut path = vec![tokens[at].to_string()];
    at += 1;
    while tokens.get(at) == Some(&"::") {
        match tokens.get(at + 1) {
            Some(next) if next.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                path.push((*next).to_string());
                at += 2;
            }
            _ => break,
        }
    }
    (path, at)
}

/// A path made absolute, if it is one of this crate's.
fn absolute(path: &[String], here: &ModPath, children: &BTreeSet<String>) -> Option<ModPath> {
    let mut base: ModPath = match path.first().map(String::as_str)? {
        "crate" => Vec::new(),
        "self" | "super" => here.clone(),
        name if children.contains(name) => here.clone(),
        _ => return None,
    };
    let mut rest = path;
    if rest[0] == "crate" || rest[0] == "self" {
        rest = &rest[1..];
    }
    while rest.first().map(String::as_str) == Some("super") {
        base.pop()?;
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    Some(base)
}
