//! A standalone `wschaos mock` under hostile clients: connections that subscribe to hundreds of made-up
//! stream names each, and `/stats` asked for while they hold them. The mock's state for names nobody holds
//! is released, `/stats` lists what is live, and its memory comes back once the attackers are gone.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Stdio};

use futures_util::SinkExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

/// A `wschaos mock` child with its control API; killed when dropped.
struct Standalone {
    child: Child,
    ws: SocketAddr,
    control: SocketAddr,
}

impl Drop for Standalone {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Standalone {
    fn start() -> Standalone {
        let mut child = wschaos_binary()
            .args(["mock", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut address = |prefix: &str| -> SocketAddr {
            let line = lines.by_ref().take(12).map_while(Result::ok).find(|l| l.contains(prefix)).expect(prefix);
            let at = line.find(prefix).unwrap() + prefix.len();
            line[at..].split(['/', ' ']).next().unwrap().parse().unwrap()
        };
        let ws = address("ws://");
        let control = address("control:  http://");
        // Whatever else it prints is read, so that its writes never fail on a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Standalone { child, ws, control }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap();
        line.trim().trim_end_matches("kB").trim().parse().unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let mut tcp = tokio::net::TcpStream::connect(self.control).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.control);
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(LIMIT, tcp.read_to_end(&mut response)).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&response);
        serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap()
    }
}

/// Opens `n` connections from distinct loopback addresses, each subscribing to `names` made-up streams
/// (four SUBSCRIBE messages, within the 5 per second and 8 KiB limits), answered.
async fn attack(mock: &Standalone, n: usize, names: usize) -> Vec<Client> {
    let mut held = Vec::new();
    for c in 0..n {
        let source = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 9, (c / 250) as u8, (1 + c % 250) as u8));
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        let tcp = socket.connect(mock.ws).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{}/ws", mock.ws), tcp).await.unwrap();
        let all: Vec<String> = (0..names).map(|i| format!("h{c}x{i}usdt@trade")).collect();
        for (id, chunk) in all.chunks(names.div_ceil(4)).enumerate() {
            let request = serde_json::json!({ "method": "SUBSCRIBE", "params": chunk, "id": id });
            ws.send(Message::text(request.to_string())).await.unwrap();
            let reply = next_json(&mut ws).await;
            assert_eq!(reply, serde_json::json!({ "result": null, "id": id }), "connection {c}");
        }
        held.push(ws);
    }
    held
}

/// With the binary's default allocator (jemalloc, which gives freed memory back; glibc's keeps it).
#[cfg(feature = "jemalloc")]
#[tokio::test]
async fn made_up_streams_are_released_and_memory_returns_after_a_hostile_burst() {
    let mock = Standalone::start();
    // A first, small round warms up what any mock allocates once (runtime, HTTP, buffers).
    drop(attack(&mock, 2, 100).await);
    mock.get("/stats").await;
    let settled = |stats: &Value| stats["connections_open"] == 0;
    wait_for_stats(&mock, settled).await;
    let before = mock.rss_kib();

    let held = attack(&mock, 40, 800).await;
    for _ in 0..5 {
        let stats = mock.get("/stats").await;
        assert!(stats["streams"].as_array().unwrap().len() >= 32_000, "the attack holds 32,000 names");
    }
    let during = mock.rss_kib();
    for mut ws in held {
        ws.close(None).await.ok();
    }
    // Made-up names nobody holds are gone from /stats once their connections have ended.
    let released = |stats: &Value| settled(stats) && stats["streams"].as_array().is_some_and(|s| s.len() < 100);
    wait_for_stats(&mock, released).await;
    // jemalloc's background threads purge freed pages after its 10 s decay: memory comes back within a
    // bounded wait, measured in 250 ms steps.
    let mut after = mock.rss_kib();
    let mut waited = 0;
    while after > 2 * before && waited < 160 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        mock.get("/health").await;
        after = mock.rss_kib();
        waited += 1;
    }
    eprintln!(
        "mock RSS: {before} KiB before, {during} KiB during, {after} KiB {} ms after the attackers left",
        waited * 250
    );
    assert!(after <= 2 * before, "memory comes back: {before} KiB before, {after} KiB after ({during} KiB during)");
}

/// `/stats` once `done` holds of it (polled, at most 500 times).
async fn wait_for_stats(mock: &Standalone, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..500 {
        let stats = mock.get("/stats").await;
        if done(&stats) {
            return stats;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let stats = mock.get("/stats").await;
    let streams = stats["streams"].as_array().map_or(0, Vec::len);
    panic!("the mock's /stats never reached the expected state: {} open, {streams} streams", stats["connections_open"]);
}
