//! What the harness costs per socket message and per connection, against the floor: a minimal
//! tokio-tungstenite client that records nothing, on the same workload and the same upstream.
//!
//! The workload is `benches/scenarios/hot-feed.toml` (legacy sockets on btcusdt trade and bookTicker, the
//! mock in its own process). First the minimal client: as many raw sockets as the scenario's legacy cohort
//! holds, from distinct loopback addresses, opened over the same ramp-up, read for the same duration, each
//! message counted and dropped. Then `wschaos run` on the scenario itself, judged from its summary.json.
//! Both sides report CPU seconds per socket message (the whole run, connects included, over every message
//! read) and resident memory per open connection (the peak above the memory at the start, over the
//! connections open at once), with the mock's CPU beside each.
//!
//! Run: `cargo bench --bench harness_cost` (options: `-- --scenario FILE --skip-harness`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{MockProcess, raise_fd_limit, source_ip};
use futures_util::StreamExt;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// What the floor client needs to know of the scenario.
struct Workload {
    sockets: usize,
    streams: Vec<String>,
    ramp_up: Duration,
    duration: Duration,
    mock_config: String,
    seed: u64,
}

fn workload(path: &Path) -> Workload {
    let scenario = wschaos::scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
    let w = &scenario.workload;
    let sockets = (w.clients * w.subscribers_per_client * w.streams_per_subscriber) as usize;
    let symbols = &scenario.mock.feed.symbols;
    let streams =
        w.kinds.iter().flat_map(|(kind, _)| symbols.iter().map(move |s| format!("{}@{kind}", s.name))).collect();
    let mock_config = toml::to_string(&scenario.mock_raw).expect("the mock's configuration as TOML");
    Workload { sockets, streams, ramp_up: w.ramp_up, duration: scenario.duration, mock_config, seed: scenario.seed }
}

/// One raw socket read until `stop`, every message counted in its own counter (read when the run ends, so a
/// reader aborted mid-wait has counted everything it read).
async fn reader(addr: std::net::SocketAddr, n: usize, stream: String, read: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(std::net::SocketAddr::new(source_ip(n), 0)).expect("bind");
    let tcp = socket.connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    // The harness's own buffer sizes (src/manager/upstream.rs), so that memory compares like with like.
    let config = WebSocketConfig::default().read_buffer_size(2 * 1024).write_buffer_size(0);
    let url = format!("ws://{addr}/ws/{stream}?timeUnit=MICROSECOND");
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config)).await.expect("upgrade");
    while !stop.load(Ordering::Relaxed) {
        match ws.next().await {
            Some(Ok(_)) => read.fetch_add(1, Ordering::Relaxed),
            _ => break,
        };
    }
}

struct Side {
    cpu_seconds: f64,
    messages: u64,
    peak_rss_kib: u64,
    rss_per_connection: f64,
    mock_cpu_seconds: f64,
}

impl Side {
    fn cpu_per_message_us(&self) -> f64 {
        self.cpu_seconds * 1e6 / self.messages.max(1) as f64
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "cpu_seconds": self.cpu_seconds,
            "socket_messages": self.messages,
            "cpu_per_message_us": (self.cpu_per_message_us() * 100.0).round() / 100.0,
            "peak_rss_kib": self.peak_rss_kib,
            "rss_per_connection_bytes": self.rss_per_connection.round(),
            "mock_cpu_seconds": self.mock_cpu_seconds,
            "mock_cpu_per_message_us": (self.mock_cpu_seconds * 1e8 / self.messages.max(1) as f64).round() / 100.0,
        })
    }
}

