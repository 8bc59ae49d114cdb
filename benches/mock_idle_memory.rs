//! Memory per idle connection held by the mock: 10,000 WebSocket connections from distinct loopback
//! addresses, each upgraded and then silent, against a `wschaos mock` process. Reports the mock's
//! resident-memory growth per connection; the target is at most 16 KiB.
//!
//! Run: `cargo bench --bench mock_idle_memory` (options: `-- --connections N`).

mod common;

use std::time::{Duration, Instant};

use common::{MockProcess, raise_fd_limit, source_ip};
use tokio::net::TcpSocket;

const CONFIG: &str = r#"
[limits]
connect-attempts = "off"
"#;

async fn open(addr: std::net::SocketAddr, n: usize) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(std::net::SocketAddr::new(source_ip(n), 0)).expect("bind source address");
    let tcp = socket.connect(addr).await.expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp).await.expect("upgrade");
    ws
}

fn main() {
    let connections: usize = common::arg("--connections", 10_000);
    let limit = raise_fd_limit();
    assert!(limit as usize > connections + 100, "open-file limit {limit} is too low for {connections} connections");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mock = MockProcess::start(CONFIG, &[]);
    let figures = runtime.block_on(async {
        // Warm up allocator arenas and the runtime with a few connections, then take the baseline.
        let warm: Vec<_> = futures_util::future::join_all((0..50).map(|n| open(mock.addr, n))).await;
        drop(warm);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = mock.rss_kib();
        let started = Instant::now();
        let mut held = Vec::with_capacity(connections);
        for chunk in (0..connections).collect::<Vec<_>>().chunks(500) {
            let opened = futures_util::future::join_all(chunk.iter().map(|n| open(mock.addr, 100 + n))).await;
            held.extend(opened);
        }
        let connect_time = started.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = mock.rss_kib();
        let per_connection = (after.saturating_sub(before)) as f64 * 1024.0 / connections as f64;
        println!("mock_idle_memory: {connections} idle connections opened in {:.2} s", connect_time.as_secs_f64());
        println!("  mock RSS before: {before} KiB, after: {after} KiB");
        println!(
            "  per idle connection: {:.0} bytes ({:.2} KiB); target <= 16 KiB: {}",
            per_connection,
            per_connection / 1024.0,
            if per_connection <= 16.0 * 1024.0 { "PASS" } else { "FAIL" }
        );
        drop(held);
        (before, after, per_connection, connect_time)
    });
    let stats = mock.stop();
    println!("  mock high-water mark: {} connections", stats["connections_high_water"]);
    common::write_report(
        "mock_idle_memory",
        &serde_json::json!({
            "connections": connections,
            "rss_before_kib": figures.0,
            "rss_after_kib": figures.1,
            "bytes_per_idle_connection": figures.2.round(),
            "target_bytes": 16 * 1024,
            "connect_seconds": figures.3.as_secs_f64(),
            "mock_high_water": stats["connections_high_water"],
        }),
    );
}
