//! Event payloads of the timer-driven streams: kline, miniTicker, ticker, rolling-window ticker, avgPrice
//! and referencePrice.
//!
//! Like the trade payloads, each holds [`Micros`] and renders Binance's exact keys, key order and JSON
//! types; derived fields (price change, change percent, weighted average) are computed while rendering.

use std::sync::Arc;

use super::decimal::{Decimal8, Volume8};
use super::json::JsonObject;
use super::payload::{Level8, Payload, impl_payload};
use super::trade_stats::WindowStats;
use crate::mock::stream_name::{KlineInterval, TickerWindow};
use crate::mock::time::{Micros, TimeUnit};

impl_payload!(Kline, MiniTicker, Ticker, RollingTicker, AvgPrice, ReferencePrice);

/// `<symbol>@kline_<interval>[@+08:00]`: the candle containing the event time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kline {
    /// Uppercase symbol.
    pub symbol: Arc<str>,
    /// `E`.
    pub event_time: Micros,
    /// `i`.
    pub interval: KlineInterval,
    /// `t`.
    pub open_time: Micros,
    /// Open time of the next candle; `T` renders as this minus one unit.
    pub next_open: Micros,
    /// `f`, -1 with no trades.
    pub first_trade_id: i64,
    /// `L`, -1 with no trades.
    pub last_trade_id: i64,
    /// `o`, `h`, `l`, `c`.
    pub ohlc: [Decimal8; 4],
    /// `v`, `q`, `V`, `Q`: base, quote, taker-buy base and taker-buy quote volumes.
    pub volumes: [Volume8; 4],
    /// `n`.
    pub trades: u64,
    /// `x`.
    pub closed: bool,
}

impl Kline {
    /// `{"e":"kline","E":…,"s":…,"k":{"t","T","s","i","f","L","o","c","h","l","v","n","x","q","V","Q","B"}}`.
    pub fn render(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        JsonObject::begin(out)
            .str("e", "kline")
            .uint("E", unit.convert(self.event_time))
            .str("s", &self.symbol)
            .nested("k", |out| self.render_candle(unit, out))
            .end();
    }

    fn render_candle(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        let [open, high, low, close] = self.ohlc;
        let [volume, quote, taker_volume, taker_quote] = self.volumes;
        JsonObject::begin(out)
            .uint("t", unit.convert(self.open_time))
            .uint("T", unit.convert(self.next_open).saturating_sub(1))
            .str("s", &self.symbol)
            .str("i", self.interval.token())
            .int("f", self.first_trade_id)
            .int("L", self.last_trade_id)
            .dec("o", open)
            .dec("c", close)
            .dec("h", high)
            .dec("l", low)
            .vol("v", volume)
            .uint("n", self.trades)
            .bool("x", self.closed)
            .vol("q", quote)
            .vol("V", taker_volume)
            .vol("Q", taker_quote)
            .str("B", "0")
            .end();
    }

    /// Kline events carry no sequence id.
    pub fn seq(&self) -> u64 {
        0
    }
}

/// `<symbol>@miniTicker`; `!miniTicker@arr` is an array of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiniTicker {
    /// Uppercase symbol.
    pub symbol: Arc<str>,
    /// `E`.
    pub event_time: Micros,
    /// The last 24 hours.
    pub stats: WindowStats,
}

impl MiniTicker {
    /// `{"e":"24hrMiniTicker","E":…,"s":…,"c":…,"o":…,"h":…,"l":…,"v":…,"q":…}`.
    pub fn render(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        let s = &self.stats;
        JsonObject::begin(out)
            .str("e", "24hrMiniTicker")
            .uint("E", unit.convert(self.event_time))
            .str("s", &self.symbol)
            .dec("c", s.close)
            .dec("o", s.open)
            .dec("h", s.high)
            .dec("l", s.low)
            .vol("v", s.volume)
            .vol("q", s.quote_volume)
            .end();
    }

    /// Tickers carry no sequence id.
    pub fn seq(&self) -> u64 {
        0
    }
}

/// `close - open` and the change in thousandths of a percent.
fn change(s: &WindowStats) -> (Decimal8, i128) {
    let diff = s.close.0 - s.open.0;
    let percent = match s.open.0 {
        0 => 0,
        open => i128::from(diff) * 100_000 / i128::from(open),
    };
    (Decimal8(diff), percent)
}

/// `<symbol>@ticker`; `!ticker@arr` is an array of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticker {
    /// Uppercase symbol.
    pub symbol: Arc<str>,
    /// `E`.
    pub event_time: Micros,
    /// The last 24 hours (`stats.open` is also `x`, the last price before the window).
    pub stats: WindowStats,
    /// `Q`: quantity of the last trade.
    pub last_qty: Decimal8,
    /// `b`, `B`.
    pub bid: Level8,
    /// `a`, `A`.
    pub ask: Level8,
}

