//! Shared test plumbing: starting a mock on 127.0.0.1:0, real WebSocket clients (tokio-tungstenite over
//! a socket bound to a chosen loopback source address), and a raw frame-level client for the tests where
//! tungstenite's automatic pongs would hide what the server does.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{WebSocketStream, client_async};
use tokio_util::sync::CancellationToken;
use wschaos::mock::{MockConfig, MockServer, RawMockConfig};

/// Upper bound for anything a test waits for; a hang fails instead of blocking CI.
pub const LIMIT: Duration = Duration::from_secs(10);

/// A client WebSocket.
pub type Client = WebSocketStream<TcpStream>;

/// A mock configuration from TOML, for readable test setups.
pub fn config(toml_text: &str) -> MockConfig {
    let raw: RawMockConfig = toml::from_str(toml_text).expect("test config parses");
    MockConfig::from_raw(&raw).expect("test config validates")
}

/// Defaults with fast heartbeats (200 ms pings, 600 ms to answer) and a lively feed. A client answering
/// each ping sends Binance's limit of 5 messages a second in pongs alone, and a busy machine bunches them:
/// the incoming-message limit is raised here so no test's verdict depends on the machine's speed (the
/// limit itself is tested with Binance's figure, conformance c08).
pub fn fast_config() -> MockConfig {
    config(
        r#"
        [heartbeat]
        ping-interval = "200ms"
        pong-timeout = "600ms"
        [limits]
        message-rate = { max = 50, window = "1s" }
        [feed]
        orders-per-second = 200.0
        book-changes-per-second = 400.0
        popularity-exponent = 0.5
        ticker-period = "200ms"
        kline-period = "200ms"
        "#,
    )
}

/// Binance's real heartbeat (20 s pings) with a lively feed: for clients that answer each ping more than
/// once (websocket-client auto-pongs and binance-connector pongs again), where fast pings would break the
/// 5 messages per second limit exactly as they would on Binance.
pub fn lively_feed_config() -> MockConfig {
    config(
        r#"
        [feed]
        orders-per-second = 200.0
        book-changes-per-second = 400.0
        popularity-exponent = 0.5
        ticker-period = "200ms"
        kline-period = "200ms"
        "#,
    )
}

/// Starts a mock on a free loopback port.
pub async fn start(config: MockConfig) -> MockServer {
    MockServer::start(config, "127.0.0.1:0".parse().unwrap(), 42, CancellationToken::new()).await.expect("mock starts")
}

/// Opens a TCP connection to the mock from `source` (any 127.x.y.z address).
pub async fn tcp_from(server: &MockServer, source: IpAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    timeout(LIMIT, socket.connect(server.local_addr())).await.expect("connect in time").expect("connect")
}

/// Connects a tokio-tungstenite client to `path` from 127.0.0.1.
pub async fn connect(server: &MockServer, path: &str) -> Client {
    connect_from(server, path, "127.0.0.1".parse().unwrap()).await.expect("upgrade accepted")
}

/// Connects from a chosen source address; the error carries the HTTP status of a refused upgrade.
pub async fn connect_from(
    server: &MockServer,
    path: &str,
    source: IpAddr,
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let tcp = tcp_from(server, source).await;
    let url = format!("{}{}", server.url(), path);
    let (ws, _) = timeout(LIMIT, client_async(url, tcp)).await.expect("handshake in time")?;
    Ok(ws)
}

