//! What an external manager costs: the adapter protocol's parse cost per delivered message on the harness
//! side, and the resident memory per client of the shipped Node adapter running the example managers
//! (`adapters/node/`) against a `wschaos mock` process.
//!
//! 1. Parse: lines of 2,000 deliveries each, as an adapter batches them, parsed by
//!    `wschaos::adapter::protocol::parse`; CPU nanoseconds per delivery (best of five rounds).
//! 2. Memory: `--clients N` (100) example WSManager clients, then as many legacy ones, each with
//!    `--subscribers S` (20) subscribers over the feed's streams, in one Node process; the process's RSS
//!    before and after they connect, per client and per socket (the mock's per-address counts say how many
//!    sockets), and what the deliveries cost the harness at the feed's rate.
//!
//! Run: `cargo bench --bench adapter_cost` (needs `tests/clients/setup.sh` for the Node packages;
//! without them the memory part is skipped and says so).

mod common;

use std::time::{Duration, Instant};

use common::MockProcess;
use wschaos::adapter::process::{AdapterProcess, ProcessEvent};
use wschaos::adapter::protocol::{self, Command, DeliveryRow, Report, VERSION};

fn parse_cost() -> serde_json::Value {
    let rows: Vec<DeliveryRow> = (0..2_000u64)
        .map(|i| {
            let stream = ["btcusdt@trade", "ethusdt@trade", "bnbusdt@bookTicker"][(i % 3) as usize];
            DeliveryRow(
                (i % 20) as u32,
                stream.to_owned(),
                Some(1_000_000 + i),
                Some(1_764_000_000_000_000 + i),
                1_764_000_000_000_450 + i,
            )
        })
        .collect();
    let line = protocol::encode_report(&Report::Deliveries { client: 7, rows, side: None });
    let text = line.trim_end();
    let lines = 500;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let started = Instant::now();
        for n in 0..lines {
            let report = protocol::parse(text, n).expect("a deliveries line");
            std::hint::black_box(report);
        }
        let per_delivery = started.elapsed().as_nanos() as f64 / (lines as f64 * 2_000.0);
        best = best.min(per_delivery);
    }
    println!("parse: {best:.0} ns per delivery ({} bytes per delivery on the wire)", text.len() / 2_000);
    serde_json::json!({ "parse_ns_per_delivery": best, "bytes_per_delivery": text.len() / 2_000 })
}

const FEED: &str = r#"
[feed]
symbols = ["btcusdt", "ethusdt", "bnbusdt", "solusdt", "xrpusdt"]
orders-per-second = 20.0
"#;

async fn memory(clients: u32, subscribers: u32) -> Option<serde_json::Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/node");
    if !dir.join("node_modules/ws").exists() {
        println!("memory: skipped, adapters/node has no node_modules (run tests/clients/setup.sh)");
        return None;
    }
    let mock = MockProcess::start(FEED, &[]);
    let command = vec!["node".to_owned(), dir.join("run.js").display().to_string()];
    let init = Command::Init {
        protocol: VERSION,
        upstream: format!("ws://{}", mock.addr),
        time_unit: "MICROSECOND".into(),
        batch_ms: 50,
    };
    let (mut process, _) = AdapterProcess::start(&command, init, Duration::from_secs(10)).await.expect("node adapter");
    let baseline_kib = process.rss_kib().unwrap_or(0);
    let streams = ["btcusdt", "ethusdt", "bnbusdt", "solusdt", "xrpusdt"].map(|s| format!("{s}@trade"));
    let mut figures = serde_json::Map::new();
    for (offset, implementation) in [(0, "wsmanager"), (clients, "legacy")] {
        let before_kib = process.rss_kib().unwrap_or(0);
        for client in offset..offset + clients {
            let source = common::source_ip(client as usize).to_string();
            process.send(Command::Client { client, source, implementation: implementation.into(), side: None });
            for subscriber in 0..subscribers {
                let stream = streams[(subscriber as usize + client as usize) % streams.len()].clone();
                process.send(Command::Subscribe { client, subscriber, stream });
            }
        }
        let (deliveries, seconds) = read_for(&mut process, Duration::from_secs(5)).await;
        let after_kib = process.rss_kib().unwrap_or(0);
        let per_client = (after_kib.saturating_sub(before_kib)) as f64 / f64::from(clients);
        println!(
            "memory: {implementation}: {clients} clients x {subscribers} subscribers, node RSS {before_kib} -> \
             {after_kib} KiB: {per_client:.1} KiB per client; {:.0} deliveries/s reported",
            deliveries as f64 / seconds
        );
        figures.insert(
            implementation.to_owned(),
            serde_json::json!({ "rss_before_kib": before_kib, "rss_after_kib": after_kib,
                                "kib_per_client": per_client, "deliveries_per_second": deliveries as f64 / seconds }),
        );
    }
    process.send(Command::Stop);
    let stats = mock.stop();
    let sockets = stats["upgrades"]["accepted"].as_u64().unwrap_or(0);
    println!("memory: the mock accepted {sockets} upgrades from the adapter (node RSS at start {baseline_kib} KiB)");
    figures.insert("mock_accepted".into(), sockets.into());
    figures.insert("node_rss_start_kib".into(), baseline_kib.into());
    Some(serde_json::Value::Object(figures))
}

/// Deliveries reported over `window`.
async fn read_for(process: &mut AdapterProcess, window: Duration) -> (u64, f64) {
    let started = Instant::now();
    let mut delivered = 0u64;
    while started.elapsed() < window {
        match tokio::time::timeout(window, process.next()).await {
            Ok(Some(ProcessEvent::Report(Report::Deliveries { rows, .. }))) => delivered += rows.len() as u64,
            Ok(Some(ProcessEvent::Report(_))) => {}
            Ok(other) => panic!("{}: {other:?}", process.name),
            Err(_) => break,
        }
    }
    (delivered, started.elapsed().as_secs_f64())
}

fn main() {
    common::raise_fd_limit();
    let clients = common::arg("--clients", 100u32);
    let subscribers = common::arg("--subscribers", 20u32);
    let parse = parse_cost();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let memory = runtime.block_on(memory(clients, subscribers));
    common::write_report("adapter_cost", &serde_json::json!({ "parse": parse, "memory": memory }));
}
