//! The floor of this machine under the two capacity targets that no client or server code can beat: how
//! long the kernel takes to write one event to thousands of sockets, and how many WebSocket upgrades a
//! minimal client and a minimal server complete together. Neither part uses wschaos's code, so what it
//! measures is the loopback stack, the scheduler and the cores, the bound any mock and harness on this
//! machine work within.
//!
//! - **fan-out**: `--sockets N` (5,000) accepted loopback sockets; a writer thread writes one small
//!   server-to-client WebSocket text frame to each of them per event (blocking `write`, one syscall per
//!   socket, nothing else), while a tokio reader drains the client ends, as a client would. Reported: the time
//!   from the first write of an event to its last (the wait of the last socket, which a mock's write lag
//!   measures), and the CPU per write. With `--writers 2` the sockets are split over two writer threads.
//! - **storm**: `--sockets N` minimal tokio-tungstenite clients, each from its own loopback address, all
//!   started at the same instant against a minimal tokio-tungstenite server (one runtime thread each side);
//!   then the same clients against `wschaos mock`. Reported: when each upgrade completed after the start
//!   (p50, p95, max), upgrades per second and CPU per upgrade.
//!
//! Run: `cargo bench --bench rig_floor` (options: `-- --sockets N --events E --writers W`).

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{MockProcess, raise_fd_limit, source_ip};
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;

/// A server-to-client text frame of a trade-sized payload (unmasked, 7-bit length).
fn frame() -> Vec<u8> {
    let payload = br#"{"e":"trade","E":1764612345678901,"s":"BTCUSDT","t":12345678,"p":"97123.45000000","q":"0.01200000","T":1764612345678900,"m":true,"M":true}"#;
    let mut frame = vec![0x81, payload.len() as u8];
    frame.extend_from_slice(payload);
    frame
}

/// CPU seconds (user + system) of the calling thread.
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<f64>().ok()).sum();
    ticks / 100.0
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0)
}

/// Opens `n` loopback connections: the accepted (server) ends and the client ends.
fn socket_pairs(n: usize) -> (Vec<TcpStream>, Vec<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let mut servers = Vec::with_capacity(n);
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(TcpStream::connect(addr).expect("connect"));
        let (server, _) = listener.accept().expect("accept");
        server.set_nodelay(true).expect("nodelay");
        servers.push(server);
    }
    (servers, clients)
}

/// Drains every client end until it closes, on a one-thread runtime (the reading side's core).
fn drain(clients: Vec<TcpStream>, read: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let mut tasks = Vec::with_capacity(clients.len());
            for client in clients {
                client.set_nonblocking(true).expect("nonblocking");
                let mut stream = tokio::net::TcpStream::from_std(client).expect("tokio stream");
                let read = read.clone();
                tasks.push(tokio::spawn(async move {
                    let mut buffer = vec![0u8; 2048];
                    while let Ok(n @ 1..) = stream.read(&mut buffer).await {
                        read.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }));
            }
            for task in tasks {
                task.await.ok();
            }
        });
    })
}

/// Writes `events` events to every socket of `servers`, one every `gap`; returns each event's fan-out time
/// (first write to last) in ms, and the thread's CPU seconds.
fn write_events(servers: &mut [TcpStream], events: usize, gap: Duration, start: Instant) -> (Vec<f64>, f64) {
    let frame = frame();
    let cpu_before = thread_cpu_seconds();
    let mut spans = Vec::with_capacity(events);
    for event in 0..events {
        let due = start + gap * event as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let first = Instant::now();
        for server in servers.iter_mut() {
            server.write_all(&frame).expect("write");
        }
        spans.push(first.elapsed().as_secs_f64() * 1e3);
    }
    (spans, thread_cpu_seconds() - cpu_before)
}