fn floor(work: &Workload) -> Side {
    // The mock as the harness starts it: the same seed, and recording its publications.
    let seed = work.seed.to_string();
    let mock = MockProcess::start(&work.mock_config, &["--seed", &seed, "--record-publications"]);
    let threads: usize = common::arg("--floor-threads", 0);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        builder.worker_threads(threads);
    }
    let runtime = builder.enable_all().build().expect("runtime");
    let read: Vec<Arc<AtomicU64>> = (0..work.sockets).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let rss_before = wschaos::os::rss_kib();
    let cpu_before = wschaos::os::cpu_seconds();
    let mock_cpu_before = mock.cpu_seconds();
    let started = Instant::now();
    runtime.block_on(async {
        let gap = work.ramp_up / work.sockets.max(1) as u32;
        let mut tasks = Vec::with_capacity(work.sockets);
        for (n, counter) in read.iter().enumerate() {
            let stream = work.streams[n % work.streams.len()].clone();
            tasks.push(tokio::spawn(reader(mock.addr, n, stream, counter.clone(), stop.clone())));
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + gap * (n as u32 + 1))).await;
        }
        tokio::time::sleep_until(tokio::time::Instant::from_std(started + work.duration)).await;
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.abort();
        }
    });
    let cpu_seconds = wschaos::os::cpu_seconds() - cpu_before;
    let mock_cpu_seconds = mock.cpu_seconds() - mock_cpu_before;
    let peak_rss_kib = wschaos::os::peak_rss_kib();
    drop(runtime);
    mock.stop();
    Side {
        cpu_seconds,
        messages: read.iter().map(|r| r.load(Ordering::Relaxed)).sum(),
        peak_rss_kib,
        rss_per_connection: peak_rss_kib.saturating_sub(rss_before) as f64 * 1024.0 / work.sockets.max(1) as f64,
        mock_cpu_seconds,
    }
}

fn harness(scenario: &Path) -> (Side, serde_json::Value) {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/bench/harness_cost-run");
    if out.exists() {
        std::fs::remove_dir_all(&out).expect("remove the previous run directory");
    }
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(scenario)
        .status()
        .expect("start wschaos run");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary.json")).expect("JSON");
    let harness = &summary["harness"];
    let messages = summary["cohorts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["delivery"]["received"].as_u64().unwrap_or(0))
        .sum();
    let side = Side {
        cpu_seconds: harness["cpu_seconds"].as_f64().unwrap_or(0.0),
        messages,
        peak_rss_kib: harness["max_rss_kib"].as_u64().unwrap_or(0),
        rss_per_connection: harness["rss_per_connection_bytes"].as_f64().unwrap_or(0.0),
        mock_cpu_seconds: summary["rig"]["mock_cpu_seconds"].as_f64().unwrap_or(0.0),
    };
    let rig = serde_json::json!({
        "exit_code": status.code(),
        "rig_lagged": summary["rig"]["lagged"],
        "lagging": summary["rig"]["lagging"],
        "canary_p99_us": summary["rig"]["parts"][0]["p99_us"],
        "mock_writes_p99_us": summary["rig"]["parts"][1]["p99_us"],
        "scheduler_lag_p99_us": harness["lag_p99_us"],
    });
    (side, rig)
}

fn print(name: &str, side: &Side) {
    println!(
        "  {name:<8} {:>7.2} CPU-s for {:>9} socket messages = {:>5.2} µs each; peak RSS {:>6} KiB, {:>6.0} B per connection; mock {:.2} CPU-s ({:.2} µs per message)",
        side.cpu_seconds,
        side.messages,
        side.cpu_per_message_us(),
        side.peak_rss_kib,
        side.rss_per_connection,
        side.mock_cpu_seconds,
        side.mock_cpu_seconds * 1e6 / side.messages.max(1) as f64,
    );
}

fn main() {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/scenarios/hot-feed.toml");
    let scenario: PathBuf = common::arg("--scenario", default);
    let skip_harness = std::env::args().any(|a| a == "--skip-harness");
    raise_fd_limit();
    let work = workload(&scenario);
    println!(
        "harness_cost: {} ({} sockets over {:?}, {:?})",
        scenario.display(),
        work.sockets,
        work.ramp_up,
        work.duration
    );
    let floor = floor(&work);
    print("floor", &floor);
    let mut figures = serde_json::json!({ "scenario": scenario, "sockets": work.sockets, "floor": floor.json() });
    if !skip_harness {
        let (side, rig) = harness(&scenario);
        print("wschaos", &side);
        println!(
            "  ratio    CPU per message {:.2}x the floor (target <= 2 µs: {}), memory per connection {:.2}x (target <= 1.5x: {})",
            side.cpu_per_message_us() / floor.cpu_per_message_us(),
            if side.cpu_per_message_us() <= 2.0 { "PASS" } else { "FAIL" },
            side.rss_per_connection / floor.rss_per_connection.max(1.0),
            if side.rss_per_connection <= 1.5 * floor.rss_per_connection { "PASS" } else { "FAIL" },
        );
        println!("  rig      {rig}");
        figures["wschaos"] = side.json();
        figures["wschaos_rig"] = rig;
    }
    common::write_report("harness_cost", &figures);
}
