//! `wschaos compare` as Markdown: the two runs, the headline (regressions first), the criteria side by
//! side with a marker on every verdict that moved, then the key figures of each cohort. Every
//! run-supplied string is escaped for table cells.

use super::{Change, CriterionRow, Difference, FigureRow, RunComparison, RunLabel};
use crate::report::markdown::cell;
use crate::summary::verdict::Status;
use crate::vocab::calendar::utc_text;

/// The whole comparison.
pub fn render(c: &RunComparison) -> String {
    let mut out = String::from("# wschaos compare\n\n");
    runs(c, &mut out);
    headline(c, &mut out);
    criteria(&c.criteria, &mut out);
    figures(&c.figures, &mut out);
    out
}

fn runs(c: &RunComparison, out: &mut String) {
    out.push_str("| | run | scenario | started (UTC) | length |\n|---|---|---|---|---|\n");
    for (side, run) in [("A", &c.run_a), ("B", &c.run_b)] {
        out.push_str(&format!(
            "| {side} | `{}` | {} | {} | {} |\n",
            cell(&run.dir),
            cell(&run.scenario),
            utc(run.started_unix_ms),
            length(run)
        ));
    }
    out.push('\n');
}

fn utc(unix_ms: u64) -> String {
    utc_text(unix_ms / 1000)
}

fn length(run: &RunLabel) -> String {
    let seconds = format!("{:.1} s", run.elapsed_ms as f64 / 1000.0);
    if run.interrupted { format!("{seconds} (interrupted)") } else { seconds }
}

fn headline(c: &RunComparison, out: &mut String) {
    let plural = |n: usize, word: &str| if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") };
    if c.regressions == 0 {
        out.push_str("No criterion regressed");
    } else {
        out.push_str(&format!("**{} (pass in A, fail in B)**", plural(c.regressions, "regression")));
    }
    out.push_str(&format!("; {}.\n\n", plural(c.improvements, "improvement")));
    for note in &c.notes {
        out.push_str(&format!("> Note: {}.\n", cell(note)));
    }
    if !c.notes.is_empty() {
        out.push('\n');
    }
}

fn criteria(rows: &[CriterionRow], out: &mut String) {
    out.push_str("## Criteria\n\n");
    out.push_str("| criterion | cohort | threshold | A | B | Δ | Δ % | A verdict | B verdict | change | B worse than A, 95 % |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for row in rows {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell(&row.criterion),
            cell(row.cohort.as_deref().unwrap_or("harness")),
            threshold(row),
            number(row.a),
            number(row.b),
            differences(row.difference),
            status(row.status_a),
            status(row.status_b),
            marker(row.change),
            interval(row.interval),
        ));
    }
    out.push_str(
        "\nA latency criterion that passed in A and fails in B is a regression only when B's latency is worse than \
         A's beyond the 95 % interval (a bootstrap of both runs' per-second figures); otherwise it is marked \
         `changed`.\n\n",
    );
}

fn threshold(row: &CriterionRow) -> String {
    let values = match (row.threshold_a, row.threshold_b) {
        (Some(a), Some(b)) if a != b => format!("{} → {}", number(Some(a)), number(Some(b))),
        (a, b) => number(a.or(b)),
    };
    format!("{} {values} {}", row.comparison.symbol(), cell(&row.unit))
}

fn figures(rows: &[FigureRow], out: &mut String) {
    out.push_str(
        "## Key figures\n\n| cohort | figure | A | B | Δ | Δ % | B worse than A, 95 % |\n|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            cell(&row.cohort),
            row.figure,
            number(row.a),
            number(row.b),
            differences(row.difference),
            interval(row.interval)
        ));
    }
}

/// A 95 % interval in percent, `–` without one.
fn interval(range: Option<[f64; 2]>) -> String {
    range.map_or_else(|| "–".to_owned(), |[low, high]| format!("[{}, {}] %", signed(low, ""), signed(high, "")))
}

/// The Δ and Δ % cells.
fn differences(d: Difference) -> String {
    let absolute = d.absolute.map_or_else(|| "–".to_owned(), |v| signed(v, ""));
    let relative = d.percent.map_or_else(|| "–".to_owned(), |v| signed(v, " %"));
    format!("{absolute} | {relative}")
}

fn status(s: Option<Status>) -> &'static str {
    match s {
        None => "–",
        Some(Status::Pass) => "pass",
        Some(Status::Fail) => "**FAIL**",
        Some(Status::NotMeasurable) => "not measurable",
        Some(Status::NotApplicable) => "n/a",
        Some(Status::Disabled) => "disabled",
    }
}

fn marker(change: Change) -> &'static str {
    match change {
        Change::Regressed => "**REGRESSION**",
        Change::Improved => "improvement",
        Change::Changed => "changed",
        Change::Same => "",
    }
}

/// A value with at most three decimals, without trailing zeros; `–` when absent.
fn number(value: Option<f64>) -> String {
    let Some(v) = value else { return "–".to_owned() };
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_owned() } else { text.to_owned() }
}

fn signed(value: f64, suffix: &str) -> String {
    let text = number(Some(value));
    if value > 0.0 && text != "0" { format!("+{text}{suffix}") } else { format!("{text}{suffix}") }
}

#[cfg(test)]
mod tests {
    use super::super::{NamedRun, compare, tests::fixture};
    use super::*;

    #[test]
    fn numbers_are_short_and_signed() {
        assert_eq!(number(Some(13.2)), "13.2");
        assert_eq!(number(Some(465.0)), "465");
        assert_eq!(number(Some(-0.0001)), "0");
        assert_eq!(number(None), "–");
        assert_eq!(signed(148.044, ""), "+148.044");
        assert_eq!(signed(-12.5, " %"), "-12.5 %");
        assert_eq!(utc(1_795_332_582_864), "2026-11-22 07:29:42");
    }

    #[test]
    fn a_regression_is_marked_in_the_headline_and_its_row() {
        let a = fixture();
        let mut b = a.clone();
        let p95 = b.verdicts.iter_mut().find(|v| v.criterion == "latency-p95" && v.cohort.is_some()).unwrap();
        p95.measured = Some(150.0);
        p95.status = Status::Fail;
        p95.threshold = 120.0;
        let text = render(&compare(NamedRun { dir: "a", summary: &a }, NamedRun { dir: "b|c", summary: &b }));
        assert!(text.contains("**1 regression (pass in A, fail in B)**; 0 improvements."), "{text}");
        assert!(text.contains("| B | `b\\|c` | tiny | 2026-11-22 07:29:42 | 3.0 s |"), "{text}");
        assert!(
            text.contains(
                "| `latency-p95` | legacy | < 100 → 120 ms | 2.391 | 150 | +147.609 | +6173.5 % | pass | **FAIL** | **REGRESSION** | – |"
            ),
            "{text}"
        );
        assert!(text.contains("| wsmanager | latency-p95-ms | 1.956 | 1.956 | 0 | 0 % | – |"), "{text}");
    }
}