fn fanout(sockets: usize, events: usize, writers: usize) -> serde_json::Value {
    let (servers, clients) = socket_pairs(sockets);
    let read = Arc::new(AtomicU64::new(0));
    let reader = drain(clients, read.clone());
    let start = Instant::now() + Duration::from_millis(200);
    let gap = Duration::from_millis(100);
    let mut chunks: Vec<Vec<TcpStream>> = (0..writers).map(|_| Vec::new()).collect();
    for (n, server) in servers.into_iter().enumerate() {
        chunks[n % writers].push(server);
    }
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|mut chunk| std::thread::spawn(move || (write_events(&mut chunk, events, gap, start), chunk)))
        .collect();
    let mut spans = vec![0.0f64; events];
    let mut cpu = 0.0;
    let mut keep = Vec::new();
    for handle in handles {
        let ((thread_spans, thread_cpu), chunk) = handle.join().expect("writer");
        for (all, one) in spans.iter_mut().zip(thread_spans) {
            *all = all.max(one);
        }
        cpu += thread_cpu;
        keep.push(chunk);
    }
    drop(keep);
    reader.join().expect("reader");
    spans.sort_by(f64::total_cmp);
    let writes = (sockets * events) as f64;
    let figures = serde_json::json!({
        "sockets": sockets,
        "events": events,
        "writers": writers,
        "fanout_ms_p50": percentile(&spans, 0.5),
        "fanout_ms_p99": percentile(&spans, 0.99),
        "fanout_ms_max": percentile(&spans, 1.0),
        "writer_cpu_per_write_us": cpu * 1e6 / writes,
        "bytes_read": read.load(Ordering::Relaxed),
        "bytes_written": writes as u64 * frame().len() as u64,
    });
    println!(
        "  fan-out  {sockets} sockets, {writers} writer thread(s): one event reaches its last socket {:.1} ms (p50), {:.1} ms (p99), {:.1} ms (max) after its first; {:.2} µs of writer CPU per write",
        figures["fanout_ms_p50"].as_f64().unwrap_or(0.0),
        figures["fanout_ms_p99"].as_f64().unwrap_or(0.0),
        figures["fanout_ms_max"].as_f64().unwrap_or(0.0),
        figures["writer_cpu_per_write_us"].as_f64().unwrap_or(0.0),
    );
    figures
}

/// A minimal WebSocket server: accepts, upgrades and holds each connection until it closes.
fn minimal_server() -> (SocketAddr, std::thread::JoinHandle<()>, tokio::sync::oneshot::Sender<()>) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let socket = TcpSocket::new_v4().expect("socket");
            socket.set_reuseaddr(true).expect("reuseaddr");
            socket.bind("127.0.0.1:0".parse().expect("address")).expect("bind");
            let listener = socket.listen(4096).expect("listen");
            addr_tx.send(listener.local_addr().expect("address")).expect("send address");
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        tokio::spawn(async move {
                            if let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await {
                                while let Some(Ok(_)) = ws.next().await {}
                            }
                        });
                    }
                    _ = &mut stop_rx => break,
                }
            }
        });
    });
    (addr_rx.recv().expect("server address"), handle, stop_tx)
}

/// `sockets` minimal clients started at once; returns each upgrade's completion time after the start (ms),
/// the failures, and the client side's CPU seconds.
fn storm_clients(addr: SocketAddr, sockets: usize) -> (Vec<f64>, usize, f64) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let cpu_before = thread_cpu_seconds();
    let (mut done, failed, cpu) = runtime.block_on(async move {
        let start = Instant::now();
        let tasks: Vec<_> = (0..sockets)
            .map(|n| {
                tokio::spawn(async move {
                    let socket = TcpSocket::new_v4().ok()?;
                    socket.bind(SocketAddr::new(source_ip(n), 0)).ok()?;
                    let tcp = socket.connect(addr).await.ok()?;
                    tcp.set_nodelay(true).ok()?;
                    let url = format!("ws://{addr}/ws/btcusdt@trade");
                    let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.ok()?;
                    Some((start.elapsed().as_secs_f64() * 1e3, ws))
                })
            })
            .collect();
        let mut done = Vec::with_capacity(sockets);
        let mut held = Vec::with_capacity(sockets);
        let mut failed = 0;
        for task in tasks {
            match task.await.ok().flatten() {
                Some((ms, ws)) => {
                    done.push(ms);
                    held.push(ws);
                }
                None => failed += 1,
            }
        }
        let cpu = thread_cpu_seconds() - cpu_before;
        drop(held);
        (done, failed, cpu)
    });
    done.sort_by(f64::total_cmp);
    (done, failed, cpu)
}

