//! The conformance checklist of `binance-streams.md` §8, items 1–10, each over a real loopback socket with
//! a real WebSocket client (tokio-tungstenite), or a frame-level client where tungstenite's automatic
//! pongs would hide the server's behaviour. Timing is made fast by configuration, never by sleeping.

use std::collections::BTreeMap;

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wschaos::mock::{CloseHow, MockConfig};

use crate::support::*;

// 1. Raw streams deliver bare payloads with exact types; combined streams wrap them.

#[tokio::test]
async fn c01_raw_trade_stream_delivers_bare_trades_with_exact_types() {
    let server = start(fast_config()).await;
    let mut ws = connect(&server, "/ws/btcusdt@trade").await;
    let first = next_text(&mut ws).await;
    assert_eq!(keys_in_order(&first), ["e", "E", "s", "t", "p", "q", "T", "m", "M"]);
    let t: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(t["e"], "trade");
    assert_eq!(t["s"], "BTCUSDT");
    assert!(digits(&t["E"], 13) && digits(&t["T"], 13), "{t}");
    assert!(t["t"].is_u64() && is_decimal8(&t["p"]) && is_decimal8(&t["q"]), "{t}");
    assert!(t["m"].is_boolean() && t["M"].is_boolean());
    let second = next_json(&mut ws).await;
    assert_eq!(second["t"].as_u64(), t["t"].as_u64().map(|id| id + 1), "trade ids follow each other");
}

#[tokio::test]
async fn c01_combined_stream_wraps_each_event_with_its_stream_name() {
    let server = start(fast_config()).await;
    let mut ws = connect(&server, "/stream?streams=btcusdt@trade/ethusdt@aggTrade").await;
    let mut seen = BTreeMap::new();
    for _ in 0..200 {
        let text = next_text(&mut ws).await;
        assert_eq!(keys_in_order(&text), ["stream", "data"]);
        let v: Value = serde_json::from_str(&text).unwrap();
        let stream = v["stream"].as_str().unwrap().to_owned();
        let expected_event = if stream == "btcusdt@trade" { "trade" } else { "aggTrade" };
        assert_eq!(v["data"]["e"], expected_event, "{v}");
        *seen.entry(stream).or_insert(0) += 1;
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["btcusdt@trade", "ethusdt@aggTrade"]);
}

// 2. Bare /ws, bare /stream, /stream?streams= and /ws/<token> open and stay silent until SUBSCRIBE.

