//! Every fault of the catalogue, injected into a running mock and observed by a real WebSocket client over
//! loopback: the close code, the missing close frame, the reset, the HTTP status, the refused connection,
//! the silence, the added delay, the raised rate, the gap, the repeat, the reordering, the malformed
//! frame. Fault windows are waited for through the mock's fault records, never by sleeping.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use wschaos::chaos::Inject;
use wschaos::chaos::plan::FaultPlan;
use wschaos::chaos::{Fault, RawFault};
use wschaos::mock::MockServer;
use wschaos::mock::faults::state::FaultId;
use wschaos::mock::stats::{CloseCause, RejectReason};

use crate::support::*;

/// A fault from its TOML table body.
fn fault(toml_text: &str) -> Fault {
    let raw: RawFault = toml::from_str(toml_text).expect("fault parses");
    Fault::from_raw(&raw, "fault").expect("fault validates")
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Waits until fault `id` has ended.
async fn ended(server: &MockServer, id: FaultId) {
    let wait = server.wait_for_faults(|r| r.iter().any(|f| f.id == id && f.ended_ms.is_some()));
    tokio::time::timeout(LIMIT, wait).await.expect("the fault window ends");
}

/// A subscriber of `btcusdt@trade` from `source` that has already received one trade.
async fn trader(server: &MockServer, source: &str) -> Client {
    let mut ws = connect_from(server, "/ws/btcusdt@trade?timeUnit=MICROSECOND", ip(source)).await.unwrap();
    next_json(&mut ws).await;
    ws
}

/// The close code a client sees, "1006" for a missing close frame, "reset" for a TCP reset.
async fn ending_seen(ws: &mut Client) -> String {
    loop {
        match tokio::time::timeout(LIMIT, ws.next()).await.expect("the connection ends") {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code).to_string(),
            Some(Ok(_)) => continue,
            Some(Err(WsError::Protocol(p))) if p.to_string().contains("closing handshake") => return "1006".into(),
            Some(Err(WsError::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionReset => return "reset".into(),
            other => return format!("{other:?}"),
        }
    }
}

fn http_status(result: Result<Client, WsError>) -> (u16, Option<String>) {
    match result {
        Err(WsError::Http(response)) => {
            let retry = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
            (response.status().as_u16(), retry)
        }
        Ok(_) => (101, None),
        Err(e) => panic!("expected an HTTP status, got {e}"),
    }
}

#[tokio::test]
async fn disconnect_closes_with_a_code_without_a_close_frame_or_with_a_reset() {
    let server = start(fast_config()).await;
    for (spec, expected) in [
        ("kind = \"disconnect\"\ncode = 1012\nreason = \"restart\"", "1012"),
        ("kind = \"disconnect\"\ncode = 1013", "1013"),
        ("kind = \"disconnect\"\nhow = \"fin\"", "1006"),
        ("kind = \"disconnect\"\nhow = \"reset\"", "reset"),
    ] {
        let mut ws = trader(&server, "127.0.0.1").await;
        let id = server.inject(&fault(spec));
        assert_eq!(ending_seen(&mut ws).await, expected, "{spec}");
        assert_eq!(server.fault_records().iter().find(|r| r.id == id).unwrap().touched, 1);
        drop(ws);
        settle(&server).await;
    }
}

#[tokio::test]
async fn disconnect_selects_a_seeded_share_by_source_and_staggers_the_closes() {
    let server = start(lively_feed_config()).await;
    let mut clients = Vec::new();
    for i in 1..=10 {
        clients.push(trader(&server, &format!("127.0.2.{i}")).await);
    }
    let mut bystander = trader(&server, "127.0.9.1").await;
    let id =
        server.inject(&fault("kind = \"disconnect\"\nshare = 0.5\nsources = [\"127.0.2.0/24\"]\nstagger = \"600ms\""));
    // Which clients were chosen is the mock's own record, not a guess from who went quiet.
    let record = server.fault_records().into_iter().find(|r| r.id == id).unwrap();
    assert_eq!(record.touched, 5, "half of the ten clients in the block");
    let chosen: HashSet<IpAddr> = record.sources.iter().copied().collect();
    assert_eq!(chosen.len(), 5, "{:?}", record.sources);
    assert!(chosen.iter().all(|ip| ip.to_string().starts_with("127.0.2.")), "{chosen:?}");
    let (mut closed, mut kept): (Vec<Client>, Vec<Client>) =
        clients.into_iter().partition(|ws| chosen.contains(&ws.get_ref().local_addr().unwrap().ip()));
    assert_eq!((closed.len(), kept.len()), (5, 5));
    // The chosen ones are read at once, each to its close frame.
    let started = Instant::now();
    let closed_at = futures_util::future::join_all(closed.iter_mut().map(|ws| async move {
        let code = ending_seen(ws).await;
        (code, started.elapsed())
    }))
    .await;
    assert!(closed_at.iter().all(|(code, _)| code == "1001"), "going away, the default code: {closed_at:?}");
    let times: Vec<Duration> = closed_at.iter().map(|(_, at)| *at).collect();
    let spread = *times.iter().max().unwrap() - *times.iter().min().unwrap();
    assert!(spread >= Duration::from_millis(300), "closes spread over the stagger window: {times:?}");
    // Once the five connections (and the stagger's task) are gone, the mock's counts say the rest is open.
    drop(closed);
    settle_to(&server, MockServer::BACKGROUND_TASKS + kept.len() + 1).await;
    let snapshot = server.snapshot();
    assert_eq!(snapshot.closes.get(&CloseCause::ServerInitiated), Some(&5), "{:?}", snapshot.closes);
    assert_eq!(snapshot.connections_open, 6, "the five not chosen and the bystander");
    for ws in kept.iter_mut().chain([&mut bystander]) {
        assert_eq!(next_json(ws).await["e"], "trade", "a connection the fault did not choose still streams");
    }
}

#[tokio::test]
async fn outage_sends_server_shutdown_closes_everything_and_refuses_with_a_status() {
    let server = start(fast_config()).await;
    let mut ws = trader(&server, "127.0.0.1").await;
    let id = server.inject(&fault("kind = \"outage\"\nduration = \"400ms\"\nstatus = 503\nretry-after = \"5s\""));
    let shutdown = loop {
        let v = next_json(&mut ws).await;
        if v["e"] == "serverShutdown" {
            break v;
        }
    };
    assert!(digits(&shutdown["E"], 16), "in the connection's time unit: {shutdown}");
    assert_eq!(ending_seen(&mut ws).await, "1012");
    assert_eq!(http_status(connect_from(&server, "/ws", ip("127.0.0.1")).await), (503, Some("5".into())));
    ended(&server, id).await;
    connect(&server, "/ws").await;
    assert!(server.snapshot().upgrades.rejected[&RejectReason::Injected(503)] >= 1);
}

#[tokio::test]
async fn outage_can_refuse_tcp_connections_until_it_ends() {
    let server = start(fast_config()).await;
    let mut ws = trader(&server, "127.0.0.1").await;
    let id = server
        .inject(&fault("kind = \"outage\"\nduration = \"400ms\"\nrefuse = \"tcp\"\nnotice = false\nhow = \"fin\""));
    assert_eq!(ending_seen(&mut ws).await, "1006");
    // The listener closes right after the fault starts; the accept loop acts on it before it answers again.
    let mut refused = false;
    for _ in 0..100 {
        match tokio::net::TcpStream::connect(server.local_addr()).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            _ => tokio::task::yield_now().await,
        }
    }
    assert!(refused, "connection refused during the outage");
    ended(&server, id).await;
    let mut back = connect(&server, "/ws/btcusdt@trade").await;
    assert_eq!(next_json(&mut back).await["e"], "trade", "the same address serves again");
}

#[tokio::test]
async fn reject_handshakes_answers_statuses_and_escalates_to_a_418_ban() {
    let server = start(fast_config()).await;
    let id = server.inject(&fault(
        "kind = \"reject-handshakes\"\nstatus = 429\nretry-after = \"30s\"\nban-after = 2\nban = \"2m\"",
    ));
    let offender = ip("127.0.4.1");
    assert_eq!(http_status(connect_from(&server, "/ws", offender).await), (429, Some("30".into())));
    assert_eq!(http_status(connect_from(&server, "/ws", offender).await), (429, Some("30".into())));
    assert_eq!(http_status(connect_from(&server, "/ws", offender).await), (418, Some("120".into())));
    assert_eq!(http_status(connect_from(&server, "/ws", offender).await).0, 418, "banned");
    assert_eq!(http_status(connect_from(&server, "/ws", ip("127.0.4.2")).await).0, 429, "strikes are per IP");
    server.remove_fault(id);
    for status in [503, 403, 418] {
        let id = server.inject(&fault(&format!("kind = \"reject-handshakes\"\nstatus = {status}")));
        assert_eq!(http_status(connect_from(&server, "/ws", ip("127.0.4.3")).await).0, status);
        server.remove_fault(id);
    }
    let id = server.inject(&fault("kind = \"reject-handshakes\"\nstatus = 503\nprobability = 0.5"));
    let outcomes: HashSet<u16> = futures_util::future::join_all(
        (0..40).map(|i| connect_from(&server, "/ws", ip(&format!("127.0.5.{}", i + 1)))),
    )
    .await
    .into_iter()
    .map(|r| http_status(r).0)
    .collect();
    assert_eq!(outcomes, HashSet::from([101, 503]), "a share of the upgrades is refused");
    server.remove_fault(id);
    connect_from(&server, "/ws", offender).await.expect("the ban ends with the fault");
}

#[tokio::test]
async fn slow_handshake_delays_or_withholds_the_101() {
    let server = start(fast_config()).await;
    let id = server.inject(&fault("kind = \"slow-handshake\"\ndelay = \"300ms\""));
    let started = Instant::now();
    connect(&server, "/ws").await;
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    server.remove_fault(id);
    let id = server.inject(&fault("kind = \"slow-handshake\"\nhang = true"));
    let tcp = tcp_from(&server, ip("127.0.0.1")).await;
    let url = format!("{}/ws", server.url());
    let hung = tokio::time::timeout(Duration::from_millis(300), tokio_tungstenite::client_async(url, tcp)).await;
    assert!(hung.is_err(), "no answer to the upgrade");
    server.remove_fault(id);
    connect(&server, "/ws").await;
    settle(&server).await;
    assert_eq!(server.snapshot().upgrades.rejected[&RejectReason::Withheld], 1);
}

/// True when nothing at all is waiting on the client socket right now.
fn nothing_pending(ws: &mut Client) -> bool {
    ws.next().now_or_never().is_none()
}

#[tokio::test]
async fn a_silent_stall_sends_nothing_not_even_pongs_until_it_ends() {
    let server = start(fast_config()).await;
    let mut stalled = trader(&server, "127.0.6.1").await;
    let mut reference = trader(&server, "127.0.6.2").await;
    let id =
        server.inject(&fault("kind = \"stall\"\nmode = \"silent\"\nduration = \"600ms\"\nsources = [\"127.0.6.1\"]"));
    while stalled.next().now_or_never().is_some() {} // what was already on the wire
    stalled.send(Message::Ping(b"are you there".to_vec().into())).await.unwrap();
    for _ in 0..30 {
        next_json(&mut reference).await;
    }
    assert!(nothing_pending(&mut stalled), "no data, no pong, no ping while 30 trades went to others");
    ended(&server, id).await;
    let mut pong = false;
    let mut trade = false;
    for _ in 0..500 {
        match tokio::time::timeout(LIMIT, stalled.next()).await.unwrap().unwrap().unwrap() {
            Message::Pong(p) => pong |= p.as_ref() == b"are you there",
            Message::Text(_) => trade = true,
            _ => {}
        }
        if pong && trade {
            break;
        }
    }
    assert!(pong && trade, "after the stall the ping is answered and data flows");
}

#[tokio::test]
async fn a_stale_stall_keeps_answering_pings_but_sends_no_data() {
    let server = start(fast_config()).await;
    let mut stalled = trader(&server, "127.0.6.3").await;
    let mut reference = trader(&server, "127.0.6.4").await;
    server.inject(&fault("kind = \"stall\"\nmode = \"stale\"\nsources = [\"127.0.6.3\"]"));
    while stalled.next().now_or_never().is_some() {}
    stalled.send(Message::Ping(b"still there?".to_vec().into())).await.unwrap();
    let pong = loop {
        match tokio::time::timeout(LIMIT, stalled.next()).await.unwrap().unwrap().unwrap() {
            Message::Pong(p) => break p,
            Message::Ping(_) => continue,
            other => panic!("no data on a stale feed, got {other:?}"),
        }
    };
    assert_eq!(pong.as_ref(), b"still there?");
    for _ in 0..30 {
        next_json(&mut reference).await;
    }
    while let Some(Some(Ok(message))) = stalled.next().now_or_never() {
        assert!(matches!(message, Message::Ping(_)), "only heartbeats, got {message:?}");
    }
}

#[tokio::test]
async fn latency_delays_every_message_of_the_selected_connections() {
    let server = start(fast_config()).await;
    let mut slow = trader(&server, "127.0.7.1").await;
    server.inject(&fault("kind = \"latency\"\ndelay = \"250ms\"\njitter = \"20ms\"\nsources = [\"127.0.7.1\"]"));
    while slow.next().now_or_never().is_some() {}
    let mut measured = 0;
    for _ in 0..200 {
        let v = next_json(&mut slow).await;
        let sent = v["E"].as_u64().unwrap();
        let age_ms = (wschaos::mock::time::now_micros() - sent) as f64 / 1000.0;
        if measured > 0 || age_ms >= 200.0 {
            // After the messages already queued before the fault, every one is at least 230 ms old.
            assert!(age_ms >= 229.0, "message {measured} arrived after {age_ms:.1} ms");
            measured += 1;
        }
        if measured == 20 {
            break;
        }
    }
    assert_eq!(measured, 20);
}

#[tokio::test]
async fn a_message_held_by_latency_is_not_lost_when_faults_end() {
    let server = start(fast_config()).await;
    let mut slow = trader(&server, "127.0.7.2").await;
    let latency =
        server.inject(&fault("kind = \"latency\"\ndelay = \"1s\"\njitter = \"10ms\"\nsources = [\"127.0.7.2\"]"));
    let other = server.inject(&fault("kind = \"burst\"\nfactor = 2.0\nsymbols = [\"ethusdt\"]"));
    // The first delayed message: the writer has flushed it and now holds the next one until its due time.
    let mut ids = Vec::new();
    loop {
        let v = next_json(&mut slow).await;
        ids.push(v["t"].as_u64().unwrap());
        if wschaos::mock::time::now_micros() - v["E"].as_u64().unwrap() >= 900_000 {
            break;
        }
    }
    // Two fault ends reach the connection while it holds that message, each waking its writer.
    server.remove_fault(other);
    server.remove_fault(latency);
    for _ in 0..50 {
        ids.push(next_json(&mut slow).await["t"].as_u64().unwrap());
    }
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "every trade id once, in order: {ids:?}");
}