/// The next text message, skipping pings and pongs.
pub async fn next_text(ws: &mut Client) -> String {
    loop {
        let message = timeout(LIMIT, ws.next()).await.expect("a message in time");
        match message.expect("stream open").expect("no error") {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// The next text message parsed as JSON.
pub async fn next_json(ws: &mut Client) -> Value {
    serde_json::from_str(&next_text(ws).await).expect("valid JSON")
}

/// Sends a text message.
pub async fn send(ws: &mut Client, text: &str) {
    ws.send(Message::text(text.to_owned())).await.expect("send");
}

/// Sends a request and returns the first message after it (responses precede later events).
pub async fn request(ws: &mut Client, text: &str) -> Value {
    send(ws, text).await;
    loop {
        let v = next_json(ws).await;
        if v.get("id").is_some() && (v.get("result").is_some() || v.get("error").is_some()) {
            return v;
        }
    }
}

/// Reads until the server's close frame and returns it; pings are answered by tungstenite meanwhile.
pub async fn close_frame(ws: &mut Client) -> Option<CloseFrame> {
    loop {
        match timeout(LIMIT, ws.next()).await.expect("close in time") {
            Some(Ok(Message::Close(frame))) => return frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// The outcome of reading until the connection ends: the error or end tungstenite reports.
pub async fn read_until_end(ws: &mut Client) -> Option<tokio_tungstenite::tungstenite::Error> {
    loop {
        match timeout(LIMIT, ws.next()).await.expect("end in time") {
            None => return None,
            Some(Err(e)) => return Some(e),
            Some(Ok(_)) => continue,
        }
    }
}

/// A frame as the raw client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// The opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong).
    pub opcode: u8,
    /// FIN bit.
    pub fin: bool,
    /// Unmasked payload.
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// The close code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 8 && self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// A frame-level client that answers nothing on its own: it shows exactly what the server sends and
/// when, and sends exactly what the test asks.
pub struct RawClient {
    tcp: TcpStream,
    buffer: Vec<u8>,
}

impl RawClient {
    /// Upgrades `path` by hand and returns the client positioned after the 101.
    pub async fn connect(server: &MockServer, path: &str) -> RawClient {
        let mut tcp = tcp_from(server, "127.0.0.1".parse().unwrap()).await;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            server.local_addr()
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut client = RawClient { tcp, buffer: Vec::new() };
        let head = client.read_http_head().await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        client
    }

    /// Wraps a TCP stream that has already been upgraded.
    pub fn from_upgraded(tcp: TcpStream, leftover: Vec<u8>) -> RawClient {
        RawClient { tcp, buffer: leftover }
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let n = timeout(LIMIT, self.tcp.read(&mut chunk)).await.expect("data in time").unwrap_or(0);
        self.buffer.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Reads an HTTP response head (status line and headers).
    pub async fn read_http_head(&mut self) -> String {
        loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buffer.drain(..end + 4).collect();
                return String::from_utf8_lossy(&head).into_owned();
            }
            assert!(self.fill().await, "connection closed before the response head");
        }
    }

    /// The next frame, or `None` when the server closed the TCP connection.
    pub async fn next_frame(&mut self) -> Option<RawFrame> {
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.buffer) {
                self.buffer.drain(..used);
                return Some(frame);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// Sends one masked frame.
    pub async fn send(&mut self, opcode: u8, payload: &[u8]) {
        self.tcp.write_all(&masked_frame(opcode, true, payload)).await.unwrap();
    }

    /// Sends raw bytes.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.unwrap();
    }
}

/// A client frame (masked, as RFC 6455 requires).
pub fn masked_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut frame = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n < 65536 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

fn parse_server_frame(buf: &[u8]) -> Option<(RawFrame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0f;
    let (len, mut at) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().ok()?) as usize, 10),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    let masked = buf[1] & 0x80 != 0;
    let mask: Option<[u8; 4]> = if masked {
        let m = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(m)
    } else {
        None
    };
    let data = buf.get(at..at + len)?;
    let payload = match mask {
        Some(m) => data.iter().enumerate().map(|(i, b)| b ^ m[i % 4]).collect(),
        None => data.to_vec(),
    };
    Some((RawFrame { opcode, fin, payload }, at + len))
}

/// True when every character is an ASCII digit and there are `n` of them.
pub fn digits(value: &Value, n: usize) -> bool {
    value.as_u64().is_some_and(|v| v.to_string().len() == n)
}

/// The top-level keys of a JSON object in the order they appear in the text.
pub fn keys_in_order(text: &str) -> Vec<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                keys.push(key);
            }
            Ok(keys)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(Keys).expect("a JSON object")
}

/// Sends a request and returns the raw text of its response (the first message with an `id`).
pub async fn request_text(ws: &mut Client, text: &str) -> String {
    send(ws, text).await;
    loop {
        let reply = next_text(ws).await;
        let v: Value = serde_json::from_str(&reply).unwrap();
        if v.get("id").is_some() {
            return reply;
        }
    }
}

/// A plain HTTP GET over a fresh socket: the status and body.
pub async fn http_get(server: &MockServer, path: &str) -> (u16, String) {
    let mut tcp = tcp_from(server, "127.0.0.1".parse().unwrap()).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.local_addr());
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    timeout(LIMIT, tcp.read_to_end(&mut response)).await.expect("response in time").unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// True for a price or quantity string with exactly 8 decimals.
pub fn is_decimal8(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        let (int, frac) = s.split_once('.').unwrap_or(("", ""));
        !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.len() == 8
            && frac.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Waits until only the server's background tasks (accept loop and feed) are left, i.e. every
/// connection task has ended and recorded why.
pub async fn settle(server: &MockServer) {
    settle_to(server, MockServer::BACKGROUND_TASKS).await;
}

/// Waits until exactly `tasks` tasks are alive.
pub async fn settle_to(server: &MockServer, tasks: usize) {
    timeout(LIMIT, server.wait_for_tasks(|n| n == tasks))
        .await
        .unwrap_or_else(|_| panic!("tasks never settled to {tasks}: {}", server.tasks_alive()));
}

/// The `wschaos` binary built for these tests.
pub fn wschaos_binary() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_wschaos"))
}

/// A path under the test target's scratch directory (nothing is created).
pub fn scratch_path(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// A file under the test target's scratch directory with `contents`.
pub fn scratch_file(name: &str, contents: &str) -> std::path::PathBuf {
    let path = scratch_path(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// A fresh, empty directory under the test target's scratch directory.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let path = scratch_path(name);
    std::fs::remove_dir_all(&path).ok();
    std::fs::create_dir_all(&path).unwrap();
    path
}

/// A path inside the repository.
pub fn repo_path(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// What a `wschaos run` through the binary gave: its exit code, its `summary.json` (null when none was
/// written) and its stderr.
pub struct Ran {
    /// The exit code.
    pub code: Option<i32>,
    /// The run's summary.
    pub summary: Value,
    /// What it printed on stderr.
    pub stderr: String,
}

/// Writes `text` as scenario `<name>.toml` under the test scratch directory and runs it with `--quiet` and
/// `args`, into the run directory `<name>/` beside it.
pub fn run_scenario(name: &str, text: &str, args: &[&str]) -> Ran {
    let (scenario, out) = (scratch_path(&format!("{name}.toml")), scratch_path(name));
    std::fs::write(&scenario, text).unwrap();
    let output =
        wschaos_binary().arg("run").arg(&scenario).arg("--out").arg(&out).arg("--quiet").args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary = std::fs::read(out.join("summary.json")).map_or(Value::Null, |b| serde_json::from_slice(&b).unwrap());
    Ran { code: output.status.code(), summary, stderr }
}

/// The verdict of criterion `id` for `cohort` in a summary.
pub fn verdict<'a>(summary: &'a Value, id: &str, cohort: &str) -> &'a Value {
    summary["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["criterion"] == id && v["cohort"] == cohort)
        .unwrap_or_else(|| panic!("no verdict {id} for {cohort}"))
}

/// The verdict of criterion `id` for `cohort`, to change it.
pub fn verdict_mut<'a>(summary: &'a mut Value, id: &str, cohort: &str) -> &'a mut Value {
    let verdicts = summary["verdicts"].as_array_mut().unwrap();
    verdicts.iter_mut().find(|v| v["criterion"] == id && v["cohort"] == cohort).unwrap()
}

/// Waits for the child to exit, at most `limit`; kills it and fails otherwise.
pub fn wait_bounded(child: std::process::Child, limit: Duration) -> std::process::Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().ok();
            panic!("the process did not exit within {limit:?}");
        }
    }
}

