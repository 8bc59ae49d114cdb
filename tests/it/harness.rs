//! `wschaos run` end to end on small populations against the embedded mock, judged from the files the
//! run writes: sockets per subscription and per distinct stream, lockstep storms against jittered ones,
//! half-open detection, reference counting and idle cleanup, and delivery against the mock's own counts.

use std::collections::HashSet;
use std::path::PathBuf;

use wschaos::load::population::population;
use wschaos::manager::assumptions::Basis;
use wschaos::summary::RunSummary;

/// Runs a scenario in process and returns its summary.
async fn run(name: &str, scenario: &str) -> RunSummary {
    let (summary, dir) = crate::support::run_in_process(&format!("run-{name}"), scenario).await;
    for file in ["summary.json", "timeseries.csv", "events.csv"] {
        assert!(dir.join(file).exists(), "{file} written");
    }
    summary
}

#[tokio::test]
async fn legacy_holds_a_socket_per_subscription_wsmanager_per_distinct_stream_unified_per_client() {
    let scenario = r#"
        duration = "4s"
        seed = 11
        [workload]
        clients = 10
        subscribers-per-client = 3
        streams-per-subscriber = 2
        popularity-exponent = 2.0
        kinds = { trade = 1, bookTicker = 1 }
        [cohorts]
        managers = ["legacy", "wsmanager", "unified"]
        [mock.feed]
        symbols = ["btcusdt", "ethusdt", "bnbusdt"]
        orders-per-second = 20.0
    "#;
    let summary = run("sockets", scenario).await;
    let raw: wschaos::scenario::RawScenario = toml::from_str(scenario).unwrap();
    let parsed = wschaos::scenario::Scenario::from_raw(&raw, "sockets").unwrap();
    let symbols: Vec<String> = ["btcusdt", "ethusdt", "bnbusdt"].iter().map(|s| s.to_string()).collect();
    let people = population(&parsed.workload, &symbols, 11);
    let distinct: i64 = people
        .iter()
        .map(|c| c.subscribers.iter().flat_map(|s| s.streams.iter()).collect::<HashSet<_>>().len() as i64)
        .sum();
    let legacy = summary.cohort("legacy").unwrap();
    let ws = summary.cohort("wsmanager").unwrap();
    let unified = summary.cohort("unified").unwrap();
    assert_eq!(legacy.connections.high_water, 60, "10 clients x 3 subscribers x 2 streams");
    assert_eq!(ws.connections.high_water, distinct, "one per distinct stream per client");
    assert!(distinct < 60, "popular streams are shared within clients: {distinct}");
    assert_eq!(unified.connections.high_water, 10, "one per client");
    for cohort in [legacy, ws, unified] {
        assert_eq!(
            cohort.latency_us.count, cohort.delivery.delivered,
            "{}: bookTicker timed by the mock's send time",
            cohort.name
        );
        assert_eq!(cohort.connections.open_at_end, 0, "{}: every socket closed at the end", cohort.name);
        assert_eq!(cohort.delivery.gaps, 0, "{}", cohort.name);
        assert!(cohort.latency_us.count > 100, "{}", cohort.name);
    }
    assert_eq!(ws.streams.created as i64, distinct);
    let server = summary.server.as_ref().unwrap();
    let received: u64 = summary.cohorts.iter().map(|c| c.delivery.received).sum();
    let sent = server.messages_sent;
    // What the clients had not read when they closed at the end is in flight, not lost: at most about a
    // second of the mock's traffic (a client reads within a second unless the machine stalls it longer).
    let per_second = sent / summary.run.elapsed_ms.div_ceil(1000).max(1);
    assert!(
        received <= sent && sent - received <= per_second,
        "clients received {received} of the mock's {sent} ({per_second} a second)"
    );
    assert_eq!(server.connections_high_water as i64, 60 + distinct + 10);
}

