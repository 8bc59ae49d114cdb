//! `junit.xml`: one test case per criterion per cohort, so CI systems show the gate the way they show
//! tests. Failures carry the measured value and the threshold; not-applicable and disabled criteria are
//! skipped; not-measurable ones are errors (the run could not judge them). A failing verdict that does not
//! gate (the legacy cohort's, shown as the reference) is skipped with its figures, not a failure. The XML is
//! quick-junit's (nextest's writer), escaping included.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::summary::RunSummary;
use crate::summary::verdict::{Status, Verdict};

/// A verdict's status as a test case's.
fn status(v: &Verdict) -> TestCaseStatus {
    let unit = if v.unit.is_empty() { String::new() } else { format!(" {}", v.unit) };
    let measured = v.measured.map_or_else(|| "none".to_owned(), |m| format!("{m}{unit}"));
    let expected = format!("{} {}{unit}", v.comparison.symbol(), v.threshold);
    match v.status {
        Status::Pass => TestCaseStatus::success(),
        Status::Fail if !v.gates => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(format!("reference only (does not gate): measured {measured}, expected {expected}"));
            status
        }
        Status::Fail => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(format!("{} measured {measured}, expected {expected}", v.criterion))
                .set_type("criterion")
                .set_description(format!("measured {measured}, threshold {expected} (source: {})", v.source));
            status
        }
        Status::NotMeasurable => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(v.note.as_str()).set_type("not-measurable");
            status
        }
        Status::NotApplicable | Status::Disabled => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(v.note.as_str());
            status
        }
    }
}

/// The JUnit XML of a run's verdicts.
pub fn render(summary: &RunSummary) -> String {
    let mut suite = TestSuite::new(summary.scenario["name"].as_str().unwrap_or("scenario"));
    suite.set_time(Duration::from_millis(summary.run.elapsed_ms));
    for v in &summary.verdicts {
        let name = format!("{} [{}]", v.criterion, v.cohort.as_deref().unwrap_or("harness"));
        let mut case = TestCase::new(name, status(v));
        case.set_classname("wschaos.criteria");
        suite.add_test_case(case);
    }
    let mut report = Report::new("wschaos");
    report.add_test_suite(suite);
    // Strings and numbers only: writing them to memory cannot fail.
    report.to_string().unwrap_or_else(|e| format!("<!-- junit.xml could not be written: {e} -->\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped_and_counts_follow_the_statuses() {
        let mut summary = crate::summary::sample::two_cohorts(false, "");
        summary.verdicts.truncate(1);
        summary.verdicts[0].status = Status::NotMeasurable;
        summary.verdicts[0].note = "<a href=\"x\">&'</a>\u{1}".into();
        let xml = render(&summary);
        assert!(xml.contains("&lt;a href=&quot;x&quot;&gt;&amp;"), "{xml}");
        assert!(!xml.contains("<a href"), "{xml}");
        assert!(xml.contains("errors=\"1\""), "{xml}");
    }
}
