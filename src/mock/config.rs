//! The mock upstream's configuration: the raw TOML mirror (`mock.toml`, or the `[mock]` table of a
//! scenario) and the validated [`MockConfig`] the server runs with.
//!
//! Defaults are Binance's documented spot behaviour (`../shared/reference/binance-streams.md`): 5 incoming
//! messages per second, 1024 streams per connection, 300 connection attempts per 5 minutes per IP, a 24 h
//! lifetime, a ping every 20 s and 60 s to answer it. Every limit can be changed or switched `"off"`.
//! This module only describes and checks settings; it opens no sockets.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config_file::{HumanDuration, KeyIssue, Switch};
use crate::mock::market::{MarketParams, SymbolSpec, default_universe};

/// What a connection's outbound queue does when it is full (a slow consumer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum QueueFullPolicy {
    /// Drop the new message and count it (the subscriber sees a sequence gap).
    Drop,
    /// Close the connection with 1008 "Slow consumer".
    Disconnect,
}

/// What the server does with a `timeUnit` value it does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InvalidTimeUnit {
    /// Answer the upgrade with HTTP 400.
    Reject,
    /// Use milliseconds.
    Ignore,
}

/// What SUBSCRIBE does with a well-formed stream of a symbol outside the feed's universe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownSymbols {
    /// Succeed and stay silent, as Binance does for unknown symbols in the URL.
    Accept,
    /// Answer code 2 "Invalid request: invalid stream".
    Reject,
}

/// What SUBSCRIBE does after answering a malformed stream name with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MalformedStream {
    /// Answer the error and keep the connection.
    Error,
    /// Answer the error, then close with 1008.
    ErrorAndClose,
}

/// What happens to a URL that names more streams than one connection may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UrlOverLimit {
    /// Answer the upgrade with HTTP 400.
    Reject,
    /// Keep the first streams up to the limit.
    Truncate,
}

/// How the server ends a connection whose client did not answer pings in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PongTimeoutAction {
    /// Send a close frame (1008 "Pong timeout").
    Close,
    /// Drop the TCP connection without a close frame (the client sees 1006).
    Drop,
}

/// How taker orders and book changes are spaced in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Arrivals {
    /// Evenly spaced at the configured rate.
    Fixed,
    /// Exponentially distributed gaps with the configured mean rate.
    Poisson,
}

/// A count per window (`{ max = 300, window = "5m" }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRate {
    /// How many are allowed per window.
    pub max: u32,
    /// The window.
    pub window: HumanDuration,
}

/// Per-symbol rate overrides (`[feed.symbol-rates.btcusdt]`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SymbolRate {
    /// Taker orders per second for this symbol (each is 1–3 trades and one aggTrade).
    pub orders_per_second: Option<f64>,
    /// Order-book changes per second for this symbol (each is one update id and one bookTicker).
    pub book_changes_per_second: Option<f64>,
}

/// `[server]`: connection handling.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawServer {
    /// Time a client has to send its complete upgrade request.
    pub handshake_timeout: Option<HumanDuration>,
    /// Messages a connection may have waiting to be written.
    pub outbound_queue: Option<usize>,
    /// What a full outbound queue does.
    pub on_queue_full: Option<QueueFullPolicy>,
    /// Bytes of read buffer allocated per connection (memory per idle connection).
    pub read_buffer: Option<usize>,
    /// Unknown `timeUnit` values.
    pub invalid_time_unit: Option<InvalidTimeUnit>,
    /// Well-formed streams of unknown symbols in SUBSCRIBE.
    pub unknown_symbols: Option<UnknownSymbols>,
    /// Malformed stream names in SUBSCRIBE.
    pub malformed_stream: Option<MalformedStream>,
    /// URLs naming more streams than a connection may hold.
    pub url_over_limit: Option<UrlOverLimit>,
    /// Time given to a client to answer a server close frame before the socket is dropped.
    pub close_grace: Option<HumanDuration>,
    /// Kernel send buffer per accepted socket in bytes (small values make slow consumers visible fast).
    pub send_buffer: Option<usize>,
}