#[tokio::test]
async fn burst_multiplies_the_event_rate_of_the_selected_symbols() {
    let server = start(config("[heartbeat]\nping-interval = \"off\"\n[feed]\nsymbols = [\"btcusdt\", \"ethusdt\"]\norders-per-second = 20.0\n")).await;
    let mut ws = connect(&server, "/ws/btcusdt@aggTrade?timeUnit=MICROSECOND").await;
    let rate = |times: &[u64]| (times.len() - 1) as f64 / ((times[times.len() - 1] - times[0]) as f64 / 1e6);
    let mut before = Vec::new();
    for _ in 0..11 {
        before.push(next_json(&mut ws).await["E"].as_u64().unwrap());
    }
    server.inject(&fault("kind = \"burst\"\nfactor = 10.0\nsymbols = [\"btc*\"]"));
    let injected = wschaos::mock::time::now_micros();
    let mut during = Vec::new();
    while during.len() < 60 {
        let e = next_json(&mut ws).await["E"].as_u64().unwrap();
        if e > injected + 100_000 {
            during.push(e);
        }
    }
    let (base, burst) = (rate(&before), rate(&during));
    assert!((15.0..=25.0).contains(&base), "base rate {base:.1}/s");
    assert!(burst > 6.0 * base, "burst rate {burst:.1}/s against {base:.1}/s");
}

