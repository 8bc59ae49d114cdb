//! Real Binance client libraries, unchanged but for their base URL, against the mock. They need the
//! Python packages that `tests/clients/setup.sh` installs into `target/client-venv`, so they are opt-in:
//! `tests/clients/setup.sh && cargo test --locked -- --ignored real_client` (CI runs them).

use std::process::Command;

use serde_json::Value;

use crate::support::*;

fn client_python() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/client-venv/bin/python")
}

#[tokio::test]
#[ignore = "needs the Python binance-connector: run tests/clients/setup.sh first"]
async fn real_client_binance_connector_python_works_unchanged() {
    let python = client_python();
    assert!(python.exists(), "{} is missing: run tests/clients/setup.sh", python.display());
    let server = start(lively_feed_config()).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/binance_connector.py");
    let url = server.url();
    let output =
        tokio::task::spawn_blocking(move || Command::new(python).arg(script).arg(url).output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "client failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let result: Value = serde_json::from_str(&stdout).unwrap();
    for shape in ["raw", "combined"] {
        let r = &result[shape];
        assert_eq!(r["errors"], Value::Array(vec![]), "{shape}");
        let responses = r["responses"].as_array().unwrap();
        for id in 1..=3 {
            assert!(responses.contains(&serde_json::json!({"result": null, "id": id})), "{shape}: {responses:?}");
        }
        let list = responses.iter().find(|v| v["id"] == 4).unwrap();
        assert_eq!(list["result"], serde_json::json!(["btcusdt@trade", "ethusdt@depth@100ms", "bnbusdt@kline_1m"]));
        assert!(digits(&r["trade"][0]["E"], 16), "timeUnit=MICROSECOND honoured: {}", r["trade"][0]);
        let depth = r["depthUpdate"].as_array().unwrap();
        assert_eq!(depth[1]["U"].as_u64(), depth[0]["u"].as_u64().map(|u| u + 1));
        assert_eq!(r["kline"][0]["k"]["i"], "1m");
    }
    settle(&server).await;
    let snapshot = server.snapshot();
    assert_eq!(snapshot.upgrades.accepted, 2);
    assert_eq!(snapshot.closes.values().sum::<u64>(), 2);
}

#[tokio::test]
#[ignore = "needs the Python ccxt: run tests/clients/setup.sh first"]
async fn real_client_ccxt_pro_python_works_unchanged() {
    let python = client_python();
    assert!(python.exists(), "{} is missing: run tests/clients/setup.sh", python.display());
    let server = start(lively_feed_config()).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/ccxt_pro.py");
    let base = format!("http://{}", server.local_addr());
    let output = tokio::task::spawn_blocking(move || Command::new(python).arg(script).arg(base).output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "client failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let result: Value = serde_json::from_str(&stdout).unwrap();
    // load_markets: every feed symbol from exchangeInfo, with the feed's tick and lot sizes; no futures.
    let markets: Vec<&str> = result["markets"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(markets.contains(&"BTC/USDT") && markets.contains(&"ETH/BTC"), "{markets:?}");
    assert!(markets.iter().all(|m| !m.contains(':')), "no perpetual or delivery market is listed: {markets:?}");
    let btc = &result["btc"];
    assert_eq!(
        (btc["id"].as_str(), btc["spot"].as_bool(), btc["active"].as_bool()),
        (Some("BTCUSDT"), Some(true), Some(true))
    );
    assert_eq!(btc["precision"]["price"].as_f64(), Some(0.01), "PRICE_FILTER tickSize: {btc}");
    assert_eq!(btc["precision"]["amount"].as_f64(), Some(0.00001), "LOT_SIZE stepSize: {btc}");
    assert_eq!(btc["limits"]["cost"]["min"].as_f64(), Some(5.0), "NOTIONAL minNotional: {btc}");
    // watch_trades and watch_order_book over the mock's WebSocket.
    let trades = result["trades"].as_array().unwrap();
    assert!(trades.len() >= 3 && trades.iter().all(|t| t["price"].as_f64().is_some_and(|p| p > 0.0)), "{trades:?}");
    let nonces: Vec<u64> = result["book"]["nonces"].as_array().unwrap().iter().filter_map(Value::as_u64).collect();
    assert!(nonces.len() >= 3 && nonces.windows(2).all(|w| w[0] < w[1]), "the book advances: {nonces:?}");
    let (bid, ask) = (&result["book"]["bids"][0][0], &result["book"]["asks"][0][0]);
    assert!(bid.as_f64().unwrap() < ask.as_f64().unwrap(), "a book that is not crossed: {bid} {ask}");
    settle(&server).await;
    let snapshot = server.snapshot();
    assert!(snapshot.upgrades.accepted >= 1, "{:?}", snapshot.upgrades);
}
