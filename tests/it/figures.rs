//! Figures a rollout decision can trust, each checked against something independent of the figure itself: no
//! latency sample that no message took (a push feed is open loop), staleness and time without data where
//! latency sees nothing, delivery that adds up in subscriber-deliveries for every stream kind and manager,
//! per-connection randomness that is independent, selections keyed on who the clients are (not on accept
//! order), and latency where it happened (per second and per fault window).
//!
//! Every bound here is one the rig cannot move: an injected delay only adds, a stall only subtracts, a drop
//! probability is drawn per message whatever the machine's speed.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use futures_util::FutureExt;
use futures_util::StreamExt;
use wschaos::chaos::Inject;
use wschaos::chaos::{Fault, RawFault};
use wschaos::summary::RunSummary;

use crate::support::*;

/// Runs a scenario in process (its `[harness]` saturation threshold widened: these runs judge counts and
/// lower bounds, not the machine's speed) and returns its summary and run directory.
async fn run(name: &str, scenario: &str) -> (RunSummary, PathBuf) {
    run_in_process(&format!("figures-{name}"), &format!("{scenario}\n[harness]\nsaturation-lag = \"1s\"\n")).await
}

fn timeseries(dir: &std::path::Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(dir.join("timeseries.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| headers.iter().zip(r.unwrap().iter()).map(|(h, v)| (h.to_owned(), v.to_owned())).collect())
        .collect()
}

fn column(row: &HashMap<String, String>, name: &str) -> Option<u64> {
    row.get(name).and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_fixed_delay_is_measured_as_it_happened_with_no_invented_samples() {
    // 200 ms added from 1.5 s to 4.5 s: every message in the window took at least 200 ms, none before it.
    let scenario = r#"
        duration = "6s"
        seed = 3
        [workload]
        clients = 2
        subscribers-per-client = 2
        kinds = { trade = 1 }
        [cohorts]
        managers = ["legacy", "wsmanager"]
        [mock.feed]
        symbols = ["btcusdt"]
        orders-per-second = 20.0
        [[faults]]
        kind = "latency"
        name = "slow-path"
        at = "1500ms"
        duration = "3s"
        delay = "200ms"
        jitter = "0ms"
    "#;
    let (summary, dir) = run("delay", scenario).await;
    for cohort in &summary.cohorts {
        let name = &cohort.name;
        assert!(!dir.join(format!("latency-{name}-corrected.hgrm")).exists(), "no coordinated-omission 'correction'");
        assert!(dir.join(format!("staleness-{name}.hgrm")).exists());
        assert_eq!(cohort.latency_us.count, cohort.delivery.delivered, "{name}: one latency per delivery, no more");
        let window = &cohort.fault_windows[0];
        assert_eq!((window.window.name.as_deref(), window.window.start_ms), (Some("slow-path"), 1500));
        assert!(window.figures.latency_us.p50 >= 199_000, "{name}: inside the window {:?}", window.figures);
        assert!(cohort.outside_faults.latency_us.p50 < 200_000, "{name}: outside it {:?}", cohort.outside_faults);
        assert!(cohort.outside_faults.latency_us.count > 0 && window.figures.latency_us.count > 0);
    }
    let rows = timeseries(&dir);
    for row in rows.iter().filter(|r| r["cohort"] == "legacy") {
        let (second, p50) = (column(row, "second").unwrap(), column(row, "latency_p50_us"));
        match second {
            2 | 3 => assert!(p50.unwrap() >= 199_000, "second {second} lies inside the window: {p50:?}"),
            0 => assert!(p50.is_none_or(|p| p < 200_000), "second 0 lies before it: {p50:?}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_stall_shows_in_staleness_and_time_without_data_where_latency_sees_nothing() {
    // Every socket goes silent from 2 s to 4 s; the messages that do arrive are as fast as ever.
    let scenario = r#"
        duration = "6s"
        seed = 4
        [workload]
        clients = 2
        subscribers-per-client = 3
        kinds = { trade = 1, bookTicker = 1 }
        [cohorts]
        managers = ["legacy"]
        [mock.feed]
        symbols = ["btcusdt"]
        orders-per-second = 20.0
        [criteria.staleness-p99]
        enabled = true
        [[faults]]
        kind = "stall"
        at = "2s"
        duration = "2s"
        mode = "silent"
    "#;
    let (summary, dir) = run("stall", scenario).await;
    let legacy = summary.cohort("legacy").unwrap();
    assert!(legacy.staleness_us.max >= 1_500_000, "a 2 s stall is 2 s behind the upstream: {:?}", legacy.staleness_us);
    assert!(legacy.without_data_us.max >= 1_500_000, "{:?}", legacy.without_data_us);
    assert!(legacy.staleness_us.count > 100, "sampled every 100 ms for every subscription");
    assert!(legacy.latency_us.p99 < legacy.staleness_us.max / 2, "latency cannot see it: {:?}", legacy.latency_us);
    let verdict = summary.verdicts.iter().find(|v| v.criterion == "staleness-p99").unwrap();
    // The stall fails the criterion; a rig that lagged can only make it not measurable, never pass.
    use wschaos::criteria::verdict::Status;
    let expected = if summary.rig_lagged() { Status::NotMeasurable } else { Status::Fail };
    assert_eq!(verdict.status, expected, "{verdict:?}");
    let stalled = timeseries(&dir)
        .iter()
        .filter(|r| column(r, "second") == Some(3))
        .filter_map(|r| column(r, "staleness_p50_us"))
        .max()
        .unwrap();
    assert!(stalled >= 900_000, "per second: {stalled}");
}

#[tokio::test]
async fn delivery_adds_up_in_subscriber_deliveries_for_every_stream_kind_and_manager() {
    // A fifth of the messages dropped from 1 s to 4 s on every connection; a mass disconnect at 4.5 s;
    // subscribers leaving and arriving every second (a unified socket unsubscribes and subscribes again).
    let scenario = r#"
        duration = "7s"
        seed = 5
        [workload]
        clients = 4
        subscribers-per-client = 6
        popularity-exponent = 0.0
        kinds = { trade = 1, aggTrade = 1, bookTicker = 1, "depth5@100ms" = 1 }
        [workload.churn]
        every = "1s"
        share = 0.2
        [cohorts]
        managers = ["legacy", "wsmanager", "unified"]
        [mock.feed]
        symbols = ["btcusdt"]
        orders-per-second = 20.0
        book-changes-per-second = 20.0
        [[faults]]
        kind = "drop-messages"
        at = "1s"
        duration = "3s"
        probability = 0.2
        [[faults]]
        kind = "disconnect"
        at = "4500ms"
        how = "fin"
    "#;
    let (summary, _) = run("accounting", scenario).await;
    for cohort in &summary.cohorts {
        let d = &cohort.delivery;
        assert_eq!(d.published, d.delivered + d.lost, "{}: {d:?}", cohort.name);
        assert_eq!(d.lost, d.gaps - d.late);
        let streams: Vec<_> = summary.streams.iter().filter_map(|s| s.cohorts.get(&cohort.name)).collect();
        assert_eq!(streams.iter().map(|s| s.lost).sum::<u64>(), d.lost, "per stream adds up to the cohort");
        assert_eq!(streams.iter().map(|s| s.delivered).sum::<u64>(), d.delivered);
        assert_eq!(d.unresolved, 0, "{}: every message placed in the upstream's record", cohort.name);
        assert_eq!(
            d.duplicates, 0,
            "{}: a drop fault repeats nothing (a partial book sent again is no repeat)",
            cohort.name
        );
    }
    let loss = |cohort: &str, kind: &str| {
        let s = summary.streams.iter().find(|s| s.name == format!("btcusdt@{kind}")).unwrap();
        let d = &s.cohorts[cohort];
        (d.lost as f64 / d.published as f64, d.lost)
    };
    for kind in ["trade", "aggTrade", "bookTicker", "depth5@100ms"] {
        let (legacy, lost) = loss("legacy", kind);
        for other in ["wsmanager", "unified"] {
            let (share, other_lost) = loss(other, kind);
            assert!(
                lost > 0 && other_lost > 0,
                "{kind}: loss is counted without consecutive ids too ({lost}, {other_lost})"
            );
            // Each loses about a fifth of three seconds' worth, plus the reconnect: in one unit they compare.
            assert!(share > legacy / 3.0 && share < legacy * 3.0, "{kind}: legacy {legacy:.3} vs {other} {share:.3}");
        }
    }
}

/// A legacy and a WSManager cohort (4 clients × 6 subscribers on btcusdt's trade, aggTrade, bookTicker and
/// partial depth) under `faults` for 7 s, with the `[mock]` tables in `mock`: every cohort's and stream's
/// delivery must add up, and the fault's loss must be counted.
async fn loss_under(name: &str, mock: &str, faults: &str) -> RunSummary {
    let scenario = format!(
        r#"
        duration = "7s"
        seed = 6
        [workload]
        clients = 4
        subscribers-per-client = 6
        popularity-exponent = 0.0
        kinds = {{ trade = 1, aggTrade = 1, bookTicker = 1, depth5 = 1 }}
        [cohorts]
        managers = ["legacy", "wsmanager"]
        [managers.legacy]
        delay = "500ms"
        [managers.wsmanager]
        base-delay = "500ms"
        [mock.feed]
        symbols = ["btcusdt"]
        orders-per-second = 20.0
        book-changes-per-second = 20.0
        {mock}
        {faults}
        "#
    );
    let (summary, _) = run(name, &scenario).await;
    for cohort in &summary.cohorts {
        let d = &cohort.delivery;
        assert_eq!(d.published, d.delivered + d.lost, "{name} {}: {d:?}", cohort.name);
        let streams: Vec<_> = summary.streams.iter().filter_map(|s| s.cohorts.get(&cohort.name)).collect();
        assert_eq!(streams.iter().map(|s| s.published).sum::<u64>(), d.published, "{name} {}", cohort.name);
        assert_eq!(streams.iter().map(|s| s.lost).sum::<u64>(), d.lost, "{name} {}", cohort.name);
        assert!(d.lost > 0, "{name} {}: the fault's loss is counted: {d:?}", cohort.name);
        assert!(d.delivered > 0, "{name} {}: {d:?}", cohort.name);
    }
    summary
}

#[tokio::test]
async fn a_stall_s_loss_is_counted_and_adds_up() {
    // Silent until the end of the run: nothing arrives after it begins, so the loss is only found when the
    // sockets' accounting ends.
    loss_under("loss-stall", "", "[[faults]]\nkind = \"stall\"\nat = \"4s\"\nmode = \"silent\"").await;
}

#[tokio::test]
async fn an_outage_s_loss_is_counted_and_adds_up() {
    let outage = "[[faults]]\nkind = \"outage\"\nat = \"2s\"\nduration = \"2s\"\nrefuse = \"tcp\"";
    let summary = loss_under("loss-outage", "", outage).await;
    for cohort in &summary.cohorts {
        assert!(cohort.staleness_us.max >= 1_500_000, "{}: down for 2 s: {:?}", cohort.name, cohort.staleness_us);
    }
}

#[tokio::test]
async fn a_slow_consumer_s_loss_is_counted_and_adds_up() {
    // Queues of 8 messages and a 150 ms path: a burst overflows them and the mock drops (its policy).
    let mock = "[mock.server]\noutbound-queue = 8\non-queue-full = \"drop\"";
    let faults = "[[faults]]\nkind = \"latency\"\nat = \"1s\"\nduration = \"4s\"\ndelay = \"150ms\"\njitter = \"0ms\"\n\
                  [[faults]]\nkind = \"burst\"\nat = \"2s\"\nduration = \"2s\"\nsymbols = [\"btcusdt\"]\nfactor = 20.0";
    let summary = loss_under("loss-slow", mock, faults).await;
    assert!(summary.server.as_ref().unwrap().messages_dropped > 0, "the mock shed at full queues");
}

#[test]
fn with_the_mock_in_its_own_process_the_same_figures_are_measured_against_its_mirrored_record() {
    let scenario = r#"
        name = "figures-child"
        duration = "6s"
        seed = 8
        [workload]
        clients = 3
        subscribers-per-client = 4
        popularity-exponent = 0.0
        kinds = { trade = 1, bookTicker = 1, "depth5@100ms" = 1 }
        [cohorts]
        managers = ["legacy", "wsmanager"]
        [mock.feed]
        symbols = ["btcusdt"]
        orders-per-second = 20.0
        book-changes-per-second = 20.0
        [harness]
        saturation-lag = "1s"
        [[faults]]
        kind = "drop-messages"
        at = "1s"
        duration = "3s"
        probability = 0.2
    "#;
    let ran = run_scenario("figures-child", scenario, &["--mock-process"]);
    assert!(matches!(ran.code, Some(0 | 1)) || crate::support::rig_lagged(&ran.summary), "{}", ran.stderr);
    let summary: RunSummary = serde_json::from_value(ran.summary).unwrap();
    assert_eq!(summary.run.upstream, "child-process");
    for cohort in &summary.cohorts {
        let d = &cohort.delivery;
        assert_eq!(d.published, d.delivered + d.lost, "{}: {d:?}", cohort.name);
        assert!(d.unresolved * 1000 <= d.received, "{}: placed in the mirrored record: {d:?}", cohort.name);
        assert!(cohort.staleness_us.count > 0, "{}: staleness measured", cohort.name);
        let book = summary.streams.iter().find(|s| s.name == "btcusdt@bookTicker").unwrap();
        assert!(book.cohorts[&cohort.name].lost > 0, "{}: bookTicker loss counted", cohort.name);
        assert!(
            cohort.latency_us.count >= d.delivered * 9 / 10,
            "{}: bookTicker timed from the record too",
            cohort.name
        );
    }
}

/// The next `n` trade ids a raw subscriber receives (after what was already waiting).
async fn ids_seen(ws: &mut Client, n: usize) -> BTreeSet<u64> {
    while ws.next().now_or_never().is_some() {}
    let mut ids = BTreeSet::new();
    for _ in 0..n {
        ids.insert(next_json(ws).await["t"].as_u64().unwrap());
    }
    ids
}

fn fault(toml_text: &str) -> Fault {
    let raw: RawFault = toml::from_str(toml_text).expect("fault parses");
    Fault::from_raw(&raw, "fault").expect("fault validates")
}

#[tokio::test]
async fn each_connection_draws_its_own_drops() {
    // Binance's 20 s heartbeat: the test's clients answer pings, and fast pings answered late in a bunch
    // would break the upstream's 5 messages per second limit on a loaded machine.
    let server = start(lively_feed_config()).await;
    let path = "/ws/btcusdt@trade?timeUnit=MICROSECOND";
    // Two clients, and two sockets of one client on the same stream (legacy's twins).
    let sources = ["127.0.20.1", "127.0.20.2", "127.0.20.2"];
    let mut clients = Vec::new();
    for source in sources {
        let mut ws = connect_from(&server, path, source.parse().unwrap()).await.unwrap();
        next_json(&mut ws).await;
        clients.push(ws);
    }
    server.inject(&fault("kind = \"drop-messages\"\nprobability = 0.3\nstreams = [\"*@trade\"]"));
    // Read side by side, so no socket's queue fills while another is read.
    let seen = futures_util::future::join_all(clients.iter_mut().map(|ws| ids_seen(ws, 700))).await;
    let first = seen.iter().map(|s| *s.first().unwrap()).max().unwrap();
    let last = seen.iter().map(|s| *s.last().unwrap()).min().unwrap();
    assert!(last > first + 500, "a common range of ids: {first}..{last}");
    let missing: Vec<BTreeSet<u64>> =
        seen.iter().map(|s| (first..=last).filter(|id| !s.contains(id)).collect()).collect();
    let span = (last - first + 1) as f64;
    for m in &missing {
        let share = m.len() as f64 / span;
        assert!((0.2..0.4).contains(&share), "each drops about 30 %: {share:.3}");
    }
    for (a, b) in [(0, 1), (1, 2)] {
        let both = missing[a].intersection(&missing[b]).count() as f64 / span;
        assert!(both < 0.16, "independent draws overlap about p² = 0.09, not p = 0.3: {both:.3} ({a}, {b})");
    }
}

#[tokio::test]
async fn the_same_seed_selects_the_same_clients_and_another_seed_other_ones() {
    let scenario = |seed: u64| {
        format!(
            r#"
            duration = "3s"
            seed = {seed}
            [workload]
            clients = 12
            subscribers-per-client = 2
            ramp-up = "500ms"
            kinds = {{ trade = 1, bookTicker = 1 }}
            [cohorts]
            managers = ["wsmanager"]
            [mock.feed]
            symbols = ["btcusdt", "ethusdt"]
            [[faults]]
            kind = "disconnect"
            at = "1500ms"
            share = 0.3
            how = "fin"
        "#
        )
    };
    let selected = |summary: &RunSummary| {
        let fault = &summary.faults[0];
        (fault.sources.clone(), fault.streams.clone(), fault.touched)
    };
    let (a, _) = run("seed-a", &scenario(21)).await;
    let (b, _) = run("seed-b", &scenario(21)).await;
    let (c, _) = run("seed-c", &scenario(22)).await;
    let (first, again, other) = (selected(&a), selected(&b), selected(&c));
    assert!(!first.0.is_empty() && first.2 > 0, "{first:?}");
    assert_eq!(first, again, "the same seed: the same clients, the same streams per connection");
    assert_ne!(first.0, other.0, "another seed: other clients");
    // The mock in its own process, its fault posted through the control API: the same choice.
    let child = run_scenario("figures-seed-child", &scenario(21), &["--mock-process"]);
    assert!(matches!(child.code, Some(0 | 1)) || crate::support::rig_lagged(&child.summary), "{}", child.stderr);
    assert_eq!(child.summary["run"]["upstream"], "child-process");
    let sources: Vec<String> = serde_json::from_value(child.summary["faults"][0]["sources"].clone()).unwrap();
    assert_eq!(sources, first.0, "embedded or in its own process, the same clients");
}

#[tokio::test]
async fn selections_do_not_depend_on_accept_order() {
    // The same twelve clients connect in two different orders; a seeded share picks the same sources.
    let pick = |order: Vec<u8>| async move {
        let server = start(fast_config()).await;
        let mut held = Vec::new();
        for n in order {
            let source = format!("127.0.21.{n}").parse().unwrap();
            let mut ws = connect_from(&server, "/ws/btcusdt@trade", source).await.unwrap();
            next_json(&mut ws).await;
            held.push(ws);
        }
        // Both mocks run with the same seed, so the fault's occurrence seed is the same.
        let id = server.inject(&fault("kind = \"stall\"\nshare = 0.25\nduration = \"5s\""));
        let records = server.fault_records();
        let record = records.iter().find(|r| r.id == id).unwrap();
        record.sources.clone()
    };
    let forward = pick((1..=12).collect()).await;
    let backward = pick((1..=12).rev().collect()).await;
    assert_eq!(forward.len(), 3);
    assert_eq!(forward, backward);
}