/// Trade ids a client receives while a message fault is in force.
async fn trade_ids_under(spec: &str) -> Vec<u64> {
    let server = start(fast_config()).await;
    let mut ws = trader(&server, "127.0.8.1").await;
    server.inject(&fault(spec));
    while ws.next().now_or_never().is_some() {}
    let mut ids = Vec::new();
    for _ in 0..300 {
        ids.push(next_json(&mut ws).await["t"].as_u64().unwrap());
    }
    ids
}

#[tokio::test]
async fn drop_duplicate_and_reorder_faults_show_in_trade_ids() {
    let dropped = trade_ids_under("kind = \"drop-messages\"\nprobability = 0.5\nstreams = [\"*@trade\"]").await;
    assert!(dropped.windows(2).any(|w| w[1] > w[0] + 1), "gaps");
    assert!(dropped.windows(2).all(|w| w[1] > w[0]), "no repeats from a drop fault");
    let duplicated = trade_ids_under("kind = \"duplicate-messages\"\nprobability = 0.5").await;
    assert!(duplicated.windows(2).any(|w| w[1] == w[0]), "repeats");
    let reordered = trade_ids_under("kind = \"reorder-messages\"\nprobability = 0.5").await;
    assert!(reordered.windows(2).any(|w| w[1] < w[0]), "out of order");
    let mut sorted = reordered.clone();
    sorted.sort_unstable();
    assert!(
        sorted.windows(2).all(|w| w[1] == w[0] + 1) || sorted.len() == reordered.len(),
        "nothing lost by reordering"
    );
}

