//! The Binance spot stream-name grammar (`btcusdt@trade`, `btcusdt@depth20@100ms`, `!miniTicker@arr`, …).
//!
//! Owns parsing a subscribed name into a [`StreamSpec`] and nothing else: it knows no symbols, no sockets
//! and no payloads. A name that does not match the grammar is [`None`]; the caller decides whether that is
//! an error (live SUBSCRIBE) or silence (a token in the URL path).

use std::fmt;

/// Kline intervals accepted after `@kline_` (`1M` is a month, `1m` a minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum KlineInterval {
    /// `1s`
    S1,
    /// `1m`
    M1,
    /// `3m`
    M3,
    /// `5m`
    M5,
    /// `15m`
    M15,
    /// `30m`
    M30,
    /// `1h`
    H1,
    /// `2h`
    H2,
    /// `4h`
    H4,
    /// `6h`
    H6,
    /// `8h`
    H8,
    /// `12h`
    H12,
    /// `1d`
    D1,
    /// `3d`
    D3,
    /// `1w`
    W1,
    /// `1M` (calendar month)
    Month1,
}

impl KlineInterval {
    /// Every interval with its wire token, in Binance's order.
    pub const ALL: [(KlineInterval, &'static str); 16] = [
        (Self::S1, "1s"),
        (Self::M1, "1m"),
        (Self::M3, "3m"),
        (Self::M5, "5m"),
        (Self::M15, "15m"),
        (Self::M30, "30m"),
        (Self::H1, "1h"),
        (Self::H2, "2h"),
        (Self::H4, "4h"),
        (Self::H6, "6h"),
        (Self::H8, "8h"),
        (Self::H12, "12h"),
        (Self::D1, "1d"),
        (Self::D3, "3d"),
        (Self::W1, "1w"),
        (Self::Month1, "1M"),
    ];

    /// Parses the wire token (`1m`, `1M`, …).
    pub fn parse(token: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, t)| *t == token).map(|(i, _)| *i)
    }

    /// The wire token (`"1m"`).
    pub fn token(self) -> &'static str {
        Self::ALL.iter().find(|(i, _)| *i == self).map(|(_, t)| *t).unwrap_or("1m")
    }

    /// Fixed length in seconds; `None` for the calendar month.
    pub fn fixed_seconds(self) -> Option<u64> {
        let minute = 60;
        let hour = 3600;
        let day = 86_400;
        Some(match self {
            Self::S1 => 1,
            Self::M1 => minute,
            Self::M3 => 3 * minute,
            Self::M5 => 5 * minute,
            Self::M15 => 15 * minute,
            Self::M30 => 30 * minute,
            Self::H1 => hour,
            Self::H2 => 2 * hour,
            Self::H4 => 4 * hour,
            Self::H6 => 6 * hour,
            Self::H8 => 8 * hour,
            Self::H12 => 12 * hour,
            Self::D1 => day,
            Self::D3 => 3 * day,
            Self::W1 => 7 * day,
            Self::Month1 => return None,
        })
    }
}

/// The rolling windows of `@ticker_<w>` and `!ticker_<w>@arr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum TickerWindow {
    /// `1h`
    H1,
    /// `4h`
    H4,
    /// `1d`
    D1,
}

impl TickerWindow {
    fn parse(token: &str) -> Option<Self> {
        match token {
            "1h" => Some(Self::H1),
            "4h" => Some(Self::H4),
            "1d" => Some(Self::D1),
            _ => None,
        }
    }

    /// The wire token (`"1h"`).
    pub fn token(self) -> &'static str {
        match self {
            Self::H1 => "1h",
            Self::H4 => "4h",
            Self::D1 => "1d",
        }
    }

    /// Window length in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            Self::H1 => 3600,
            Self::H4 => 4 * 3600,
            Self::D1 => 86_400,
        }
    }
}

/// Update speed of the depth streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum DepthSpeed {
    /// `@100ms`
    Ms100,
    /// no suffix, or the undocumented `@1000ms` the official connectors send
    Ms1000,
}

impl DepthSpeed {
    /// The update period in milliseconds.
    pub fn millis(self) -> u64 {
        match self {
            Self::Ms100 => 100,
            Self::Ms1000 => 1000,
        }
    }
}