#[tokio::test]
async fn c02_endpoints_without_streams_are_silent_until_subscribe() {
    let server = start(fast_config()).await;
    let paths = ["/ws", "/stream", "/stream?streams=", "/ws/0", "/ws/BTCUSDT@trade"];
    let mut silent = Vec::new();
    for path in paths {
        silent.push(connect(&server, path).await);
    }
    // The feed is live: a reference subscriber receives trades published after every silent socket opened.
    let mut reference = connect(&server, "/ws/btcusdt@trade").await;
    for _ in 0..5 {
        assert_eq!(next_json(&mut reference).await["e"], "trade");
    }
    for (path, ws) in paths.iter().zip(silent.iter_mut()) {
        let first = request_text(ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#).await;
        assert_eq!(first, r#"{"result":[],"id":1}"#, "{path} sent something before the response");
        let reply = request_text(ws, r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":2}"#).await;
        assert_eq!(reply, r#"{"result":null,"id":2}"#);
        let event = next_json(ws).await;
        let trade = if path.starts_with("/stream") { &event["data"] } else { &event };
        assert_eq!(trade["e"], "trade", "{path}: {event}");
    }
}

// 3. Every method round-trips with integer, 32-hex, uuid4 and null ids, echoed with the same type.

#[tokio::test]
async fn c03_every_method_echoes_each_id_type() {
    let server = start(MockConfig::default()).await;
    let mut ws = connect(&server, "/ws").await;
    let ids =
        ["1700000000123", "\"0123456789abcdef0123456789abcdef\"", "\"3f1c2a9e-5b6d-4c8e-9f00-112233445566\"", "null"];
    for id in ids {
        let call = |method: &str, params: &str| format!(r#"{{"method":"{method}","params":{params},"id":{id}}}"#);
        let ok = format!(r#"{{"result":null,"id":{id}}}"#);
        assert_eq!(request_text(&mut ws, &call("SUBSCRIBE", r#"["zzzusdt@trade"]"#)).await, ok);
        assert_eq!(
            request_text(&mut ws, &call("LIST_SUBSCRIPTIONS", "[]")).await,
            format!(r#"{{"result":["zzzusdt@trade"],"id":{id}}}"#)
        );
        assert_eq!(request_text(&mut ws, &call("UNSUBSCRIBE", r#"["zzzusdt@trade"]"#)).await, ok);
        if id == "1700000000123" || id == "null" {
            assert_eq!(request_text(&mut ws, &call("SET_PROPERTY", r#"["combined",false]"#)).await, ok);
        } else {
            assert_eq!(
                request_text(&mut ws, &call("GET_PROPERTY", r#"["combined"]"#)).await,
                format!(r#"{{"result":false,"id":{id}}}"#)
            );
        }
        // Four requests per id; a fresh connection per id keeps each under 5 messages per second.
        ws = connect(&server, "/ws").await;
    }
}

// 4. Error envelopes and messages.

#[tokio::test]
async fn c04_errors_use_binance_envelopes_codes_and_serde_messages() {
    let server = start(config("[limits]\nmessage-rate = \"off\"\n")).await;
    let mut ws = connect(&server, "/ws").await;
    let cases = [
        (
            "{\"method\":",
            r#"{"error":{"code":3,"msg":"Invalid JSON: EOF while parsing a value at line 1 column 10"},"id":null}"#,
        ),
        ("not json", r#"{"error":{"code":3,"msg":"Invalid JSON: expected ident at line 1 column 2"},"id":null}"#),
        (
            r#"{"method":"SUBSCRIB","params":["btcusdt@trade"],"id":1}"#,
            "{\"error\":{\"code\":2,\"msg\":\"Invalid request: unknown variant `SUBSCRIB`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 column 20\"},\"id\":1}",
        ),
        (
            r#"{"params":["btcusdt@trade"],"id":2}"#,
            "{\"error\":{\"code\":2,\"msg\":\"Invalid request: missing field `method` at line 1 column 35\"},\"id\":2}",
        ),
        (
            r#"{"method":"SET_PROPERTY","params":["color",true],"id":3}"#,
            r#"{"error":{"code":0,"msg":"Unknown property"},"id":3}"#,
        ),
        (
            r#"{"method":"SET_PROPERTY","params":["combined","yes"],"id":4}"#,
            r#"{"error":{"code":1,"msg":"Invalid value type: expected Boolean"},"id":4}"#,
        ),
        (
            r#"{"method":"GET_PROPERTY","params":[1],"id":5}"#,
            r#"{"error":{"code":2,"msg":"Invalid request: property name must be a string"},"id":5}"#,
        ),
        (
            r#"{"method":"SUBSCRIBE","params":["not asdfads"],"id":6}"#,
            r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":6}"#,
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(request_text(&mut ws, request).await, expected, "{request}");
    }
    let answered = server.snapshot().errors_answered;
    assert_eq!((answered[&0], answered[&1], answered[&2], answered[&3]), (1, 1, 4, 2));
}

#[tokio::test]
async fn c04_subscribing_past_1024_streams_is_code_4() {
    let server = start(MockConfig::default()).await;
    let mut ws = connect(&server, "/ws").await;
    let names: Vec<String> = (0..1025).map(|i| format!("s{i:04}usdt@trade")).collect();
    // Batches under the 8 KiB message limit, as unicorn-binance does (350 params at most).
    for (n, batch) in names[..1024].chunks(342).enumerate() {
        let request = json!({ "method": "SUBSCRIBE", "params": batch, "id": n }).to_string();
        assert!(request.len() < 8192);
        assert_eq!(request_text(&mut ws, &request).await, format!(r#"{{"result":null,"id":{n}}}"#));
    }
    let over = json!({ "method": "SUBSCRIBE", "params": [&names[1024]], "id": 19 }).to_string();
    assert_eq!(request_text(&mut ws, &over).await, r#"{"error":{"code":4,"msg":"Too many subscriptions"},"id":19}"#);
}

// 5. Duplicate SUBSCRIBE does not duplicate events; LIST includes streams from the URL.

#[tokio::test]
async fn c05_duplicate_subscribe_does_not_duplicate_events_and_list_includes_url_streams() {
    let server = start(fast_config()).await;
    let mut ws = connect(&server, "/stream?streams=btcusdt@trade/ethusdt@trade").await;
    let reply = request_text(&mut ws, r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}"#).await;
    assert_eq!(reply, r#"{"result":null,"id":1}"#);
    let reply =
        request_text(&mut ws, r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@trade"],"id":2}"#).await;
    assert_eq!(reply, r#"{"result":null,"id":2}"#);
    let list = request_text(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#).await;
    assert_eq!(list, r#"{"result":["btcusdt@trade","ethusdt@trade"],"id":3}"#);
    let mut last_btc: Option<u64> = None;
    let mut btc_trades = 0;
    for _ in 0..400 {
        let v = next_json(&mut ws).await;
        if v["stream"] != "btcusdt@trade" {
            continue;
        }
        let id = v["data"]["t"].as_u64().unwrap();
        if let Some(last) = last_btc {
            assert_eq!(id, last + 1, "each trade exactly once");
        }
        last_btc = Some(id);
        btc_trades += 1;
        if btc_trades == 30 {
            break;
        }
    }
    assert_eq!(btc_trades, 30);
    assert_eq!(server.snapshot().stream("btcusdt@trade").unwrap().subscribers, 1);
}

// 6. timeUnit in either case, `+08:00` kline names through URL decoding, %40 and %2F decoded.

#[tokio::test]
async fn c06_time_unit_switches_every_time_field_to_microseconds() {
    let server = start(fast_config()).await;
    for (query, width) in
        [("", 13), ("?timeUnit=MICROSECOND", 16), ("?timeUnit=microsecond", 16), ("?timeUnit=millisecond", 13)]
    {
        let mut ws = connect(&server, &format!("/ws/btcusdt@trade{query}")).await;
        let t = next_json(&mut ws).await;
        assert!(digits(&t["E"], width) && digits(&t["T"], width), "{query}: {t}");
    }
    let mut ws = connect(&server, "/stream?streams=btcusdt@kline_1m/btcusdt@ticker&timeUnit=MICROSECOND").await;
    let mut kinds = BTreeMap::new();
    for _ in 0..200 {
        let v = next_json(&mut ws).await;
        let d = &v["data"];
        match d["e"].as_str().unwrap() {
            "kline" => assert!(digits(&d["E"], 16) && digits(&d["k"]["t"], 16) && digits(&d["k"]["T"], 16), "{d}"),
            "24hrTicker" => assert!(digits(&d["E"], 16) && digits(&d["O"], 16) && digits(&d["C"], 16), "{d}"),
            other => panic!("unexpected {other}"),
        }
        kinds.insert(d["e"].as_str().unwrap().to_owned(), ());
        if kinds.len() == 2 {
            break;
        }
    }
    assert_eq!(kinds.len(), 2);
}

#[tokio::test]
async fn c06_plus_0800_klines_and_percent_escapes_survive_url_decoding() {
    let server = start(fast_config()).await;
    let mut ws = connect(&server, "/ws/btcusdt@kline_1d@+08:00").await;
    assert_eq!(
        request_text(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#).await,
        r#"{"result":["btcusdt@kline_1d@+08:00"],"id":1}"#
    );
    let k = next_json(&mut ws).await;
    assert_eq!(k["k"]["i"], "1d");
    let open = k["k"]["t"].as_u64().unwrap();
    assert_eq!(open % 86_400_000, 16 * 3_600_000, "a UTC+8 day opens at 16:00 UTC");
    assert_eq!(k["k"]["T"].as_u64().unwrap(), open + 86_400_000 - 1);

    let mut ws = connect(&server, "/stream?streams=btcusdt%40trade%2Fethusdt%40kline_1d%40%2B08%3A00").await;
    let list = request_text(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":2}"#).await;
    assert_eq!(list, r#"{"result":["btcusdt@trade","ethusdt@kline_1d@+08:00"],"id":2}"#);
}

// 7. Heartbeat: pings with a 13-digit millisecond payload, close without pong, pongs of any shape accepted,
//    client pings answered.

#[tokio::test]
async fn c07_server_pings_with_13_digit_payload_and_closes_without_pong() {
    let server = start(fast_config()).await;
    let mut raw = RawClient::connect(&server, "/ws").await;
    let mut pings = Vec::new();
    let close = loop {
        let frame = raw.next_frame().await.expect("the server closes with a frame");
        match frame.opcode {
            9 => pings.push(frame.payload),
            8 => break frame,
            other => panic!("unexpected opcode {other}"),
        }
        assert!(pings.len() < 50, "bounded");
    };
    assert!(pings.len() >= 2, "pinged every 200 ms before the 600 ms deadline: {}", pings.len());
    for payload in &pings {
        assert_eq!(payload.len(), 13);
        assert!(payload.iter().all(u8::is_ascii_digit));
    }
    assert_eq!(close.close_code(), Some(1008));
    assert_eq!(&close.payload[2..], b"Pong timeout");
}

#[tokio::test]
async fn c07_empty_and_unsolicited_pongs_keep_the_connection_and_client_pings_are_answered() {
    let server = start(fast_config()).await;
    let mut raw = RawClient::connect(&server, "/ws").await;
    raw.send(10, b"").await; // unsolicited, before any ping
    let mut pings = 0;
    while pings < 8 {
        let frame = raw.next_frame().await.expect("still open");
        assert_eq!(frame.opcode, 9, "only pings arrive on a silent socket, no close");
        pings += 1;
        raw.send(10, b"").await; // empty pong, as several real clients send
    }
    raw.send(9, b"are you there").await;
    let pong = loop {
        let frame = raw.next_frame().await.expect("still open");
        if frame.opcode == 10 {
            break frame;
        }
        raw.send(10, b"").await;
    };
    assert_eq!(pong.payload, b"are you there");
    assert_eq!(server.snapshot().connections_open, 1);
}

#[tokio::test]
async fn c07_strict_pong_payload_knob_rejects_empty_pongs() {
    let server =
        start(config("[heartbeat]\nping-interval = \"200ms\"\npong-timeout = \"500ms\"\nstrict-pong-payload = true\n"))
            .await;
    let mut raw = RawClient::connect(&server, "/ws").await;
    let close = loop {
        let frame = raw.next_frame().await.expect("closed with a frame");
        if frame.opcode == 8 {
            break frame;
        }
        raw.send(10, b"").await;
    };
    assert_eq!(close.close_code(), Some(1008));
}

#[tokio::test]
async fn c07_tungstenite_client_ping_gets_its_pong() {
    let server = start(MockConfig::default()).await;
    let mut ws = connect(&server, "/ws").await;
    ws.send(Message::Ping(b"1700000000000".to_vec().into())).await.unwrap();
    loop {
        let message =
            tokio::time::timeout(LIMIT, futures_util::StreamExt::next(&mut ws)).await.unwrap().unwrap().unwrap();
        if let Message::Pong(payload) = message {
            assert_eq!(payload.as_ref(), b"1700000000000");
            break;
        }
    }
}

// 8. A 6th message within a second closes with 1008; the 301st connection attempt per IP gets 429.

#[tokio::test]
async fn c08_sixth_message_within_a_second_closes_with_1008() {
    let server = start(MockConfig::default()).await;
    let mut ws = connect(&server, "/ws").await;
    for id in 0..6 {
        send(&mut ws, &format!(r#"{{"method":"LIST_SUBSCRIPTIONS","id":{id}}}"#)).await;
    }
    let frame = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Policy);
    assert_eq!(frame.reason.as_str(), "Too many requests");
}

#[tokio::test]
async fn c08_connection_attempt_301_from_one_ip_within_5_minutes_gets_429() {
    let server = start(MockConfig::default()).await;
    let noisy = "127.0.0.2".parse().unwrap();
    for _ in 0..300 {
        let ws = connect_from(&server, "/ws", noisy).await.expect("within budget");
        drop(ws);
    }
    match connect_from(&server, "/ws", noisy).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        other => panic!("expected HTTP 429, got {other:?}"),
    }
    connect_from(&server, "/ws", "127.0.0.3".parse().unwrap()).await.expect("another IP has its own budget");
    let snapshot = server.snapshot();
    let noisy_counts = &snapshot.upgrades_per_ip[&noisy];
    assert_eq!(noisy_counts.accepted, 300);
    assert_eq!(noisy_counts.rejected[&wschaos::mock::stats::RejectReason::TooManyRequests], 1);
}

// 9. Lifetime close (configurable), serverShutdown in both shapes, and 1001/1006/1008 closes on demand.

#[tokio::test]
async fn c09_connections_are_closed_with_1001_at_the_end_of_their_lifetime() {
    let server = start(config("[limits]\nmax-lifetime = \"300ms\"\n")).await;
    let mut ws = connect(&server, "/ws/btcusdt@trade").await;
    let frame = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Away);
    drop(ws);
    settle(&server).await;
    assert_eq!(server.snapshot().closes[&wschaos::mock::stats::CloseCause::Lifetime], 1);
}

#[tokio::test]
async fn c09_server_shutdown_event_has_raw_and_combined_shapes() {
    let server = start(fast_config()).await;
    let mut raw = connect(&server, "/ws/btcusdt@trade").await;
    let mut combined = connect(&server, "/stream?streams=btcusdt@trade").await;
    next_json(&mut raw).await;
    next_json(&mut combined).await;
    assert_eq!(server.send_server_shutdown(|_| true), 2);
    let raw_event = loop {
        let text = next_text(&mut raw).await;
        if text.contains("serverShutdown") {
            break text;
        }
    };
    assert_eq!(keys_in_order(&raw_event), ["e", "E"]);
    let v: Value = serde_json::from_str(&raw_event).unwrap();
    assert!(v["e"] == "serverShutdown" && digits(&v["E"], 13), "{v}");
    let combined_event = loop {
        let v = next_json(&mut combined).await;
        if v["stream"] == "!serverShutdown" {
            break v;
        }
    };
    assert_eq!(combined_event["data"]["e"], "serverShutdown");
    assert!(digits(&combined_event["data"]["E"], 13));
}

#[tokio::test]
async fn c09_closes_on_demand_with_1001_1008_fin_and_reset() {
    let server = start(fast_config()).await;
    let cases = [
        (CloseHow::frame(1001, "going away"), "1001"),
        (CloseHow::frame(1008, "policy"), "1008"),
        (CloseHow::Fin, "1006"),
        (CloseHow::Reset, "reset"),
    ];
    for (how, expected) in cases {
        let mut ws = connect(&server, "/ws/btcusdt@trade").await;
        next_json(&mut ws).await;
        let me = ws.get_ref().local_addr().unwrap();
        assert_eq!(server.close_connections(|c| c.peer == me, how), 1);
        let seen = match read_close_or_error(&mut ws).await {
            Ok(code) => code.to_string(),
            Err(tokio_tungstenite::tungstenite::Error::Protocol(p)) if p.to_string().contains("closing handshake") => {
                "1006".into()
            }
            Err(tokio_tungstenite::tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                "reset".into()
            }
            Err(e) => format!("{e}"),
        };
        assert_eq!(seen, expected);
    }
}

async fn read_close_or_error(ws: &mut Client) -> Result<u16, tokio_tungstenite::tungstenite::Error> {
    loop {
        let next = tokio::time::timeout(LIMIT, futures_util::StreamExt::next(ws)).await.expect("in time");
        match next {
            Some(Ok(Message::Close(Some(frame)))) => return Ok(u16::from(frame.code)),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e),
            None => return Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed),
        }
    }
}

// 10. Depth sequencing: U == previous u + 1, one update-id counter shared by diff depth, partial depth,
//     bookTicker and the REST snapshot; exact key sets.

#[tokio::test]
async fn c10_depth_streams_bookticker_and_rest_snapshot_share_one_update_id_counter() {
    let server = start(fast_config()).await;
    let mut ws = connect(&server, "/stream?streams=btcusdt@depth@100ms/btcusdt@depth5@100ms/btcusdt@bookTicker").await;
    let mut buffered = Vec::new();
    while buffered.len() < 3 {
        let v = next_json(&mut ws).await;
        if v["stream"] == "btcusdt@depth@100ms" {
            buffered.push(v["data"].clone());
        }
    }
    let (status, body) = http_get(&server, "/api/v3/depth?symbol=BTCUSDT&limit=1000").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(keys_in_order(&body), ["lastUpdateId", "bids", "asks"]);
    let mut book = LocalBook::from_snapshot(&serde_json::from_str(&body).unwrap());
    let mut synced = false;
    let (mut partials_checked, mut tickers_checked) = (0, 0);
    for step in 0..5000 {
        let data = if let Some(d) = (!buffered.is_empty()).then(|| buffered.remove(0)) {
            json!({"stream": "btcusdt@depth@100ms", "data": d})
        } else {
            let text = next_text(&mut ws).await;
            check_keys(&text);
            serde_json::from_str(&text).unwrap()
        };
        let d = &data["data"];
        match data["stream"].as_str().unwrap() {
            "btcusdt@depth@100ms" => synced |= book.apply(d, synced),
            "btcusdt@depth5@100ms" if synced => {
                assert_eq!(d["lastUpdateId"].as_u64(), Some(book.last), "partial depth uses the diff counter");
                assert_eq!(d["bids"], book.top(true, 5), "step {step}");
                assert_eq!(d["asks"], book.top(false, 5));
                partials_checked += 1;
            }
            "btcusdt@bookTicker" if synced => {
                assert!(d["u"].as_u64().unwrap() > book.last, "bookTicker runs ahead of the depth window");
                tickers_checked += 1;
            }
            _ => {}
        }
        if partials_checked >= 10 && tickers_checked >= 10 {
            break;
        }
    }
    assert!(partials_checked >= 10 && tickers_checked >= 10, "{partials_checked} {tickers_checked}");
}

fn check_keys(text: &str) {
    let v: Value = serde_json::from_str(text).unwrap();
    let data = serde_json::to_string(&v["data"]).unwrap();
    let inner_text = &text[text.find("\"data\":").unwrap() + 7..text.len() - 1];
    let keys = keys_in_order(inner_text);
    let expected: &[&str] = match v["stream"].as_str().unwrap() {
        "btcusdt@depth@100ms" => &["e", "E", "s", "U", "u", "b", "a"],
        "btcusdt@depth5@100ms" => &["lastUpdateId", "bids", "asks"],
        "btcusdt@bookTicker" => &["u", "s", "b", "B", "a", "A"],
        other => panic!("unexpected stream {other}: {data}"),
    };
    assert_eq!(keys, expected, "{data}");
}

/// The Binance "local order book" procedure, as order-book syncers implement it.
struct LocalBook {
    last: u64,
    bids: BTreeMap<String, String>,
    asks: BTreeMap<String, String>,
}

impl LocalBook {
    fn from_snapshot(snapshot: &Value) -> Self {
        let side = |key: &str| {
            snapshot[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| (l[0].as_str().unwrap().to_owned(), l[1].as_str().unwrap().to_owned()))
                .collect()
        };
        LocalBook { last: snapshot["lastUpdateId"].as_u64().unwrap(), bids: side("bids"), asks: side("asks") }
    }

    /// Applies a diff; returns true once the book is in sync.
    fn apply(&mut self, diff: &Value, synced: bool) -> bool {
        let (first, last) = (diff["U"].as_u64().unwrap(), diff["u"].as_u64().unwrap());
        assert!(first <= last);
        if last <= self.last {
            return false;
        }
        if synced {
            assert_eq!(first, self.last + 1, "U must be previous u + 1");
        } else {
            assert!(first <= self.last + 1, "the first applied event must straddle the snapshot");
        }
        for (key, side) in [("b", &mut self.bids), ("a", &mut self.asks)] {
            for level in diff[key].as_array().unwrap() {
                let (price, qty) = (level[0].as_str().unwrap(), level[1].as_str().unwrap());
                if qty.parse::<f64>().unwrap() == 0.0 {
                    side.remove(price);
                } else {
                    side.insert(price.to_owned(), qty.to_owned());
                }
            }
        }
        self.last = last;
        true
    }

    fn top(&self, bids: bool, n: usize) -> Value {
        let price = |p: &String| p.parse::<f64>().unwrap();
        let mut levels: Vec<(&String, &String)> =
            if bids { self.bids.iter().collect() } else { self.asks.iter().collect() };
        levels.sort_by(|a, b| price(a.0).partial_cmp(&price(b.0)).unwrap());
        if bids {
            levels.reverse();
        }
        Value::Array(levels.into_iter().take(n).map(|(p, q)| json!([p, q])).collect())
    }
}

// 1 and 6 (all kinds): every documented stream kind is served over a socket with its event shape.

#[tokio::test]
async fn c01_every_stream_kind_is_served_with_its_shape() {
    let server = start(fast_config()).await;
    let expected: &[(&str, &str)] = &[
        ("btcusdt@trade", "trade"),
        ("btcusdt@aggTrade", "aggTrade"),
        ("btcusdt@blockTrade", "blockTrade"),
        ("btcusdt@kline_1s", "kline"),
        ("btcusdt@kline_1m@+08:00", "kline"),
        ("btcusdt@miniTicker", "24hrMiniTicker"),
        ("btcusdt@ticker", "24hrTicker"),
        ("btcusdt@ticker_1h", "1hTicker"),
        ("btcusdt@bookTicker", "bookTicker (no e)"),
        ("btcusdt@avgPrice", "avgPrice"),
        ("btcusdt@referencePrice", "referencePrice"),
        ("btcusdt@depth5", "partial depth (no e)"),
        ("btcusdt@depth10@100ms", "partial depth (no e)"),
        ("btcusdt@depth20@1000ms", "partial depth (no e)"),
        ("btcusdt@depth", "depthUpdate"),
        ("btcusdt@depth@100ms", "depthUpdate"),
        ("!miniTicker@arr", "24hrMiniTicker"),
        ("!ticker@arr", "24hrTicker"),
        ("!ticker_4h@arr", "4hTicker"),
    ];
    let names: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    let mut ws = connect(&server, &format!("/stream?streams={}", names.join("/"))).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20_000 {
        let v = next_json(&mut ws).await;
        let stream = v["stream"].as_str().unwrap().to_owned();
        let (_, kind) = expected.iter().find(|(n, _)| *n == stream).expect("only subscribed streams arrive");
        let data = &v["data"];
        let event = match data {
            Value::Array(items) => items[0]["e"].as_str().unwrap_or("").to_owned(),
            Value::Object(map) if map.contains_key("e") => data["e"].as_str().unwrap().to_owned(),
            Value::Object(map) if map.contains_key("lastUpdateId") => "partial depth (no e)".to_owned(),
            Value::Object(map) if map.contains_key("u") && map.contains_key("b") => "bookTicker (no e)".to_owned(),
            other => panic!("{stream}: unexpected payload {other}"),
        };
        assert_eq!(&event, kind, "{stream}: {data}");
        seen.insert(stream);
        if seen.len() == expected.len() {
            break;
        }
    }
    let missing: Vec<&&str> = names.iter().filter(|n| !seen.contains(**n)).collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
}
