//! The team's notification templates (000, "Notification Templates"), filled in from a run's summary and
//! ready to post: `notify-start.txt` ("Migration Phase-{X} Starting") and `notify-result.txt` ("… Complete"
//! when the gate passed, "Rollback Initiated" when a rehearsal rolled back or the gate failed, and, beyond the
//! seeds' three, "Not Judged" when the run could not measure it). Pure: the summary in, the texts out.

use crate::manager::settings::ManagerKind;
use crate::summary::RunSummary;
use crate::summary::verdict::{Status, Verdict};
use crate::vocab::calendar::utc_text;

/// The two texts of a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Notifications {
    /// The "Starting" notification.
    pub start: String,
    /// The "Complete", "Rollback Initiated" or "Not Judged" one.
    pub result: String,
}

/// The rollout phases of the migration guide (000): environment, traffic and purpose.
const PHASES: [(&str, &str, &str); 4] = [
    ("Phase-0", "Local/CI", "0%"),
    ("Phase-1", "Staging", "10%"),
    ("Phase-2", "Staging", "100%"),
    ("Phase-3", "Production", "5% → 25% → 50% → 100%"),
];

/// The channel the seeds post technical updates to.
const CHANNEL: &str = "#ws-migration";

/// The phase a run rehearses: its index in [`PHASES`], from the scenario's `[rollout] preset`.
fn phase(summary: &RunSummary) -> Option<usize> {
    let preset = summary.scenario["rollout"]["preset"].as_str()?;
    preset.strip_prefix("phase-")?.parse().ok().filter(|p: &usize| *p < PHASES.len())
}

/// "Phase-1", or the scenario's name for a run that is none of the guide's phases.
fn title(summary: &RunSummary) -> String {
    match phase(summary) {
        Some(p) => PHASES[p].0.to_owned(),
        None => format!("'{}'", summary.scenario["name"].as_str().unwrap_or("scenario")),
    }
}

/// The new manager's cohort: a rehearsal's new side, else the first cohort not on legacy.
fn new_cohort(summary: &RunSummary) -> Option<&str> {
    if let Some(rollout) = &summary.rollout {
        return Some(rollout.new_cohort_name());
    }
    summary.cohorts.iter().find(|c| c.manager != ManagerKind::Legacy).map(|c| c.name.as_str())
}

fn environment(summary: &RunSummary) -> String {
    let rehearsed = format!("rehearsed by wschaos against the {} upstream", summary.run.upstream);
    match phase(summary) {
        Some(p) => format!("{} ({rehearsed})", PHASES[p].1),
        None => rehearsed,
    }
}

/// The share of traffic on the new manager: a rehearsal's steps, a split's share, or every client.
fn traffic(summary: &RunSummary) -> String {
    if let Some(rollout) = &summary.rollout {
        let shares: Vec<String> = rollout.steps.iter().map(|s| format!("{}", s.share * 100.0)).collect();
        return format!("{}%", shares.join("% → "));
    }
    let cohorts = &summary.scenario["cohorts"];
    match (cohorts["mode"].as_str(), cohorts["new_share"].as_f64()) {
        (Some("split"), Some(share)) => format!("{}%", (share * 1000.0).round() / 10.0),
        _ => "100% (side by side with legacy)".to_owned(),
    }
}

/// The starting notification.
fn start(summary: &RunSummary, run_dir: &str) -> String {
    let planned = summary.scenario["duration"].as_u64().unwrap_or(summary.run.elapsed_ms);
    let duration = humantime::format_duration(std::time::Duration::from_millis(planned));
    let started_s = summary.run.started_unix_ms / 1000;
    let rollback = if summary.rollout.as_ref().is_some_and(|r| !r.steps.is_empty()) {
        "Ready ✅ (rollback triggers judged at every step)"
    } else {
        "Ready ✅ (USE_NEW_WS_MANAGER=false; not rehearsed by this run)"
    };
    format!(
        "🚀 WSManager Migration {} Starting\n\nEnvironment: {}\nTraffic: {}\nDuration: {duration}\nMonitoring: \
         {run_dir}/report.html\n\nExpected completion: {} UTC\nRollback plan: {rollback}\n",
        title(summary),
        environment(summary),
        traffic(summary),
        utc_text(started_s + planned / 1000)
    )
}

fn verdict<'a>(summary: &'a RunSummary, criterion: &str, cohort: Option<&str>) -> Option<&'a Verdict> {
    summary.verdicts.iter().find(|v| v.criterion == criterion && v.cohort.as_deref() == cohort)
}

fn figure(v: Option<&Verdict>) -> String {
    v.and_then(|v| v.measured).map_or_else(|| "not measured".to_owned(), |m| format!("{m}"))
}

fn next_phase(summary: &RunSummary) -> String {
    match phase(summary) {
        Some(p) if p + 1 < PHASES.len() => {
            let (name, env, share) = PHASES[p + 1];
            format!("{name} ({env}, {share} on WSManager)")
        }
        Some(_) => "none: the migration is complete (legacy code removed 30 days after)".to_owned(),
        None => "as the rollout plan says".to_owned(),
    }
}

fn complete(summary: &RunSummary) -> String {
    let cohort = new_cohort(summary);
    let regression = verdict(summary, "latency-regression", cohort);
    let connections = cohort.and_then(|name| summary.cohort(name)).map_or(0, |c| c.connections.high_water);
    format!(
        "✅ WSManager Migration {} Complete\n\nResults:\n- Error rate: {}% (target: <1%)\n- Performance: {}% \
         (target: <5% degradation)\n- Connections: {connections} active\n- Health: All systems green ✅\n\nNext \
         phase: {}\n",
        title(summary),
        figure(verdict(summary, "error-rate", cohort)),
        figure(regression),
        next_phase(summary)
    )
}

