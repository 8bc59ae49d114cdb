//! The page's small pieces of markup: escaped text, table cells and tables, milliseconds.

use std::fmt::Display;

/// Escapes text for HTML content and quoted attribute values (`&`, `<`, `>`, `"` and `'`), with the
/// html-escape crate.
pub fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

/// A table cell of text.
pub(super) fn td(text: &str) -> String {
    format!("<td>{}</td>", escape(text))
}

/// A right-aligned table cell of a number.
pub(super) fn num(value: impl Display) -> String {
    format!("<td class=\"num\">{}</td>", escape(&value.to_string()))
}

/// A table from its header texts and its rows (each row's cells already markup).
pub(super) fn table(class: &str, headers: &[&str], rows: &[String]) -> String {
    let rows: Vec<(&str, String)> = rows.iter().map(|r| ("", r.clone())).collect();
    classed_table(class, headers, &rows)
}

/// A table whose rows carry a class each (empty: none), their cells already markup.
pub(super) fn classed_table(class: &str, headers: &[&str], rows: &[(&str, String)]) -> String {
    let head: String = headers.iter().map(|h| format!("<th>{}</th>", escape(h))).collect();
    let body: String = rows
        .iter()
        .map(|(row_class, r)| match *row_class {
            "" => format!("<tr>{r}</tr>\n"),
            row_class => format!("<tr class=\"{}\">{r}</tr>\n", escape(row_class)),
        })
        .collect();
    format!("<table class=\"{class}\">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n")
}

/// Milliseconds from microseconds, two decimals.
pub(super) fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}
