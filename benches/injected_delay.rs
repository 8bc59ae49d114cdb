//! How exactly an injected delay arrives: an embedded mock, a few raw `btcusdt@trade` subscribers on an
//! otherwise idle machine, and a `latency` fault of a fixed delay D (jitter 0) for D = 5, 50 and 200 ms. Each
//! message's latency runs from its microsecond event time `E` to its arrival here; the target is p50 in
//! [D, D + 1 ms] and p99 ≤ D + 2 ms. Before any fault, the same subscribers measure the loopback floor.
//!
//! Run: `cargo bench --bench injected_delay` (options: `-- --seconds S --subscribers N`).

mod common;

use std::time::Duration;

use common::event_time;

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use wschaos::chaos::Inject;
use wschaos::chaos::{Fault, RawFault};
use wschaos::mock::MockServer;
use wschaos::mock::config::{MockConfig, RawMockConfig};
use wschaos::mock::time::now_micros;

const CONFIG: &str = r#"
[feed]
symbols = ["btcusdt"]
orders-per-second = 100.0
"#;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse().ok()).unwrap_or(default)
}

type Client = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// `n` subscribers of `url` on the mock at `addr`, each having received its first message.
async fn connect(addr: std::net::SocketAddr, url: &str, n: u64) -> Vec<Client> {
    let mut clients = Vec::new();
    for _ in 0..n {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("the mock listens");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.expect("the mock accepts");
        let _first = ws.next().await;
        clients.push(ws);
    }
    clients
}

/// Latencies (µs) the subscribers saw over `span`, after the first `settle` (messages already in flight).
async fn measure(clients: Vec<Client>, span: Duration, settle: Duration) -> Histogram<u64> {
    let mut tasks = Vec::new();
    for mut ws in clients {
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let start = tokio::time::Instant::now();
            while start.elapsed() < settle + span {
                let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(span, ws.next()).await else { break };
                if start.elapsed() < settle {
                    continue;
                }
                if let Some(e) = event_time(text.as_str()) {
                    h.saturating_record(now_micros().saturating_sub(e).max(1));
                }
            }
            h
        }));
    }
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    for task in tasks {
        total.add(task.await.expect("subscriber")).expect("same bounds");
    }
    total
}

fn delay_fault(delay_ms: u64) -> Fault {
    let text = format!("kind = \"latency\"\ndelay = \"{delay_ms}ms\"\njitter = \"0ms\"\nduration = \"1h\"");
    let raw: RawFault = toml::from_str(&text).expect("fault parses");
    Fault::from_raw(&raw, "fault").expect("fault validates")
}

#[tokio::main]
async fn main() {
    let (seconds, subscribers) = (arg("--seconds", 4), arg("--subscribers", 4));
    let raw: RawMockConfig = toml::from_str(CONFIG).expect("config parses");
    let config = MockConfig::from_raw(&raw).expect("config validates");
    let server = MockServer::start(config, "127.0.0.1:0".parse().expect("an address"), 1, CancellationToken::new())
        .await
        .expect("mock starts");
    let url = format!("{}/ws/btcusdt@trade?timeUnit=MICROSECOND", server.url());
    let span = Duration::from_secs(seconds);
    let ms = |us: u64| us as f64 / 1000.0;
    let floor = measure(connect(server.local_addr(), &url, subscribers).await, span, Duration::ZERO).await;
    let (floor_p50, floor_p99) = (ms(floor.value_at_quantile(0.5)), ms(floor.value_at_quantile(0.99)));
    println!("loopback floor: p50 {floor_p50:.3} ms, p99 {floor_p99:.3} ms ({} messages)", floor.len());
    let mut rows = Vec::new();
    for delay in [5u64, 50, 200] {
        // A connection fault selects the connections open when it starts.
        let clients = connect(server.local_addr(), &url, subscribers).await;
        let id = server.inject(&delay_fault(delay));
        let h = measure(clients, span, Duration::from_millis(delay + 100)).await;
        server.remove_fault(id);
        let (p50, p99) = (ms(h.value_at_quantile(0.5)), ms(h.value_at_quantile(0.99)));
        let d = delay as f64;
        let ok = p50 >= d && p50 <= d + 1.0 && p99 <= d + 2.0;
        println!(
            "delay {delay} ms: p50 {p50:.3} ms (+{:.3}), p99 {p99:.3} ms (+{:.3}), min {:.3} ms, {} messages: {}",
            p50 - d,
            p99 - d,
            ms(h.min()),
            h.len(),
            if ok { "within target" } else { "OUTSIDE target" }
        );
        rows.push(serde_json::json!({
            "delay_ms": delay, "p50_ms": p50, "p99_ms": p99, "min_ms": ms(h.min()), "messages": h.len(), "within_target": ok
        }));
    }
    let out = serde_json::json!({
        "subscribers": subscribers,
        "seconds_per_delay": seconds,
        "loopback_floor": { "p50_ms": ms(floor.value_at_quantile(0.5)), "p99_ms": ms(floor.value_at_quantile(0.99)) },
        "delays": rows,
    });
    std::fs::create_dir_all("reports/bench").expect("reports/bench");
    std::fs::write("reports/bench/injected_delay.json", serde_json::to_string_pretty(&out).expect("json"))
        .expect("write the result");
}