#[tokio::test]
async fn depth_gap_breaks_the_update_id_chain() {
    let server = start(fast_config()).await;
    let mut ws = connect(&server, "/ws/btcusdt@depth@100ms").await;
    let mut last_u = next_json(&mut ws).await["u"].as_u64().unwrap();
    let id =
        server.inject(&fault("kind = \"depth-gap\"\nprobability = 0.5\nsymbols = [\"btcusdt\"]\nduration = \"3s\""));
    let mut gaps = 0;
    for _ in 0..8 {
        let v = next_json(&mut ws).await;
        if v["U"].as_u64().unwrap() != last_u + 1 {
            gaps += 1;
        }
        last_u = v["u"].as_u64().unwrap();
    }
    assert!(gaps > 0, "U no longer follows u");
    server.remove_fault(id);
}

#[tokio::test]
async fn corrupt_frames_reach_the_client_malformed() {
    let server = start(fast_config()).await;
    let mut ws = trader(&server, "127.0.10.1").await;
    server.inject(&fault("kind = \"corrupt\"\nvariant = \"malformed-json\"\ncount = 1"));
    while ws.next().now_or_never().is_some() {}
    let text = next_text(&mut ws).await;
    assert!(serde_json::from_str::<Value>(&text).is_err(), "malformed: {text}");
    assert!(serde_json::from_str::<Value>(&next_text(&mut ws).await).is_ok(), "only the next message");

    let mut ws = trader(&server, "127.0.10.2").await;
    server.inject(&fault("kind = \"corrupt\"\nvariant = \"binary\"\nsources = [\"127.0.10.2\"]"));
    let binary = loop {
        match tokio::time::timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap() {
            Message::Binary(b) => break b,
            _ => continue,
        }
    };
    assert!(binary.starts_with(b"{\"e\":\"trade\""));

    let mut ws = trader(&server, "127.0.10.3").await;
    server.inject(&fault("kind = \"corrupt\"\nvariant = \"invalid-utf8\"\nsources = [\"127.0.10.3\"]"));
    assert!(matches!(read_until_end(&mut ws).await, Some(WsError::Utf8(_))), "the client rejects bad UTF-8");

    let tcp = tcp_from(&server, ip("127.0.10.4")).await;
    let small = WebSocketConfig::default().max_message_size(Some(64 * 1024)).max_frame_size(Some(64 * 1024));
    let url = format!("{}/ws/btcusdt@trade", server.url());
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(small)).await.unwrap();
    next_json(&mut ws).await;
    server.inject(&fault("kind = \"corrupt\"\nvariant = \"oversize\"\nsize = 200000\nsources = [\"127.0.10.4\"]"));
    assert!(matches!(read_until_end(&mut ws).await, Some(WsError::Capacity(_))), "over the client's limit");
}

