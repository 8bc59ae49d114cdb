//! External managers through the adapter protocol: processes that misbehave (garbage, a crash, silence, the
//! wrong version) are reported with the process and the line, and the shipped Node adapter, running the
//! example managers written from the seeds, delivers against the real mock with the mock's own counts to
//! match (opt-in like the other real clients: `tests/clients/setup.sh` installs its npm packages).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use wschaos::adapter::process::{AdapterProcess, ProcessEvent, StartError};
use wschaos::adapter::protocol::{Command, DeliveryRow, LineError, Report, VERSION};

use wschaos::chaos::Inject;

use crate::support::*;

fn init(upstream: &str) -> Command {
    Command::Init { protocol: VERSION, upstream: upstream.into(), time_unit: "MICROSECOND".into(), batch_ms: 20 }
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

const READY: &str = r#"{"type":"ready","protocol":1,"adapter":"fake","implementations":["x"]}"#;

/// Every event until the process ended (bounded: a process that never ends fails the test).
async fn until_ended(process: &mut AdapterProcess) -> Vec<ProcessEvent> {
    let mut events = Vec::new();
    for _ in 0..10_000 {
        let event = tokio::time::timeout(LIMIT, process.next()).await.expect("the process ends").expect("an event");
        let ended = matches!(event, ProcessEvent::Ended { .. });
        events.push(event);
        if ended {
            return events;
        }
    }
    panic!("no end after 10,000 events");
}

#[tokio::test]
async fn garbage_and_a_crash_are_reported_with_the_line_and_the_exit_code() {
    let script =
        format!("read init; echo '{READY}'; echo 'not json'; echo '{{\"type\":\"stopped\"}}'; echo boom >&2; exit 3");
    let (mut process, ready) = AdapterProcess::start(&sh(&script), init("ws://127.0.0.1:1"), LIMIT).await.unwrap();
    assert_eq!(ready.implementations, ["x"]);
    assert!(process.name.starts_with("sh -c read init;") && process.name.contains("(pid "), "{}", process.name);
    let events = until_ended(&mut process).await;
    assert!(
        matches!(&events[0], ProcessEvent::Garbage(LineError::Garbage { line: 2, .. })),
        "the second line of its stdout: {events:?}"
    );
    assert_eq!(events[1], ProcessEvent::Report(Report::Stopped));
    assert_eq!(events[2], ProcessEvent::Ended { code: Some(3), stderr: vec!["boom".into()] });
}

#[tokio::test]
async fn an_endless_line_and_bytes_that_are_not_utf8_are_garbage_and_reading_goes_on() {
    // 8 MiB without a newline (twice the longest line read), then a byte that is not UTF-8, then a report.
    let script = format!(
        "read init; echo '{READY}'; head -c 8388608 /dev/zero | tr '\\0' x; echo; printf '\\377\\n'; \
         echo '{{\"type\":\"stopped\"}}'; exit 7"
    );
    let (mut process, _) = AdapterProcess::start(&sh(&script), init("ws://127.0.0.1:1"), LIMIT).await.unwrap();
    let events = until_ended(&mut process).await;
    assert_eq!(events[0], ProcessEvent::Garbage(LineError::TooLong { line: 2 }), "{:?}", &events[..1]);
    assert!(
        matches!(&events[1], ProcessEvent::Garbage(LineError::Garbage { line: 3, problem }) if problem == "not UTF-8")
    );
    assert_eq!(events[2], ProcessEvent::Report(Report::Stopped), "read on after both");
    assert!(matches!(events[3], ProcessEvent::Ended { code: Some(7), .. }), "{:?}", events[3]);
}

#[tokio::test]
async fn many_commands_sent_before_reading_do_not_deadlock_a_process_that_answers_each() {
    // One answer line per command read, written as it reads: a caller that sends everything first must
    // not block (the pipes would fill both ways).
    let script = format!("read init; echo '{READY}'; while read line; do echo '{{\"type\":\"stopped\"}}'; done");
    let (mut process, _) = AdapterProcess::start(&sh(&script), init("ws://127.0.0.1:1"), LIMIT).await.unwrap();
    let commands = 50_000;
    for client in 0..commands {
        process.send(Command::Metrics { client });
    }
    let mut answered = 0;
    while answered < commands {
        match tokio::time::timeout(LIMIT, process.next()).await.expect("answers keep coming") {
            Some(ProcessEvent::Report(Report::Stopped)) => answered += 1,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn killing_a_process_kills_what_its_wrapper_started() {
    let script = format!("read init; sleep 600 & echo $! >&2; echo '{READY}'; wait");
    let (mut process, _) = AdapterProcess::start(&sh(&script), init("ws://127.0.0.1:1"), LIMIT).await.unwrap();
    let mut grandchild = None;
    for _ in 0..1000 {
        grandchild = process.stderr_tail().first().and_then(|pid| pid.parse::<u32>().ok());
        if grandchild.is_some() {
            break;
        }
        tokio::task::yield_now().await;
    }
    let pid = grandchild.unwrap_or_else(|| panic!("the sleep's pid on stderr: {:?}", process.stderr_tail()));
    process.kill().await;
    let gone =
        |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| stat.contains(") Z "));
    for _ in 0..10_000 {
        if gone(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the wrapper's child {pid} outlived the kill");
}

#[tokio::test]
async fn a_silent_process_a_wrong_version_and_an_early_exit_never_become_ready() {
    let silent = sh("cat > /dev/null");
    let err = AdapterProcess::start(&silent, init("ws://127.0.0.1:1"), Duration::from_millis(300)).await;
    let err = err.err().expect("refused");
    assert!(matches!(err, StartError::Silent { .. }), "{err}");
    assert!(err.to_string().contains("did not answer \"init\" within 300ms"), "{err}");
    let version = r#"read init; echo '{"type":"ready","protocol":9,"adapter":"future","implementations":[]}'"#;
    let err = AdapterProcess::start(&sh(version), init("ws://127.0.0.1:1"), LIMIT).await.err().expect("refused");
    assert!(err.to_string().contains("line 1: the adapter speaks protocol 9; this wschaos speaks 1"), "{err}");
    let early = "read init; echo 'cannot find module ./manager' >&2; exit 1";
    let err = AdapterProcess::start(&sh(early), init("ws://127.0.0.1:1"), LIMIT).await.err().expect("refused");
    let text = err.to_string();
    assert!(text.contains("it exited first (code 1)") && text.contains("cannot find module ./manager"), "{text}");
    let err = AdapterProcess::start(&["/nonexistent/adapter".into()], init("ws://127.0.0.1:1"), LIMIT).await;
    assert!(err.err().unwrap().to_string().starts_with("could not start /nonexistent/adapter: "));
}

fn node_adapter() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/node");
    assert!(dir.join("node_modules/ws").exists(), "adapters/node has no node_modules: run tests/clients/setup.sh");
    vec!["node".into(), dir.join("run.js").display().to_string()]
}

/// Deliveries per (client, subscriber, stream) until each of `wanted` has at least `at_least` (bounded).
async fn deliveries(
    process: &mut AdapterProcess,
    wanted: &[(u32, u32, &str)],
    at_least: usize,
) -> BTreeMap<(u32, u32, String), Vec<DeliveryRow>> {
    let mut got: BTreeMap<(u32, u32, String), Vec<DeliveryRow>> = BTreeMap::new();
    let done = |got: &BTreeMap<_, Vec<_>>| {
        wanted.iter().all(|(c, s, st)| got.get(&(*c, *s, (*st).to_owned())).is_some_and(|r| r.len() >= at_least))
    };
    for _ in 0..100_000 {
        if done(&got) {
            return got;
        }
        match tokio::time::timeout(LIMIT, process.next()).await.expect("deliveries come").expect("still running") {
            ProcessEvent::Report(Report::Deliveries { client, rows, .. }) => {
                for row in rows {
                    got.entry((client, row.subscriber(), row.stream().to_owned())).or_default().push(row);
                }
            }
            ProcessEvent::Report(_) => {}
            other => panic!("{}: {other:?}", process.name),
        }
    }
    panic!("not enough deliveries: {:?}", got.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>());
}

#[tokio::test]
#[ignore = "needs Node 20 and adapters/node's npm packages: run tests/clients/setup.sh first"]
async fn real_client_node_example_managers_share_sockets_as_documented_and_deliver_every_trade() {
    let server = start(lively_feed_config()).await;
    let (mut process, ready) = AdapterProcess::start(&node_adapter(), init(&server.url()), LIMIT).await.unwrap();
    assert_eq!(ready.implementations, ["legacy", "wsmanager", "migration-layer"]);
    assert_eq!(ready.migrations, ["migration-layer"], "the layer a rehearsal moves by its flag flip");
    let (legacy_ip, ws_ip) = ("127.0.7.1", "127.0.7.2");
    let client = |client: u32, source: &str, implementation: &str| Command::Client {
        client,
        source: source.into(),
        implementation: implementation.into(),
        side: None,
    };
    process.send(client(1, legacy_ip, "legacy"));
    process.send(client(2, ws_ip, "wsmanager"));
    for (c, subscriber) in [(1, 1), (1, 2), (2, 1), (2, 2)] {
        process.send(Command::Subscribe { client: c, subscriber, stream: "btcusdt@trade".into() });
    }
    let wanted: Vec<(u32, u32, &str)> =
        [(1, 1), (1, 2), (2, 1), (2, 2)].iter().map(|(c, s)| (*c, *s, "btcusdt@trade")).collect();
    let got = deliveries(&mut process, &wanted, 20).await;
    // The truth from the mock's side, by source address: legacy a socket per subscribe(), WSManager one.
    let per_ip = server.snapshot().upgrades_per_ip;
    let accepted = |ip: &str| per_ip.get(&ip.parse::<IpAddr>().unwrap()).map_or(0, |c| c.accepted);
    assert_eq!((accepted(legacy_ip), accepted(ws_ip)), (2, 1), "{per_ip:?}");
    for (key, rows) in &got {
        let ids: Vec<u64> = rows.iter().map(|r| r.key().expect("a trade carries its id")).collect();
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{key:?}: consecutive trade ids, nothing lost: {ids:?}");
        let latency = rows[0].received_us().saturating_sub(rows[0].event_time_us().unwrap());
        assert!(rows[0].event_time_us().unwrap() > 1_000_000_000_000_000, "µs event times: {:?}", rows[0]);
        assert!(latency < 60_000_000, "event time and callback time on one clock: {latency} µs");
    }
    process.send(Command::Metrics { client: 2 });
    process.send(Command::Stop);
    let events = until_ended(&mut process).await;
    let metrics: Vec<&serde_json::Value> = events
        .iter()
        .filter_map(|e| match e {
            ProcessEvent::Report(Report::Metrics { client: 2, metrics }) => Some(metrics),
            _ => None,
        })
        .collect();
    assert!(!metrics.is_empty(), "{events:?}");
    assert_eq!(metrics[0]["implementation"], "WSManager");
    assert_eq!(metrics[0]["activeConnections"], 1, "the manager's own count agrees with the mock's");
    assert!(events.contains(&ProcessEvent::Report(Report::Stopped)), "{events:?}");
    assert!(matches!(events.last(), Some(ProcessEvent::Ended { code: Some(0), .. })), "{events:?}");
}

fn python_adapter() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/client-venv/bin/python");
    assert!(python.exists(), "{} is missing: run tests/clients/setup.sh", python.display());
    vec![python.display().to_string(), root.join("adapters/python/run.py").display().to_string()]
}

#[tokio::test]
#[ignore = "needs the Python websockets package: run tests/clients/setup.sh first"]
async fn real_client_python_unified_client_holds_one_socket_and_routes_by_stream() {
    let server = start(lively_feed_config()).await;
    let (mut process, ready) = AdapterProcess::start(&python_adapter(), init(&server.url()), LIMIT).await.unwrap();
    assert_eq!(ready.implementations, ["unified"]);
    let source = "127.0.8.1";
    process.send(Command::Client { client: 5, source: source.into(), implementation: "unified".into(), side: None });
    let subscriptions = [(1, "btcusdt@trade"), (2, "btcusdt@trade"), (3, "ethusdt@trade")];
    for (subscriber, stream) in subscriptions {
        process.send(Command::Subscribe { client: 5, subscriber, stream: stream.into() });
    }
    let wanted: Vec<(u32, u32, &str)> = subscriptions.iter().map(|(s, st)| (5, *s, *st)).collect();
    let got = deliveries(&mut process, &wanted, 20).await;
    assert_eq!(got.len(), 3, "no subscriber received a stream it did not subscribe to: {:?}", got.keys());
    for (key, rows) in &got {
        let ids: Vec<u64> = rows.iter().map(|r| r.key().expect("a trade carries its id")).collect();
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{key:?}: consecutive trade ids: {ids:?}");
    }
    let accepted = || {
        let per_ip = server.snapshot().upgrades_per_ip;
        per_ip.get(&source.parse::<IpAddr>().unwrap()).map_or(0, |c| c.accepted)
    };
    assert_eq!(accepted(), 1, "one connection per client, streams added by live SUBSCRIBE");
    // Dropped, it reconnects and subscribes every stream again: each subscriber receives newer trades. Twice:
    // the second drop comes when nothing is left queued from the first socket's requests.
    let raw: wschaos::chaos::RawFault = toml::from_str("kind = \"disconnect\"\nhow = \"fin\"").unwrap();
    let drop_all = wschaos::chaos::Fault::from_raw(&raw, "fault").unwrap();
    let mut newest: BTreeMap<_, u64> =
        got.iter().map(|(k, rows)| (k.clone(), rows.iter().filter_map(DeliveryRow::key).max().unwrap())).collect();
    for round in 1..=2u64 {
        let before = newest.clone();
        server.inject(&drop_all);
        let resumed = |newest: &BTreeMap<_, u64>| before.iter().all(|(k, id)| newest[k] > id + 50);
        for _ in 0..100 {
            for (key, rows) in deliveries(&mut process, &wanted, 1).await {
                let latest = rows.iter().filter_map(DeliveryRow::key).max().unwrap_or(0);
                newest.entry(key).and_modify(|n| *n = latest.max(*n));
            }
            if accepted() == 1 + round && resumed(&newest) {
                break;
            }
        }
        assert_eq!(accepted(), 1 + round, "one reconnect per drop");
        assert!(resumed(&newest), "drop {round}: every subscriber receives again: {before:?} then {newest:?}");
    }
    process.send(Command::Stop);
    let events = until_ended(&mut process).await;
    assert!(events.contains(&ProcessEvent::Report(Report::Stopped)), "{events:?}");
    assert!(matches!(events.last(), Some(ProcessEvent::Ended { code: Some(0), .. })), "{events:?}");
}
