//! Watching a run live: a rollout rehearsal run with `--metrics` is scraped while it runs (a plain HTTP
//! client over loopback), and every series the issue lists is there and moves; the shipped Grafana
//! dashboard and alerting rules query only series the endpoint exposes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::support::{repo_path, scratch_file, scratch_path, wait_bounded, wschaos_binary};

/// A rehearsal of 12 clients in two steps (50 %, 100 %); the second step's handshakes are refused for 3 s
/// (so the new manager retries, gives up after 2 attempts, and the rehearsal rolls back, cleaning up its
/// streams), and a disconnect of every legacy socket at 2 s (reconnects), a latency window beside it.
const REHEARSAL: &str = "duration = \"14s\"\n\
    [workload]\nclients = 12\nsubscribers-per-client = 5\nramp-up = \"1s\"\n\
    kinds = { trade = 1, bookTicker = 1 }\npopularity-exponent = 0.0\n\
    [mock.feed]\nsymbols = [\"btcusdt\"]\norders-per-second = 100.0\n\
    [harness]\nsaturation-lag = \"1s\"\nlatency-floor = \"100ms\"\n\
    [managers.wsmanager]\nbase-delay = \"10ms\"\nmax-delay = \"20ms\"\nmax-attempts = 2\n\
    [rollout]\nsteps = [0.5, 1.0]\nwarmup = \"1s\"\nhold = \"4s\"\nhandover-deadline = \"3s\"\n\
    triggers = { connection-success = 95.0 }\nrollback = \"perform\"\nexpect = \"rollback\"\n\
    [[faults]]\nkind = \"disconnect\"\nname = \"drop-all\"\nat = \"2s\"\n\
    [[faults]]\nkind = \"latency\"\nat = \"2s\"\nduration = \"2s\"\ndelay = \"5ms\"\n\
    [[faults]]\nkind = \"reject-handshakes\"\nstep = 2\nat = \"0s\"\nduration = \"3s\"\nstatus = 503\n";

/// Scrapes of a run: each a map from series (name and labels, as written) to value.
type Scrape = BTreeMap<String, f64>;

/// What the run gave: every scrape in order, the last one's text, and the summary.
struct Watched {
    scrapes: Vec<Scrape>,
    last_text: String,
    summary: Value,
}

/// The rehearsal, run once for this file's tests and scraped every 200 ms while it runs (at most 400
/// scrapes: 80 s for a run of 14).
fn watched() -> &'static Watched {
    static WATCHED: OnceLock<Result<Watched, String>> = OnceLock::new();
    // Run once even when it fails: each test then reports the one failure, none runs it again.
    let watched = WATCHED.get_or_init(|| {
        std::panic::catch_unwind(watch_the_rehearsal).map_err(|panic| {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()));
            text.unwrap_or_default()
        })
    });
    watched.as_ref().unwrap_or_else(|e| panic!("the watched rehearsal failed: {e}"))
}