impl Ticker {
    /// `{"e":"24hrTicker","E","s","p","P","w","x","c","Q","b","B","a","A","o","h","l","v","q","O","C","F","L","n"}`.
    pub fn render(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        let s = &self.stats;
        let (diff, percent) = change(s);
        JsonObject::begin(out)
            .str("e", "24hrTicker")
            .uint("E", unit.convert(self.event_time))
            .str("s", &self.symbol)
            .dec("p", diff)
            .fixed("P", percent, 3)
            .dec("w", s.weighted_avg())
            .dec("x", s.open)
            .dec("c", s.close)
            .dec("Q", self.last_qty)
            .dec("b", self.bid.0)
            .dec("B", self.bid.1)
            .dec("a", self.ask.0)
            .dec("A", self.ask.1)
            .dec("o", s.open)
            .dec("h", s.high)
            .dec("l", s.low)
            .vol("v", s.volume)
            .vol("q", s.quote_volume)
            .uint("O", unit.convert(s.open_time))
            .uint("C", unit.convert(s.close_time))
            .int("F", s.first_id)
            .int("L", s.last_id)
            .uint("n", s.count)
            .end();
    }

    /// Tickers carry no sequence id.
    pub fn seq(&self) -> u64 {
        0
    }
}

/// `<symbol>@ticker_<w>`; `!ticker_<w>@arr` is an array of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollingTicker {
    /// Uppercase symbol.
    pub symbol: Arc<str>,
    /// `E`.
    pub event_time: Micros,
    /// The window (`e` is `1hTicker`, `4hTicker` or `1dTicker`).
    pub window: TickerWindow,
    /// Statistics since `O`, a minute boundary.
    pub stats: WindowStats,
}

impl RollingTicker {
    /// `{"e":"1hTicker","E","s","p","P","o","h","l","c","w","v","q","O","C","F","L","n"}`.
    pub fn render(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        let s = &self.stats;
        let (diff, percent) = change(s);
        let event = match self.window {
            TickerWindow::H1 => "1hTicker",
            TickerWindow::H4 => "4hTicker",
            TickerWindow::D1 => "1dTicker",
        };
        JsonObject::begin(out)
            .str("e", event)
            .uint("E", unit.convert(self.event_time))
            .str("s", &self.symbol)
            .dec("p", diff)
            .fixed("P", percent, 3)
            .dec("o", s.open)
            .dec("h", s.high)
            .dec("l", s.low)
            .dec("c", s.close)
            .dec("w", s.weighted_avg())
            .vol("v", s.volume)
            .vol("q", s.quote_volume)
            .uint("O", unit.convert(s.open_time))
            .uint("C", unit.convert(s.close_time))
            .int("F", s.first_id)
            .int("L", s.last_id)
            .uint("n", s.count)
            .end();
    }

    /// Tickers carry no sequence id.
    pub fn seq(&self) -> u64 {
        0
    }
}

/// `<symbol>@avgPrice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvgPrice {
    /// Uppercase symbol.
    pub symbol: Arc<str>,
    /// `E`.
    pub event_time: Micros,
    /// `w`: volume-weighted average price over the last 5 minutes.
    pub price: Decimal8,
    /// `T`: time of the last trade.
    pub last_trade_time: Micros,
}

impl AvgPrice {
    /// `{"e":"avgPrice","E":…,"s":…,"i":"5m","w":…,"T":…}`.
    pub fn render(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        JsonObject::begin(out)
            .str("e", "avgPrice")
            .uint("E", unit.convert(self.event_time))
            .str("s", &self.symbol)
            .str("i", "5m")
            .dec("w", self.price)
            .uint("T", unit.convert(self.last_trade_time))
            .end();
    }

    /// avgPrice carries no sequence id.
    pub fn seq(&self) -> u64 {
        0
    }
}

/// `<symbol>@referencePrice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencePrice {
    /// Uppercase symbol.
    pub symbol: Arc<str>,
    /// `r`; `None` renders `null`.
    pub price: Option<Decimal8>,
    /// `t`.
    pub time: Micros,
}

impl ReferencePrice {
    /// `{"e":"referencePrice","s":…,"r":…,"t":…}` (no `E`).
    pub fn render(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        let obj = JsonObject::begin(out).str("e", "referencePrice").str("s", &self.symbol);
        let obj = match self.price {
            Some(price) => obj.dec("r", price),
            None => obj.null("r"),
        };
        obj.uint("t", unit.convert(self.time)).end();
    }