/// `[heartbeat]`: server pings and the pong deadline.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawHeartbeat {
    /// Interval between server pings, or "off".
    pub ping_interval: Option<Switch<HumanDuration>>,
    /// Time allowed for a pong after an unanswered ping, or "off".
    pub pong_timeout: Option<Switch<HumanDuration>>,
    /// What the server does when the pong deadline passes.
    pub on_pong_timeout: Option<PongTimeoutAction>,
    /// Require the pong to echo the ping payload (Binance's streams do not).
    pub strict_pong_payload: Option<bool>,
}

/// `[limits]`: Binance's documented limits, each switchable off.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLimits {
    /// Incoming messages (ping, pong, text, binary) per window before close 1008.
    pub message_rate: Option<Switch<RawRate>>,
    /// Streams one connection may hold.
    pub streams_per_connection: Option<Switch<usize>>,
    /// Upgrade attempts per source IP per window before HTTP 429.
    pub connect_attempts: Option<Switch<RawRate>>,
    /// Connection lifetime before the server closes it.
    pub max_lifetime: Option<Switch<HumanDuration>>,
    /// Close code sent when the lifetime ends.
    pub lifetime_close_code: Option<u16>,
    /// Largest incoming message in bytes before close 1009.
    pub max_message_size: Option<Switch<usize>>,
    /// Longest request target (path and query) in bytes before HTTP 414.
    pub max_url_length: Option<Switch<usize>>,
}

/// `[feed]`: the simulated market.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawFeed {
    /// Symbols, most popular first (default: a universe of real spot symbols).
    pub symbols: Option<Vec<String>>,
    /// Taker orders per second on the most popular symbol.
    pub orders_per_second: Option<f64>,
    /// Book changes per second on the most popular symbol.
    pub book_changes_per_second: Option<f64>,
    /// Rate of the k-th symbol = rate / k^exponent (0 gives every symbol the same rate).
    pub popularity_exponent: Option<f64>,
    /// How orders and book changes are spaced.
    pub arrivals: Option<Arrivals>,
    /// Per-symbol rate overrides.
    pub symbol_rates: Option<BTreeMap<String, SymbolRate>>,
    /// Period of ticker, miniTicker, avgPrice and referencePrice events.
    pub ticker_period: Option<HumanDuration>,
    /// Period of kline events (kline_1s always uses 1 s).
    pub kline_period: Option<HumanDuration>,
    /// Price levels kept per book side.
    pub book_levels: Option<usize>,
    /// Probability that a taker order is also published as a block trade.
    pub block_trade_probability: Option<f64>,
}

/// The raw mock configuration as written in TOML.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawMockConfig {
    /// `[server]`
    pub server: Option<RawServer>,
    /// `[heartbeat]`
    pub heartbeat: Option<RawHeartbeat>,
    /// `[limits]`
    pub limits: Option<RawLimits>,
    /// `[feed]`
    pub feed: Option<RawFeed>,
}

/// A count per sliding window, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// How many are allowed per window.
    pub max: u32,
    /// The window.
    #[serde(with = "duration_text")]
    pub window: Duration,
}

/// Server pings and the pong deadline, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heartbeat {
    /// Interval between server pings (`None`: no pings).
    #[serde(with = "opt_duration_text")]
    pub ping_interval: Option<Duration>,
    /// Time allowed for a pong after the first unanswered ping (`None`: never enforced).
    #[serde(with = "opt_duration_text")]
    pub pong_timeout: Option<Duration>,
    /// What happens at the deadline.
    pub on_pong_timeout: PongTimeoutAction,
    /// Require pongs to echo the ping payload.
    pub strict_pong_payload: bool,
}

/// Binance's limits, validated (`None` = off).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    /// Incoming messages per window.
    pub message_rate: Option<Rate>,
    /// Streams per connection.
    pub streams_per_connection: Option<usize>,
    /// Upgrade attempts per source IP per window.
    pub connect_attempts: Option<Rate>,
    /// Connection lifetime.
    #[serde(with = "opt_duration_text")]
    pub max_lifetime: Option<Duration>,
    /// Close code at the end of the lifetime.
    pub lifetime_close_code: u16,
    /// Largest incoming message in bytes.
    pub max_message_size: Option<usize>,
    /// Longest request target in bytes.
    pub max_url_length: Option<usize>,
}

