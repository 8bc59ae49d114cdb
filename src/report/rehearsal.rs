//! A rollout rehearsal as report text, shared by `report.md` and `report.html`: the plan and the outcome in
//! a sentence each, one row of figures per step, the handovers together and back to legacy, and the moments
//! the charts mark. Raw text only: each report escapes it the way its format needs. Pure.

use crate::summary::rollout::{
    Expectation, HandoverOrder, HandoverSummary, RollbackMode, RollbackSteps, RolloutSummary, StepSummary, fired_text,
};

/// The headers of the per-step table (the figures of a [`StepRow`], then its verdict).
pub const STEP_HEADERS: [&str; 15] = [
    "step",
    "share %",
    "start (s)",
    "clients on new",
    "subscriptions preserved %",
    "connections preserved %",
    "lost",
    "duplicated",
    "without data p50 / p99 (ms)",
    "handover p50 (ms)",
    "error %",
    "p95 (ms)",
    "connection success %",
    "longest failing checks",
    "verdict",
];

/// The headers of the handovers table (the cells of a [`handover_rows`] row).
pub const HANDOVER_HEADERS: [&str; 9] = [
    "handovers",
    "clients",
    "connections preserved %",
    "subscriptions",
    "subscriptions preserved %",
    "lost",
    "duplicated",
    "without data p50 / p99 (ms)",
    "handover p50 / p99 (ms)",
];

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepVerdict {
    /// Judged, and no trigger fired.
    Completed,
    /// Judged, and these triggers fired (`trigger measured unit > threshold`).
    Rollback(Vec<String>),
    /// The run never judged it (a performed rollback stopped the stepping, or the run was cut short).
    NotReached,
}

/// One step's row: its figures (as the first fourteen [`STEP_HEADERS`] name them) and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRow {
    /// The figures, in header order.
    pub figures: Vec<String>,
    /// How the step ended.
    pub verdict: StepVerdict,
}

/// How the rehearsal ended, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// What happened (`Completed: …`, `Would roll back at step 2 of 3 (50 %): …`, `Rolled back at …`).
    pub text: String,
    /// What the scenario expected, and whether it happened.
    pub expectation: String,
    /// Whether the outcome is the expected one.
    pub as_expected: bool,
    /// A trigger fired at some step.
    pub fired: bool,
}

/// A figure in its shortest form, at most three decimals.
pub fn number(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    if rounded == 0.0 { "0".to_owned() } else { rounded.to_string() }
}

/// A step's share of clients on the new manager, in percent (`25`, `12.5`).
pub fn share_percent(share: f64) -> String {
    number(100.0 * share)
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), number)
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn seconds(ms: u64) -> String {
    format!("{:.1}", ms as f64 / 1000.0)
}

/// Where a step stands among the plan's: `2 of 3 (50 %)`.
fn step_name(rollout: &RolloutSummary, index: usize) -> String {
    let share = rollout.steps.get(index).map_or_else(|| "?".to_owned(), |s| share_percent(s.share));
    format!("step {} of {} ({share} %)", index + 1, rollout.steps.len())
}

/// One step's row.
pub fn step_row(step: &StepSummary) -> StepRow {
    let h = &step.handover;
    let j = step.judgement.as_ref();
    let figures = vec![
        (step.index + 1).to_string(),
        share_percent(step.share),
        seconds(step.start_ms),
        if step.reached { step.clients_on_new.to_string() } else { "–".to_owned() },
        optional(h.subscription_preservation()),
        optional(h.connection_preservation()),
        h.lost.to_string(),
        h.duplicated.to_string(),
        format!("{} / {}", ms(h.without_data_us.p50), ms(h.without_data_us.p99)),
        ms(h.took_us.p50),
        optional(j.and_then(|j| j.error_rate)),
        optional(j.and_then(|j| j.latency_p95_ms)),
        optional(j.and_then(|j| j.connection_success)),
        j.map_or_else(|| "–".to_owned(), |j| j.max_consecutive_failures.to_string()),
    ];
    let verdict = match j {
        None => StepVerdict::NotReached,
        Some(j) if j.fired.is_empty() => StepVerdict::Completed,
        Some(j) => StepVerdict::Rollback(j.fired.iter().map(fired_text).collect()),
    };
    StepRow { figures, verdict }
}

