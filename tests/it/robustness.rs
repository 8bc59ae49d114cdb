//! Bad input never crashes the mock or leaks a task: malformed and binary frames, bad UTF-8, oversize
//! messages, floods, half-finished handshakes, non-upgrade requests, abrupt TCP resets and slow consumers.
//! Each test ends by checking that every connection task is gone and the server still serves.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use wschaos::mock::stats::{CloseCause, RejectReason};
use wschaos::mock::{MockConfig, MockServer};

use crate::support::*;

/// The server still answers a fresh client after whatever the test did to it.
async fn still_serves(server: &MockServer) {
    let mut ws = connect(server, "/ws").await;
    assert_eq!(request_text(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#).await, r#"{"result":[],"id":1}"#);
}

async fn close_code_after(server: &MockServer, bytes: &[u8]) -> Option<u16> {
    let mut raw = RawClient::connect(server, "/ws").await;
    raw.send_bytes(bytes).await;
    loop {
        let frame = raw.next_frame().await?;
        if frame.opcode == 8 {
            return frame.close_code();
        }
    }
}

#[tokio::test]
async fn binary_frames_are_ignored_and_the_connection_stays() {
    let server = start(MockConfig::default()).await;
    let mut raw = RawClient::connect(&server, "/ws").await;
    raw.send(2, b"\x00\x01binary").await;
    raw.send(1, br#"{"method":"LIST_SUBSCRIPTIONS","id":7}"#).await;
    let frame = raw.next_frame().await.expect("open");
    assert_eq!((frame.opcode, frame.payload.as_slice()), (1, br#"{"result":[],"id":7}"#.as_slice()));
}

#[tokio::test]
async fn protocol_violations_close_with_the_rfc_codes_and_never_take_the_server_down() {
    let server = start(MockConfig::default()).await;
    let reserved_opcode = masked_frame(0x3, true, b"x");
    let mut unmasked = vec![0x81u8, 0x02];
    unmasked.extend_from_slice(b"{}");
    let bad_utf8 = masked_frame(0x1, true, &[0xff, 0xfe, 0x22]);
    let oversize = masked_frame(0x1, true, &vec![b'a'; 9000]);
    assert_eq!(close_code_after(&server, &reserved_opcode).await, Some(1002));
    assert_eq!(close_code_after(&server, &unmasked).await, Some(1002));
    assert_eq!(close_code_after(&server, &bad_utf8).await, Some(1007));
    assert_eq!(close_code_after(&server, &oversize).await, Some(1009));
    settle(&server).await;
    let closes = server.snapshot().closes;
    assert_eq!(closes[&CloseCause::ProtocolViolation], 3);
    assert_eq!(closes[&CloseCause::MessageTooBig], 1);
    still_serves(&server).await;
}

#[tokio::test]
async fn a_ping_flood_is_closed_with_1008() {
    let server = start(MockConfig::default()).await;
    let flood: Vec<u8> = (0..100).flat_map(|_| masked_frame(0x9, true, b"flood")).collect();
    assert_eq!(close_code_after(&server, &flood).await, Some(1008));
    settle(&server).await;
    assert_eq!(server.snapshot().closes[&CloseCause::MessageRate], 1);
    still_serves(&server).await;
}

#[tokio::test]
async fn half_finished_and_abandoned_handshakes_are_timed_out_and_counted() {
    let server = start(config("[server]\nhandshake-timeout = \"200ms\"\n")).await;
    let local = "127.0.0.1".parse().unwrap();
    let mut stalled = tcp_from(&server, local).await;
    stalled.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgr").await.unwrap();
    let mut sink = Vec::new();
    let read = tokio::time::timeout(LIMIT, stalled.read_to_end(&mut sink)).await.expect("server hangs up");
    assert!(read.is_ok() && sink.is_empty(), "closed without a response");
    let mut abandoned = tcp_from(&server, local).await;
    abandoned.write_all(b"GET /ws HTTP/1.1\r\n").await.unwrap();
    drop(abandoned);
    let mut tls = tcp_from(&server, local).await;
    tls.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n").await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(LIMIT, tls.read_to_string(&mut response)).await.unwrap().ok();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    settle(&server).await;
    let rejected = server.snapshot().upgrades.rejected;
    assert_eq!(rejected[&RejectReason::HandshakeTimeout], 1);
    assert_eq!(rejected[&RejectReason::HandshakeAborted], 1);
    assert_eq!(rejected[&RejectReason::BadRequest], 1);
    still_serves(&server).await;
}

#[tokio::test]
async fn requests_that_are_not_upgrades_get_http_errors() {
    let server = start(MockConfig::default()).await;
    let long = format!("/ws/{}", "a".repeat(9000));
    let streams: Vec<String> = (0..1025).map(|i| format!("s{i}usdt@trade")).collect();
    let too_many = format!("/stream?streams={}", streams.join("/"));
    let cases: [(&str, &str, u16); 7] = [
        ("GET", "/", 404),
        ("GET", "/wss/btcusdt@trade", 404),
        ("POST", "/ws", 405),
        ("GET", "/ws", 400),
        ("GET", "/ws?timeUnit=NANOSECOND", 400),
        ("GET", &long, 414),
        ("GET", &too_many, 414),
    ];
    for (method, path, status) in cases {
        let mut tcp = tcp_from(&server, "127.0.0.1".parse().unwrap()).await;
        tcp.write_all(format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
        let mut response = String::new();
        tokio::time::timeout(LIMIT, tcp.read_to_string(&mut response)).await.unwrap().unwrap();
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status} ")),
            "{method} {}: {response:.80}",
            &path[..path.len().min(40)]
        );
    }
    let old_version = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let mut tcp = tcp_from(&server, "127.0.0.1".parse().unwrap()).await;
    tcp.write_all(old_version.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(LIMIT, tcp.read_to_string(&mut response)).await.unwrap().unwrap();
    assert!(response.starts_with("HTTP/1.1 426 ") && response.contains("Sec-WebSocket-Version: 13"), "{response}");
    settle(&server).await;
    still_serves(&server).await;
}

/// RFC 6455 §4.1: the opening handshake is an HTTP/1.1 GET with a `Host` header; an HTTP/1.0 upgrade and
/// a hostless one are refused with 400 (Binance and the real client libraries always send both).
#[tokio::test]
async fn an_http_1_0_or_hostless_upgrade_is_400() {
    let server = start(fast_config()).await;
    let upgrade = |version: &str, host: &str| {
        format!(
            "GET /ws/btcusdt@trade HTTP/{version}\r\n{host}Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
    };
    for (request, says) in [(upgrade("1.0", "Host: x\r\n"), "HTTP/1.1"), (upgrade("1.1", ""), "Host header")] {
        let mut tcp = tcp_from(&server, "127.0.0.1".parse().unwrap()).await;
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tokio::time::timeout(LIMIT, tcp.read_to_string(&mut response)).await.unwrap().unwrap();
        assert!(response.starts_with("HTTP/1.1 400 ") && response.contains(says), "{request:?}: {response}");
    }
    let mut tcp = tcp_from(&server, "127.0.0.1".parse().unwrap()).await;
    tcp.write_all(upgrade("1.1", "Host: x\r\n").as_bytes()).await.unwrap();
    let head = RawClient::from_upgraded(tcp, Vec::new()).read_http_head().await;
    assert!(head.starts_with("HTTP/1.1 101 "), "the same upgrade with HTTP/1.1 and a Host: {head}");
    settle(&server).await;
    let snapshot = server.snapshot();
    assert_eq!(snapshot.upgrades.accepted, 1);
    assert_eq!(snapshot.upgrades.rejected.values().sum::<u64>(), 2, "{:?}", snapshot.upgrades.rejected);
}

#[tokio::test]
async fn too_many_url_streams_is_400_when_the_url_fits() {
    let server = start(config("[limits]\nstreams-per-connection = 3\n")).await;
    let error =
        connect_from(&server, "/stream?streams=a@trade/b@trade/c@trade/d@trade", "127.0.0.1".parse().unwrap()).await;
    match error {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected 400, got {other:?}"),
    }
}

#[tokio::test]
async fn abrupt_resets_leave_no_connection_and_no_task_behind() {
    let server = start(fast_config()).await;
    let mut clients = Vec::new();
    for i in 0..20u8 {
        let mut ws =
            connect_from(&server, "/ws/btcusdt@trade", format!("127.0.1.{}", i + 1).parse().unwrap()).await.unwrap();
        next_json(&mut ws).await;
        clients.push(ws);
    }
    assert_eq!(server.snapshot().connections_open, 20);
    for ws in clients {
        let tcp = ws.into_inner();
        tcp.set_zero_linger().unwrap();
        drop(tcp);
    }
    settle(&server).await;
    let snapshot = server.snapshot();
    assert_eq!(snapshot.connections_open, 0);
    assert_eq!(snapshot.connections_high_water, 20);
    assert_eq!(snapshot.closes[&CloseCause::ClientVanished], 20);
    assert_eq!(snapshot.stream("btcusdt@trade").unwrap().subscribers, 0);
    still_serves(&server).await;
    let final_snapshot = tokio::time::timeout(LIMIT, server.shutdown()).await.expect("shutdown ends every task");
    assert_eq!(final_snapshot.connections_open, 0);
}

#[tokio::test]
async fn shutdown_closes_clients_with_1001_and_ends_every_task() {
    let server = start(fast_config()).await;
    let mut ws = connect(&server, "/ws/btcusdt@trade").await;
    next_json(&mut ws).await;
    let reader = tokio::spawn(async move { close_frame(&mut ws).await });
    let snapshot = tokio::time::timeout(LIMIT, server.shutdown()).await.expect("shutdown in time");
    let frame = reader.await.unwrap().expect("close frame");
    assert_eq!(u16::from(frame.code), 1001);
    assert_eq!(snapshot.closes[&CloseCause::Shutdown], 1);
}

/// A client that stops reading, with small socket buffers on both sides so its backlog reaches the
/// mock's outbound queue within a few hundred events.
async fn stalled_subscriber(server: &MockServer) -> tokio::net::TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.9:0".parse().unwrap()).unwrap();
    let tcp = socket.connect(server.local_addr()).await.unwrap();
    let url = format!("{}/ws/btcusdt@trade", server.url());
    let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    ws.into_inner()
}

fn slow_consumer_config(policy: &str) -> MockConfig {
    config(&format!(
        r#"
        [server]
        outbound-queue = 256
        on-queue-full = "{policy}"
        send-buffer = 4096
        close-grace = "200ms"
        [heartbeat]
        ping-interval = "off"
        [feed]
        symbols = ["btcusdt"]
        orders-per-second = 1000.0
        "#
    ))
}

#[tokio::test]
async fn a_slow_consumer_loses_messages_under_the_drop_policy() {
    let server = start(slow_consumer_config("drop")).await;
    let stalled = stalled_subscriber(&server).await;
    // The reference subscriber is the clock: after it has seen 3000 trades the stalled one's buffers and
    // queue (under a thousand messages) have long overflowed.
    let mut reference = connect(&server, "/ws/btcusdt@trade").await;
    for _ in 0..3000 {
        next_text(&mut reference).await;
    }
    let snapshot = server.snapshot();
    let stream = snapshot.stream("btcusdt@trade").unwrap();
    assert!(stream.messages_dropped > 1000, "{stream:?}");
    assert_eq!(snapshot.messages_dropped, stream.messages_dropped);
    assert_eq!(snapshot.connections_open, 2, "the drop policy keeps the slow consumer connected");
    drop(stalled);
    drop(reference);
    settle(&server).await;
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_under_the_disconnect_policy() {
    let server = start(slow_consumer_config("disconnect")).await;
    let stalled = stalled_subscriber(&server).await;
    let mut reference = connect(&server, "/ws/btcusdt@trade").await;
    for _ in 0..3000 {
        next_text(&mut reference).await;
    }
    settle_to(&server, MockServer::BACKGROUND_TASKS + 1).await;
    let snapshot = server.snapshot();
    assert_eq!(snapshot.closes[&CloseCause::SlowConsumer], 1);
    assert_eq!(snapshot.connections_open, 1);
    drop(stalled);
    let _: Value = next_json(&mut reference).await;
}