/// The simulated market, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedConfig {
    /// The universe, most popular first.
    pub symbols: Vec<SymbolSpec>,
    /// Taker orders per second per symbol, in universe order.
    pub orders_per_second: Vec<f64>,
    /// Book changes per second per symbol, in universe order.
    pub book_changes_per_second: Vec<f64>,
    /// Spacing of orders and book changes.
    pub arrivals: Arrivals,
    /// Ticker family period.
    #[serde(with = "duration_text")]
    pub ticker_period: Duration,
    /// Kline period.
    #[serde(with = "duration_text")]
    pub kline_period: Duration,
    /// Book and trade simulation parameters.
    #[serde(skip)]
    pub market: MarketParams,
}

/// The validated mock configuration the server runs with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MockConfig {
    /// Time a client has to send its upgrade request.
    #[serde(with = "duration_text")]
    pub handshake_timeout: Duration,
    /// Messages a connection may have waiting to be written.
    pub outbound_queue: usize,
    /// What a full outbound queue does.
    pub on_queue_full: QueueFullPolicy,
    /// Read buffer bytes per connection.
    pub read_buffer: usize,
    /// Unknown `timeUnit` values.
    pub invalid_time_unit: InvalidTimeUnit,
    /// Unknown symbols in SUBSCRIBE.
    pub unknown_symbols: UnknownSymbols,
    /// Malformed stream names in SUBSCRIBE.
    pub malformed_stream: MalformedStream,
    /// URLs over the stream limit.
    pub url_over_limit: UrlOverLimit,
    /// Time a client has to answer a server close frame.
    #[serde(with = "duration_text")]
    pub close_grace: Duration,
    /// Kernel send buffer per accepted socket (`None`: the OS default).
    pub send_buffer: Option<usize>,
    /// Pings and pongs.
    pub heartbeat: Heartbeat,
    /// Binance's limits.
    pub limits: Limits,
    /// The simulated market.
    pub feed: FeedConfig,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig::from_raw(&RawMockConfig::default()).unwrap_or_else(|_| unreachable_defaults())
    }
}

/// The defaults are constants that validate; this is never reached (kept panic-free for the lints).
fn unreachable_defaults() -> MockConfig {
    let feed = RawFeed::default();
    MockConfig {
        handshake_timeout: Duration::from_secs(10),
        outbound_queue: 1024,
        on_queue_full: QueueFullPolicy::Drop,
        read_buffer: 2048,
        invalid_time_unit: InvalidTimeUnit::Reject,
        unknown_symbols: UnknownSymbols::Accept,
        malformed_stream: MalformedStream::Error,
        url_over_limit: UrlOverLimit::Reject,
        close_grace: Duration::from_secs(2),
        send_buffer: None,
        heartbeat: heartbeat(&RawHeartbeat::default()),
        limits: limits(&RawLimits::default()),
        feed: feed_config(&feed, &mut Vec::new()),
    }
}

impl MockConfig {
    /// Validates a raw configuration, collecting every problem with its key path.
    pub fn from_raw(raw: &RawMockConfig) -> Result<MockConfig, Vec<KeyIssue>> {
        let mut issues = Vec::new();
        let server = raw.server.clone().unwrap_or_default();
        let raw_heartbeat = raw.heartbeat.clone().unwrap_or_default();
        let raw_limits = raw.limits.clone().unwrap_or_default();
        check_server(&server, &mut issues);
        check_heartbeat(&raw_heartbeat, &mut issues);
        check_limits(&raw_limits, &mut issues);
        let feed = feed_config(&raw.feed.clone().unwrap_or_default(), &mut issues);
        let config = MockConfig {
            handshake_timeout: server.handshake_timeout.map_or(Duration::from_secs(10), |d| d.0),
            outbound_queue: server.outbound_queue.unwrap_or(1024),
            on_queue_full: server.on_queue_full.unwrap_or(QueueFullPolicy::Drop),
            read_buffer: server.read_buffer.unwrap_or(2048),
            invalid_time_unit: server.invalid_time_unit.unwrap_or(InvalidTimeUnit::Reject),
            unknown_symbols: server.unknown_symbols.unwrap_or(UnknownSymbols::Accept),
            malformed_stream: server.malformed_stream.unwrap_or(MalformedStream::Error),
            url_over_limit: server.url_over_limit.unwrap_or(UrlOverLimit::Reject),
            close_grace: server.close_grace.map_or(Duration::from_secs(2), |d| d.0),
            send_buffer: server.send_buffer,
            heartbeat: heartbeat(&raw_heartbeat),
            limits: limits(&raw_limits),
            feed,
        };
        if issues.is_empty() { Ok(config) } else { Err(issues) }
    }

