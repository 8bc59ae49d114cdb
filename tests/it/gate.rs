//! The gate across rollout phases, through the binary: a phase-0 run writes the baseline, a phase-1 run
//! judged against it with `--baseline`, scenario thresholds on any metric, and legacy as the reference.

use serde_json::Value;

use crate::support::{scratch_path, verdict};

/// Runs a small scenario (3 s, 6 clients of 30 subscribers on two streams) with extra TOML and arguments;
/// the exit code and the summary. Runs share the machine with other tests: they judge thresholds, not the
/// harness's speed or run-to-run latency noise.
fn run(name: &str, extra: &str, args: &[&str]) -> (Option<i32>, Value, String) {
    let extra = format!("[harness]\nlatency-floor = \"100ms\"\nsaturation-lag = \"1s\"\n{extra}");
    let text = format!(
        "duration = \"3s\"\n[workload]\nclients = 6\nsubscribers-per-client = 30\n\
         [mock.feed]\nsymbols = [\"btcusdt\", \"ethusdt\"]\norders-per-second = 20.0\n{extra}"
    );
    let ran = crate::support::run_scenario(&format!("phase-{name}"), &text, args);
    (ran.code, ran.summary, ran.stderr)
}

#[test]
fn phase_0_writes_a_baseline_and_phase_1_is_judged_against_it() {
    let (code, phase0, stderr) = run("0", "[rollout]\npreset = \"phase-0\"\n", &[]);
    assert!(crate::support::passed_as_measurable(code, &phase0), "{code:?} {stderr}");
    assert_eq!(phase0["cohorts"].as_array().unwrap().len(), 1, "legacy only");
    let baseline_file = scratch_path("phase-0").join("baseline.json");
    let baseline: Value = serde_json::from_slice(&std::fs::read(&baseline_file).unwrap()).unwrap();
    assert_eq!(baseline["cohort"]["manager"], "legacy");

    // Phase 1 against it: the latency floor absorbs run-to-run noise; a tolerance on connections held is
    // bound to fail (WSManager shares sockets), so the gate must fail on it and on nothing else.
    let extra = "[rollout]\npreset = \"phase-1\"\n[cohorts]\nnew-share = 0.5\n\
                 [[baseline.tolerance]]\nmetric = \"latency_us.p95\"\nmax-increase = 5.0\n\
                 [[baseline.tolerance]]\nmetric = \"connections.high_water\"\nmax-decrease = 10.0\n";
    let dir = scratch_path("phase-0");
    let (code, phase1, stderr) = run("1", extra, &["--baseline", dir.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(phase1["baseline"]["scenario"], "phase-0");
    assert_eq!(phase1["scenario"]["cohorts"]["mode"], "split");
    let held = verdict(&phase1, "baseline:connections.high_water", "wsmanager");
    assert_eq!(held["status"], "fail", "{held}");
    assert!(held["measured"].as_f64().unwrap() > 10.0);
    for timed in ["baseline:latency_us.p95", "latency-regression"] {
        let v = verdict(&phase1, timed, "wsmanager");
        assert!(crate::support::passed_unless_rig_bound(v, &phase1), "{v}");
    }
    for gate in ["error-rate-regression", "connection-leaks"] {
        assert_eq!(verdict(&phase1, gate, "wsmanager")["status"], "pass", "phase-1 gate {gate}");
    }
    let failed: Vec<&Value> =
        phase1["verdicts"].as_array().unwrap().iter().filter(|v| v["status"] == "fail" && v["gates"] == true).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let report = std::fs::read_to_string(scratch_path("phase-1").join("report.md")).unwrap();
    assert!(report.contains("Rollout preset `phase-1`") && report.contains("Compared with the baseline"), "{report}");

    let (code, _, stderr) = run("missing", "", &["--baseline", "/nonexistent/baseline.json"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("could not read the baseline '/nonexistent/baseline.json'"), "{stderr}");
}

#[test]
fn a_scenario_threshold_gates_any_metric_and_legacy_is_the_reference() {
    let extra = "[managers.legacy]\nmax-attempts = 1\n\
                 [[thresholds]]\nname = \"the mock accepted upgrades\"\nmetric = \"server.upgrades_accepted\"\nat-least = 1\n\
                 [[thresholds]]\nmetric = \"streams.high_water\"\ncohort = \"wsmanager\"\nbelow = 1\n";
    let (code, summary, stderr) = run("thresholds", extra, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let dropped = summary["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["criterion"] == "custom:the mock accepted upgrades")
        .unwrap();
    assert_eq!((dropped["status"].as_str(), dropped["gates"].as_bool()), (Some("pass"), Some(true)));
    let streams = verdict(&summary, "custom:streams.high_water", "wsmanager");
    assert_eq!(streams["status"], "fail", "WSManager serves at least one stream: {streams}");
    assert_eq!(verdict(&summary, "latency-p95", "legacy")["gates"], false, "legacy is the reference");
    let junit = std::fs::read_to_string(scratch_path("phase-thresholds").join("junit.xml")).unwrap();
    assert!(junit.contains("failures=\"1\"") && junit.contains("custom:streams.high_water [wsmanager]"), "{junit}");
}
