//! Fan-out throughput of the mock: a `wschaos mock --threads 1` process (one core) feeds many combined
//! subscribers in this process; counts delivered messages per second and the delivery latency from each
//! event's microsecond timestamp `E` to its arrival here. The target is at least 200,000 delivered
//! messages per second.
//!
//! Run: `cargo bench --bench mock_fanout` (options: `-- --connections N --seconds S --mock-threads T`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{MockProcess, event_time, raise_fd_limit, source_ip};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use wschaos::mock::time::now_micros;

/// Ten symbols at the same rate: 150 taker orders/s (about 300 trades, 150 aggTrades, 150 bookTickers)
/// plus 300 book changes/s each.
const CONFIG: &str = r#"
[limits]
connect-attempts = "off"
[server]
outbound-queue = 4096
[feed]
symbols = ["btcusdt", "ethusdt", "bnbusdt", "solusdt", "xrpusdt", "dogeusdt", "adausdt", "trxusdt", "linkusdt", "avaxusdt"]
orders-per-second = 150.0
book-changes-per-second = 300.0
popularity-exponent = 0.0
"#;

const SYMBOLS: [&str; 10] =
    ["btcusdt", "ethusdt", "bnbusdt", "solusdt", "xrpusdt", "dogeusdt", "adausdt", "trxusdt", "linkusdt", "avaxusdt"];

struct Totals {
    delivered: AtomicU64,
    measuring: AtomicBool,
}

async fn subscriber(
    addr: std::net::SocketAddr,
    n: usize,
    totals: Arc<Totals>,
    stop: Arc<AtomicBool>,
) -> Histogram<u64> {
    let symbol = SYMBOLS[n % SYMBOLS.len()];
    let path = format!("/stream?streams={symbol}@trade/{symbol}@aggTrade/{symbol}@bookTicker&timeUnit=MICROSECOND");
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(std::net::SocketAddr::new(source_ip(n), 0)).expect("bind");
    let tcp = socket.connect(addr).await.expect("connect");
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}{path}"), tcp).await.expect("upgrade");
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let mut local = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Some(Ok(message)) = ws.next().await else { break };
        if let Message::Text(text) = message {
            if totals.measuring.load(Ordering::Relaxed) {
                local += 1;
                if let Some(sent) = event_time(text.as_str()) {
                    latency.saturating_record(now_micros().saturating_sub(sent).max(1));
                }
                if local % 256 == 0 {
                    totals.delivered.fetch_add(256, Ordering::Relaxed);
                }
            }
        }
    }
    totals.delivered.fetch_add(local % 256, Ordering::Relaxed);
    latency
}

fn main() {
    let connections: usize = common::arg("--connections", 500);
    let seconds: u64 = common::arg("--seconds", 10);
    let mock_threads: usize = common::arg("--mock-threads", 1);
    raise_fd_limit();
    let mock = MockProcess::start(CONFIG, &["--threads", &mock_threads.to_string()]);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let totals = Arc::new(Totals { delivered: AtomicU64::new(0), measuring: AtomicBool::new(false) });
    let stop = Arc::new(AtomicBool::new(false));
    let (histogram, elapsed, cpu) = runtime.block_on(async {
        let tasks: Vec<_> =
            (0..connections).map(|n| tokio::spawn(subscriber(mock.addr, n, totals.clone(), stop.clone()))).collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let cpu_before = mock.cpu_seconds();
        totals.measuring.store(true, Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        totals.measuring.store(false, Ordering::Relaxed);
        let elapsed = started.elapsed();
        let cpu = mock.cpu_seconds() - cpu_before;
        stop.store(true, Ordering::Relaxed);
        let mut merged = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
        for task in tasks {
            if let Ok(h) = task.await {
                merged.add(&h).ok();
            }
        }
        (merged, elapsed, cpu)
    });
    let delivered = totals.delivered.load(Ordering::Relaxed);
    let rate = delivered as f64 / elapsed.as_secs_f64();
    println!(
        "mock_fanout: {connections} combined subscribers (trade, aggTrade, bookTicker of one of 10 symbols), mock on {mock_threads} thread(s), {seconds} s"
    );
    println!(
        "  delivered: {delivered} messages, {rate:.0} msg/s; target >= 200000: {}",
        if rate >= 200_000.0 { "PASS" } else { "FAIL" }
    );
    println!(
        "  mock CPU: {:.2} s over {:.2} s ({:.0} % of one core)",
        cpu,
        elapsed.as_secs_f64(),
        100.0 * cpu / elapsed.as_secs_f64()
    );
    let q = |p: f64| histogram.value_at_quantile(p) as f64 / 1000.0;
    println!(
        "  latency E -> client (ms, {} samples): p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        histogram.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        histogram.max() as f64 / 1000.0
    );
    let stats = mock.stop();
    println!(
        "  mock: {} frames written, {} messages dropped at full queues, feed lag p99 {} us",
        stats["frames_written"], stats["messages_dropped"], stats["feed_lag"]["p99_us"]
    );
    common::write_report(
        "mock_fanout",
        &serde_json::json!({
            "connections": connections,
            "mock_threads": mock_threads,
            "seconds": elapsed.as_secs_f64(),
            "delivered": delivered,
            "delivered_per_second": rate.round(),
            "target_per_second": 200_000,
            "mock_cpu_share_of_one_core": (cpu / elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "latency_ms": {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999), "max": histogram.max() as f64 / 1000.0},
            "mock_frames_written": stats["frames_written"],
            "mock_messages_dropped": stats["messages_dropped"],
            "mock_feed_lag_p99_us": stats["feed_lag"]["p99_us"],
        }),
    );
}
