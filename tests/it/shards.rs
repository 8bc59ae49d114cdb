//! Sharded runs through the binary: two shards of a scenario against one shared `wschaos mock` process,
//! started at one instant, merged with `wschaos merge`, against the same scenario run unsharded on a mock of
//! its own (the twin). The merge gives the twin's verdicts and deterministic counts, its latency
//! percentiles are exactly those of the shards' histograms added, and only shard 0 applied the fault plan.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use serde_json::Value;
use wschaos::summary::Percentiles;

use crate::support::{scratch_dir, scratch_file, wait_bounded, wschaos_binary};

const SCENARIO: &str = r#"
name = "sharded"
duration = "6s"
seed = 5

[workload]
clients = 8
subscribers-per-client = 4
streams-per-subscriber = 1
ramp-up = "1s"
popularity-exponent = 0.0
kinds = { trade = 1, bookTicker = 1 }

[cohorts]
mode = "side-by-side"
managers = ["legacy", "wsmanager"]

[managers.legacy]
reconnect = "fixed"
delay = "500ms"

[mock.feed]
symbols = ["btcusdt", "ethusdt"]
orders-per-second = 4.0
book-changes-per-second = 4.0

[[faults]]
kind = "disconnect"
name = "drop"
at = "3s"
how = "fin"
"#;

const MOCK: &str = r#"
[feed]
symbols = ["btcusdt", "ethusdt"]
orders-per-second = 4.0
book-changes-per-second = 4.0
"#;

/// A `wschaos mock` process with its control API and publication record: killed when dropped.
struct SharedMock {
    child: Child,
    url: String,
    control: String,
    /// Its stdout, held open: a mock whose stdout is closed fails on its next line.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for SharedMock {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn shared_mock(config: &Path) -> SharedMock {
    shared_mock_with(&["--config".as_ref(), config.as_os_str()], None)
}