#[tokio::test]
async fn fragmented_frames_carry_pings_between_fragments() {
    let server = start(fast_config()).await;
    let mut raw = RawClient::connect(&server, "/ws/btcusdt@trade").await;
    loop {
        if raw.next_frame().await.unwrap().opcode == 1 {
            break;
        }
    }
    server.inject(&fault("kind = \"corrupt\"\nvariant = \"fragmented\"\nfragments = 3"));
    let mut sequence = Vec::new();
    for _ in 0..2000 {
        let frame = raw.next_frame().await.unwrap();
        if frame.opcode == 1 && frame.fin && sequence.is_empty() {
            continue; // complete messages queued before the fault
        }
        sequence.push((frame.opcode, frame.fin));
        if frame.opcode == 0 && frame.fin {
            break;
        }
    }
    assert_eq!(sequence, [(1, false), (9, true), (0, false), (9, true), (0, true)]);
}

#[tokio::test]
async fn max_lifetime_expires_existing_and_new_connections() {
    let server = start(fast_config()).await;
    let mut old = trader(&server, "127.0.11.1").await;
    let id = server.inject(&fault("kind = \"max-lifetime\"\nage = \"300ms\"\nduration = \"2s\""));
    assert_eq!(ending_seen(&mut old).await, "1001");
    let opened = Instant::now();
    let mut young = trader(&server, "127.0.11.2").await;
    assert_eq!(ending_seen(&mut young).await, "1001");
    assert!(opened.elapsed() >= Duration::from_millis(280), "{:?}", opened.elapsed());
    assert_eq!(server.fault_records().iter().find(|r| r.id == id).unwrap().touched, 1);
}