/// Every planned step's row, in order.
pub fn step_rows(rollout: &RolloutSummary) -> Vec<StepRow> {
    rollout.steps.iter().map(step_row).collect()
}

fn handover_row(name: &str, h: &HandoverSummary) -> Vec<String> {
    vec![
        name.to_owned(),
        h.clients.to_string(),
        optional(h.connection_preservation()),
        h.subscriptions.to_string(),
        optional(h.subscription_preservation()),
        h.lost.to_string(),
        h.duplicated.to_string(),
        format!("{} / {}", ms(h.without_data_us.p50), ms(h.without_data_us.p99)),
        format!("{} / {}", ms(h.took_us.p50), ms(h.took_us.p99)),
    ]
}

/// The handovers of every step together, then, when a rollback was performed, those back to legacy.
pub fn handover_rows(rollout: &RolloutSummary) -> Vec<Vec<String>> {
    let mut rows = vec![handover_row("every step, to the new manager", &rollout.total)];
    if rollout.outcome.performed {
        rows.push(handover_row("the rollback, back to legacy", &rollout.rollback_handover));
    }
    rows
}

/// The plan in a sentence: the manager, the shares, the handover order and what a firing trigger does.
pub fn plan_sentence(rollout: &RolloutSummary) -> String {
    let shares: Vec<String> = rollout.steps.iter().map(|s| format!("{} %", share_percent(s.share))).collect();
    let order = match rollout.handover {
        HandoverOrder::MakeBeforeBreak => "make-before-break",
        HandoverOrder::BreakBeforeMake => "break-before-make",
    };
    let mode = match rollout.rollback {
        RollbackMode::Perform => match rollout.rollback_steps {
            RollbackSteps::AllAtOnce => {
                "a trigger that fires moves every client back to legacy (rollbacks performed)".to_owned()
            }
            RollbackSteps::Gradual { step, every } => format!(
                "a trigger that fires moves the clients back to legacy {} points every {} (gradual rollbacks performed)",
                share_percent(step),
                humantime::format_duration(every)
            ),
        },
        RollbackMode::Evaluate => "a trigger that fires is noted and the steps go on (rollbacks evaluated)".to_owned(),
    };
    format!(
        "Traffic moved from legacy to {} in {} steps ({}), {order} handovers; {mode}.",
        rollout.new_cohort_name(),
        rollout.steps.len(),
        shares.join(", ")
    )
}

/// What a performed rollback did: its steps when gradual, and the time until the clients received on legacy.
pub fn recovery(rollout: &RolloutSummary) -> String {
    let o = &rollout.outcome;
    let moves: Vec<String> = o.rollback_moves.iter().map(|m| format!("{} %", share_percent(m.share))).collect();
    let steps = match (rollout.rollback_steps, o.rollback_moves.last()) {
        (RollbackSteps::Gradual { .. }, Some(last)) => {
            format!("in {} steps ({}, the last at {:.1} s); ", moves.len(), moves.join(" → "), last.at_ms as f64 / 1e3)
        }
        _ => String::new(),
    };
    let end = match o.recovery_ms {
        _ if o.rollback_unfinished => format!(
            "the run ended before the rollback reached 0 %: {} still on {}",
            moves.last().map_or("the step's share", String::as_str),
            rollout.new_cohort_name()
        ),
        Some(ms) => format!("clients back on legacy in {ms} ms"),
        None => "no client had to move back".to_owned(),
    };
    format!("{steps}{end}")
}

