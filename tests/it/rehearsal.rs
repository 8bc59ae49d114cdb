//! Rollout rehearsals through the binary: traffic stepped from legacy to WSManager with each client's state
//! handed over; a clean make-before-break rehearsal, a fault at one step that rolls it back (performed, with
//! the clients back on legacy), and break-before-make's data gap.

use serde_json::Value;

/// Runs a rehearsal of 12 clients (5 subscribers each on a busy trade stream and a bookTicker) with the given
/// `[rollout]` keys and extra TOML; the exit code and the summary. The harness's speed, run-to-run latency
/// noise and the connections a population this small saves are not what these tests judge.
fn rehearse(name: &str, rollout: &str, extra: &str) -> (Option<i32>, Value, String) {
    let text = format!(
        "duration = \"13s\"\n[workload]\nclients = 12\nsubscribers-per-client = 5\nramp-up = \"1s\"\n\
         kinds = {{ trade = 1, bookTicker = 1 }}\npopularity-exponent = 0.0\n\
         [mock.feed]\nsymbols = [\"btcusdt\"]\norders-per-second = 100.0\n\
         [harness]\nsaturation-lag = \"1s\"\nlatency-floor = \"100ms\"\n\
         [criteria.connection-reduction]\nenabled = false\n\
         [rollout]\nsteps = [0.5, 1.0]\nwarmup = \"1s\"\nhold = \"4s\"\nhandover-deadline = \"3s\"\n{rollout}\n{extra}"
    );
    let ran = crate::support::run_scenario(&format!("rehearsal-{name}"), &text, &[]);
    (ran.code, ran.summary, ran.stderr)
}

/// The new cohort's verdict of a criterion.
fn verdict<'a>(summary: &'a Value, id: &str) -> &'a Value {
    crate::support::verdict(summary, id, "wsmanager")
}

#[test]
fn a_clean_make_before_break_rehearsal_completes_every_step_and_loses_nothing() {
    let (code, summary, stderr) = rehearse("clean", "triggers = { error-rate = 1.0, connection-success = 95.0 }", "");
    let rollout = &summary["rollout"];
    assert_eq!(rollout["outcome"]["completed"], true, "{rollout}\n{stderr}");
    let steps = rollout["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    for step in steps {
        let handover = &step["handover"];
        assert!(handover["clients"].as_u64().unwrap() > 0, "{step}");
        assert_eq!(handover["subscriptions_preserved"], handover["subscriptions"], "100 % preserved: {step}");
        assert_eq!(handover["lost"], 0, "make-before-break loses no trade: {step}");
        assert_eq!(step["judgement"]["fired"].as_array().unwrap().len(), 0, "{step}");
    }
    assert_eq!(rollout["total"]["clients"], 12, "every client moved once");
    assert_eq!(verdict(&summary, "subscription-preservation")["measured"], 100.0);
    assert_eq!(verdict(&summary, "connection-preservation")["measured"], 100.0);
    assert_eq!(verdict(&summary, "rollout-step-2")["status"], "pass");
    assert!(crate::support::passed_as_measurable(code, &summary), "{code:?} {stderr}");
}

#[test]
fn a_fault_at_one_step_rolls_the_rehearsal_back_at_that_step_with_its_trigger() {
    // The rejected handshakes are the point: the run-wide criteria they fail are switched off, so the gate is
    // the rehearsal's expected outcome.
    let fault = "[[faults]]\nkind = \"reject-handshakes\"\nstep = 2\nat = \"0s\"\nduration = \"2s\"\nstatus = 503\n\
                 [criteria.error-rate]\nenabled = false\n[criteria.connection-success]\nenabled = false\n\
                 [criteria.subscription-preservation]\nenabled = false\n[criteria.connection-preservation]\nenabled = false\n";
    let rollout = "triggers = { connection-success = 95.0 }\nrollback = \"perform\"\nexpect = \"rollback\"";
    let (code, summary, stderr) = rehearse("rollback", rollout, fault);
    let outcome = &summary["rollout"]["outcome"];
    assert_eq!(outcome["rollback_step"], 1, "the second step: {outcome}\n{stderr}");
    assert!(outcome["triggers"][0].as_str().unwrap().starts_with("connection-success"), "{outcome}");
    assert_eq!(outcome["performed"], true);
    let recovery = outcome["recovery_ms"].as_u64().expect("the clients came back");
    assert!(recovery < 30_000, "back on legacy within the documents' 30 s: {recovery} ms");
    let back = &summary["rollout"]["rollback_handover"];
    assert!(
        back["clients"].as_u64().unwrap() > 0 && back["subscriptions_preserved"] == back["subscriptions"],
        "{back}"
    );
    assert_eq!(verdict(&summary, "rollout-step-1")["status"], "pass");
    let step2 = verdict(&summary, "rollout-step-2");
    assert_eq!((step2["status"].as_str(), step2["gates"].as_bool()), (Some("fail"), Some(false)), "expected: {step2}");
    assert_eq!(verdict(&summary, "rollout-outcome")["status"], "pass", "the rollback was the expected outcome");
    assert!(crate::support::passed_as_measurable(code, &summary), "{code:?} {stderr}");
}

#[test]
fn break_before_make_shows_the_data_gap_it_causes() {
    let (code, summary, stderr) = rehearse("gap", "handover = \"break-before-make\"", "");
    let total = &summary["rollout"]["total"];
    assert_eq!(
        total["subscriptions_preserved"], total["subscriptions"],
        "every subscription resumes: {total}\n{stderr}"
    );
    assert!(total["lost"].as_u64().unwrap() > 0, "trades lost between the old socket and the new: {total}");
    assert_eq!(total["duplicated"], 0, "no overlap: {total}");
    assert!(total["without_data_us"]["p50"].as_u64().unwrap() > 0, "subscribers waited: {total}");
    assert!(code.is_some());
}
