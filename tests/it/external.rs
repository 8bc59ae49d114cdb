//! External managers in a run, through the binary: a process that crashes after writing garbage and one
//! that never answers `stop` are reported against their cohorts with the process, the line and the exit
//! code, and the run goes on and writes everything it measured; a process that never becomes ready stops
//! the run before it starts, naming the manager. (The shipped Node adapter in a full run is in `shipped`.)

use serde_json::Value;

use crate::support::*;

const READY: &str = r#"{"type":"ready","protocol":1,"adapter":"fake","implementations":["legacy","wsmanager"]}"#;

/// A scenario with the legacy model beside the external managers `managers` (TOML tables).
fn scenario(name: &str, cohorts: &[&str], managers: &str) -> String {
    let names: Vec<String> = cohorts.iter().map(|c| format!("\"{c}\"")).collect();
    format!(
        r#"name = "{name}"
description = "external managers that misbehave"
duration = "5s"
seed = 3

[workload]
clients = 1
subscribers-per-client = 2
streams-per-subscriber = 1
ramp-up = "0s"

[cohorts]
mode = "side-by-side"
managers = ["legacy", {}]

{managers}

[mock.feed]
symbols = ["btcusdt"]
"#,
        names.join(", ")
    )
}

/// `command = ["sh", <a script file with `script`>]`.
fn sh(name: &str, script: &str) -> String {
    let file = scratch_file(&format!("{name}.sh"), &format!("{script}\n"));
    format!("command = [\"sh\", \"{}\"]", file.display())
}

fn external<'a>(summary: &'a Value, cohort: &str) -> &'a Value {
    let cohorts = summary["cohorts"].as_array().unwrap();
    &cohorts.iter().find(|c| c["name"] == cohort).unwrap_or_else(|| panic!("no cohort {cohort}"))["external"]
}

#[test]
fn a_crashing_process_and_one_that_ignores_stop_are_reported_with_the_process_the_line_and_the_exit_code() {
    let crashing =
        sh("crashing", &format!("read init; echo '{READY}'; read client; echo not-a-report; echo boom >&2; exit 3"));
    let hanging = sh("hanging", &format!("read init; echo '{READY}'; while read line; do :; done"));
    let managers = format!(
        "[managers.crashing]\n{crashing}\nimplements = \"legacy\"\n\n[managers.hanging]\n{hanging}\nimplements = \"wsmanager\"\n"
    );
    let ran = run_scenario("external-misbehaving", &scenario("misbehaving", &["crashing", "hanging"], &managers), &[]);
    assert!(ran.summary.is_object(), "judged and written, not a harness error: {:?}\n{}", ran.code, ran.stderr);

    let crashed = external(&ran.summary, "crashing");
    assert_eq!(crashed["failed"], 1, "{crashed}");
    let failure = &crashed["failures"][0];
    assert_eq!(failure["process"], 0);
    assert!(
        failure["name"].as_str().unwrap().starts_with("sh ")
            && failure["name"].as_str().unwrap().contains("crashing.sh"),
        "{failure}"
    );
    assert!(failure["name"].as_str().unwrap().contains("(pid "), "{failure}");
    assert_eq!(failure["what"], "it exited with code 3 during the run");
    assert_eq!(failure["stderr"], serde_json::json!(["boom"]));
    assert_eq!(crashed["garbage_lines"], 1);
    let garbage = crashed["garbage"][0].as_str().unwrap();
    assert!(garbage.starts_with("process 0: line 2"), "the process and the line of its stdout: {garbage}");

    let hung = external(&ran.summary, "hanging");
    assert_eq!(hung["failed"], 1, "{hung}");
    assert!(hung["failures"][0]["what"].as_str().unwrap().contains("did not answer \"stop\""), "{hung}");

    // Their subscribers received nothing, and what was published to them while they were subscribed is lost.
    for name in ["crashing", "hanging"] {
        let cohort = ran.summary["cohorts"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap();
        let d = &cohort["delivery"];
        assert_eq!(d["delivered"], 0, "{name}: {d}");
        assert!(d["lost"].as_u64().unwrap() > 0, "{name}: {d}");
    }
    assert_eq!(verdict(&ran.summary, "message-delivery", "hanging")["status"], "fail");
    // A process that misbehaved fails its cohort, and gates even when the cohort is the legacy reference.
    let failures = verdict(&ran.summary, "adapter-failures", "crashing");
    assert_eq!(
        (&failures["status"], &failures["measured"], &failures["gates"]),
        (&"fail".into(), &2.0.into(), &true.into())
    );
    assert_eq!(verdict(&ran.summary, "adapter-failures", "hanging")["measured"], 1.0);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);

    let report = std::fs::read_to_string(scratch_path("external-misbehaving").join("report.md")).unwrap();
    assert!(report.contains("## External managers"), "{report}");
    assert!(report.contains("crashing: process 0 (sh "), "{report}");
    assert!(report.contains("it exited with code 3 during the run; its stderr ended: boom"), "{report}");
    assert!(report.contains("crashing: process 0: line 2"), "{report}");
}

#[test]
fn a_process_that_never_becomes_ready_stops_the_run_before_it_starts_naming_the_manager() {
    let managers =
        "[managers.silent]\ncommand = [\"sleep\", \"30\"]\nimplements = \"wsmanager\"\nready-timeout = \"1s\"\n";
    let ran = run_scenario("external-silent", &scenario("silent", &["silent"], managers), &[]);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("an external manager did not start"), "{}", ran.stderr);
    assert!(ran.stderr.contains("sleep 30"), "names the process: {}", ran.stderr);
}

/// A rehearsal moves an external client by its migration layer's flag flip: an implementation that the
/// adapter's `ready` report does not list among its migration layers stops the run before it starts, with
/// the manager's key to fix.
#[test]
fn a_rehearsal_of_an_implementation_that_is_no_migration_layer_stops_before_it_starts() {
    let fake = sh("no-layer", &format!("read init; echo '{READY}'; while read line; do :; done"));
    let text = format!(
        "name = \"no-layer\"\nduration = \"20s\"\n[workload]\nclients = 2\nsubscribers-per-client = 1\n\
         ramp-up = \"0s\"\n[cohorts]\nmode = \"split\"\nnew-manager = \"fake\"\n\
         [managers.fake]\n{fake}\nimplements = \"wsmanager\"\n[rollout]\nsteps = [1.0]\nwarmup = \"1s\"\nhold = \"2s\"\n"
    );
    let ran = run_scenario("external-no-layer", &text, &[]);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("is not among the migration layers its ready report lists"), "{}", ran.stderr);
    assert!(ran.stderr.contains("managers.fake.implementation"), "{}", ran.stderr);
}