    /// The symbol names of the universe, for strict SUBSCRIBE checks.
    pub fn symbol_names(&self) -> HashSet<String> {
        self.feed.symbols.iter().map(|s| s.name.clone()).collect()
    }
}

fn positive_duration(key: &str, value: Option<HumanDuration>, issues: &mut Vec<KeyIssue>) {
    if value.is_some_and(|d| d.0.is_zero()) {
        issues.push(KeyIssue::new(key, "must be longer than zero; write e.g. \"1s\""));
    }
}

fn positive_switch_duration(key: &str, value: Option<Switch<HumanDuration>>, issues: &mut Vec<KeyIssue>) {
    if let Some(Switch::On(d)) = value {
        positive_duration(key, Some(d), issues);
    }
}

fn check_server(server: &RawServer, issues: &mut Vec<KeyIssue>) {
    positive_duration("server.handshake-timeout", server.handshake_timeout, issues);
    positive_duration("server.close-grace", server.close_grace, issues);
    if server.outbound_queue == Some(0) {
        issues.push(KeyIssue::new("server.outbound-queue", "must be at least 1 message"));
    }
    if server.send_buffer.is_some_and(|b| !(1024..=64 << 20).contains(&b)) {
        issues.push(KeyIssue::new("server.send-buffer", "must be between 1024 and 67108864 bytes"));
    }
    if server.read_buffer.is_some_and(|b| !(256..=1 << 20).contains(&b)) {
        issues.push(KeyIssue::new("server.read-buffer", "must be between 256 and 1048576 bytes"));
    }
}

fn check_heartbeat(heartbeat: &RawHeartbeat, issues: &mut Vec<KeyIssue>) {
    positive_switch_duration("heartbeat.ping-interval", heartbeat.ping_interval, issues);
    positive_switch_duration("heartbeat.pong-timeout", heartbeat.pong_timeout, issues);
}

fn check_rate(key: &str, rate: Option<Switch<RawRate>>, issues: &mut Vec<KeyIssue>) {
    if let Some(Switch::On(rate)) = rate {
        if rate.max == 0 {
            issues.push(KeyIssue::new(format!("{key}.max"), "must be at least 1; use \"off\" to switch the limit off"));
        }
        positive_duration(&format!("{key}.window"), Some(rate.window), issues);
    }
}

fn check_limits(limits: &RawLimits, issues: &mut Vec<KeyIssue>) {
    check_rate("limits.message-rate", limits.message_rate, issues);
    check_rate("limits.connect-attempts", limits.connect_attempts, issues);
    positive_switch_duration("limits.max-lifetime", limits.max_lifetime, issues);
    for (key, value) in [
        ("limits.streams-per-connection", limits.streams_per_connection),
        ("limits.max-message-size", limits.max_message_size),
        ("limits.max-url-length", limits.max_url_length),
    ] {
        if value == Some(Switch::On(0)) {
            issues.push(KeyIssue::new(key, "must be at least 1; use \"off\" to switch the limit off"));
        }
    }
    if let Some(code) = limits.lifetime_close_code {
        if !crate::mock::close::is_sendable_close_code(code) {
            issues.push(KeyIssue::new(
                "limits.lifetime-close-code",
                format!("{code} cannot be sent in a close frame; use 1000-1003, 1007-1014 or 3000-4999"),
            ));
        }
    }
}

fn heartbeat(raw: &RawHeartbeat) -> Heartbeat {
    Heartbeat {
        ping_interval: switch_duration(raw.ping_interval, Duration::from_secs(20)),
        pong_timeout: switch_duration(raw.pong_timeout, Duration::from_secs(60)),
        on_pong_timeout: raw.on_pong_timeout.unwrap_or(PongTimeoutAction::Close),
        strict_pong_payload: raw.strict_pong_payload.unwrap_or(false),
    }
}