/// A shared mock started with `args` (its configuration) and, when given, a control-API token.
fn shared_mock_with(args: &[&std::ffi::OsStr], token: Option<&str>) -> SharedMock {
    let mut command = wschaos_binary();
    command.args(["mock", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--record-publications"]).args(args);
    match token {
        Some(token) => command.env("WSCHAOS_CONTROL_TOKEN", token),
        None => command.env_remove("WSCHAOS_CONTROL_TOKEN"),
    };
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (mut url, mut control) = (None, None);
    for _ in 0..20 {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the mock's banner ended early");
        if let Some(rest) = line.split("streams on ").nth(1) {
            url = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(rest) = line.trim().strip_prefix("control:") {
            let base = rest.split_whitespace().next().unwrap().trim_end_matches("/faults");
            control = Some(base.trim_start_matches("http://").to_owned());
        }
        if url.is_some() && control.is_some() {
            break;
        }
    }
    let (url, control) = (url.expect("the mock's address"), control.expect("its control API"));
    SharedMock { child, url, control, _stdout: stdout }
}

fn run_child(scenario: &Path, out: &Path, mock: &SharedMock, extra: &[String]) -> Child {
    run_child_with(scenario, out, mock, extra, None)
}

fn run_child_with(scenario: &Path, out: &Path, mock: &SharedMock, extra: &[String], token: Option<&str>) -> Child {
    std::fs::remove_dir_all(out).ok();
    let mut command = wschaos_binary();
    match token {
        Some(token) => command.env("WSCHAOS_CONTROL_TOKEN", token),
        None => command.env_remove("WSCHAOS_CONTROL_TOKEN"),
    };
    command
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .args(["--quiet", "--target", &mock.url, "--control", &mock.control])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finished(child: Child, what: &str) -> i32 {
    finished_saying(child, what).0
}

/// The exit code of a run that must end measured (0, 1 or 3), and what it said on stderr.
fn finished_saying(child: Child, what: &str) -> (i32, String) {
    let output = wait_bounded(child, Duration::from_secs(120));
    let code = output.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(matches!(code, 0 | 1 | 3), "{what} exited {code}: {stderr}");
    (code, stderr)
}

/// Runs `scenario` as 2 shard processes merged into `out` (`wschaos run --processes 2`) with `extra`
/// arguments; its exit code and stderr.
fn run_as_processes(scenario: &Path, out: &Path, what: &str, extra: &[&str]) -> (i32, String) {
    let child = wschaos_binary()
        .arg("run")
        .arg(scenario)
        .args(["--processes", "2", "--quiet", "--out"])
        .arg(out)
        .args(extra)
        .env_remove("WSCHAOS_METRICS_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finished_saying(child, what)
}

/// `wschaos run scenario args…`, which must be refused as a usage error (exit 2) before anything starts;
/// what it said.
fn refused(scenario: &Path, args: &[&str]) -> String {
    let output = wschaos_binary().arg("run").arg(scenario).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    stderr
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

/// Every verdict's status by criterion and cohort.
fn statuses(summary: &Value) -> Vec<(String, String, String)> {
    let mut list: Vec<(String, String, String)> = summary["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["criterion"].to_string(), v["cohort"].to_string(), v["status"].as_str().unwrap().to_owned()))
        .collect();
    list.sort();
    list
}

fn histogram(encoded: &Value) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.as_str().unwrap()).unwrap();
    Deserializer::new().deserialize(&mut std::io::Cursor::new(bytes)).unwrap()
}

fn cohort<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["cohorts"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()
}

#[test]
fn two_shards_merged_judge_as_the_unsharded_run_does() {
    let dir = scratch_dir("shards");
    let scenario = scratch_file("shards/sharded.toml", SCENARIO);
    let config = scratch_file("shards/mock.toml", MOCK);
    let twin_dir = dir.join("twin");
    let twin_code = {
        let mock = shared_mock(&config);
        finished(run_child(&scenario, &twin_dir, &mock, &[]), "the unsharded twin")
    };
    let mock = shared_mock(&config);
    let start_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64 + 3_000;
    let shard_dirs: Vec<PathBuf> = (0..2).map(|i| dir.join(format!("shard-{i}"))).collect();
    let children: Vec<Child> = (0..2)
        .map(|i| {
            let extra = ["--shard".to_owned(), format!("{i}/2"), "--start-at".to_owned(), start_at.to_string()];
            run_child(&scenario, &shard_dirs[i], &mock, &extra)
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        finished(child, &format!("shard {i}"));
    }
    drop(mock);
    let merged_dir = dir.join("merged");
    std::fs::remove_dir_all(&merged_dir).ok();
    let merge =
        wschaos_binary().arg("merge").args(&shard_dirs).arg("--out").arg(&merged_dir).arg("--quiet").output().unwrap();
    let merged = summary(&merged_dir);
    let twin = summary(&twin_dir);
    let rig_bound = crate::support::rig_lagged(&merged) || crate::support::rig_lagged(&twin);

    // Each shard is marked, holds its slice, and wrote its records; the merge lists both with their skew.
    let shards: Vec<Value> = shard_dirs.iter().map(|d| summary(d)).collect();
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["run"]["shard"]["index"], i);
        assert_eq!(s["run"]["shard"]["count"], 2);
        assert_eq!(s["run"]["shard"]["start_at_unix_ms"], start_at);
    }
    let clients: Vec<u64> = shards.iter().map(|s| cohort(s, "legacy")["clients"].as_u64().unwrap()).collect();
    assert_eq!(clients.iter().sum::<u64>(), 8, "{clients:?}");
    assert!(clients.iter().all(|c| *c > 0), "both shards hold clients: {clients:?}");
    let listed = merged["run"]["shards"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|s| s["start_offset_ms"].as_u64().unwrap() < 1_000), "{listed:?}");

    // Exactly one party applied the fault plan: one drop, as in the twin.
    assert_eq!(merged["faults"].as_array().unwrap().len(), 1, "{}", merged["faults"]);
    assert_eq!(twin["faults"].as_array().unwrap().len(), 1);

    // The twin's deterministic counts: the population, and every socket the managers held (server side).
    for name in ["legacy", "wsmanager"] {
        let (m, t) = (cohort(&merged, name), cohort(&twin, name));
        for key in ["clients", "subscriptions", "distinct_streams"] {
            assert_eq!(m[key], t[key], "{name}.{key}");
        }
        assert_eq!(m["attempts"]["connected"], t["attempts"]["connected"], "{name}: sockets opened");
        // The shards' peaks bracket the merged run's: the twin's, a steady population's, lies between.
        let c = &m["connections"];
        let (low, high) = (c["high_water_low"].as_i64().unwrap(), c["high_water"].as_i64().unwrap());
        let twin_peak = t["connections"]["high_water"].as_i64().unwrap();
        assert!(low <= twin_peak && twin_peak <= high, "{name}: {low} <= {twin_peak} <= {high}");
        let d = &m["delivery"];
        let (published, delivered, lost) = (d["published"].as_u64(), d["delivered"].as_u64(), d["lost"].as_u64());
        assert_eq!(published, Some(delivered.unwrap() + lost.unwrap()), "{name}: published = delivered + lost");
    }

    // The merged latency percentiles are exactly those of the shards' histograms added.
    let records: Vec<Value> = shard_dirs
        .iter()
        .map(|d| serde_json::from_slice(&std::fs::read(d.join("records.json")).unwrap()).unwrap())
        .collect();
    for (index, name) in ["legacy", "wsmanager"].iter().enumerate() {
        let mut sum = histogram(&records[0]["recorded"]["recording"]["cohorts"][index]["latency"]);
        sum.add(histogram(&records[1]["recorded"]["recording"]["cohorts"][index]["latency"])).unwrap();
        let expected = serde_json::to_value(Percentiles::of(&sum)).unwrap();
        assert_eq!(cohort(&merged, name)["latency_us"], expected, "{name}");
        assert!(!sum.is_empty(), "{name} delivered");
    }

    // The same verdicts as the twin's (a verdict the rig's lag made not measurable in either is left out).
    let code = merge.status.code();
    if rig_bound {
        let measurable = |s: &Value| statuses(s).into_iter().filter(|v| v.2 != "not-measurable").collect::<Vec<_>>();
        let (m, t) = (measurable(&merged), measurable(&twin));
        let both: Vec<_> = m.iter().filter(|v| t.iter().any(|w| w.0 == v.0 && w.1 == v.1)).collect();
        assert!(both.iter().all(|v| t.contains(v)), "merged {m:?}\ntwin {t:?}");
    } else {
        assert_eq!(statuses(&merged), statuses(&twin));
        assert_eq!(code, Some(twin_code), "{}", String::from_utf8_lossy(&merge.stderr));
    }
}

#[test]
fn a_merge_refuses_what_is_not_every_shard_of_one_run() {
    let dir = scratch_dir("shards-refused");
    let scenario = scratch_file(
        "shards-refused/short.toml",
        &SCENARIO.replace("duration = \"6s\"", "duration = \"2s\"").replace("at = \"3s\"", "at = \"1s\""),
    );
    let config = scratch_file("shards-refused/mock.toml", MOCK);
    let mock = shared_mock(&config);
    let shard = dir.join("shard-0");
    finished(run_child(&scenario, &shard, &mock, &["--shard".into(), "0/2".into()]), "shard 0");
    let output =
        wschaos_binary().arg("merge").arg(&shard).arg(&shard).arg("--out").arg(dir.join("m")).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("shard 0/2 is given 2 times") && stderr.contains("1/2 missing"), "{stderr}");
    // Shard 1 pointed at another mock than shard 0's: their counters would add up as one mock's.
    let other_mock = shared_mock(&config);
    let stray = dir.join("shard-1");
    finished(run_child(&scenario, &stray, &other_mock, &["--shard".into(), "1/2".into()]), "shard 1");
    let output =
        wschaos_binary().arg("merge").arg(&shard).arg(&stray).arg("--out").arg(dir.join("m")).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("shards 0 and 1 were to run against one mock")
            || stderr.contains("shards 1 and 0 were to run against one mock"),
        "{stderr}"
    );
    let plain = dir.join("plain");
    finished(run_child(&scenario, &plain, &mock, &[]), "an unsharded run");
    let output = wschaos_binary().arg("merge").arg(&plain).arg("--out").arg(dir.join("m")).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("records.json") && stderr.contains("--shard"), "{stderr}");
}

