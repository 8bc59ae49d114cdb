//! `wschaos validate` as a user runs it: every problem of every file at once, each with file, line,
//! column and key; `ok: FILE` for valid files; exit 2 when any file is invalid.

use crate::support::{repo_path, scratch_dir, scratch_file, wschaos_binary};

/// One file with independent mistakes in five different sections, and semantic ones beside them.
const MANY_MISTAKES: &str = "\
duration = \"10s\"
nmae = \"typo\"

[workload]
clients = \"ten\"
ramp-up = \"1m\"

[cohorts]
mode = \"splitt\"

[mock.limits]
message-rate = { max = 5, windw = \"1s\" }

[[faults]]
kind = \"stall\"
at = \"20s\"

[[faults]]
kind = \"stal\"

[criteria.latency-p95]
treshold = 150.0
";

#[test]
fn every_problem_of_every_file_is_reported_with_its_place_and_the_exit_code_is_2() {
    let bad = scratch_file("validate-many.toml", MANY_MISTAKES);
    let good = repo_path("scenarios/smoke.toml");
    let output = wschaos_binary().arg("validate").arg(&bad).arg(&good).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = bad.display().to_string();
    for (place, key, what) in [
        ("2:1", "nmae", "expected one of `name`, `description`, `duration`"),
        ("5:11", "workload.clients", "expected a whole number"),
        ("6:1", "workload.ramp-up", "is not shorter than the run"),
        ("9:8", "cohorts.mode", "unknown variant `splitt`, expected `side-by-side` or `split`"),
        ("12:27", "mock.limits.message-rate.windw", "expected `max` or `window`"),
        ("16:1", "faults[0].at", "is not inside the run"),
        ("19:8", "faults[1].kind", "unknown variant `stal`"),
        ("22:1", "criteria.latency-p95.treshold", "expected `threshold` or `enabled`"),
    ] {
        let line = format!("{file}:{place}: `{key}`: ");
        let found = stderr.lines().find(|l| l.starts_with(&line));
        assert!(found.is_some_and(|l| l.contains(what)), "{line}…{what} in:\n{stderr}");
    }
    assert_eq!(stderr.lines().filter(|l| l.starts_with(&file)).count(), 8, "no echoes:\n{stderr}");
    assert!(stderr.contains("error: 1 of 2 files are invalid"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout, format!("ok: {}\n", good.display()));
}

#[test]
fn valid_files_exit_0_and_quiet_prints_nothing() {
    let output = wschaos_binary().args(["validate", "--quiet"]).arg(repo_path("scenarios")).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stdout.is_empty() && output.stderr.is_empty());
    let output = wschaos_binary().arg("validate").arg(repo_path("scenarios")).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.lines().count() >= 3 && stdout.contains("scenarios/smoke.toml"), "a directory is its *.toml files");
}

#[test]
fn mock_configurations_are_validated_with_mock() {
    let dir = scratch_dir("validate-mock");
    let bad = dir.join("mock.toml");
    std::fs::write(&bad, "[heartbeat]\nping-intervall = \"20s\"\n[limits]\nlifetime-close-code = 1006\n").unwrap();
    let output = wschaos_binary().args(["validate", "--mock"]).arg(&bad).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{}:2:1: `heartbeat.ping-intervall`", bad.display())), "{stderr}");
    assert!(stderr.contains(&format!("{}:4:1: `limits.lifetime-close-code`", bad.display())), "{stderr}");
    let shipped = repo_path("scenarios/mock/binance-spot.toml");
    let output = wschaos_binary().args(["validate", "--mock"]).arg(&shipped).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_missing_file_and_a_syntax_error_are_problems_too() {
    let broken = scratch_file("validate-syntax.toml", "duration = \"10s\"\n[workload\nclients = 1\n");
    let output = wschaos_binary().arg("validate").arg(&broken).arg("/nonexistent/s.toml").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{}:2:10: unclosed table", broken.display())), "{stderr}");
    assert!(stderr.contains("/nonexistent/s.toml: cannot read the file"), "{stderr}");
    assert!(stderr.contains("2 of 2 files are invalid"), "{stderr}");
}

#[test]
fn one_bad_duration_does_not_put_everything_outside_the_run() {
    let path = scratch_file(
        "validate-duration.toml",
        "duration = \"30 parsecs\"\n[workload]\nclients = 2\nramp-up = \"5s\"\n[[faults]]\nkind = \"stall\"\nat = \"10s\"\n",
    );
    let issues = wschaos::scenario::load(&path).unwrap_err();
    let keys: Vec<Option<&str>> = issues.0.iter().map(|i| i.key.as_deref()).collect();
    assert_eq!(keys, [Some("duration")], "{issues}");
}