fn limits(raw: &RawLimits) -> Limits {
    Limits {
        message_rate: switch_rate(raw.message_rate, 5, Duration::from_secs(1)),
        streams_per_connection: switch_value(raw.streams_per_connection, 1024),
        connect_attempts: switch_rate(raw.connect_attempts, 300, Duration::from_secs(300)),
        max_lifetime: switch_duration(raw.max_lifetime, Duration::from_secs(24 * 3600)),
        lifetime_close_code: raw.lifetime_close_code.unwrap_or(1001),
        max_message_size: switch_value(raw.max_message_size, 8192),
        max_url_length: switch_value(raw.max_url_length, 8192),
    }
}

fn switch_value<T: Copy>(value: Option<Switch<T>>, default: T) -> Option<T> {
    value.unwrap_or(Switch::On(default)).value()
}

fn switch_duration(value: Option<Switch<HumanDuration>>, default: Duration) -> Option<Duration> {
    value.unwrap_or(Switch::On(HumanDuration(default))).value().map(|d| d.0)
}

fn switch_rate(value: Option<Switch<RawRate>>, max: u32, window: Duration) -> Option<Rate> {
    let default = RawRate { max, window: HumanDuration(window) };
    value.unwrap_or(Switch::On(default)).value().map(|r| Rate { max: r.max, window: r.window.0 })
}

fn check_rate_value(key: &str, value: Option<f64>, issues: &mut Vec<KeyIssue>) {
    if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
        issues.push(KeyIssue::new(key, "must be a finite number of events per second, 0 or more"));
    }
}

fn feed_symbols(raw: &RawFeed, issues: &mut Vec<KeyIssue>) -> Vec<SymbolSpec> {
    let Some(names) = &raw.symbols else {
        return default_universe();
    };
    if names.is_empty() {
        issues.push(KeyIssue::new("feed.symbols", "must name at least one symbol, e.g. [\"btcusdt\"]"));
    }
    let universe = default_universe();
    let mut seen = HashSet::new();
    let mut symbols = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let key = format!("feed.symbols[{i}]");
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
            issues.push(KeyIssue::new(key, format!("{name:?} is not a lowercase symbol such as \"btcusdt\"")));
            continue;
        }
        if !seen.insert(name.clone()) {
            issues.push(KeyIssue::new(key, format!("{name:?} is listed twice")));
            continue;
        }
        let known = universe.iter().find(|s| &s.name == name).cloned();
        symbols.push(known.unwrap_or_else(|| SymbolSpec::generic(name)));
    }
    symbols
}

fn feed_config(raw: &RawFeed, issues: &mut Vec<KeyIssue>) -> FeedConfig {
    check_rate_value("feed.orders-per-second", raw.orders_per_second, issues);
    check_rate_value("feed.book-changes-per-second", raw.book_changes_per_second, issues);
    check_rate_value("feed.popularity-exponent", raw.popularity_exponent, issues);
    positive_duration("feed.ticker-period", raw.ticker_period, issues);
    positive_duration("feed.kline-period", raw.kline_period, issues);
    if raw.book_levels.is_some_and(|l| !(20..=5000).contains(&l)) {
        issues.push(KeyIssue::new("feed.book-levels", "must be between 20 and 5000 levels per side"));
    }
    if raw.block_trade_probability.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
        issues.push(KeyIssue::new("feed.block-trade-probability", "must be between 0 and 1"));
    }
    let symbols = feed_symbols(raw, issues);
    let overrides = raw.symbol_rates.clone().unwrap_or_default();
    for (name, rate) in &overrides {
        let key = format!("feed.symbol-rates.{name}");
        if !symbols.iter().any(|s| &s.name == name) {
            issues.push(KeyIssue::new(
                key.clone(),
                format!("{name:?} is not in feed.symbols; add it there or remove this override"),
            ));
        }
        check_rate_value(&format!("{key}.orders-per-second"), rate.orders_per_second, issues);
        check_rate_value(&format!("{key}.book-changes-per-second"), rate.book_changes_per_second, issues);
    }
    let exponent = raw.popularity_exponent.unwrap_or(1.0);
    let per_symbol = |top: f64, pick: fn(&SymbolRate) -> Option<f64>| -> Vec<f64> {
        symbols
            .iter()
            .enumerate()
            .map(|(rank, s)| {
                let by_rank = top / ((rank + 1) as f64).powf(exponent);
                overrides.get(&s.name).and_then(pick).unwrap_or(by_rank)
            })
            .collect()
    };
    let orders = per_symbol(raw.orders_per_second.unwrap_or(10.0), |r| r.orders_per_second);
    let book = per_symbol(raw.book_changes_per_second.unwrap_or(20.0), |r| r.book_changes_per_second);
    let defaults = MarketParams::default();
    FeedConfig {
        market: MarketParams {
            book_levels: raw.book_levels.unwrap_or(defaults.book_levels),
            block_trade_probability: raw.block_trade_probability.unwrap_or(defaults.block_trade_probability),
            ..defaults
        },
        symbols,
        orders_per_second: orders,
        book_changes_per_second: book,
        arrivals: raw.arrivals.unwrap_or(Arrivals::Fixed),
        ticker_period: raw.ticker_period.map_or(Duration::from_secs(1), |d| d.0),
        kline_period: raw.kline_period.map_or(Duration::from_secs(2), |d| d.0),
    }
}