#[test]
fn processes_run_the_shards_and_merge_them_into_the_run_directory() {
    let dir = scratch_dir("shards-processes");
    let scenario = scratch_file("shards-processes/sharded.toml", SCENARIO);
    let out = dir.join("run");
    let (code, stderr) = run_as_processes(&scenario, &out, "the run of 2 processes", &["--metrics", "127.0.0.1:0"]);
    // Each shard serves its own part of the run's metrics, and says where.
    assert_eq!(stderr.matches("wschaos run: metrics on http://127.0.0.1:").count(), 2, "{stderr}");
    let merged = summary(&out);
    assert_eq!(merged["run"]["shards"].as_array().unwrap().len(), 2);
    assert!(out.join("shard-0/records.json").is_file() && out.join("shard-1/records.json").is_file());
    assert_eq!(merged["faults"].as_array().unwrap().len(), 1, "one drop, applied by shard 0 alone");
    // Hand-computed: every socket opened once, and once again after the drop.
    let (legacy, wsmanager) = (cohort(&merged, "legacy"), cohort(&merged, "wsmanager"));
    assert_eq!(legacy["subscriptions"], 32);
    assert_eq!(legacy["attempts"]["connected"].as_u64(), Some(2 * 32));
    let distinct = wsmanager["distinct_streams"].as_u64().unwrap();
    assert_eq!(wsmanager["attempts"]["connected"].as_u64(), Some(2 * distinct));
    let failed = merged["verdicts"].as_array().unwrap().iter().any(|v| v["gates"] == true && v["status"] == "fail");
    let expected = if failed {
        1
    } else if crate::support::rig_lagged(&merged) {
        3
    } else {
        0
    };
    assert_eq!(code, expected);
}

