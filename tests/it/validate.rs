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
    // The whole text as a user reads it (the scratch path written as FILE): a change of wording is a diff.
    insta::assert_snapshot!("validate_many_mistakes", stderr.replace(&file, "FILE"));
    assert!(stderr.contains("error: 1 of 2 files are invalid"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with(&format!("ok: {}: ", good.display())), "{stdout}");
    assert!(
        stdout.contains(" clients, ") && stdout.contains(" sockets, about "),
        "the cost of a valid scenario: {stdout}"
    );
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

/// Runs `wschaos <args>` under a 4 GiB address-space limit (a scenario that builds its population first
/// would abort there, as it did on a memory-limited machine) and returns its exit code and stderr.
fn under_memory_limit(args: &[&str]) -> (Option<i32>, String) {
    let binary = wschaos_binary().get_program().to_owned();
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(binary)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let output = crate::support::wait_bounded(child, std::time::Duration::from_secs(120));
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_scenario_past_the_machine_is_refused_with_its_cost_by_validate_and_by_run_before_anything_starts() {
    for (name, workload, key) in [
        ("huge-clients", "clients = 10000000", "workload.clients"),
        ("huge-subscribers", "clients = 1\nsubscribers-per-client = 1000000000", "workload.clients"),
    ] {
        let path = scratch_file(&format!("{name}.toml"), &format!("duration = \"10s\"\n\n[workload]\n{workload}\n"));
        let out = scratch_dir(&format!("{name}-run"));
        std::fs::remove_dir_all(&out).ok();
        let file = path.display().to_string();
        // The memory (under the 4 GiB limit, always) on the workload's table; the sockets, when the
        // machine's open-file limit is below them, on the key that sets them.
        let placed = |stderr: &str| {
            let refusal = |l: &&str| l.contains("subscriptions, at least");
            let memory =
                stderr.lines().filter(refusal).any(|l| l.trim_start().starts_with(&format!("{file}:3:2: `workload`")));
            let sockets =
                stderr.lines().filter(refusal).all(|l| !l.contains("files") || l.contains(&format!("`{key}`")));
            memory && sockets
        };
        let (code, stderr) = under_memory_limit(&["validate", &file]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(placed(&stderr), "{name}:\n{stderr}");
        let (code, stderr) = under_memory_limit(&["run", &file, "--out", &out.display().to_string()]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(placed(&stderr) && !stderr.contains("memory allocation"), "{name}:\n{stderr}");
        assert!(!out.exists(), "nothing was started, so no run directory");
    }
}

#[test]
fn text_level_mistakes_name_the_place_and_the_key() {
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "dup-key",
            b"duration = \"10s\"\nseed = 1\nseed = 2\n",
            ":3:1: `seed`: duplicate key `seed`: it is already defined (first on line 2)",
        ),
        (
            "dup-table",
            b"duration = \"10s\"\n[workload]\nclients = 1\n[workload]\n",
            ":4:2: `workload`: duplicate table `workload`",
        ),
        ("latin1", b"duration = \"10s\"\nname = \"caf\xe9\"\n", ":2:12: the file is not UTF-8 text: byte 0xE9"),
        (
            "binary",
            b"\x7fELF\x02\x01\x01\x00\x00\x00\xff",
            ":1:11: the file is not UTF-8 text: byte 0xFF here is not valid UTF-8 (it looks like a binary file",
        ),
        ("empty", b"# to be written\n", ": the file is empty"),
    ];
    for (name, bytes, expected) in cases {
        let path = scratch_dir("text-mistakes").join(format!("{name}.toml"));
        std::fs::write(&path, bytes).unwrap();
        let output = wschaos_binary().arg("validate").arg(&path).output().unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let line = format!("{}{expected}", path.display());
        assert!(stderr.contains(&line), "{line} in:\n{stderr}");
    }
}

#[test]
fn an_unknown_key_holding_an_array_and_a_zero_duration_are_each_one_issue() {
    let path = scratch_file(
        "validate-array-key.toml",
        "duration = \"0s\"\n[workload]\nclients = 2\nramp-up = \"5s\"\n[cohorts]\nmangers = [\"legacy\", \"wsmanager\"]\n",
    );
    let issues = wschaos::scenario::load(&path).unwrap_err();
    let keys: Vec<Option<&str>> = issues.0.iter().map(|i| i.key.as_deref()).collect();
    assert_eq!(keys, [Some("duration"), Some("cohorts.mangers")], "{issues}");
    assert!(!issues.to_string().contains("(1s)"), "no follow-on speaks of a stand-in length: {issues}");
}