#[tokio::test]
async fn after_a_mass_disconnect_legacy_reconnects_in_lockstep_and_wsmanager_spreads() {
    let summary = run(
        "storm",
        r#"
        duration = "7s"
        seed = 3
        [workload]
        clients = 40
        subscribers-per-client = 2
        popularity-exponent = 0.0
        [mock.feed]
        symbols = ["btcusdt", "ethusdt", "bnbusdt", "solusdt"]
        orders-per-second = 20.0
        [[faults]]
        kind = "disconnect"
        at = "2s"
        how = "fin"
        "#,
    )
    .await;
    let legacy = summary.cohort("legacy").unwrap();
    let ws = summary.cohort("wsmanager").unwrap();
    assert!(legacy.attempts.retries >= 70, "{:?}", legacy.attempts);
    assert!(legacy.attempts.lockstep_index >= 0.9, "legacy in lockstep: {:?}", legacy.attempts);
    assert!(ws.attempts.lockstep_index <= 0.5, "wsmanager spread by jitter: {:?}", ws.attempts);
    assert!(
        legacy.attempts.peak_retries_per_100ms > 2 * ws.attempts.peak_retries_per_100ms,
        "{:?} {:?}",
        legacy.attempts,
        ws.attempts
    );
    for cohort in [legacy, ws] {
        assert_eq!(
            cohort.connections.ends.get("abnormal-1006").copied().unwrap_or(0) as i64,
            cohort.connections.high_water
        );
        assert_eq!(
            cohort.connections.subscriptions_recovered, cohort.connections.subscriptions_dropped,
            "{}",
            cohort.name
        );
        assert_eq!(cohort.attempts.retry_rate_outside_faults, 0.0);
    }
    assert_eq!(summary.faults.len(), 1);
    assert!(legacy.recovery_us.p50 >= 1_000_000, "fixed 1 s delay: {:?}", legacy.recovery_us);
}

#[tokio::test]
async fn a_half_open_stall_is_detected_by_wsmanager_and_not_by_legacy() {
    let summary = run(
        "half-open",
        r#"
        duration = "7s"
        [workload]
        clients = 5
        [managers.wsmanager]
        liveness = "1s"
        [mock.feed]
        symbols = ["btcusdt"]
        orders-per-second = 50.0
        [[faults]]
        kind = "stall"
        mode = "silent"
        at = "2s"
        duration = "4s"
        "#,
    )
    .await;
    let legacy = summary.cohort("legacy").unwrap();
    let ws = summary.cohort("wsmanager").unwrap();
    assert_eq!(legacy.detection_us.count, 0, "legacy has no liveness check");
    assert!(!legacy.connections.ends.contains_key("silent"));
    assert!(ws.detection_us.count >= 5, "every wsmanager socket was found silent: {:?}", ws.connections.ends);
    assert!(ws.detection_us.p50 >= 1_000_000 && ws.detection_us.max < 2_500_000, "{:?}", ws.detection_us);
    assert!(ws.connections.subscriptions_recovered >= 5, "reconnected and receiving again");
    assert!(legacy.delivery.gaps > 0, "legacy lost the stalled data too, but never noticed");
}

#[tokio::test]
async fn a_split_in_testing_mode_runs_only_the_listed_clients_on_the_new_manager() {
    let summary = run(
        "testing-mode",
        r#"
        duration = "2s"
        [workload]
        clients = 12
        [cohorts]
        mode = "split"
        new-share = 0.0               # 002's testing mode: only the listed users
        new-clients = [2, 5, 9]       # WEBSOCKET_ROLLOUT_USER_LIST
        legacy-clients = [9]          # WEBSOCKET_FORCE_LEGACY_USERS wins
        [mock.feed]
        symbols = ["btcusdt"]
        "#,
    )
    .await;
    let legacy = summary.cohort("legacy").unwrap();
    let ws = summary.cohort("wsmanager").unwrap();
    assert_eq!((legacy.clients, ws.clients), (10, 2), "clients 2 and 5 on WSManager; 9 forced to legacy");
    assert_eq!(summary.scenario["cohorts"]["new_clients"], serde_json::json!([2, 5, 9]));
    assert_eq!(summary.scenario["cohorts"]["legacy_clients"], serde_json::json!([9]));
}

/// A WSManager client against an upstream that accepts every upgrade and closes it 100 ms later without a
/// market message (no trades, a short lifetime), with 3 attempts allowed.
fn accepts_and_closes(retry_reset: &str) -> String {
    format!(
        r#"
        duration = "3s"
        [workload]
        clients = 1
        subscribers-per-client = 1
        [cohorts]
        managers = ["wsmanager"]
        [managers.wsmanager]
        base-delay = "10ms"
        max-delay = "40ms"
        max-attempts = 3
        retry-reset = "{retry_reset}"
        [mock.feed]
        symbols = ["btcusdt"]
        orders-per-second = 0.0
        [mock.limits]
        max-lifetime = "100ms"
        "#
    )
}