#[test]
fn shards_that_meet_at_the_mock_s_barrier_start_at_one_instant() {
    // As on Kubernetes: the mock serves the scenario's own [mock] section behind a token, and the shards,
    // started one after the other, meet at its barrier.
    let dir = scratch_dir("shards-barrier");
    let short = SCENARIO.replace("duration = \"6s\"", "duration = \"2s\"").replace("at = \"3s\"", "at = \"1s\"");
    let scenario = scratch_file("shards-barrier/short.toml", &short);
    let mock = shared_mock_with(&["--scenario".as_ref(), scenario.as_os_str()], Some("s3cret"));
    let dirs: Vec<PathBuf> = (0..2).map(|i| dir.join(format!("shard-{i}"))).collect();
    let children: Vec<Child> = (0..2)
        .map(|i| {
            let extra = ["--shard".into(), format!("{i}/2"), "--barrier".into()];
            run_child_with(&scenario, &dirs[i], &mock, &extra, Some("s3cret"))
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        finished(child, &format!("shard {i}"));
    }
    let starts: Vec<Value> = dirs.iter().map(|d| summary(d)["run"]["shard"]["start_at_unix_ms"].clone()).collect();
    assert!(starts[0].is_u64() && starts[0] == starts[1], "one instant named by the barrier: {starts:?}");
    let state = {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(&mock.control).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(tcp, "GET /barrier HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        tcp.read_to_string(&mut response).unwrap();
        response
    };
    assert!(state.contains("\"arrived\":2") && state.contains("\"parties\":2"), "{state}");
    // Through the token, shard 0 applied the plan and both read the mock's counters.
    let merged = dir.join("merged");
    let merge = wschaos_binary().arg("merge").args(&dirs).arg("--out").arg(&merged).arg("--quiet").output().unwrap();
    assert!(matches!(merge.status.code(), Some(0 | 1 | 3)), "{}", String::from_utf8_lossy(&merge.stderr));
    assert_eq!(summary(&merged)["faults"].as_array().unwrap().len(), 1);
}

#[test]
fn a_shard_refuses_what_would_measure_the_rig_before_anything_starts() {
    let scenario = scratch_file("shards-off-loopback.toml", SCENARIO);
    // Off loopback (nothing is sent: the refusal comes first), a per-address connect limit would refuse a
    // shard's clients as one.
    let remote = ["--target", "ws://10.1.2.3:9443", "--control", "10.1.2.3:9444", "--allow-remote", "--shard", "0/2"];
    let stderr = refused(&scenario, &remote);
    assert!(stderr.contains("limits.connect-attempts") && stderr.contains("\"off\""), "{stderr}");
    // A barrier is one mock's: replicas would each hold one.
    let shard = ["--target", "ws://127.0.0.1:9", "--control", "127.0.0.1:9", "--shard", "1/4"];
    let stderr = refused(&scenario, &[&shard[..], &["--replicas", "2", "--barrier"]].concat());
    assert!(stderr.contains("--barrier with --replicas 2"), "{stderr}");
    // A rehearsal's shards step together on one board: they need a start they agree on, and one board
    // named when replicas each hold their own.
    let rehearsal = scratch_file("shards-rehearsal-refused.toml", REHEARSAL);
    let stderr = refused(&rehearsal, &shard);
    assert!(stderr.contains("--start-at or --barrier"), "{stderr}");
    let stderr = refused(&rehearsal, &[&shard[..], &["--barrier", "--replicas", "2"]].concat());
    assert!(stderr.contains("--barrier with --replicas 2"), "{stderr}");
    let stderr = refused(&rehearsal, &[&shard[..], &["--start-at", "0", "--replicas", "2"]].concat());
    assert!(stderr.contains("name one for every shard with --pool"), "{stderr}");
    // Shard I of --processes serves --metrics on the port + I: none past 65535.
    let stderr = refused(&scenario, &["--processes", "3", "--metrics", "127.0.0.1:65534"]);
    assert!(stderr.contains("shard 2 would serve port 65536, past 65535"), "{stderr}");
}

/// A rehearsal of 12 clients whose second step meets a 2 s refusal of every handshake: connection success
/// falls under its trigger there, on the whole population as on each shard's part of it.
const REHEARSAL: &str = r#"
name = "sharded-rehearsal"
duration = "13s"
seed = 9

[workload]
clients = 12
subscribers-per-client = 5
ramp-up = "1s"
kinds = { trade = 1, bookTicker = 1 }
popularity-exponent = 0.0

[mock.feed]
symbols = ["btcusdt"]
orders-per-second = 100.0

[harness]
saturation-lag = "1s"
latency-floor = "100ms"

[criteria.connection-reduction]
enabled = false
[criteria.error-rate]
enabled = false
[criteria.connection-success]
enabled = false
[criteria.subscription-preservation]
enabled = false
[criteria.connection-preservation]
enabled = false
[criteria.connections-per-stream]
enabled = false

[rollout]
steps = [0.5, 1.0]
warmup = "1s"
hold = "4s"
handover-deadline = "3s"
triggers = { connection-success = 95.0 }
rollback = "perform"
expect = "rollback"

[[faults]]
kind = "reject-handshakes"
step = 2
at = "0s"
duration = "2s"
status = 503
"#;

fn rollout_statuses(summary: &Value) -> Vec<(String, String)> {
    statuses(summary).into_iter().filter(|v| v.0.starts_with("rollout-")).map(|v| (v.0, v.2)).collect()
}

#[test]
fn a_rehearsal_s_shards_decide_each_step_on_every_shard_s_figures() {
    let dir = scratch_dir("shards-rehearsal");
    let twin = crate::support::run_scenario("shards-rehearsal-twin", REHEARSAL, &[]);
    let scenario = scratch_file("shards-rehearsal/rehearsal.toml", REHEARSAL);
    let out = dir.join("run");
    let (code, _) = run_as_processes(&scenario, &out, "the rehearsal as 2 processes", &[]);
    let merged = summary(&out);
    let shards: Vec<Value> = (0..2).map(|i| summary(&out.join(format!("shard-{i}")))).collect();
    let twin = &twin.summary;

    // The twin's outcome: rolled back at the second step, by its trigger, the clients moved back.
    for (what, s) in [("merged", &merged), ("twin", twin), ("shard 0", &shards[0]), ("shard 1", &shards[1])] {
        let outcome = &s["rollout"]["outcome"];
        assert_eq!(outcome["rollback_step"], 1, "{what}: {outcome}");
        assert_eq!(outcome["performed"], true, "{what}");
        assert!(outcome["triggers"][0].as_str().unwrap().starts_with("connection-success"), "{what}: {outcome}");
    }
    // Each shard judged the whole population's step (every shard's clients on the new manager, and the
    // figures of all), which is what the merge judges again from the shards' contributions and the twin
    // judged in one process.
    let steps = |s: &Value| s["rollout"]["steps"].as_array().unwrap().clone();
    for (k, step) in steps(&merged).iter().enumerate() {
        assert_eq!(step["clients_on_new"], steps(twin)[k]["clients_on_new"], "step {k}");
        for (i, shard) in shards.iter().enumerate() {
            assert_eq!(steps(shard)[k]["clients_on_new"], step["clients_on_new"], "shard {i}, step {k}");
            assert_eq!(steps(shard)[k]["judgement"], step["judgement"], "shard {i}, step {k}");
        }
    }
    let rolled_back = |s: &Value| s["rollout"]["rollback_handover"]["clients"].as_u64().unwrap();
    assert!(shards.iter().all(|s| rolled_back(s) > 0), "both shards moved their clients back");
    assert_eq!(rolled_back(&merged), rolled_back(&shards[0]) + rolled_back(&shards[1]));
    assert_eq!(rollout_statuses(&merged), rollout_statuses(twin));
    assert!(crate::support::passed_as_measurable(Some(code), &merged), "{code}: {}", merged["verdicts"]);
}

#[test]
fn a_rehearsal_shard_whose_partner_never_posts_stops_stepping_not_measurable() {
    // Shard 0 of 2 runs alone: its first step's figures are never pooled, so nothing is decided on them.
    let dir = scratch_dir("shards-rehearsal-alone");
    let text = REHEARSAL.replace("duration = \"13s\"", "duration = \"20s\"").replace("hold = \"4s\"", "hold = \"2s\"");
    let scenario = scratch_file("shards-rehearsal-alone/rehearsal.toml", &text);
    let mock = shared_mock_with(&["--scenario".as_ref(), scenario.as_os_str()], None);
    let start_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64 + 1_000;
    let extra = ["--shard".to_owned(), "0/2".to_owned(), "--start-at".to_owned(), start_at.to_string()];
    let code = finished(run_child(&scenario, &dir.join("shard-0"), &mock, &extra), "shard 0 alone");
    let alone = summary(&dir.join("shard-0"));
    let outcome = &alone["rollout"]["outcome"];
    assert_eq!(outcome["unpooled"][0], 0, "{outcome}");
    assert!(outcome["unpooled"][1].as_str().unwrap().contains("1 of 2 shards' figures in"), "{outcome}");
    let status = |id: &str| crate::support::verdict(&alone, id, "wsmanager")["status"].clone();
    assert_eq!(
        (status("rollout-step-1"), status("rollout-outcome")),
        ("not-measurable".into(), "not-measurable".into())
    );
    assert_eq!(code, 3, "a rehearsal the shards could not judge is no pass");
}