fn watch_the_rehearsal() -> Watched {
    {
        let (mut child, addr, out) = start("monitoring-rehearsal", REHEARSAL, &[]);
        let (mut scrapes, mut last_text) = (Vec::new(), String::new());
        for _ in 0..400 {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if let Some(text) = get(addr, "/metrics", None).filter(|(status, _)| *status == 200).map(|(_, t)| t) {
                scrapes.push(parse(&text));
                last_text = text;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let output = wait_bounded(child, Duration::from_secs(60));
        assert!(output.status.code().is_some(), "the run ended");
        let summary: Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        Watched { scrapes, last_text, summary }
    }
}

/// Starts `scenario` with `--metrics 127.0.0.1:0` and `args`: the child, the address it printed, its run
/// directory.
fn start(name: &str, scenario: &str, args: &[&str]) -> (Child, SocketAddr, std::path::PathBuf) {
    let scenario = scratch_file(&format!("{name}.toml"), scenario);
    let out = scratch_path(name);
    std::fs::remove_dir_all(&out).ok();
    let mut child = wschaos_binary()
        .arg("run")
        .arg(&scenario)
        .args(["--quiet", "--metrics", "127.0.0.1:0"])
        .args(args)
        .env_remove("WSCHAOS_METRICS_TOKEN")
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("wschaos run: metrics on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("the address first on stderr: {line:?}"))
        .parse()
        .unwrap();
    // Keep reading stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, addr, out)
}

/// `GET path` over a fresh connection (HTTP/1.1, closed after the answer): the status and the body; `None`
/// when the endpoint is gone.
fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    tcp.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// The samples of an OpenMetrics text: `name{labels}` → value (comments and `# EOF` left out).
fn parse(text: &str) -> Scrape {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The metric name of a series.
fn name(series: &str) -> &str {
    series.split('{').next().unwrap_or(series)
}

/// The sum of `metric`'s series whose labels include every `labels` pair, in `scrape`.
fn total(scrape: &Scrape, metric: &str, labels: &[&str]) -> f64 {
    scrape
        .iter()
        .filter(|(series, _)| name(series) == metric && labels.iter().all(|l| series.contains(l)))
        .map(|(_, v)| v)
        .sum()
}

/// The series the issue lists, each with the labels of the cohort it must move for.
const MOVING: [(&str, &[&str]); 16] = [
    ("ws_manager_active_connections", &["cohort=\"wsmanager\""]),
    ("ws_manager_retry_count_total", &["cohort=\"legacy\""]),
    ("ws_manager_stream_creations_total", &["cohort=\"wsmanager\""]),
    ("ws_manager_stream_cleanups_total", &["cohort=\"wsmanager\""]),
    ("ws_manager_active_connections_hwm", &["cohort=\"wsmanager\""]),
    ("wschaos_deliveries_total", &["cohort=\"legacy\""]),
    ("wschaos_connection_attempts_total", &["outcome=\"failed\""]),
    ("wschaos_give_ups_total", &["cohort=\"wsmanager\""]),
    ("wschaos_delivery_latency_seconds_count", &["cohort=\"legacy\""]),
    ("wschaos_delivery_latency_seconds_bucket", &["le=\"+Inf\""]),
    ("wschaos_staleness_seconds_count", &["cohort=\"legacy\""]),
    ("wschaos_rig_delay_p99_seconds", &["figure=\"scheduler-lag\""]),
    ("wschaos_fault_active", &["kind=\"latency\""]),
    ("wschaos_faults_started_total", &[]),
    ("wschaos_rehearsal_step", &[]),
    ("wschaos_rehearsal_share_ratio", &[]),
];

/// Present in every scrape once the recorder has published, though they need not move here.
const PRESENT: [&str; 10] = [
    "wschaos_instance_connections_max",
    "wschaos_gaps_total",
    "wschaos_give_up_subscribers_total",
    "wschaos_errors_total",
    "wschaos_operations_total",
    "wschaos_failed_operations_total",
    "wschaos_clients",
    "wschaos_rig_delay_threshold_seconds",
    "wschaos_rehearsal_rolled_back",
    "wschaos_run_info",
];

#[test]
fn a_rehearsal_scraped_mid_run_shows_every_listed_series_present_and_moving() {
    let watched = watched();
    let outcome = &watched.summary["rollout"]["outcome"];
    assert_eq!(
        outcome["rollback_step"], 1,
        "the rehearsal rolled back at its second step, which the give-ups and cleanups below need: {outcome}"
    );
    let scrapes = &watched.scrapes;
    assert!(scrapes.len() >= 5, "scraped while it ran: {} scrapes", scrapes.len());
    let last = scrapes.last().unwrap();
    for metric in PRESENT.iter().chain(MOVING.iter().map(|(m, _)| m)) {
        assert!(last.keys().any(|s| name(s) == *metric), "{metric} exposed:\n{}", watched.last_text);
    }
    for (metric, labels) in MOVING {
        let values: BTreeSet<u64> = scrapes.iter().map(|s| total(s, metric, labels).to_bits()).collect();
        assert!(values.len() > 1, "{metric}{labels:?} moved during the run: {values:?}\n{}", watched.last_text);
    }
    assert!(watched.last_text.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF");
}

#[test]
fn the_live_counters_agree_with_the_run_summary_and_never_go_back() {
    let watched = watched();
    let last = watched.scrapes.last().unwrap();
    let cohort = |name: &str| -> &Value {
        watched.summary["cohorts"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()
    };
    for (i, name) in ["legacy", "wsmanager"].into_iter().enumerate() {
        let label = format!("cohort=\"{name}\"");
        let ws = cohort(name);
        // Every counter of the last scrape is at most the summary's (the run may have gone on after it).
        let delivered = total(last, "wschaos_deliveries_total", &[&label]);
        assert!(delivered <= ws["delivery"]["delivered"].as_f64().unwrap(), "{name}: {delivered} {ws}");
        let hwm = total(last, "ws_manager_active_connections_hwm", &[&label]);
        assert!(hwm <= ws["connections"]["high_water"].as_f64().unwrap(), "{name}: {hwm}");
        let attempts = total(last, "wschaos_connection_attempts_total", &[&label]);
        assert!(attempts <= ws["attempts"]["total"].as_f64().unwrap() && (i == 1 || attempts > 0.0), "{name}");
    }
    for pair in watched.scrapes.windows(2) {
        for (series, before) in &pair[0] {
            if series.contains("_total") || series.contains("_bucket") || series.contains("_count") {
                let now = pair[1].get(series).copied().unwrap_or(*before);
                assert!(now >= *before, "{series} went back from {before} to {now}");
            }
        }
    }
    // By hand: legacy opens a socket per subscription, so its busiest instance held all of one client's.
    let legacy = cohort("legacy");
    let per_client = legacy["subscriptions"].as_f64().unwrap() / legacy["clients"].as_f64().unwrap();
    let busiest = |s: &Scrape| total(s, "wschaos_instance_connections_max", &["cohort=\"legacy\""]);
    let most = watched.scrapes.iter().map(busiest).fold(0.0, f64::max);
    assert_eq!(most, per_client, "legacy's busiest instance: a socket for each of its subscriptions");
    let rolled_back = watched.scrapes.iter().any(|s| total(s, "wschaos_rehearsal_rolled_back", &[]) == 1.0);
    let expected = watched.summary["rollout"]["outcome"]["performed"] == true;
    assert!(!expected || rolled_back, "the rollback showed: {}", watched.summary["rollout"]["outcome"]);
}

/// Every metric name a PromQL expression uses: the identifiers that are neither a function, a keyword nor
/// a label (inside braces or a `by (…)` list) nor a duration.
fn metrics_in(expr: &str) -> BTreeSet<String> {
    const WORDS: [&str; 24] = [
        "sum",
        "max",
        "min",
        "avg",
        "count",
        "rate",
        "irate",
        "increase",
        "histogram_quantile",
        "by",
        "without",
        "on",
        "ignoring",
        "and",
        "or",
        "unless",
        "clamp_min",
        "delta",
        "max_over_time",
        "changes",
        "bool",
        "vector",
        "group_left",
        "group_right",
    ];
    let mut names = BTreeSet::new();
    let (mut braces, mut quoted, mut grouping, mut word) = (0, false, false, String::new());
    for c in expr.chars().chain(std::iter::once(' ')) {
        if quoted {
            quoted = c != '"';
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        let is_name = word.starts_with(|c: char| c.is_ascii_alphabetic()) && braces == 0 && !grouping;
        if is_name && !WORDS.contains(&word.as_str()) {
            names.insert(word.clone());
        }
        grouping |= ["by", "without", "on", "ignoring"].contains(&word.as_str());
        match c {
            '"' => quoted = true,
            '{' => braces += 1,
            '}' => braces -= 1,
            ')' => grouping = false,
            _ => {}
        }
        word.clear();
    }
    names
}

#[test]
fn the_query_reader_finds_metric_names_and_leaves_labels_functions_and_strings_out() {
    let expr = "histogram_quantile(0.95, sum by (cohort, le) (rate(a_bucket{cohort=~\"x|y\", k=\"}\"}[30s]))) \
                / on (cohort) group_left clamp_min(b_total, 1) > 0.5";
    let found: Vec<String> = metrics_in(expr).into_iter().collect();
    assert_eq!(found, ["a_bucket", "b_total"]);
}

/// The metric names a scrape exposes (every sample's name).
fn exposed(watched: &Watched) -> BTreeSet<String> {
    watched.scrapes.iter().flat_map(|s| s.keys().map(|k| name(k).to_owned())).collect()
}

#[test]
fn the_grafana_dashboard_queries_only_series_the_endpoint_exposes() {
    let dashboard: Value =
        serde_json::from_slice(&std::fs::read(repo_path("monitoring/grafana-dashboard.json")).unwrap()).unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 8, "the dashboard's panels query: {exprs:?}");
    let exposed = exposed(watched());
    for expr in &exprs {
        for metric in metrics_in(expr) {
            assert!(exposed.contains(&metric), "{metric} (in {expr}) is not exposed: {exposed:?}");
        }
    }
    let titles: Vec<&str> =
        dashboard["panels"].as_array().unwrap().iter().filter_map(|p| p["title"].as_str()).collect();
    for wanted in ["Connections", "Retry rate", "Latency", "Delivery", "Storm", "Rig"] {
        assert!(titles.iter().any(|t| t.contains(wanted)), "a panel on {wanted}: {titles:?}");
    }
    let annotations = dashboard["annotations"]["list"].as_array().unwrap();
    assert!(annotations.iter().any(|a| a["expr"].as_str().is_some_and(|e| e.contains("wschaos_fault_active"))));
    // Prometheus's own parser on every query (the dashboard's variable given its "All" value), where the
    // machine has promtool: each as a recording rule of a scratch rules file.
    let rules: String = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            format!("      - record: dashboard:query{i}\n        expr: {}\n", serde_json::json!(grafana_variables(e)))
        })
        .collect();
    let file = scratch_file("dashboard-queries.yaml", &format!("groups:\n  - name: dashboard\n    rules:\n{rules}"));
    promtool(&["check", "rules"], &file);
}

/// A dashboard query as Grafana sends it: its variables given values (every cohort, a minute's range).
fn grafana_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m").replace("$__interval", "1m").replace("$cohort", ".*")
}

/// `promtool ARGS FILE`, which must succeed; said and skipped where the machine has no promtool.
fn promtool(args: &[&str], file: &std::path::Path) {
    match std::process::Command::new("promtool").args(args).arg(file).output() {
        Ok(output) => assert!(
            output.status.success(),
            "promtool {args:?} {}: {}{}",
            file.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) => eprintln!("promtool not run ({e}): {} was checked against the endpoint only", file.display()),
    }
}

/// Every `expr` string anywhere in a dashboard.
fn collect_exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v.as_str()) {
                    ("expr", Some(expr)) => out.push(expr.to_owned()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

#[test]
fn the_alerting_rules_use_the_seeds_thresholds_and_only_exposed_series() {
    let path = repo_path("monitoring/alerts.yaml");
    let rules: serde_yaml::Value = serde_yaml::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let exposed = exposed(watched());
    let mut seen = BTreeMap::new();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let (alert, expr) = (rule["alert"].as_str().unwrap(), rule["expr"].as_str().unwrap());
            for metric in metrics_in(expr) {
                assert!(exposed.contains(&metric), "{alert}: {metric} is not exposed");
            }
            seen.insert(alert.to_owned(), (expr.to_owned(), rule["labels"]["severity"].as_str().unwrap().to_owned()));
        }
    }
    // The seeds' alert table (000): warning and critical for connections, retry rate, error rate, latency.
    for (alert, severity, threshold) in [
        ("WsChaosConnectionsWarning", "warning", "> 50"),
        ("WsChaosConnectionsCritical", "critical", "> 100"),
        ("WsChaosRetryRateWarning", "warning", "> 0.5"),
        ("WsChaosRetryRateCritical", "critical", "> 1"),
        ("WsChaosErrorRateWarning", "warning", "> 0.01"),
        ("WsChaosErrorRateCritical", "critical", "> 0.05"),
        ("WsChaosLatencyP95Warning", "warning", "> 0.2"),
        ("WsChaosLatencyP95Critical", "critical", "> 0.5"),
    ] {
        let (expr, sev) = seen.get(alert).unwrap_or_else(|| panic!("{alert} in {}", path.display()));
        assert_eq!(sev, severity, "{alert}");
        assert!(expr.contains(threshold), "{alert}: {expr} holds {threshold}");
    }
    // promtool's own checks where the machine has it (.ci/run installs Debian's prometheus package): the
    // rules parse, and their unit tests fire each alert at the seeds' levels and not below.
    promtool(&["check", "rules"], &path);
    promtool(&["test", "rules"], &repo_path("monitoring/alerts.test.yaml"));
    promtool(&["check", "config"], &repo_path("monitoring/prometheus.yml"));
}

#[test]
fn the_endpoint_refuses_a_non_loopback_address_without_a_token_before_anything_starts() {
    let scenario = scratch_file("monitoring-remote.toml", REHEARSAL);
    let output = wschaos_binary()
        .arg("run")
        .arg(&scenario)
        .args(["--quiet", "--metrics", "0.0.0.0:0", "--out"])
        .arg(scratch_path("monitoring-remote"))
        .env_remove("WSCHAOS_METRICS_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--metrics 0.0.0.0:0 is not a loopback address") && stderr.contains("--metrics-token"));
    assert!(!scratch_path("monitoring-remote").join("summary.json").exists(), "nothing ran");
}

/// A child process killed when dropped (a failed test's).
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// `GET /metrics` with `token` until it answers other than 503 (the run not started yet): at most 600
/// tries, 50 ms apart.
fn get_started(addr: SocketAddr, token: Option<&str>) -> (u16, String) {
    (0..600)
        .find_map(|_| {
            let answer = get(addr, "/metrics", token).filter(|(status, _)| *status != 503);
            if answer.is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            answer
        })
        .expect("an answer once the run started")
}

#[test]
fn with_a_token_the_endpoint_answers_only_requests_that_carry_it_and_lingers_with_the_final_figures() {
    let scenario = "duration = \"4s\"\n[workload]\nclients = 2\n[mock.feed]\nsymbols = [\"btcusdt\"]\n";
    let args = ["--metrics-token", "s3cret", "--metrics-linger", "5m"];
    let (child, addr, out) = start("monitoring-token", scenario, &args);
    // Killed if the test fails before it ends the linger, which would hold the child for minutes.
    let mut child = Guard(Some(child));
    let refused = get(addr, "/metrics", None).expect("an answer");
    let wrong = get(addr, "/metrics", Some("guess")).expect("an answer");
    let served = get_started(addr, Some("s3cret"));
    let elsewhere = get(addr, "/nothing", Some("s3cret")).expect("an answer");
    assert_eq!((refused.0, wrong.0), (401, 401), "{refused:?}");
    assert!(refused.1.contains("Authorization: Bearer"), "the fix is named: {}", refused.1);
    assert_eq!(served.0, 200);
    assert!(served.1.contains("wschaos_run_info{scenario=\"monitoring-token\""), "{}", served.1);
    assert_eq!(elsewhere.0, 404);
    // Once the run directory is written (its report after its summary), the linger serves the final
    // figures: the summary's own.
    let written = (0..1200).any(|_| {
        out.join("report.html").exists() || {
            std::thread::sleep(Duration::from_millis(50));
            false
        }
    });
    assert!(written, "the run wrote its directory within 60 s");
    let (status, last) = get(addr, "/metrics", Some("s3cret")).expect("served through the linger");
    let summary: Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let cohorts = summary["cohorts"].as_array().unwrap();
    let delivered: f64 = cohorts.iter().map(|c| c["delivery"]["delivered"].as_f64().unwrap()).sum();
    let final_figure = total(&parse(&last), "wschaos_deliveries_total", &[]);
    // Ctrl-C ends the linger; the run's own exit code stands.
    let child = child.0.take().unwrap();
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let output = wait_bounded(child, Duration::from_secs(30));
    assert_eq!(status, 200);
    assert!(delivered > 0.0 && final_figure == delivered, "final scrape {final_figure}, summary {delivered}");
    assert!(matches!(output.status.code(), Some(0 | 1 | 3)), "the run's outcome, not 130: {:?}", output.status);
}

/// The Prometheus project's Python parser (prometheus_client's strict OpenMetrics reader, installed by
/// `tests/clients/setup.sh`) reads the run's endpoint and the mock's: a reader that is not prometheus-client
/// the crate.
#[tokio::test]
#[ignore = "needs the Python prometheus-client: run tests/clients/setup.sh first"]
async fn real_client_the_prometheus_python_parser_reads_the_run_and_mock_metrics() {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/client-venv/bin/python");
    assert!(python.exists(), "{} is missing: run tests/clients/setup.sh", python.display());
    let run_text = tokio::task::spawn_blocking(|| watched().last_text.clone()).await.unwrap();
    let run = scratch_file("openmetrics-run.txt", &run_text);
    let server = crate::support::start(crate::support::lively_feed_config()).await;
    let control = wschaos::chaos::control::ControlServer::start("127.0.0.1:0".parse().unwrap(), None, server.clone())
        .await
        .unwrap()
        .local_addr();
    let _client = crate::support::connect(&server, "/ws/btcusdt@trade").await;
    let mock_text = tokio::task::spawn_blocking(move || get(control, "/metrics", None)).await.unwrap();
    let (status, mock_text) = mock_text.expect("the mock's /metrics answers");
    assert_eq!(status, 200);
    let mock = scratch_file("openmetrics-mock.txt", &mock_text);
    let script = repo_path("tests/clients/openmetrics_check.py");
    let output = std::process::Command::new(python).arg(script).arg(&run).arg(&mock).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    let read: Value = serde_json::from_str(&stdout).unwrap();
    let families = |path: &std::path::Path| read[path.to_str().unwrap()].as_object().unwrap().clone();
    let (run, mock) = (families(&run), families(&mock));
    assert_eq!(run["ws_manager_active_connections"], "gauge");
    assert_eq!(run["ws_manager_retry_count"], "counter", "the parser names a counter without _total");
    assert_eq!(run["wschaos_delivery_latency_seconds"], "histogram");
    assert_eq!(run["wschaos_run"], "info");
    assert!(mock.keys().all(|name| name.starts_with("wschaos_mock_")) && mock.len() >= 8, "{mock:?}");
}
