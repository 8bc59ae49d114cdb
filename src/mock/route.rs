//! Routing an HTTP request target to what the mock serves: a raw (`/ws…`) or combined (`/stream…`)
//! WebSocket endpoint with its URL streams and `timeUnit`, a REST helper, or nothing (404).
//!
//! Pure: it parses strings and knows the limits it is given; it never touches a socket. Percent-decoding
//! keeps `+` (the `@+08:00` kline suffix), and python-binance's second `?` inside `streams=` is tolerated.

use crate::mock::config::{InvalidTimeUnit, UrlOverLimit};
use crate::mock::exchange_info::Exchange;
use crate::mock::stream_name::StreamSpec;
use crate::mock::time::TimeUnit;

/// Whether events arrive bare (`/ws`) or wrapped as `{"stream","data"}` (`/stream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endpoint {
    /// `/ws`, `/ws/<stream>[/<stream>…]`, `/ws/<any token>`: bare payloads.
    Raw,
    /// `/stream`, `/stream?streams=a/b`: `{"stream":…,"data":…}` wrappers.
    Combined,
}

/// A WebSocket upgrade target, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsRoute {
    /// Raw or combined.
    pub endpoint: Endpoint,
    /// Stream names from the URL that match the grammar, deduplicated, in URL order.
    pub streams: Vec<String>,
    /// The time unit asked for (milliseconds by default).
    pub time_unit: TimeUnit,
    /// The rig's canary ([`canary::PATH`](crate::mock::canary::PATH)), not a Binance stream.
    pub canary: bool,
}

/// A plain HTTP request the mock answers (Binance REST helpers clients use beside the streams).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestRoute {
    /// `GET /api/v3/depth?symbol=BTCUSDT&limit=N`: an order-book snapshot.
    Depth {
        /// Uppercase symbol as sent.
        symbol: String,
        /// Levels per side (default 100, at most 5000).
        limit: usize,
    },
    /// `GET /api/v3/exchangeInfo[?symbol=X | ?symbols=["X","Y"]]` (spot), `/fapi/v1/exchangeInfo`,
    /// `/dapi/v1/exchangeInfo` (futures: no symbols).
    ExchangeInfo {
        /// Which exchange.
        exchange: crate::mock::exchange_info::Exchange,
        /// The uppercase symbols asked for (empty: all).
        symbols: Vec<String>,
    },
    /// `GET /api/v3/ping`: `{}`.
    Ping,
    /// `GET /api/v3/time`: `{"serverTime":…}`.
    Time,
}

/// What a request target resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A WebSocket endpoint.
    WebSocket(WsRoute),
    /// A REST helper.
    Rest(RestRoute),
}

/// Why a request target cannot be served; each maps to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Not one of the served paths (404).
    #[error("no such path: {0}")]
    NotFound(String),
    /// `timeUnit` with a value other than MILLISECOND or MICROSECOND (400).
    #[error("invalid timeUnit {0:?}; use MILLISECOND or MICROSECOND")]
    BadTimeUnit(String),
    /// More streams in the URL than a connection may hold (400).
    #[error("{count} streams in the URL; at most {limit} per connection")]
    TooManyStreams {
        /// Streams named.
        count: usize,
        /// The per-connection limit.
        limit: usize,
    },
    /// A REST request with a missing or bad parameter (400).
    #[error("bad request: {0}")]
    BadParameter(String),
}

impl RouteError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            RouteError::NotFound(_) => 404,
            _ => 400,
        }
    }
}

/// The limits routing applies.
#[derive(Debug, Clone, Copy)]
pub struct RoutePolicy {
    /// Streams per connection (`None`: unlimited).
    pub max_streams: Option<usize>,
    /// What an over-limit URL does.
    pub over_limit: UrlOverLimit,
    /// What an unknown `timeUnit` does.
    pub invalid_time_unit: InvalidTimeUnit,
}

/// Resolves a request target (`/stream?streams=a/b&timeUnit=MICROSECOND`).
pub fn route(target: &str, policy: RoutePolicy) -> Result<Target, RouteError> {
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(raw_path);
    let query = parse_query(raw_query);
    if let Some(rest) = rest_route(&path, &query)? {
        return Ok(Target::Rest(rest));
    }
    if path == crate::mock::canary::PATH {
        let streams = vec![crate::mock::canary::STREAM.to_owned()];
        return Ok(Target::WebSocket(WsRoute {
            endpoint: Endpoint::Raw,
            streams,
            time_unit: TimeUnit::Microsecond,
            canary: true,
        }));
    }
    let (endpoint, mut names) = if path == "/ws" || path == "/ws/" {
        (Endpoint::Raw, Vec::new())
    } else if let Some(rest) = path.strip_prefix("/ws/") {
        (Endpoint::Raw, split_streams(rest))
    } else if path == "/stream" || path == "/stream/" {
        let streams = query.iter().find(|(k, _)| k == "streams").map(|(_, v)| v.as_str());
        (Endpoint::Combined, streams.map(split_streams).unwrap_or_default())
    } else {
        return Err(RouteError::NotFound(path));
    };
    let time_unit = time_unit(&query, policy.invalid_time_unit)?;
    apply_stream_limit(&mut names, policy)?;
    Ok(Target::WebSocket(WsRoute { endpoint, streams: names, time_unit, canary: false }))
}

