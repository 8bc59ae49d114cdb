//! Text for Markdown tables: escaped cells and milliseconds.

/// Escapes text for a Markdown table cell.
pub fn cell(text: &str) -> String {
    text.replace('\\', "\\\\").replace('|', "\\|").replace('\n', " ").replace('<', "&lt;").replace('>', "&gt;")
}

/// Milliseconds from microseconds, two decimals.
pub(super) fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}