/// How the rehearsal ended, and whether that is what the scenario expected.
pub fn outcome(rollout: &RolloutSummary) -> Outcome {
    let o = &rollout.outcome;
    let reached = rollout.steps.iter().filter(|s| s.reached).count();
    let text = match o.rollback_step {
        _ if o.completed => "Completed: every step was reached and no trigger fired".to_owned(),
        Some(index) if o.performed => {
            format!("Rolled back at {}: {}; {}", step_name(rollout, index), o.triggers.join("; "), recovery(rollout))
        }
        Some(index) => format!(
            "Would roll back at {}: {} (evaluated only: the steps went on)",
            step_name(rollout, index),
            o.triggers.join("; ")
        ),
        None => match &o.unpooled {
            Some((index, why)) => format!(
                "Not measurable: the shards could not pool the figures of {} ({why}); {reached} of {} steps reached",
                step_name(rollout, *index),
                rollout.steps.len()
            ),
            None => format!("Not completed: {reached} of {} steps reached, no trigger fired", rollout.steps.len()),
        },
    };
    let expected = match o.expected {
        Expectation::Complete => "Expected to complete",
        Expectation::Rollback => "Expected to roll back",
    };
    let verdict = if o.as_expected { "as expected" } else { "NOT as expected" };
    Outcome {
        text,
        expectation: format!("{expected}: {verdict}"),
        as_expected: o.as_expected,
        fired: o.rollback_step.is_some(),
    }
}

/// When a performed rollback moved the clients back (ms after the start): the rolling-back step's judgement,
/// which the rollback follows at once.
pub fn rollback_moment_ms(rollout: &RolloutSummary) -> Option<u64> {
    let index = rollout.outcome.rollback_step.filter(|_| rollout.outcome.performed)?;
    rollout.steps.get(index).map(|s| s.judged_ms)
}

