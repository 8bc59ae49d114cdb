//! `junit.xml`: one test case per criterion per cohort, so CI systems show the gate the way they show
//! tests. Failures carry the measured value and the threshold; not-applicable and disabled criteria are
//! skipped; not-measurable ones are errors (the run could not judge them). A failing verdict that does not
//! gate (the legacy cohort's, shown as the reference) is skipped with its figures, not a failure.

use crate::summary::RunSummary;
use crate::summary::verdict::{Status, Verdict};

/// Escapes text for XML attributes and content.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

fn case(v: &Verdict) -> String {
    let name = xml_escape(&format!("{} [{}]", v.criterion, v.cohort.as_deref().unwrap_or("harness")));
    let unit = if v.unit.is_empty() { String::new() } else { format!(" {}", v.unit) };
    let measured = v.measured.map_or_else(|| "none".to_owned(), |m| format!("{m}{unit}"));
    let expected = format!("{} {}{unit}", v.comparison.symbol(), v.threshold);
    let body = match v.status {
        Status::Fail if !v.gates => format!(
            "\n      <skipped message=\"{}\"/>\n    ",
            xml_escape(&format!("reference only (does not gate): measured {measured}, expected {expected}"))
        ),
        Status::Pass => String::new(),
        Status::Fail => format!(
            "\n      <failure message=\"{}\" type=\"criterion\">measured {}, threshold {} (source: {})</failure>\n    ",
            xml_escape(&format!("{} measured {measured}, expected {expected}", v.criterion)),
            xml_escape(&measured),
            xml_escape(&expected),
            xml_escape(&v.source)
        ),
        Status::NotMeasurable => {
            format!("\n      <error message=\"{}\" type=\"not-measurable\"/>\n    ", xml_escape(&v.note))
        }
        Status::NotApplicable | Status::Disabled => {
            format!("\n      <skipped message=\"{}\"/>\n    ", xml_escape(&v.note))
        }
    };
    format!("    <testcase classname=\"wschaos.criteria\" name=\"{name}\">{body}</testcase>\n")
}

/// The JUnit XML of a run's verdicts.
pub fn render(summary: &RunSummary) -> String {
    let verdicts = &summary.verdicts;
    let count = |s: Status| verdicts.iter().filter(|v| v.status == s && (v.gates || s != Status::Fail)).count();
    let references = verdicts.iter().filter(|v| v.status == Status::Fail && !v.gates).count();
    let skipped = count(Status::NotApplicable) + count(Status::Disabled) + references;
    let name = xml_escape(summary.scenario["name"].as_str().unwrap_or("scenario"));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"wschaos\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{skipped}\">\n",
        verdicts.len(),
        count(Status::Fail),
        count(Status::NotMeasurable)
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{skipped}\" time=\"{:.3}\">\n",
        verdicts.len(),
        count(Status::Fail),
        count(Status::NotMeasurable),
        summary.run.elapsed_ms as f64 / 1000.0
    ));
    for v in verdicts {
        out.push_str(&case(v));
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_hostile_text() {
        assert_eq!(xml_escape("<a href=\"x\">&'</a>\u{1}"), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
    }
}
