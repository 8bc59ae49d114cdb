//! The rollout rehearsal's section of `report.html`: the plan and the outcome, one row per step (a step
//! whose triggers fired highlighted), then the handovers together and, when a rollback was performed, those
//! back to legacy. Every string is escaped; empty when the run rehearsed no rollout.

use super::markup::{classed_table, escape, num, table, td};
use crate::report::rehearsal::{self, HANDOVER_HEADERS, STEP_HEADERS, StepRow, StepVerdict};
use crate::summary::RunSummary;
use crate::summary::rollout::RolloutSummary;

/// The verdict cell of a step, and the class of its row.
fn verdict(verdict: &StepVerdict) -> (&'static str, String) {
    match verdict {
        StepVerdict::Completed => ("", "<td class=\"status-pass\">completed</td>".to_owned()),
        StepVerdict::Rollback(triggers) => (
            "rollback",
            format!(
                "<td class=\"status-fail\">ROLLBACK<span class=\"note\">{}</span></td>",
                escape(&triggers.join("; "))
            ),
        ),
        StepVerdict::NotReached => ("", "<td class=\"status-not-applicable\">not reached</td>".to_owned()),
    }
}

fn step_row(step: &StepRow) -> (&'static str, String) {
    let (class, verdict) = verdict(&step.verdict);
    let figures: String = step.figures.iter().map(num).collect();
    (class, figures + &verdict)
}

fn outcome(rollout: &RolloutSummary) -> String {
    let outcome = rehearsal::outcome(rollout);
    let class = match (outcome.as_expected, outcome.fired) {
        (false, _) => "status-fail",
        (true, true) => "status-not-measurable",
        (true, false) => "status-pass",
    };
    format!("<p class=\"outcome {class}\">{}. {}.</p>\n", escape(&outcome.text), escape(&outcome.expectation))
}

/// The section, or nothing when the run rehearsed no rollout.
pub(super) fn section(summary: &RunSummary) -> String {
    let Some(rollout) = &summary.rollout else { return String::new() };
    let steps: Vec<(&str, String)> = rehearsal::step_rows(rollout).iter().map(step_row).collect();
    let handovers: Vec<String> = rehearsal::handover_rows(rollout)
        .iter()
        .map(|r| td(&r[0]) + &r[1..].iter().map(num).collect::<String>())
        .collect();
    format!(
        "<section id=\"rollout\">\n<h2>Rollout rehearsal</h2>\n<p>{}</p>\n{}{}<h3>Handovers</h3>\n{}</section>\n\n",
        escape(&rehearsal::plan_sentence(rollout)),
        outcome(rollout),
        classed_table("rollout-steps", &STEP_HEADERS, &steps),
        table("rollout-handovers", &HANDOVER_HEADERS, &handovers)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::rehearsal::tests::rolled_back;

    #[test]
    fn a_rolled_back_step_is_highlighted_with_its_escaped_trigger() {
        let mut summary: RunSummary = crate::summary::sample::two_cohorts(false, "");
        assert_eq!(section(&summary), "", "no rehearsal, no section");
        summary.rollout = Some(rolled_back("err<script>"));
        let html = section(&summary);
        assert!(html.contains(
            "<tr class=\"rollback\"><td class=\"num\">2</td><td class=\"num\">50</td><td class=\"num\">9.0</td>"
        ));
        assert!(html.contains(
            "<td class=\"status-fail\">ROLLBACK<span class=\"note\">err&lt;script&gt; 3.5 % &gt; 1</span></td></tr>"
        ));
        assert!(html.contains("<p class=\"outcome status-fail\">Rolled back at step 2 of 3 (50 %): "));
        assert!(html.contains("<td>the rollback, back to legacy</td><td class=\"num\">10</td>"));
        assert!(!html.contains("<script"));
    }
}
