//! The `## Rollout rehearsal` section of `report.md`: the plan and the outcome in a line each, one row per
//! step (share, handovers, what the triggers read, the verdict), then the handovers together and, when a
//! rollback was performed, those back to legacy. Every string is escaped with [`cell`].

use super::text::cell;
use crate::report::rehearsal::{self, HANDOVER_HEADERS, STEP_HEADERS, StepVerdict};
use crate::summary::RunSummary;
use crate::summary::rollout::RolloutSummary;

/// A table's header and separator lines.
fn header(headers: &[&str]) -> String {
    let names: Vec<String> = headers.iter().map(|h| cell(h)).collect();
    format!("| {} |\n|{}\n", names.join(" | "), "---|".repeat(headers.len()))
}

/// A table row from cells already escaped.
fn row(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
}

fn verdict(verdict: &StepVerdict) -> String {
    match verdict {
        StepVerdict::Completed => "completed".to_owned(),
        StepVerdict::Rollback(triggers) => format!("**ROLLBACK**: {}", cell(&triggers.join("; "))),
        StepVerdict::NotReached => "not reached".to_owned(),
    }
}

fn steps(rollout: &RolloutSummary, out: &mut String) {
    out.push_str(&header(&STEP_HEADERS));
    for step in rehearsal::step_rows(rollout) {
        let mut cells: Vec<String> = step.figures.iter().map(|f| cell(f)).collect();
        cells.push(verdict(&step.verdict));
        out.push_str(&row(&cells));
    }
    out.push('\n');
}

fn handovers(rollout: &RolloutSummary, out: &mut String) {
    out.push_str(&header(&HANDOVER_HEADERS));
    for handover in rehearsal::handover_rows(rollout) {
        let cells: Vec<String> = handover.iter().map(|c| cell(c)).collect();
        out.push_str(&row(&cells));
    }
    out.push('\n');
}

/// The rehearsal section, when the run rehearsed a rollout.
pub(super) fn section(summary: &RunSummary, out: &mut String) {
    let Some(rollout) = &summary.rollout else { return };
    out.push_str("## Rollout rehearsal\n\n");
    out.push_str(&format!("{}\n\n", cell(&rehearsal::plan_sentence(rollout))));
    let outcome = rehearsal::outcome(rollout);
    let expectation =
        if outcome.as_expected { cell(&outcome.expectation) } else { format!("**{}**", cell(&outcome.expectation)) };
    let text = if outcome.fired { format!("**{}**", cell(&outcome.text)) } else { cell(&outcome.text) };
    out.push_str(&format!("{text}. {expectation}.\n\n"));
    steps(rollout, out);
    handovers(rollout, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::rehearsal::tests::rolled_back;

    #[test]
    fn a_rolled_back_step_is_named_with_its_escaped_trigger() {
        let mut summary: RunSummary = crate::summary::sample::two_cohorts(false, "");
        summary.rollout = Some(rolled_back("err|<b>"));
        let mut out = String::new();
        section(&summary, &mut out);
        assert!(out.starts_with("## Rollout rehearsal\n\nTraffic moved from legacy to wsmanager in 3 steps"), "{out}");
        assert!(
            out.contains(
                "**Rolled back at step 2 of 3 (50 %): err\\|&lt;b&gt; 3.5 % &gt; 1; clients back on legacy in \
                 412 ms**. **Expected to complete: NOT as expected**."
            ),
            "{out}"
        );
        let row = "| 2 | 50 | 9.0 | 10 | 75 | 75 | 1 | 3 | 1.00 / 25.25 | 120.50 | 0.125 | 1.5 | 100 | 0 | \
                   **ROLLBACK**: err\\|&lt;b&gt; 3.5 % &gt; 1 |\n";
        assert!(out.contains(row), "{out}");
        assert!(out.contains("| 3 | 100 | 14.0 | – |") && out.contains("| not reached |\n"), "{out}");
        assert!(out.contains("| the rollback, back to legacy | 10 | 100 | 100 | 100 |"), "{out}");
        assert!(!out.contains("<b>"));
    }
}