/// True when the run's self-check found the rig's own delay (or the harness's saturation) in its figures:
/// its latency and storm verdicts are then `not-measurable`, and with nothing measured failing it exits 3.
pub fn rig_lagged(summary: &Value) -> bool {
    summary["rig"]["lagged"] == true || summary["harness"]["saturated"] == true
}

/// The gate passed as far as this machine can tell: exit 0 with a rig that kept up, or exit 3 because the
/// rig lagged with no measured criterion failing. A test's verdict never depends on the rig's speed.
pub fn passed_as_measurable(code: Option<i32>, summary: &Value) -> bool {
    let failed =
        summary["verdicts"].as_array().is_some_and(|v| v.iter().any(|v| v["gates"] == true && v["status"] == "fail"));
    match code {
        Some(0) => !rig_lagged(summary) && !failed,
        Some(3) => rig_lagged(summary) && !failed,
        _ => false,
    }
}

/// A verdict passed, or (when the rig lagged) is `not-measurable` for that reason.
pub fn passed_unless_rig_bound(verdict: &Value, summary: &Value) -> bool {
    verdict["status"] == "pass" || (rig_lagged(summary) && verdict["status"] == "not-measurable")
}

/// Runs the scenario `text` in this process (written as `<name>.toml` under the test scratch directory, run
/// into `<name>/` beside it, `--quiet`) and returns its summary and run directory. Small populations need
/// not meet every success criterion (exit 0 or 1), and a lagging rig only makes the latency and storm
/// verdicts not measurable (exit 3); an interrupted run, or exit 3 for any other reason, fails.
pub async fn run_in_process(name: &str, text: &str) -> (wschaos::summary::RunSummary, std::path::PathBuf) {
    use clap::Parser;
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let file = dir.with_extension("toml");
    std::fs::write(&file, text).unwrap();
    let cli =
        wschaos::Cli::parse_from(["wschaos", "run", file.to_str().unwrap(), "--out", dir.to_str().unwrap(), "--quiet"]);
    let outcome = wschaos::run(cli).await.unwrap();
    let summary: wschaos::summary::RunSummary =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let lagged = outcome == wschaos::Outcome::HarnessError && summary.rig_lagged();
    assert!(
        matches!(outcome, wschaos::Outcome::Success | wschaos::Outcome::CriteriaFailed) || lagged,
        "{name} did not complete cleanly: {outcome:?}"
    );
    (summary, dir)
}