/// Levels of a partial book depth stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum DepthLevels {
    /// `depth5`
    L5,
    /// `depth10`
    L10,
    /// `depth20`
    L20,
}

impl DepthLevels {
    /// The number of levels per side.
    pub fn count(self) -> usize {
        match self {
            Self::L5 => 5,
            Self::L10 => 10,
            Self::L20 => 20,
        }
    }
}

/// What kind of events a stream carries. Per-symbol kinds pair with a symbol in [`StreamSpec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum StreamKind {
    /// `<s>@trade`
    Trade,
    /// `<s>@aggTrade`
    AggTrade,
    /// `<s>@blockTrade`
    BlockTrade,
    /// `<s>@kline_<i>`, with `utc8` for the `@+08:00` variant
    Kline {
        /// the candle interval
        interval: KlineInterval,
        /// intervals open on UTC+8 boundaries
        utc8: bool,
    },
    /// `<s>@miniTicker`
    MiniTicker,
    /// `<s>@ticker`
    Ticker,
    /// `<s>@ticker_<w>`
    RollingTicker(TickerWindow),
    /// `<s>@bookTicker`
    BookTicker,
    /// `<s>@avgPrice`
    AvgPrice,
    /// `<s>@referencePrice`
    ReferencePrice,
    /// `<s>@depth<N>[@100ms|@1000ms]`
    PartialDepth(DepthLevels, DepthSpeed),
    /// `<s>@depth[@100ms|@1000ms]`
    DiffDepth(DepthSpeed),
    /// `!miniTicker@arr` (also `@1000ms`)
    AllMiniTickers,
    /// `!ticker@arr` (deprecated, still served)
    AllTickers,
    /// `!ticker_<w>@arr`
    AllRollingTickers(TickerWindow),
}

impl StreamKind {
    /// True for the all-market array streams, which have no symbol.
    pub fn is_all_market(self) -> bool {
        matches!(self, Self::AllMiniTickers | Self::AllTickers | Self::AllRollingTickers(_))
    }

    /// True for the real-time kinds, whose events follow trades and book updates rather than a timer.
    pub fn is_real_time(self) -> bool {
        matches!(self, Self::Trade | Self::AggTrade | Self::BlockTrade | Self::BookTicker)
    }
}

/// A parsed stream name: an optional lowercase symbol and the kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamSpec {
    /// Lowercase symbol (`btcusdt`); `None` for all-market streams.
    pub symbol: Option<String>,
    /// What the stream carries.
    pub kind: StreamKind,
}

impl StreamSpec {
    /// Parses a stream name as a client subscribes it. Returns `None` when the name is not in the grammar
    /// (uppercase symbols included: Binance serves nothing for them).
    pub fn parse(name: &str) -> Option<StreamSpec> {
        if let Some(rest) = name.strip_prefix('!') {
            return parse_all_market(rest).map(|kind| StreamSpec { symbol: None, kind });
        }
        let (symbol, kind_part) = name.split_once('@')?;
        if !is_symbol(symbol) {
            return None;
        }
        let kind = parse_symbol_kind(kind_part)?;
        Some(StreamSpec { symbol: Some(symbol.to_owned()), kind })
    }
}

impl fmt::Display for StreamSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.symbol {
            Some(s) => write!(f, "{s}@{:?}", self.kind),
            None => write!(f, "!{:?}", self.kind),
        }
    }
}