fn rest_route(path: &str, query: &[(String, String)]) -> Result<Option<RestRoute>, RouteError> {
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    Ok(Some(match path {
        "/api/v3/ping" => RestRoute::Ping,
        "/api/v3/exchangeInfo" => RestRoute::ExchangeInfo { exchange: Exchange::Spot, symbols: symbols_param(query)? },
        "/fapi/v1/exchangeInfo" => RestRoute::ExchangeInfo { exchange: Exchange::UsdFutures, symbols: Vec::new() },
        "/dapi/v1/exchangeInfo" => RestRoute::ExchangeInfo { exchange: Exchange::CoinFutures, symbols: Vec::new() },
        "/api/v3/time" => RestRoute::Time,
        "/api/v3/depth" => {
            let symbol = param("symbol")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| RouteError::BadParameter("missing parameter 'symbol'".into()))?;
            let limit = match param("limit") {
                None => 100,
                Some(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|l| (1..=5000).contains(l))
                    .ok_or_else(|| RouteError::BadParameter(format!("limit {v:?} is not 1..=5000")))?,
            };
            RestRoute::Depth { symbol, limit }
        }
        _ => return Ok(None),
    }))
}

/// `symbol=BTCUSDT` or `symbols=["BTCUSDT","BNBBTC"]` (Binance's JSON array form), upper-cased.
fn symbols_param(query: &[(String, String)]) -> Result<Vec<String>, RouteError> {
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if let Some(one) = param("symbol") {
        return Ok(vec![one.to_ascii_uppercase()]);
    }
    let Some(list) = param("symbols") else {
        return Ok(Vec::new());
    };
    let parsed: Vec<String> = serde_json::from_str(list)
        .map_err(|_| RouteError::BadParameter(format!("symbols {list:?} is not a JSON array of names")))?;
    Ok(parsed.into_iter().map(|s| s.to_ascii_uppercase()).collect())
}

fn time_unit(query: &[(String, String)], policy: InvalidTimeUnit) -> Result<TimeUnit, RouteError> {
    let Some((_, value)) = query.iter().rev().find(|(k, _)| k == "timeUnit") else {
        return Ok(TimeUnit::Millisecond);
    };
    match (TimeUnit::parse(value), policy) {
        (Some(unit), _) => Ok(unit),
        (None, InvalidTimeUnit::Ignore) => Ok(TimeUnit::Millisecond),
        (None, InvalidTimeUnit::Reject) => Err(RouteError::BadTimeUnit(value.clone())),
    }
}

fn apply_stream_limit(names: &mut Vec<String>, policy: RoutePolicy) -> Result<(), RouteError> {
    let Some(limit) = policy.max_streams else {
        return Ok(());
    };
    if names.len() <= limit {
        return Ok(());
    }
    match policy.over_limit {
        UrlOverLimit::Truncate => {
            names.truncate(limit);
            Ok(())
        }
        UrlOverLimit::Reject => Err(RouteError::TooManyStreams { count: names.len(), limit }),
    }
}

/// Splits `a/b/c` into the names that match the grammar, without duplicates. Tokens outside the grammar
/// (`0`, `BTCUSDT@trade`) are dropped: Binance opens such connections and stays silent.
fn split_streams(list: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for token in list.split('/') {
        if StreamSpec::parse(token).is_some() && !names.iter().any(|n| n == token) {
            names.push(token.to_owned());
        }
    }
    names
}

/// Parses `k=v&k2=v2` with percent-decoding; a value holding a further `?` (python-binance's
/// `streams=a/b?timeUnit=MICROSECOND`) is split and the rest parsed as more parameters.
fn parse_query(query: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending: Vec<&str> = query.split('&').collect();
    pending.reverse();
    while let Some(pair) = pending.pop() {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = match value.split_once('?') {
            Some((head, tail)) => {
                pending.extend(tail.split('&').rev());
                head
            }
            None => value,
        };
        out.push((percent_decode(key), percent_decode(value)));
    }
    out
}