fn storm_report(against: &str, done: &[f64], failed: usize, client_cpu: f64, server_cpu: f64) -> serde_json::Value {
    let max = percentile(done, 1.0);
    let figures = serde_json::json!({
        "against": against,
        "upgraded": done.len(),
        "failed": failed,
        "done_ms_p50": percentile(done, 0.5),
        "done_ms_p95": percentile(done, 0.95),
        "done_ms_max": max,
        "upgrades_per_second": done.len() as f64 * 1e3 / max.max(1e-3),
        "client_cpu_per_upgrade_us": client_cpu * 1e6 / done.len().max(1) as f64,
        "server_cpu_per_upgrade_us": server_cpu * 1e6 / done.len().max(1) as f64,
        "within_250_ms": done.iter().filter(|ms| **ms <= 250.0).count(),
    });
    println!(
        "  storm    {} upgrades against {against} ({failed} failed): done p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms after the start ({} within 250 ms); {:.0} upgrades/s; CPU per upgrade: client {:.0} µs, server {:.0} µs",
        done.len(),
        percentile(done, 0.5),
        percentile(done, 0.95),
        max,
        figures["within_250_ms"],
        figures["upgrades_per_second"].as_f64().unwrap_or(0.0),
        figures["client_cpu_per_upgrade_us"].as_f64().unwrap_or(0.0),
        figures["server_cpu_per_upgrade_us"].as_f64().unwrap_or(0.0),
    );
    figures
}

fn storm_minimal(sockets: usize) -> serde_json::Value {
    let (addr, server, stop) = minimal_server();
    let server_cpu_before = wschaos::os::cpu_seconds();
    let (done, failed, client_cpu) = storm_clients(addr, sockets);
    // The process's CPU less the client thread's is the server's (the benchmark's main thread waits).
    let server_cpu = wschaos::os::cpu_seconds() - server_cpu_before - client_cpu;
    stop.send(()).ok();
    server.join().expect("server");
    storm_report("a minimal tokio-tungstenite server", &done, failed, client_cpu, server_cpu.max(0.0))
}

fn storm_mock(sockets: usize) -> serde_json::Value {
    let config = "[limits]\nconnect-attempts = \"off\"\n[feed]\nsymbols = [\"btcusdt\"]\norders-per-second = 0.02\nbook-changes-per-second = 0.0\n";
    let mock = MockProcess::start(config, &[]);
    let mock_cpu_before = mock.cpu_seconds();
    let (done, failed, client_cpu) = storm_clients(mock.addr, sockets);
    let mock_cpu = mock.cpu_seconds() - mock_cpu_before;
    mock.stop();
    storm_report("wschaos mock", &done, failed, client_cpu, mock_cpu)
}

fn main() {
    raise_fd_limit();
    let sockets: usize = common::arg("--sockets", 5_000);
    let events: usize = common::arg("--events", 50);
    let writers: usize = common::arg("--writers", 1).max(1);
    println!("rig_floor: {sockets} sockets");
    let figures = serde_json::json!({
        "fanout": fanout(sockets, events, writers),
        "storm_minimal": storm_minimal(sockets),
        "storm_mock": storm_mock(sockets),
    });
    common::write_report("rig_floor", &figures);
}
