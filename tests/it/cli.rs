//! The `wschaos` binary as a user runs it: `wschaos mock` prints its URL, serves real clients, stops on
//! SIGINT with exit 0; bad configuration files give exit 2 and every problem with its file and line.

use std::io::{BufRead, BufReader, Read};

use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

use tokio_tungstenite::client_async;

use crate::support::{run_scenario, scratch_file, wait_bounded, wschaos_binary};

#[tokio::test]
async fn mock_prints_its_url_serves_a_client_and_stops_on_sigint() {
    let mut child = wschaos_binary()
        .args(["mock", "--listen", "127.0.0.1:0", "--seed", "9", "--stats-on-exit"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).unwrap();
    let url = first_line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .expect("a ws:// URL on the first line")
        .to_owned();
    let addr = url.trim_start_matches("ws://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = client_async(format!("{url}/ws/btcusdt@trade"), tcp).await.unwrap();
    let trade = futures_util::StreamExt::next(&mut ws).await.unwrap().unwrap();
    assert!(trade.to_text().unwrap().starts_with(r#"{"e":"trade","E":"#), "{trade:?}");
    drop(ws);
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let output = wait_bounded(child, Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(0));
    let stats_json = &rest[rest.find('{').expect("stats JSON after the banner")..];
    let stats: serde_json::Value = serde_json::from_str(stats_json).unwrap();
    assert_eq!(stats["connections_high_water"], 1);
    assert!(stats["streams"].as_array().unwrap().iter().any(|s| s["name"] == "btcusdt@trade"));
}

#[test]
fn a_bad_mock_config_lists_every_problem_with_file_and_line_and_exits_2() {
    let path = scratch_file(
        "bad-mock.toml",
        "[limits]\nmessage-rate = { max = 0, window = \"1s\" }\nlifetime-close-code = 1006\n\n[feed]\nsymbols = [\"btcusdt\", \"BTC-USD\"]\n",
    );
    let output = wschaos_binary().args(["mock", "--listen", "127.0.0.1:0", "--config"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = path.display().to_string();
    assert!(stderr.contains("3 problems"), "{stderr}");
    assert!(stderr.contains(&format!("{file}:2:")) && stderr.contains("limits.message-rate.max"), "{stderr}");
    assert!(stderr.contains(&format!("{file}:3:")) && stderr.contains("1006 cannot be sent"), "{stderr}");
    assert!(
        stderr.contains(&format!("{file}:6:")) && stderr.contains("\"BTC-USD\" is not a lowercase symbol"),
        "{stderr}"
    );
}

#[test]
fn a_mistyped_key_names_the_key_the_line_and_the_accepted_keys() {
    let path = scratch_file("typo-mock.toml", "[heartbeat]\nping-intervall = \"20s\"\n");
    let output = wschaos_binary().args(["mock", "--config"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{}:2:1", path.display())), "{stderr}");
    assert!(stderr.contains("unknown field `ping-intervall`") && stderr.contains("ping-interval"), "{stderr}");
}

#[test]
fn a_missing_config_file_is_a_usage_error() {
    let output = wschaos_binary().args(["mock", "--config", "/nonexistent/mock.toml"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/mock.toml: cannot read the file"));
}

#[test]
fn listening_beyond_loopback_needs_allow_remote() {
    let output = wschaos_binary().args(["mock", "--listen", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--allow-remote"));
}

#[test]
fn help_documents_the_exit_codes() {
    let output = wschaos_binary().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("Exit codes: 0") && help.contains("130 interrupted"), "{help}");
}

#[tokio::test]
async fn mock_serves_the_control_api_and_prints_a_curl_example() {
    let mut child = wschaos_binary()
        .args(["mock", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
        .env("WSCHAOS_CONTROL_TOKEN", "t0ken")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("curl -X POST") {
        assert!(stdout.read_line(&mut banner).unwrap() > 0, "banner ended early: {banner}");
    }
    let control = banner.split_whitespace().find(|w| w.ends_with("/faults")).unwrap().trim_start_matches("http://");
    let addr = control.trim_end_matches("/faults");
    let ask = |auth: &'static str| {
        let addr = addr.to_owned();
        async move {
            let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\r\n");
            tokio::io::AsyncWriteExt::write_all(&mut tcp, request.as_bytes()).await.unwrap();
            let mut response = String::new();
            let read = tokio::io::AsyncReadExt::read_to_string(&mut tcp, &mut response);
            tokio::time::timeout(Duration::from_secs(30), read).await.expect("an answer in time").unwrap();
            response
        }
    };
    assert!(ask("").await.starts_with("HTTP/1.1 401"), "the token from the environment is required");
    let metrics = ask("Authorization: Bearer t0ken\r\n").await;
    assert!(metrics.starts_with("HTTP/1.1 200") && metrics.contains("wschaos_mock_connections_open 0"), "{metrics}");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(wait_bounded(child, Duration::from_secs(10)).status.code(), Some(0));
}

/// `wschaos run` on a scratch scenario `name` with its output piped: the child, its stderr, the first line
/// there, and its run directory (removed beforehand).
fn start_run(name: &str, scenario: &str) -> (Child, BufReader<ChildStderr>, String, PathBuf) {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-run"));
    std::fs::remove_dir_all(&out).ok();
    let scenario = scratch_file(&format!("{name}.toml"), scenario);
    let mut child = wschaos_binary()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    (child, stderr, first, out)
}

#[test]
fn ctrl_c_stops_a_run_writes_what_was_measured_and_exits_130() {
    let (child, _stderr, banner, out) = start_run(
        "interrupt",
        "duration = \"60s\"\n[workload]\nclients = 4\n[mock.feed]\nsymbols = [\"btcusdt\"]\norders-per-second = 20.0\n",
    );
    assert!(banner.contains("wschaos run: interrupt"), "{banner}");
    // The clients are connecting once the banner is out; interrupt the run early.
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let output = wait_bounded(child, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(130));
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["run"]["interrupted"], true);
    let elapsed_ms = summary["run"]["elapsed_ms"].as_u64().unwrap();
    assert!(elapsed_ms < 60_000);
    assert!(out.join("events.csv").exists());
    // The series ends where the run did, not padded with empty rows up to the planned 60 s: a row past the
    // run's end is one its teardown's closes fell in.
    let rows = wschaos::run_dir::timeseries_csv::parse(&std::fs::read(out.join("timeseries.csv")).unwrap()).unwrap();
    let past_the_end: Vec<_> = rows.iter().filter(|r| r.second as u64 * 1000 >= elapsed_ms).collect();
    assert!(
        past_the_end.iter().all(|r| r.attempts + r.connected + r.failed + r.ended + r.delivered > 0),
        "{elapsed_ms} ms run: {past_the_end:?}"
    );
    assert!(rows.iter().all(|r| r.second < 59), "rows end where the run ended ({elapsed_ms} ms)");
}

/// Ctrl-C while a large population is still being drawn, before any client or mock started: the command
/// stops there (exit 130) and says so, instead of drawing on and starting the run it was asked to stop.
#[test]
fn ctrl_c_during_start_up_stops_before_anything_runs() {
    let (child, mut stderr, line, out) = start_run(
        "interrupt-start-up",
        "duration = \"60s\"\n[workload]\nclients = 1\nsubscribers-per-client = 2000000\n\
         [cohorts]\nmanagers = [\"wsmanager\"]\n[mock.feed]\nsymbols = [\"btcusdt\"]\n",
    );
    assert!(line.contains("drawing 2000000 subscriptions"), "{line}");
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let output = wait_bounded(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(130), "{rest}");
    assert!(rest.contains("interrupted during start-up"), "{rest}");
    assert!(!out.exists(), "no run was started, so no run directory");
}

#[test]
fn a_bad_scenario_lists_every_mistake_with_its_line_and_exits_2() {
    let scenario = scratch_file(
        "bad-scenario.toml",
        "duration = \"10s\"\n\n[workload]\nclients = 0\nramp-up = \"1m\"\n\n[cohorts]\nmanagers = [\"legacy\", \"legacy\"]\n\n[[faults]]\nkind = \"stall\"\nat = \"20s\"\ncode = 1000\n",
    );
    let output = wschaos_binary().arg("run").arg(&scenario).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = scenario.display().to_string();
    for (line, key) in [
        (4, "workload.clients"),
        (5, "workload.ramp-up"),
        (8, "cohorts.managers"),
        (12, "faults[0].at"),
        (13, "faults[0].code"),
    ] {
        assert!(
            stderr.contains(&format!("{file}:{line}:")) && stderr.contains(key),
            "line {line} `{key}` in:\n{stderr}"
        );
    }
}

#[test]
fn a_scenario_that_cannot_fit_is_refused_with_its_figure_and_the_limit() {
    let scenario = scratch_file(
        "too-big.toml",
        "duration = \"10s\"\n[workload]\nclients = 25000\n[cohorts]\nmanagers = [\"legacy\"]\n",
    );
    let output = wschaos_binary().arg("run").arg(&scenario).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Refused on its key, from its numbers, before its population is drawn: 25,000 legacy sockets and the
    // two canaries, against the machine's 20,000 open files a process.
    assert!(stderr.contains(":3:1: `workload.clients`") && stderr.contains("at least 25002 sockets"), "{stderr}");
    assert!(stderr.contains("may open"), "{stderr}");
}

#[test]
fn production_and_remote_targets_are_refused_unless_asked_for() {
    let scenario = scratch_file("target.toml", "duration = \"10s\"\n[workload]\nclients = 1\n");
    let production =
        wschaos_binary().arg("run").arg(&scenario).args(["--target", "ws://stream.binance.com:9443"]).output().unwrap();
    assert_eq!(production.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&production.stderr).contains("--insist-production"));
    let remote = wschaos_binary().arg("run").arg(&scenario).args(["--target", "ws://10.1.2.3:9443"]).output().unwrap();
    assert_eq!(remote.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&remote.stderr).contains("--allow-remote"));
}

/// Runs a small WSManager-only scenario through the binary with extra TOML; the exit code and summary.
fn gate(name: &str, extra: &str) -> (Option<i32>, serde_json::Value) {
    let text = format!(
        "duration = \"4s\"\n[workload]\nclients = 3\nsubscribers-per-client = 2\n[cohorts]\nmanagers = [\"wsmanager\"]\n\
         [mock.feed]\nsymbols = [\"btcusdt\", \"ethusdt\"]\norders-per-second = 20.0\n{extra}"
    );
    let ran = run_scenario(&format!("gate-{name}"), &text, &[]);
    (ran.code, ran.summary)
}

#[test]
fn the_exit_code_is_the_gate_0_when_every_criterion_passes_1_when_one_fails() {
    let (code, summary) = gate("pass", "");
    let failed: Vec<&serde_json::Value> =
        summary["verdicts"].as_array().unwrap().iter().filter(|v| v["status"] == "fail").collect();
    assert!(crate::support::passed_as_measurable(code, &summary), "exit {code:?}: {failed:?}");
    // One impossible latency limit (the rig may make it not measurable: it then cannot fail) and one
    // impossible count: the count fails whatever the rig did, and a measured failure is exit 1.
    let (code, summary) = gate(
        "fail",
        "[criteria.latency-p50]\nthreshold = 0.001\n[criteria.retry-rate]\nenabled = false\n\
         [criteria.connections-per-stream]\nthreshold = 0.5\n",
    );
    assert_eq!(code, Some(1));
    let verdicts = summary["verdicts"].as_array().unwrap();
    let per_stream = verdicts.iter().find(|v| v["criterion"] == "connections-per-stream").unwrap();
    assert_eq!(per_stream["status"], "fail", "{per_stream}");
    let p50 = verdicts.iter().find(|v| v["criterion"] == "latency-p50").unwrap();
    assert_eq!(p50["threshold"].as_f64(), Some(0.001));
    let lagged = crate::support::rig_lagged(&summary);
    if lagged {
        assert_eq!(p50["status"], "not-measurable", "{p50}");
    } else {
        assert_eq!(p50["status"], "fail", "{p50}");
        assert!(p50["measured"].as_f64().unwrap() > 0.001);
    }
    assert_eq!(verdicts.iter().find(|v| v["criterion"] == "retry-rate").unwrap()["status"], "disabled");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gate-fail");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let failures = if lagged { 1 } else { 2 };
    assert!(junit.contains(&format!("failures=\"{failures}\"")), "{junit}");
    assert!(junit.contains("<failure message=\"connections-per-stream measured "), "{junit}");
    assert!(lagged || junit.contains("expected &lt; 0.001 ms"), "{junit}");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains(&format!("**{failures} criteria failed**")), "{report}");
    assert!(report.contains("| `latency-p50` | < 0.001 ms |"), "{report}");
    assert!(report.contains("| `retry-rate` | < 0.1 /s | – | disabled |"), "{report}");
    std::fs::remove_file(dir.join("report.md")).unwrap();
    let rerender = wschaos_binary().arg("report").arg(&dir).output().unwrap();
    assert_eq!(rerender.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(dir.join("report.md")).unwrap(),
        report,
        "rendered from the run directory alone"
    );
}

/// A 3-second WSManager scenario with a latency fault from 1 s to the end; the run directory is removed first.
fn console_scenario(name: &str) -> (PathBuf, PathBuf) {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("console-{name}"));
    std::fs::remove_dir_all(&out).ok();
    let scenario = scratch_file(
        &format!("console-{name}.toml"),
        "duration = \"3s\"\n[workload]\nclients = 3\n[cohorts]\nmanagers = [\"wsmanager\"]\n\
         [mock.feed]\nsymbols = [\"btcusdt\"]\norders-per-second = 20.0\n\
         [[faults]]\nkind = \"latency\"\nname = \"slow\"\ndelay = \"5ms\"\nat = \"1s\"\nduration = \"1m\"\n",
    );
    (scenario, out)
}

fn run_console(name: &str, flag: Option<&str>) -> (std::process::Output, PathBuf) {
    let (scenario, out) = console_scenario(name);
    let child = wschaos_binary()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .args(flag)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (wait_bounded(child, Duration::from_secs(60)), out)
}

#[test]
fn json_prints_a_progress_object_each_second_then_the_result_with_the_exit_code() {
    let (output, out) = run_console("json", Some("--json"));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "no human text");
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let (result, progress) = lines.split_last().expect("at least the result");
    assert!(progress.len() >= 2 && progress.iter().all(|p| p["type"] == "progress"), "{progress:?}");
    let elapsed: Vec<f64> = progress.iter().map(|p| p["elapsed_s"].as_f64().unwrap()).collect();
    assert!(elapsed.windows(2).all(|w| w[0] < w[1]), "elapsed increases: {elapsed:?}");
    for p in progress {
        assert!(p["cohorts"]["wsmanager"]["open"].is_i64() && p["cohorts"]["wsmanager"]["delivered_per_s"].is_f64());
        let t = p["elapsed_s"].as_f64().unwrap();
        let faults = p["faults"].as_array().unwrap();
        let expected = if (1.0..3.0).contains(&t) { 1 } else { 0 };
        assert_eq!(faults.len(), expected, "the latency fault is in force from 1 s to the end: {p}");
        if expected == 1 {
            assert_eq!((&faults[0]["kind"], &faults[0]["name"]), (&"latency".into(), &"slow".into()));
        }
    }
    assert_eq!(result["type"], "result");
    assert_eq!(result["exit_code"].as_i64().map(|c| c as i32), output.status.code());
    assert_eq!(result["run_dir"].as_str(), out.to_str());
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(result["verdicts"], summary["verdicts"]);
    assert!(result["cohorts"]["wsmanager"]["delivered"].as_u64().unwrap() > 0, "{result}");
    // The team's notifications, ready to post, in the run directory and in the result alike.
    let start = std::fs::read_to_string(out.join("notify-start.txt")).unwrap();
    let end = std::fs::read_to_string(out.join("notify-result.txt")).unwrap();
    assert_eq!(
        (result["notifications"]["start"].as_str(), result["notifications"]["result"].as_str()),
        (Some(&start[..]), Some(&end[..]))
    );
    assert!(
        start.starts_with("🚀 WSManager Migration 'console-json' Starting\n") && start.contains("Duration: 3s\n"),
        "{start}"
    );
    let expected = match output.status.code() {
        Some(0) => "✅ WSManager Migration 'console-json' Complete",
        Some(1) => "⚠️ WSManager Migration Rollback Initiated",
        _ => "⏸ WSManager Migration 'console-json' Not Judged",
    };
    assert!(end.starts_with(expected), "{end}");
}

#[test]
fn quiet_prints_nothing_at_all() {
    let (output, out) = run_console("quiet", Some("--quiet"));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let code = output.status.code();
    assert!(matches!(code, Some(0 | 1)) || (code == Some(3) && crate::support::rig_lagged(&summary)), "{output:?}");
}

#[test]
fn a_run_in_a_log_prints_plain_progress_lines_then_the_criteria_the_figures_and_the_gate() {
    let (output, out) = run_console("human", None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains('\x1b'), "no control characters when stderr is not a terminal: {stderr:?}");
    let progress: Vec<&str> = stderr.lines().filter(|l| l.starts_with("wschaos run 0:0")).collect();
    assert!(!progress.is_empty() && progress.iter().all(|l| l.contains("| wsmanager: ")), "{stderr}");
    assert!(progress.iter().any(|l| l.contains("fault: latency \"slow\"")), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("criterion") && lines.iter().any(|l| l.starts_with("latency-p95")), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with("cohort ")), "{stdout}");
    assert!(lines.contains(&format!("report: {}", out.join("report.md").display()).as_str()), "{stdout}");
    let gate = lines.last().unwrap();
    let code = output.status.code().unwrap();
    assert!(gate.starts_with("gate: ") && gate.contains(&format!("(exit {code}):")), "{gate} for exit {code}");
}
