//! The control API of a running mock over real HTTP on loopback: add, list, remove and reset faults (with
//! the same shape as planned faults), Prometheus metrics, JSON stats, and the token.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wschaos::chaos::control::{ControlError, ControlServer};
use wschaos::mock::{MockConfig, MockServer};

use crate::support::*;

/// One HTTP request: the status, the response head and the body.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str, extra: &str) -> (u16, String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(LIMIT, tcp.read_to_string(&mut response)).await.unwrap().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

async fn control(server: &MockServer, token: Option<&str>) -> SocketAddr {
    let control = ControlServer::start("127.0.0.1:0".parse().unwrap(), token.map(str::to_owned), server.clone());
    control.await.unwrap().local_addr()
}

#[tokio::test]
async fn faults_are_added_listed_removed_and_reset_over_http() {
    let server = start(fast_config()).await;
    let api = control(&server, None).await;
    let mut ws = connect(&server, "/ws/btcusdt@trade").await;
    next_json(&mut ws).await;

    let (status, _, body) =
        http(api, "POST", "/faults", r#"{"kind":"disconnect","code":1013,"reason":"try later"}"#, "").await;
    assert_eq!(status, 201, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(created["id"], 1);
    let frame = close_frame(&mut ws).await.unwrap();
    assert_eq!((u16::from(frame.code), frame.reason.as_str()), (1013, "try later"));

    let (status, _, body) =
        http(api, "POST", "/faults", r#"{"kind":"latency","delay":"200ms","name":"slow"}"#, "").await;
    assert_eq!(status, 201, "{body}");
    let (_, _, body) = http(api, "GET", "/faults", "", "").await;
    let records: Value = serde_json::from_str(&body).unwrap();
    let records = records["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!((records[0]["kind"].as_str(), records[0]["touched"].as_u64()), (Some("disconnect"), Some(1)));
    assert!(records[1]["ended_ms"].is_null(), "the latency fault is active until removed");

    assert_eq!(http(api, "DELETE", "/faults/2", "", "").await.0, 204);
    assert_eq!(http(api, "DELETE", "/faults/2", "", "").await.0, 404);
    http(api, "POST", "/faults", r#"{"kind":"stall"}"#, "").await;
    http(api, "POST", "/faults", r#"{"kind":"burst","factor":3.0}"#, "").await;
    let (status, _, body) = http(api, "POST", "/reset", "", "").await;
    assert_eq!((status, body.as_str()), (200, r#"{"ended":2}"#));
}

#[tokio::test]
async fn a_bad_fault_gets_400_with_every_problem() {
    let server = start(fast_config()).await;
    let api = control(&server, None).await;
    let (status, _, body) = http(api, "POST", "/faults", r#"{"kind":"stall","code":1000,"share":2}"#, "").await;
    assert_eq!(status, 400);
    let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
    insta::assert_snapshot!("control_invalid_fault_body", pretty);
    let reply: Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<&str> = reply["problems"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["fault.code", "fault.share"]);
    let huge = r#"{"kind":"corrupt","variant":"oversize","size":100000000000,"fragments":100000}"#;
    let (status, _, body) = http(api, "POST", "/faults", huge, "").await;
    assert_eq!(status, 400, "a frame past the cap is refused before anything is allocated");
    let reply: Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<&str> = reply["problems"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["fault.fragments", "fault.size"]);
    let (status, _, body) = http(api, "POST", "/faults", r#"{"kind":"explode"}"#, "").await;
    assert_eq!(status, 400);
    assert!(body.contains("unknown variant `explode`"), "{body}");
    assert_eq!(http(api, "GET", "/nothing", "", "").await.0, 404);
    assert_eq!(http(api, "PUT", "/faults", "", "").await.0, 405);
}

/// What a run in another process posts: the order its plan decided, carried out as it is (the seed and the
/// window are the plan's, not the mock's); an order no plan could make is refused with what is wrong.
#[tokio::test]
async fn a_decided_fault_order_is_carried_out_and_an_impossible_one_refused() {
    let server = start(fast_config()).await;
    let api = control(&server, None).await;
    let order = r#"{"name":"planned","kind":{"kind":"latency","delay":150,"jitter":0},
        "select":{"share":1.0,"streams":[],"symbols":[],"sources":[]},"seed":7,"window":null}"#;
    let (status, _, body) = http(api, "POST", "/fault-orders", order, "").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(server.active_faults().len(), 1);
    let records = server.fault_records();
    assert_eq!((records[0].kind.as_str(), records[0].name.as_deref()), ("latency", Some("planned")));

    let impossible = r#"{"name":null,"kind":{"kind":"corrupt","variant":"oversize","count":1,"size":1000000000000,
        "fragments":3},"select":{"share":2.0,"streams":[],"symbols":[],"sources":[]},"seed":7,"window":null}"#;
    let (status, _, body) = http(api, "POST", "/fault-orders", impossible, "").await;
    assert_eq!(status, 400, "{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    let problems: Vec<&str> = reply["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("size 1000000000000 is over"), "{problems:?}");
    assert!(problems[1].starts_with("share 2 is not a share"), "{problems:?}");
    let (status, _, body) = http(api, "POST", "/fault-orders", r#"{"kind":"latency"}"#, "").await;
    assert_eq!(status, 400);
    assert!(body.contains("not a fault order"), "{body}");
    assert_eq!(server.fault_records().len(), 1, "nothing refused was recorded");
}

#[tokio::test]
async fn metrics_and_stats_expose_the_mock_counters() {
    let server = start(fast_config()).await;
    let api = control(&server, None).await;
    let mut ws = connect(&server, "/ws/btcusdt@trade").await;
    next_json(&mut ws).await;
    http(api, "POST", "/faults", r#"{"kind":"reject-handshakes","status":503,"duration":"1m"}"#, "").await;
    assert!(connect_from(&server, "/ws", "127.0.0.1".parse().unwrap()).await.is_err());
    let (status, head, metrics) = http(api, "GET", "/metrics", "", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("application/openmetrics-text; version=1.0.0"), "{head}");
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    for line in [
        "wschaos_mock_connections_open 1",
        "wschaos_mock_upgrades_accepted_total 1",
        "wschaos_mock_upgrades_rejected_total{reason=\"injected-503\"} 1",
        "wschaos_mock_stream_subscribers{stream=\"btcusdt@trade\"} 1",
        "wschaos_mock_faults_started_total{kind=\"reject-handshakes\"} 1",
        "wschaos_mock_faults_active 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing {line:?} in\n{metrics}");
    }
    let (_, _, stats) = http(api, "GET", "/stats", "", "").await;
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["connections_open"], 1);
    assert_eq!(stats["faults"][0]["kind"], "reject-handshakes");
}

#[tokio::test]
async fn with_a_token_requests_without_it_are_refused() {
    let server = start(MockConfig::default()).await;
    let api = control(&server, Some("s3cret")).await;
    let (status, head, _) = http(api, "GET", "/stats", "", "").await;
    assert_eq!(status, 401);
    assert!(head.to_ascii_lowercase().contains("www-authenticate: bearer"), "{head}");
    assert_eq!(http(api, "GET", "/stats", "", "Authorization: Bearer wrong\r\n").await.0, 401);
    assert_eq!(http(api, "GET", "/stats", "", "Authorization: Bearer s3cret\r\n").await.0, 200);
    let exposed = ControlServer::start("0.0.0.0:0".parse().unwrap(), None, server.clone()).await;
    assert!(matches!(exposed, Err(ControlError::NeedsToken(_))), "beyond loopback only with a token");
}

/// One request as Node's `http.request()` sends a body by default: `Transfer-Encoding: chunked`, then a
/// second request on the same kept-alive connection.
#[tokio::test]
async fn a_chunked_body_is_read_and_the_connection_kept_alive() {
    let server = start(fast_config()).await;
    let api = control(&server, None).await;
    let mut tcp = tokio::net::TcpStream::connect(api).await.unwrap();
    let body = r#"{"kind":"latency","delay":"100ms","name":"chunked"}"#;
    let (first, second) = body.split_at(20);
    let request = format!(
        "POST /faults HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n\
         GET /faults HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n",
        first.len(),
        second.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(LIMIT, tcp.read_to_string(&mut response)).await.unwrap().unwrap();
    assert!(response.starts_with("HTTP/1.1 201 "), "{response}");
    assert_eq!(response.matches("HTTP/1.1 ").count(), 2, "two answers on one connection: {response}");
    assert!(response.contains(r#""name":"chunked""#), "the fault was injected and is listed: {response}");
    assert_eq!(server.active_faults().len(), 1);
}

#[tokio::test]
async fn counters_reset_on_request_and_upgrades_are_counted_per_100_ms() {
    // Binance's 20 s heartbeat: the kept connection, which reads nothing, is not closed for its pongs.
    let server = start(MockConfig::default()).await;
    let api = control(&server, None).await;
    let _kept = connect(&server, "/ws/btcusdt@trade").await;
    for _ in 0..3 {
        drop(connect(&server, "/ws/ethusdt@trade").await);
    }
    // The background tasks, the control API and the kept connection.
    settle_to(&server, MockServer::BACKGROUND_TASKS + 2).await;
    let (_, _, before) = http(api, "GET", "/stats", "", "").await;
    let before: Value = serde_json::from_str(&before).unwrap();
    assert_eq!(before["upgrades"]["accepted"], 4);
    let tenths = before["upgrades_per_100ms"].as_array().unwrap();
    assert_eq!(tenths.iter().map(|t| t["accepted"].as_u64().unwrap()).sum::<u64>(), 4, "{tenths:?}");
    assert!(tenths.windows(2).all(|w| w[0]["tenth"].as_u64() < w[1]["tenth"].as_u64()), "{tenths:?}");
    assert_eq!(before["counter_resets"], 0);
    assert!(before["connections_high_water"].as_u64() >= Some(2), "{}", before["connections_high_water"]);
    let (status, _, reply) = http(api, "POST", "/stats/reset", "", "").await;
    assert_eq!(status, 200, "{reply}");
    let (_, _, after) = http(api, "GET", "/stats", "", "").await;
    let after: Value = serde_json::from_str(&after).unwrap();
    assert_eq!(after["counter_resets"], 1);
    assert_eq!(after["upgrades"]["accepted"], 0);
    assert!(after["closes"].as_object().unwrap().is_empty(), "{}", after["closes"]);
    assert_eq!(after["upgrades_per_100ms"], serde_json::json!([]));
    assert_eq!((after["connections_open"].as_u64(), after["connections_high_water"].as_u64()), (Some(1), Some(1)));
    let trade = after["streams"].as_array().unwrap().iter().find(|s| s["name"] == "btcusdt@trade").unwrap();
    assert_eq!(trade["subscribers"], 1, "what is open stays counted: {trade}");
    assert!(after["counters_since_ms"].as_u64().unwrap() <= after["uptime_ms"].as_u64().unwrap());
}

/// Posts shard `party`'s figures of step 0 (of two shards) until the answer carries every shard's, as a
/// shard does: a held answer ends with them, or after the hold without (bounded: 5 postings).
async fn pooled(addr: SocketAddr, party: u32) -> (u16, String) {
    let posting =
        serde_json::json!({ "run": "r:1:0", "step": 0, "party": party, "parties": 2, "contribution": { "n": party } });
    let mut answer = (0, String::new());
    for _ in 0..5 {
        let (status, _, body) = http(addr, "POST", "/steps", &posting.to_string(), "").await;
        answer = (status, body);
        if status != 200 || !answer.1.contains("\"all\":null") {
            break;
        }
    }
    answer
}

#[tokio::test]
async fn a_rehearsal_step_s_posting_is_answered_with_every_shard_s_figures_once_all_are_in() {
    let server = start(fast_config()).await;
    let addr = control(&server, None).await;
    // Whichever comes first is held until the other has posted; both then carry both, in shard order.
    let first = tokio::spawn(pooled(addr, 0));
    let second = pooled(addr, 1).await;
    for (status, body) in [first.await.unwrap(), second] {
        assert_eq!(status, 200, "{body}");
        let state: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(state["all"], serde_json::json!([{ "n": 0 }, { "n": 1 }]), "{body}");
    }
    let other = serde_json::json!({ "run": "r:1:0", "step": 0, "party": 0, "parties": 3, "contribution": 0 });
    let (status, _, body) = http(addr, "POST", "/steps", &other.to_string(), "").await;
    assert_eq!(status, 409, "another shard count is another run's: {body}");
    server.shutdown().await;
}