    /// referencePrice carries no sequence id.
    pub fn seq(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::market::payload::tests::{E, text};

    fn sym() -> Arc<str> {
        Arc::from("BNBBTC")
    }

    fn stats() -> WindowStats {
        WindowStats {
            open: Decimal8(100_000),
            high: Decimal8(300_000),
            low: Decimal8(90_000),
            close: Decimal8(250_000),
            volume: Volume8(1_000_000_000_000),
            quote_volume: Volume8(18 * 100_000_000),
            first_id: 0,
            last_id: 18150,
            count: 18151,
            open_time: 1_672_429_382_136_123,
            close_time: E,
        }
    }

    #[test]
    fn kline_renders_exactly() {
        let k = Kline {
            symbol: sym(),
            event_time: E,
            interval: KlineInterval::M1,
            open_time: 1_672_515_780_000_000,
            next_open: 1_672_515_840_000_000,
            first_trade_id: -1,
            last_trade_id: -1,
            ohlc: [Decimal8(100_000), Decimal8(250_000), Decimal8(90_000), Decimal8(200_000)],
            volumes: [Volume8(1), Volume8(2), Volume8(3), Volume8(4)],
            trades: 0,
            closed: false,
        };
        let ms = r#"{"e":"kline","E":1672515782136,"s":"BNBBTC","k":{"t":1672515780000,"T":1672515839999,"s":"BNBBTC","i":"1m","f":-1,"L":-1,"o":"0.00100000","c":"0.00200000","h":"0.00250000","l":"0.00090000","v":"0.00000001","n":0,"x":false,"q":"0.00000002","V":"0.00000003","Q":"0.00000004","B":"0"}}"#;
        assert_eq!((text(&k, TimeUnit::Millisecond), k.seq()), (ms.into(), 0));
        let us = text(&k, TimeUnit::Microsecond);
        assert!(us.contains(r#""E":1672515782136123,"#));
        assert!(us.contains(r#""t":1672515780000000,"T":1672515839999999,"#));
    }

    #[test]
    fn tickers_render_exactly() {
        let mini = MiniTicker { symbol: sym(), event_time: E, stats: stats() };
        let json = r#"{"e":"24hrMiniTicker","E":1672515782136,"s":"BNBBTC","c":"0.00250000","o":"0.00100000","h":"0.00300000","l":"0.00090000","v":"10000.00000000","q":"18.00000000"}"#;
        assert_eq!(text(&mini, TimeUnit::Millisecond), json);

        let (bid, ask) = ((Decimal8(240_000), Decimal8(1)), (Decimal8(260_000), Decimal8(2)));
        let t = Ticker { symbol: sym(), event_time: E, stats: stats(), last_qty: Decimal8(5), bid, ask };
        let json = r#"{"e":"24hrTicker","E":1672515782136123,"s":"BNBBTC","p":"0.00150000","P":"150.000","w":"0.00180000","x":"0.00100000","c":"0.00250000","Q":"0.00000005","b":"0.00240000","B":"0.00000001","a":"0.00260000","A":"0.00000002","o":"0.00100000","h":"0.00300000","l":"0.00090000","v":"10000.00000000","q":"18.00000000","O":1672429382136123,"C":1672515782136123,"F":0,"L":18150,"n":18151}"#;
        assert_eq!(text(&t, TimeUnit::Microsecond), json);

        let mut falling = stats();
        falling.close = Decimal8(99_000);
        let r = RollingTicker { symbol: sym(), event_time: E, window: TickerWindow::H4, stats: falling };
        let json = r#"{"e":"4hTicker","E":1672515782136,"s":"BNBBTC","p":"-0.00001000","P":"-1.000","o":"0.00100000","h":"0.00300000","l":"0.00090000","c":"0.00099000","w":"0.00180000","v":"10000.00000000","q":"18.00000000","O":1672429382136,"C":1672515782136,"F":0,"L":18150,"n":18151}"#;
        assert_eq!(text(&r, TimeUnit::Millisecond), json);
    }

    #[test]
    fn avg_and_reference_prices_render_exactly() {
        let (event_time, last_trade_time) = (1_693_907_033_000_000, 1_693_907_032_213_000);
        let price = Decimal8(2_577_686_000_000);
        let a = AvgPrice { symbol: Arc::from("BTCUSDT"), event_time, price, last_trade_time };
        let json =
            r#"{"e":"avgPrice","E":1693907033000,"s":"BTCUSDT","i":"5m","w":"25776.86000000","T":1693907032213}"#;
        assert_eq!(text(&a, TimeUnit::Millisecond), json);

        let price = Some(Decimal8(100_000_000));
        let r = ReferencePrice { symbol: Arc::from("BAZUSD"), price, time: 1_770_313_263_917_000 };
        let json = r#"{"e":"referencePrice","s":"BAZUSD","r":"1.00000000","t":1770313263917}"#;
        assert_eq!(text(&r, TimeUnit::Millisecond), json);
        let none = ReferencePrice { price: None, ..r };
        assert_eq!(
            text(&none, TimeUnit::Microsecond),
            r#"{"e":"referencePrice","s":"BAZUSD","r":null,"t":1770313263917000}"#
        );
    }
}