/// `[a-z0-9]+`: Binance lowercases symbols in stream names; anything else opens silently.
fn is_symbol(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn parse_speed(suffix: Option<&str>) -> Option<DepthSpeed> {
    match suffix {
        None | Some("1000ms") => Some(DepthSpeed::Ms1000),
        Some("100ms") => Some(DepthSpeed::Ms100),
        Some(_) => None,
    }
}

fn parse_symbol_kind(part: &str) -> Option<StreamKind> {
    let (head, suffix) = match part.split_once('@') {
        Some((h, s)) => (h, Some(s)),
        None => (part, None),
    };
    let plain = |kind: StreamKind| suffix.is_none().then_some(kind);
    match head {
        "trade" => plain(StreamKind::Trade),
        "aggTrade" => plain(StreamKind::AggTrade),
        "blockTrade" => plain(StreamKind::BlockTrade),
        "miniTicker" => plain(StreamKind::MiniTicker),
        "ticker" => plain(StreamKind::Ticker),
        "bookTicker" => plain(StreamKind::BookTicker),
        "avgPrice" => plain(StreamKind::AvgPrice),
        "referencePrice" => plain(StreamKind::ReferencePrice),
        "depth" => parse_speed(suffix).map(StreamKind::DiffDepth),
        "depth5" => parse_speed(suffix).map(|s| StreamKind::PartialDepth(DepthLevels::L5, s)),
        "depth10" => parse_speed(suffix).map(|s| StreamKind::PartialDepth(DepthLevels::L10, s)),
        "depth20" => parse_speed(suffix).map(|s| StreamKind::PartialDepth(DepthLevels::L20, s)),
        _ => parse_prefixed_kind(head, suffix),
    }
}

fn parse_prefixed_kind(head: &str, suffix: Option<&str>) -> Option<StreamKind> {
    if let Some(interval) = head.strip_prefix("kline_") {
        let interval = KlineInterval::parse(interval)?;
        let utc8 = match suffix {
            None => false,
            Some("+08:00") => true,
            Some(_) => return None,
        };
        return Some(StreamKind::Kline { interval, utc8 });
    }
    if let Some(window) = head.strip_prefix("ticker_") {
        let window = TickerWindow::parse(window)?;
        return suffix.is_none().then_some(StreamKind::RollingTicker(window));
    }
    None
}

fn parse_all_market(rest: &str) -> Option<StreamKind> {
    match rest {
        "miniTicker@arr" | "miniTicker@arr@1000ms" => Some(StreamKind::AllMiniTickers),
        "ticker@arr" => Some(StreamKind::AllTickers),
        _ => {
            let window = rest.strip_prefix("ticker_")?.strip_suffix("@arr")?;
            TickerWindow::parse(window).map(StreamKind::AllRollingTickers)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> Option<StreamKind> {
        StreamSpec::parse(name).map(|s| s.kind)
    }

    #[test]
    fn parses_every_documented_kind() {
        assert_eq!(kind("btcusdt@trade"), Some(StreamKind::Trade));
        assert_eq!(kind("btcusdt@aggTrade"), Some(StreamKind::AggTrade));
        assert_eq!(kind("bnbbtc@blockTrade"), Some(StreamKind::BlockTrade));
        assert_eq!(kind("btcusdt@kline_1M"), Some(StreamKind::Kline { interval: KlineInterval::Month1, utc8: false }));
        assert_eq!(
            kind("btcusdt@kline_1d@+08:00"),
            Some(StreamKind::Kline { interval: KlineInterval::D1, utc8: true })
        );
        assert_eq!(kind("btcusdt@ticker_4h"), Some(StreamKind::RollingTicker(TickerWindow::H4)));
        assert_eq!(kind("btcusdt@depth20@100ms"), Some(StreamKind::PartialDepth(DepthLevels::L20, DepthSpeed::Ms100)));
        assert_eq!(kind("btcusdt@depth@1000ms"), Some(StreamKind::DiffDepth(DepthSpeed::Ms1000)));
        assert_eq!(kind("!miniTicker@arr@1000ms"), Some(StreamKind::AllMiniTickers));
        assert_eq!(kind("!ticker_1d@arr"), Some(StreamKind::AllRollingTickers(TickerWindow::D1)));
        assert_eq!(StreamSpec::parse("!ticker@arr").and_then(|s| s.symbol), None);
    }

    #[test]
    fn rejects_names_outside_the_grammar() {
        for bad in [
            "BTCUSDT@trade",
            "btcusdt@Trade",
            "btcusdt",
            "@trade",
            "btcusdt@kline_2m",
            "btcusdt@depth15",
            "btcusdt@depth@250ms",
            "btcusdt@trade@100ms",
            "btcusdt@kline_1m@+09:00",
            "!bookTicker",
            "not asdfads",
            "0",
        ] {
            assert_eq!(StreamSpec::parse(bad), None, "{bad} should not parse");
        }
    }
}
