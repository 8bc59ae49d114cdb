//! `GET /api/v3/exchangeInfo`: the spot exchange's trading rules for the feed's symbols, in Binance's
//! shape, which client libraries (ccxt first) load before they open a socket; and the futures variants
//! (`/fapi/v1/exchangeInfo`, `/dapi/v1/exchangeInfo`, which ccxt's default options also request) with no
//! symbols: the mock serves spot only, and a listed perpetual would make a client file spot trades under it.
//!
//! One entry per feed symbol: its status (`TRADING`), base and quote assets (the quote is the longest known
//! quote asset the name ends with), and the `PRICE_FILTER` (the feed's tick size), `LOT_SIZE` (its lot size)
//! and `NOTIONAL` filters. Pure: it renders what it is given.

use serde_json::{Value, json};

use crate::mock::market::SymbolSpec;

/// Which exchange's information is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// Spot (`/api/v3/exchangeInfo`): the feed's symbols.
    Spot,
    /// USDⓈ-M futures (`/fapi/v1/exchangeInfo`): none.
    UsdFutures,
    /// COIN-M futures (`/dapi/v1/exchangeInfo`): none.
    CoinFutures,
}

/// Quote assets a symbol name can end with, longest first.
const QUOTES: [&str; 10] = ["fdusd", "usdt", "usdc", "tusd", "btc", "eth", "bnb", "eur", "try", "jpy"];

/// The base and quote assets of a lowercase symbol name, upper-cased (`btcusdt` → `BTC`, `USDT`).
pub fn assets(name: &str) -> (String, String) {
    if QUOTES.contains(&name) {
        return (name.to_ascii_uppercase(), String::new());
    }
    let known = QUOTES.iter().find(|q| name.len() > q.len() && name.ends_with(*q)).map(|q| q.len());
    // Otherwise the last three letters, when a base is left (symbol names are ASCII: the feed's grammar).
    let quote_len = known.or((name.len() > 3 && name.is_ascii()).then_some(3));
    match quote_len {
        Some(len) => (name[..name.len() - len].to_ascii_uppercase(), name[name.len() - len..].to_ascii_uppercase()),
        None => (name.to_ascii_uppercase(), String::new()),
    }
}

/// A decimal in Binance's 8-decimal string form.
fn decimal(value: f64) -> String {
    format!("{value:.8}")
}

fn symbol_entry(spec: &SymbolSpec) -> Value {
    let (base, quote) = assets(&spec.name);
    json!({
        "symbol": spec.name.to_ascii_uppercase(),
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": true,
        "ocoAllowed": true,
        "otoAllowed": true,
        "quoteOrderQtyMarketAllowed": true,
        "allowTrailingStop": true,
        "cancelReplaceAllowed": true,
        "isSpotTradingAllowed": true,
        "isMarginTradingAllowed": false,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": decimal(spec.tick_size),
                "maxPrice": decimal((spec.price * 1000.0 / spec.tick_size).round() * spec.tick_size),
                "tickSize": decimal(spec.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": decimal(spec.lot_size),
                "maxQty": decimal(9_000_000.0 * spec.lot_size),
                "stepSize": decimal(spec.lot_size),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": decimal(spec.level_notional() / 1000.0),
                "applyMinToMarket": true,
                "maxNotional": decimal(spec.level_notional() * 1800.0),
                "applyMaxToMarket": false,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    })
}

/// The exchange information, for `symbols` (the feed's) at `server_time_ms`.
pub fn render(exchange: Exchange, symbols: &[&SymbolSpec], server_time_ms: u64) -> String {
    let listed: Vec<Value> = match exchange {
        Exchange::Spot => symbols.iter().map(|s| symbol_entry(s)).collect(),
        Exchange::UsdFutures | Exchange::CoinFutures => Vec::new(),
    };
    let mut info = json!({
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "rateLimits": [
            { "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000 },
            { "rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100 },
            { "rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000 },
            { "rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000 },
        ],
        "exchangeFilters": [],
        "symbols": listed,
    });
    if exchange != Exchange::Spot {
        info["assets"] = json!([]);
        info["futuresType"] = json!(if exchange == Exchange::UsdFutures { "U_MARGINED" } else { "COIN_MARGINED" });
    }
    info.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::market::default_universe;

    #[test]
    fn assets_split_on_the_longest_known_quote() {
        assert_eq!(assets("btcusdt"), ("BTC".into(), "USDT".into()));
        assert_eq!(assets("btcfdusd"), ("BTC".into(), "FDUSD".into()));
        assert_eq!(assets("ethbtc"), ("ETH".into(), "BTC".into()));
        assert_eq!(assets("bnbeth"), ("BNB".into(), "ETH".into()));
        assert_eq!(assets("abcxyz"), ("ABC".into(), "XYZ".into()), "an unknown quote: the last three letters");
        assert_eq!(assets("btc"), ("BTC".into(), String::new()), "never an empty base");
        assert_eq!(assets("usdt"), ("USDT".into(), String::new()));
    }

    #[test]
    fn spot_lists_each_symbol_with_its_filters_and_futures_list_none() {
        let universe = default_universe();
        let chosen: Vec<&SymbolSpec> = universe.iter().take(2).collect();
        let info: Value = serde_json::from_str(&render(Exchange::Spot, &chosen, 1_700_000_000_000)).unwrap();
        assert_eq!(info["serverTime"], 1_700_000_000_000u64);
        let btc = &info["symbols"][0];
        assert_eq!(btc["symbol"], "BTCUSDT");
        assert_eq!(btc["status"], "TRADING");
        assert_eq!((btc["baseAsset"].as_str(), btc["quoteAsset"].as_str()), (Some("BTC"), Some("USDT")));
        let filter = |name: &str| btc["filters"].as_array().unwrap().iter().find(|f| f["filterType"] == name).cloned();
        assert_eq!(filter("PRICE_FILTER").unwrap()["tickSize"], "0.01000000");
        assert_eq!(filter("LOT_SIZE").unwrap()["stepSize"], "0.00001000");
        assert_eq!(filter("NOTIONAL").unwrap()["minNotional"], "5.00000000");
        assert_eq!(info["symbols"].as_array().unwrap().len(), 2);
        for exchange in [Exchange::UsdFutures, Exchange::CoinFutures] {
            let info: Value = serde_json::from_str(&render(exchange, &chosen, 1)).unwrap();
            assert_eq!(info["symbols"], json!([]));
        }
    }
}