/// The steps that started within a run of `run_ms`: none after a performed rollback.
pub fn started_steps(rollout: &RolloutSummary, run_ms: u64) -> impl Iterator<Item = &StepSummary> {
    let last = rollout.outcome.rollback_step.filter(|_| rollout.outcome.performed).unwrap_or(usize::MAX);
    rollout.steps.iter().filter(move |s| s.start_ms < run_ms && s.index <= last)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::scenario::ManagerKind;
    use crate::summary::Percentiles;
    use crate::summary::rollout::{Fired, RollbackMove, RolloutOutcome, StepJudgement};

    fn handover(clients: u64, preserved: u64) -> HandoverSummary {
        let took = Percentiles { count: clients, p50: 120_500, p99: 180_000, ..Percentiles::default() };
        let gap = Percentiles { count: clients, p50: 1_000, p99: 25_250, ..Percentiles::default() };
        HandoverSummary {
            clients,
            clients_preserved: preserved,
            subscriptions: 10 * clients,
            subscriptions_preserved: 10 * preserved,
            lost: clients - preserved,
            duplicated: 3,
            without_data_us: gap,
            took_us: took,
        }
    }

    fn step(index: usize, share: f64, fired: Option<Vec<Fired>>) -> StepSummary {
        let judgement = fired.map(|fired| StepJudgement {
            error_rate: Some(0.125),
            latency_p95_ms: Some(1.5),
            connection_success: Some(100.0),
            fired,
            ..StepJudgement::default()
        });
        StepSummary {
            index,
            share,
            start_ms: 4_000 + 5_000 * index as u64,
            judged_ms: 9_000 + 5_000 * index as u64,
            reached: judgement.is_some(),
            clients_on_new: (20.0 * share) as u32,
            handover: handover(4, 3),
            judgement,
        }
    }

    /// A rehearsal whose second step fired a trigger with hostile text, rolled back (performed).
    pub(crate) fn rolled_back(trigger: &str) -> RolloutSummary {
        let fired = Fired { trigger: trigger.to_owned(), measured: 3.5, threshold: 1.0, unit: "%".to_owned() };
        let text = fired_text(&fired);
        RolloutSummary {
            new_manager: ManagerKind::Wsmanager,
            new_cohort: String::new(),
            handover: HandoverOrder::MakeBeforeBreak,
            rollback: RollbackMode::Perform,
            rollback_steps: RollbackSteps::AllAtOnce,
            steps: vec![step(0, 0.25, Some(Vec::new())), step(1, 0.5, Some(vec![fired])), step(2, 1.0, None)],
            rollback_handover: handover(10, 10),
            total: handover(8, 6),
            outcome: RolloutOutcome {
                completed: false,
                rollback_step: Some(1),
                triggers: vec![text],
                performed: true,
                recovery_ms: Some(412),
                rollback_moves: vec![RollbackMove { at_ms: 14_000, share: 0.0 }],
                rollback_unfinished: false,
                unpooled: None,
                expected: Expectation::Complete,
                as_expected: false,
            },
        }
    }

    #[test]
    fn a_fired_step_rolls_back_and_the_steps_after_it_are_not_reached() {
        let rollout = rolled_back("error-rate");
        let rows = step_rows(&rollout);
        assert_eq!(rows[0].verdict, StepVerdict::Completed);
        assert_eq!(rows[1].verdict, StepVerdict::Rollback(vec!["error-rate 3.5 % > 1".to_owned()]));
        assert_eq!(rows[2].verdict, StepVerdict::NotReached);
        assert_eq!(
            rows[1].figures,
            ["2", "50", "9.0", "10", "75", "75", "1", "3", "1.00 / 25.25", "120.50", "0.125", "1.5", "100", "0"]
        );
        assert_eq!(rows[2].figures[3], "–");
        assert_eq!(rows[2].figures[10], "–");
        let outcome = outcome(&rollout);
        assert_eq!(
            outcome.text,
            "Rolled back at step 2 of 3 (50 %): error-rate 3.5 % > 1; clients back on legacy in 412 ms"
        );
        assert_eq!(
            (outcome.expectation.as_str(), outcome.as_expected),
            ("Expected to complete: NOT as expected", false)
        );
        assert_eq!(handover_rows(&rollout).len(), 2, "the rollback's handovers, when performed");
        assert_eq!(rollback_moment_ms(&rollout), Some(14_000));
        let started: Vec<usize> = started_steps(&rollout, 24_000).map(|s| s.index).collect();
        assert_eq!(started, [0, 1], "no step starts after a performed rollback");
    }

    #[test]
    fn a_gradual_rollback_lists_its_steps_and_says_when_the_run_cut_it_short() {
        let mut rollout = rolled_back("error-rate");
        rollout.rollback_steps = RollbackSteps::Gradual { step: 0.2, every: std::time::Duration::from_secs(5) };
        rollout.outcome.rollback_moves =
            [(14_000, 0.3), (19_000, 0.1), (24_000, 0.0)].map(|(at_ms, share)| RollbackMove { at_ms, share }).to_vec();
        assert!(plan_sentence(&rollout).ends_with("back to legacy 20 points every 5s (gradual rollbacks performed)."));
        assert_eq!(
            outcome(&rollout).text,
            "Rolled back at step 2 of 3 (50 %): error-rate 3.5 % > 1; in 3 steps (30 % → 10 % → 0 %, the last at \
             24.0 s); clients back on legacy in 412 ms"
        );
        rollout.outcome.rollback_moves.pop();
        rollout.outcome.rollback_unfinished = true;
        assert!(
            outcome(&rollout).text.ends_with("the run ended before the rollback reached 0 %: 10 % still on wsmanager"),
            "{}",
            outcome(&rollout).text
        );
    }

    #[test]
    fn an_evaluated_rollback_goes_on_and_a_completed_one_says_so() {
        let mut rollout = rolled_back("latency-p95");
        rollout.outcome.performed = false;
        rollout.steps[2] = step(2, 1.0, Some(Vec::new()));
        assert!(outcome(&rollout).text.starts_with("Would roll back at step 2 of 3 (50 %): latency-p95 3.5 % > 1"));
        assert_eq!(rollback_moment_ms(&rollout), None);
        assert_eq!(started_steps(&rollout, 15_000).count(), 3);
        assert_eq!(started_steps(&rollout, 14_000).count(), 2, "a step starting at the run's end never started");
        assert_eq!(handover_rows(&rollout).len(), 1);
        rollout.outcome = RolloutOutcome {
            completed: true,
            rollback_step: None,
            triggers: Vec::new(),
            performed: false,
            recovery_ms: None,
            rollback_moves: Vec::new(),
            rollback_unfinished: false,
            unpooled: None,
            expected: Expectation::Complete,
            as_expected: true,
        };
        let outcome = outcome(&rollout);
        assert_eq!(outcome.text, "Completed: every step was reached and no trigger fired");
        assert_eq!((outcome.expectation.as_str(), outcome.fired), ("Expected to complete: as expected", false));
        assert_eq!(
            plan_sentence(&rollout),
            "Traffic moved from legacy to wsmanager in 3 steps (25 %, 50 %, 100 %), make-before-break handovers; \
             a trigger that fires moves every client back to legacy (rollbacks performed)."
        );
    }
}