#[tokio::test]
async fn the_attempt_count_resets_at_each_upgrade_or_only_when_market_data_arrives() {
    let on_open = run("retry-on-open", &accepts_and_closes("on-open")).await;
    let ws = on_open.cohort("wsmanager").unwrap();
    assert_eq!(ws.attempts.give_ups, 0, "each upgrade starts the count afresh: never gives up");
    assert!(ws.attempts.connected > 3, "it keeps reconnecting: {:?}", ws.attempts.by_outcome);
    let on_message = run("retry-on-message", &accepts_and_closes("on-message")).await;
    let ws = on_message.cohort("wsmanager").unwrap();
    assert_eq!(ws.attempts.give_ups, 1, "three upgrades without data, then the error: {:?}", ws.attempts);
    assert_eq!(ws.attempts.connected, 3, "{:?}", ws.attempts.by_outcome);
    let listed = on_message.assumptions.iter().find(|a| a.setting == "retry-reset").unwrap();
    assert_eq!((listed.value.as_str(), listed.basis), ("on-message", Basis::Scenario));
}

#[tokio::test]
async fn reference_counting_and_idle_cleanup_close_what_they_should() {
    let summary = run(
        "cleanup",
        r#"
        duration = "6s"
        seed = 5
        [workload]
        clients = 8
        subscribers-per-client = 4
        kinds = { trade = 1, kline_1M = 1 }
        [workload.churn]
        every = "1s"
        share = 0.5
        [cohorts]
        managers = ["wsmanager"]
        [managers.wsmanager]
        idle-timeout = "1500ms"
        sweep-interval = "250ms"
        liveness = "off"
        [mock.feed]
        symbols = ["btcusdt", "ethusdt"]
        orders-per-second = 20.0
        kline-period = "1h"
        "#,
    )
    .await;
    let ws = summary.cohort("wsmanager").unwrap();
    assert!(ws.streams.cleaned_up > 0, "the last unsubscribe of a stream closes it: {:?}", ws.streams);
    assert!(ws.streams.idle_cleaned_up > 0, "silent kline streams are swept: {:?}", ws.streams);
    assert_eq!(ws.connections.open_at_end, 0);
    assert!(ws.streams.created >= ws.streams.cleaned_up + ws.streams.idle_cleaned_up);
}

#[tokio::test]
async fn the_mock_can_run_in_its_own_process_with_faults_through_its_control_api() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run-child");
    let file = dir.with_extension("toml");
    std::fs::write(
        &file,
        r#"
        duration = "5s"
        [workload]
        clients = 6
        subscribers-per-client = 2
        [mock.feed]
        symbols = ["btcusdt", "ethusdt"]
        orders-per-second = 20.0
        [[faults]]
        kind = "disconnect"
        at = "2s"
        how = "fin"
        "#,
    )
    .unwrap();
    // The binary, not the library: the child mock is started from the running executable.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args(["run", file.to_str().unwrap(), "--out", dir.to_str().unwrap(), "--quiet", "--mock-process"])
        .output()
        .unwrap();
    let summary: RunSummary = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let lagged = output.status.code() == Some(3) && summary.rig_lagged();
    assert!(matches!(output.status.code(), Some(0 | 1)) || lagged, "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(summary.run.upstream, "child-process");
    let server = summary.server.as_ref().expect("the child's counters, read over its control API");
    assert_eq!(
        server.connections_high_water as i64,
        summary.cohorts.iter().map(|c| c.connections.high_water).sum::<i64>()
    );
    assert_eq!(summary.faults.len(), 1, "the fault went through the control API");
    for cohort in &summary.cohorts {
        assert_eq!(
            cohort.connections.ends.get("abnormal-1006").copied().unwrap_or(0) as i64,
            cohort.connections.high_water,
            "{}",
            cohort.name
        );
    }
    assert!(dir.join("mock.toml").exists(), "the mock configuration as run");
}