/// Why the phase does not go on: the triggers that rolled the rehearsal back, else the failed criteria.
fn reason(summary: &RunSummary) -> String {
    if let Some(rollout) = summary.rollout.as_ref().filter(|r| r.outcome.rollback_step.is_some()) {
        let step = rollout.outcome.rollback_step.map_or(0, |s| s + 1);
        return format!("step {step}: {}", rollout.outcome.triggers.join("; "));
    }
    let failed: Vec<String> = summary
        .verdicts
        .iter()
        .filter(|v| v.gates && v.status == Status::Fail)
        .map(|v| format!("{} [{}] {}", v.criterion, v.cohort.as_deref().unwrap_or("run"), figure(Some(v))))
        .collect();
    format!("failed criteria: {}", failed.join("; "))
}

fn rollback(summary: &RunSummary) -> String {
    let outcome = summary.rollout.as_ref().map(|r| &r.outcome);
    let method = match outcome {
        Some(o) if o.performed && o.rollback_moves.len() > 1 => "canary rollback (gradual), as rehearsed",
        Some(o) if o.performed => "feature flag off (USE_NEW_WS_MANAGER=false), as rehearsed",
        _ => "feature flag off (USE_NEW_WS_MANAGER=false)",
    };
    let eta = match outcome.and_then(|o| o.recovery_ms) {
        Some(ms) => format!("{ms} ms (measured in the rehearsal: the last client receiving on legacy again)"),
        None => "within 30 s (the documents' target; not measured by this run)".to_owned(),
    };
    format!(
        "⚠️ WSManager Migration Rollback Initiated\n\nReason: {}\nAffected environment: {}\nRollback method: \
         {method}\nETA to recovery: {eta}\n\nStatus updates: {CHANNEL}\n",
        reason(summary),
        environment(summary)
    )
}

fn not_judged(summary: &RunSummary, cause: &str) -> String {
    format!(
        "⏸ WSManager Migration {} Not Judged\n\nReason: {cause}\nEnvironment: {}\nNothing decided: run it \
         again on a machine that keeps up.\n\nStatus updates: {CHANNEL}\n",
        title(summary),
        environment(summary)
    )
}

/// Both texts of a run written to `run_dir`.
pub fn render(summary: &RunSummary, run_dir: &str) -> Notifications {
    let failed = summary.verdicts.iter().any(|v| v.gates && v.status == Status::Fail);
    let rolled_back = summary.rollout.as_ref().is_some_and(|r| r.outcome.rollback_step.is_some());
    let result = match summary.not_measurable_cause() {
        _ if failed || rolled_back => rollback(summary),
        Some(cause) => not_judged(summary, &cause),
        None => complete(summary),
    };
    Notifications { start: start(summary, run_dir), result }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::sample::two_cohorts;

    fn passing() -> RunSummary {
        let mut summary = two_cohorts(false, "");
        for v in &mut summary.verdicts {
            if v.status == Status::Fail {
                v.status = Status::Pass;
            }
        }
        summary
    }

    #[test]
    fn a_passing_phase_run_is_complete_and_names_the_next_phase() {
        let mut summary = passing();
        summary.scenario = serde_json::json!({"name": "phase-1", "duration": 15_000, "rollout": {"preset": "phase-1"},
                                              "cohorts": {"mode": "split", "new_share": 0.1}});
        let notes = render(&summary, "reports/phase-1");
        assert!(notes.start.starts_with("🚀 WSManager Migration Phase-1 Starting\n"), "{}", notes.start);
        assert!(notes.start.contains("Environment: Staging (rehearsed by wschaos against the embedded upstream)"));
        assert!(notes.start.contains("Traffic: 10%\nDuration: 15s\nMonitoring: reports/phase-1/report.html\n"));
        assert!(notes.start.contains("Expected completion: 1970-01-01 00:00:15 UTC"), "{}", notes.start);
        assert!(notes.result.starts_with("✅ WSManager Migration Phase-1 Complete\n"), "{}", notes.result);
        let error_rate = figure(verdict(&summary, "error-rate", Some("wsmanager")));
        assert!(notes.result.contains(&format!("- Error rate: {error_rate}% (target: <1%)")), "{}", notes.result);
        assert!(notes.result.contains("- Connections: 1 active\n"), "{}", notes.result);
        assert!(notes.result.contains("Next phase: Phase-2 (Staging, 100% on WSManager)"), "{}", notes.result);
    }

    #[test]
    fn a_failed_gate_initiates_the_rollback_and_a_lagging_rig_judges_nothing() {
        let mut summary = passing();
        let failing = summary.verdicts.iter_mut().find(|v| v.criterion == "latency-p95").unwrap();
        failing.status = Status::Fail;
        let notes = render(&summary, "out");
        assert!(notes.result.starts_with("⚠️ WSManager Migration Rollback Initiated\n"), "{}", notes.result);
        assert!(notes.result.contains("Reason: failed criteria: latency-p95 ["), "{}", notes.result);
        assert!(notes.result.contains("ETA to recovery: within 30 s (the documents' target; not measured"));
        assert!(notes.result.ends_with("Status updates: #ws-migration\n"));
        let mut lagging = passing();
        lagging.harness.saturated = true;
        let notes = render(&lagging, "out");
        assert!(notes.result.contains("Not Judged\n\nReason: the harness was saturated"), "{}", notes.result);
    }
}