#[tokio::test]
async fn connect_limit_changes_the_per_ip_budget_and_restores_it() {
    let server = start(fast_config()).await;
    let id = server.inject(&fault("kind = \"connect-limit\"\nlimit = { max = 2, window = \"1m\" }"));
    let source = ip("127.0.12.1");
    connect_from(&server, "/ws", source).await.unwrap();
    connect_from(&server, "/ws", source).await.unwrap();
    assert_eq!(http_status(connect_from(&server, "/ws", source).await).0, 429);
    server.remove_fault(id);
    connect_from(&server, "/ws", source).await.expect("the configured budget is back");
}

#[tokio::test]
async fn a_plan_fires_each_occurrence_in_its_window_and_records_it() {
    let server = start(fast_config()).await;
    let mut ws = trader(&server, "127.0.13.1").await;
    let raws: Vec<RawFault> = [
        "kind = \"latency\"\ndelay = \"10ms\"\nat = \"100ms\"\nduration = \"200ms\"\nname = \"slow\"",
        "kind = \"disconnect\"\nat = \"400ms\"\ncode = 4000\nname = \"kick\"",
        "kind = \"burst\"\nfactor = 2.0\nat = \"10s\"",
    ]
    .iter()
    .map(|t| toml::from_str(t).unwrap())
    .collect();
    let faults = wschaos::chaos::fault::validate_all(&raws, "faults").unwrap();
    let plan = FaultPlan::build(&faults, 5, Duration::from_secs(1));
    assert_eq!(plan.occurrences.len(), 2, "the burst at 10 s is outside a 1 s run");
    let start = Instant::now();
    server.run_plan(&faults, &plan, start);
    assert_eq!(ending_seen(&mut ws).await, "4000");
    assert!(start.elapsed() >= Duration::from_millis(400));
    tokio::time::timeout(LIMIT, server.wait_for_faults(|r| r.len() == 2 && r.iter().all(|f| f.ended_ms.is_some())))
        .await
        .unwrap();
    let records = server.fault_records();
    let names: Vec<&str> = records.iter().filter_map(|r| r.name.as_deref()).collect();
    assert_eq!(names, ["slow", "kick"]);
    assert!(records[0].ended_ms.unwrap() - records[0].started_ms >= 200);
    assert_eq!(records[1].touched, 1);
}
