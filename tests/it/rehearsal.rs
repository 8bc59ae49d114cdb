//! Rollout rehearsals through the binary: traffic stepped from legacy to WSManager with each client's state
//! handed over; a clean make-before-break rehearsal, a fault at one step that rolls it back (performed, with
//! the clients back on legacy), and break-before-make's data gap.

use serde_json::Value;

/// Runs a rehearsal of 12 clients (5 subscribers each on a busy trade stream and a bookTicker) with the given
/// `[rollout]` keys and extra TOML; the exit code and the summary. The harness's speed, run-to-run latency
/// noise and the connections a population this small saves are not what these tests judge.
fn rehearse(name: &str, rollout: &str, extra: &str) -> (Option<i32>, Value, String) {
    rehearse_for(name, "13s", rollout, extra)
}

fn rehearse_for(name: &str, duration: &str, rollout: &str, extra: &str) -> (Option<i32>, Value, String) {
    let text = format!(
        "duration = \"{duration}\"\n[workload]\nclients = 12\nsubscribers-per-client = 5\nramp-up = \"1s\"\n\
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

/// The fault that makes the second step's connection success fall (503 to every handshake for 2 s), with the
/// run-wide criteria it fails switched off, so the gate is the rehearsal's expected outcome.
const STEP_TWO_REJECTS: &str = "[[faults]]\nkind = \"reject-handshakes\"\nstep = 2\nat = \"0s\"\nduration = \"2s\"\n\
     status = 503\n[criteria.error-rate]\nenabled = false\n[criteria.connection-success]\nenabled = false\n\
     [criteria.subscription-preservation]\nenabled = false\n[criteria.connection-preservation]\nenabled = false\n";

#[test]
fn a_fault_at_one_step_rolls_the_rehearsal_back_at_that_step_with_its_trigger() {
    let rollout = "triggers = { connection-success = 95.0 }\nrollback = \"perform\"\nexpect = \"rollback\"";
    let (code, summary, stderr) = rehearse("rollback", rollout, STEP_TWO_REJECTS);
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
    // Every handshake takes 300 ms, so the gap between the old socket and the new holds about 30 trades
    // of the 100 a second: none lost would be chance only on a loopback handshake of a few ms.
    let slow = "[[faults]]\nkind = \"slow-handshake\"\nat = \"0s\"\nduration = \"1m\"\ndelay = \"300ms\"\n";
    let (code, summary, stderr) = rehearse("gap", "handover = \"break-before-make\"", slow);
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

/// 002's rollout controls in a rehearsal: a client on the user list is on the new manager from the start
/// (testing mode) though its hash bucket is above the first step's share, a forced-legacy one never moves
/// though its bucket is under it, and the rollback (`rollback_websocket.py gradual --step 10`, here 50 points
/// a second) halves the share first and disables the migration at 0, the listed client included.
#[test]
fn a_gradual_rollback_steps_the_share_down_and_pinned_clients_keep_to_their_lists() {
    use wschaos::load::population::on_new_manager;
    let listed = (0..12).find(|id| !on_new_manager(*id, 0.5)).expect("a client above the 50 % bucket");
    let forced = (0..12).find(|id| on_new_manager(*id, 0.5)).expect("a client under it");
    let hashed = (0..12).filter(|id| on_new_manager(*id, 0.5)).count() as u64;
    let pins = format!("[cohorts]\nmode = \"split\"\nnew-clients = [{listed}]\nlegacy-clients = [{forced}]\n");
    let rollout = "triggers = { connection-success = 95.0 }\nrollback = \"perform\"\nexpect = \"rollback\"\n\
                   rollback-step = 0.5\nrollback-every = \"1s\"";
    let (code, summary, stderr) = rehearse_for("gradual", "16s", rollout, &format!("{STEP_TWO_REJECTS}{pins}"));
    let rollout = &summary["rollout"];
    let outcome = &rollout["outcome"];
    assert_eq!(outcome["rollback_step"], 1, "{outcome}\n{stderr}");
    let on_new: Vec<u64> =
        rollout["steps"].as_array().unwrap().iter().map(|s| s["clients_on_new"].as_u64().unwrap()).collect();
    assert_eq!(on_new, [hashed, 11], "the listed client in, the forced one out, at every step");
    let moves: Vec<(u64, f64)> = outcome["rollback_moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["at_ms"].as_u64().unwrap(), m["share"].as_f64().unwrap()))
        .collect();
    assert_eq!(moves.iter().map(|m| m.1).collect::<Vec<_>>(), [0.5, 0.0], "{outcome}");
    assert!(moves[1].0 >= moves[0].0 + 1000, "a step a second: {moves:?}");
    assert!(outcome.get("rollback_unfinished").is_none(), "it reached 0: {outcome}");
    assert!(outcome["recovery_ms"].as_u64().is_some(), "{outcome}");
    let back = &rollout["rollback_handover"];
    assert_eq!(back["clients"], 11, "every moved client back, the listed one too: {back}");
    assert!(crate::support::passed_as_measurable(code, &summary), "{code:?} {stderr}");
}