mod duration_text {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

mod opt_duration_text {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_str("off"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MockConfig, Vec<KeyIssue>> {
        let raw: RawMockConfig = toml::from_str(text).unwrap();
        MockConfig::from_raw(&raw)
    }

    #[test]
    fn defaults_are_binance_spot() {
        let c = MockConfig::default();
        assert_eq!(c.limits.message_rate, Some(Rate { max: 5, window: Duration::from_secs(1) }));
        assert_eq!(c.limits.streams_per_connection, Some(1024));
        assert_eq!(c.limits.connect_attempts, Some(Rate { max: 300, window: Duration::from_secs(300) }));
        assert_eq!(c.limits.max_lifetime, Some(Duration::from_secs(86_400)));
        assert_eq!(c.heartbeat.ping_interval, Some(Duration::from_secs(20)));
        assert_eq!(c.heartbeat.pong_timeout, Some(Duration::from_secs(60)));
        assert!(c.feed.symbols.len() >= 20);
        assert_eq!(c.feed.symbols[0].name, "btcusdt");
        assert!(c.feed.orders_per_second[0] > c.feed.orders_per_second[10], "hot symbols trade more");
    }

    #[test]
    fn every_limit_can_be_switched_off() {
        let c = parse(
            "[limits]\nmessage-rate = \"off\"\nstreams-per-connection = \"off\"\nconnect-attempts = \"off\"\n\
             max-lifetime = \"off\"\nmax-message-size = \"off\"\nmax-url-length = \"off\"\n\
             [heartbeat]\nping-interval = \"off\"\npong-timeout = \"off\"\n",
        )
        .unwrap();
        assert_eq!(c.limits.message_rate, None);
        assert_eq!(c.limits.streams_per_connection, None);
        assert_eq!(c.limits.connect_attempts, None);
        assert_eq!(c.limits.max_lifetime, None);
        assert_eq!(c.limits.max_message_size, None);
        assert_eq!(c.limits.max_url_length, None);
        assert_eq!(c.heartbeat.ping_interval, None);
    }

    #[test]
    fn collects_every_problem_with_its_key() {
        let issues = parse(
            "[limits]\nmessage-rate = { max = 0, window = \"1s\" }\nlifetime-close-code = 1006\n\
             [feed]\nsymbols = [\"btcusdt\", \"BTC\", \"btcusdt\"]\norders-per-second = -1.0\n\
             [feed.symbol-rates.dogeusdt]\norders-per-second = 5.0\n",
        )
        .unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "limits.message-rate.max",
                "limits.lifetime-close-code",
                "feed.orders-per-second",
                "feed.symbols[1]",
                "feed.symbols[2]",
                "feed.symbol-rates.dogeusdt",
            ]
        );
    }

    #[test]
    fn per_symbol_overrides_win_over_popularity() {
        let c = parse(
            "[feed]\nsymbols = [\"btcusdt\", \"ethusdt\"]\norders-per-second = 8.0\npopularity-exponent = 1.0\n\
             [feed.symbol-rates.ethusdt]\norders-per-second = 50.0\n",
        )
        .unwrap();
        assert_eq!(c.feed.orders_per_second, vec![8.0, 50.0]);
        assert_eq!(c.feed.book_changes_per_second, vec![20.0, 10.0]);
    }
}