/// Decodes `%XX` escapes; `+` stays a plus; malformed escapes are kept as written.
pub fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len()).then(|| hex_pair(bytes[i + 1], bytes[i + 2])).flatten();
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    Some(digit(high)? * 16 + digit(low)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RoutePolicy = RoutePolicy {
        max_streams: Some(3),
        over_limit: UrlOverLimit::Reject,
        invalid_time_unit: InvalidTimeUnit::Reject,
    };

    fn ws(target: &str) -> WsRoute {
        match route(target, POLICY) {
            Ok(Target::WebSocket(r)) => r,
            other => panic!("{target}: {other:?}"),
        }
    }

    #[test]
    fn raw_and_combined_paths() {
        assert_eq!(ws("/ws/btcusdt@trade").streams, ["btcusdt@trade"]);
        assert_eq!(ws("/ws/btcusdt@trade").endpoint, Endpoint::Raw);
        assert!(ws("/ws").streams.is_empty());
        assert!(ws("/ws/0").streams.is_empty(), "ccxt's stream index opens silently");
        assert!(ws("/ws/BTCUSDT@trade").streams.is_empty());
        let c = ws("/stream?streams=btcusdt@trade/ethusdt@aggTrade");
        assert_eq!(c.endpoint, Endpoint::Combined);
        assert_eq!(c.streams, ["btcusdt@trade", "ethusdt@aggTrade"]);
        assert!(ws("/stream").streams.is_empty());
        assert!(ws("/stream?streams=").streams.is_empty());
        assert!(ws("/stream?streams=&timeUnit=MICROSECOND").streams.is_empty());
    }

    #[test]
    fn decoding_keeps_plus_and_decodes_escapes() {
        assert_eq!(ws("/ws/btcusdt@kline_1d@+08:00").streams, ["btcusdt@kline_1d@+08:00"]);
        assert_eq!(ws("/ws/btcusdt%40trade").streams, ["btcusdt@trade"]);
        assert_eq!(
            ws("/stream?streams=btcusdt%40trade%2Fethusdt%40kline_1d%40%2B08%3A00").streams,
            ["btcusdt@trade", "ethusdt@kline_1d@+08:00"]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn time_unit_in_either_case_and_python_binance_double_question_mark() {
        assert_eq!(ws("/ws?timeUnit=microsecond").time_unit, TimeUnit::Microsecond);
        assert_eq!(ws("/ws/btcusdt@trade?timeUnit=MICROSECOND").time_unit, TimeUnit::Microsecond);
        let r = ws("/stream?streams=a@trade/b@trade?timeUnit=MICROSECOND");
        assert_eq!(r.streams, ["a@trade", "b@trade"]);
        assert_eq!(r.time_unit, TimeUnit::Microsecond);
        assert_eq!(route("/ws?timeUnit=SECOND", POLICY), Err(RouteError::BadTimeUnit("SECOND".into())));
        let lenient = RoutePolicy { invalid_time_unit: InvalidTimeUnit::Ignore, ..POLICY };
        assert!(matches!(route("/ws?timeUnit=SECOND", lenient), Ok(Target::WebSocket(_))));
    }

    #[test]
    fn unknown_paths_and_limits() {
        assert_eq!(route("/", POLICY).map_err(|e| e.status()), Err(404));
        assert_eq!(route("/wss/btcusdt@trade", POLICY).map_err(|e| e.status()), Err(404));
        let four = "/stream?streams=a@trade/b@trade/c@trade/d@trade";
        assert_eq!(route(four, POLICY), Err(RouteError::TooManyStreams { count: 4, limit: 3 }));
        let truncating = RoutePolicy { over_limit: UrlOverLimit::Truncate, ..POLICY };
        match route(four, truncating) {
            Ok(Target::WebSocket(r)) => assert_eq!(r.streams.len(), 3),
            other => panic!("{other:?}"),
        }
        assert_eq!(ws("/ws/a@trade/a@trade").streams, ["a@trade"]);
    }

    #[test]
    fn rest_helpers() {
        assert_eq!(
            route("/api/v3/depth?symbol=BTCUSDT&limit=5", POLICY),
            Ok(Target::Rest(RestRoute::Depth { symbol: "BTCUSDT".into(), limit: 5 }))
        );
        assert_eq!(route("/api/v3/depth?limit=5", POLICY).map_err(|e| e.status()), Err(400));
        assert_eq!(route("/api/v3/ping", POLICY), Ok(Target::Rest(RestRoute::Ping)));
        let info = |target: &str| match route(target, POLICY) {
            Ok(Target::Rest(RestRoute::ExchangeInfo { exchange, symbols })) => (exchange, symbols),
            other => panic!("{target}: {other:?}"),
        };
        assert_eq!(info("/api/v3/exchangeInfo"), (Exchange::Spot, vec![]));
        assert_eq!(info("/api/v3/exchangeInfo?symbol=btcusdt"), (Exchange::Spot, vec!["BTCUSDT".to_owned()]));
        let two = "/api/v3/exchangeInfo?symbols=%5B%22BTCUSDT%22,%22BNBBTC%22%5D";
        assert_eq!(info(two).1, ["BTCUSDT", "BNBBTC"]);
        assert_eq!(info("/fapi/v1/exchangeInfo"), (Exchange::UsdFutures, vec![]));
        assert_eq!(info("/dapi/v1/exchangeInfo"), (Exchange::CoinFutures, vec![]));
        assert_eq!(route("/api/v3/exchangeInfo?symbols=BTCUSDT", POLICY).map_err(|e| e.status()), Err(400));
    }
}
