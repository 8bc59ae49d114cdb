//! Event payloads of the trade and book streams (trade, aggTrade, blockTrade, bookTicker, partial and
//! diff depth) and the [`Payload`] trait shared with the ticker payloads.
//!
//! Each payload holds its times as [`Micros`] and renders compact JSON with Binance's exact keys, key
//! order and JSON types, converting times to the connection's [`TimeUnit`] only while rendering.

use std::sync::Arc;

use super::decimal::Decimal8;
use super::json::JsonObject;
use crate::mock::time::{Micros, TimeUnit};

/// A `(price, quantity)` depth level.
pub type Level8 = (Decimal8, Decimal8);

/// What every event payload offers to the publisher.
pub trait Payload {
    /// Appends the event's compact JSON to `out`.
    fn render(&self, unit: TimeUnit, out: &mut Vec<u8>);
    /// The event's natural sequence id (0 when it has none).
    fn seq(&self) -> u64;
}

/// Appends a JSON array of payloads (`!miniTicker@arr`, `!ticker@arr`, `!ticker_<w>@arr`).
pub fn render_array<T: Payload>(items: &[T], unit: TimeUnit, out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item.render(unit, out);
    }
    out.push(b']');
}

/// Implements [`Payload`] by delegating to the inherent `render` and `seq`.
macro_rules! impl_payload {
    ($($ty:ty),*) => {$(
        impl Payload for $ty {
            fn render(&self, unit: TimeUnit, out: &mut Vec<u8>) {
                <$ty>::render(self, unit, out)
            }
            fn seq(&self) -> u64 {
                <$ty>::seq(self)
            }
        }
    )*};
}
pub(crate) use impl_payload;

impl_payload!(Trade, AggTrade, BlockTrade, BookTicker, PartialDepth, DepthUpdate);

/// `<symbol>@trade`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    /// Uppercase symbol.
    pub symbol: Arc<str>,
    /// `E`.
    pub event_time: Micros,
    /// `t`.
    pub id: u64,
    /// `p`.
    pub price: Decimal8,
    /// `q`.
    pub qty: Decimal8,
    /// `T`.
    pub trade_time: Micros,
    /// `m`: the buyer is the maker (the seller was the taker).
    pub buyer_maker: bool,
}

impl Trade {
    /// `{"e":"trade","E":…,"s":…,"t":…,"p":…,"q":…,"T":…,"m":…,"M":true}`.
    pub fn render(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        JsonObject::begin(out)
            .str("e", "trade")
            .uint("E", unit.convert(self.event_time))
            .str("s", &self.symbol)
            .uint("t", self.id)
            .dec("p", self.price)
            .dec("q", self.qty)
            .uint("T", unit.convert(self.trade_time))
            .bool("m", self.buyer_maker)
            .bool("M", true)
            .end();
    }

    /// The trade id.
    pub fn seq(&self) -> u64 {
        self.id
    }
}

/// `<symbol>@aggTrade`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggTrade {
    /// Uppercase symbol.
    pub symbol: Arc<str>,
    /// `E`.
    pub event_time: Micros,
    /// `a`.
    pub id: u64,
    /// `p`.
    pub price: Decimal8,
    /// `q`: total of the aggregated trades.
    pub qty: Decimal8,
    /// `f`.
    pub first_trade_id: u64,
    /// `l`.
    pub last_trade_id: u64,
    /// `T`.
    pub trade_time: Micros,
    /// `m`.
    pub buyer_maker: bool,
}

impl AggTrade {
    /// `{"e":"aggTrade","E":…,"s":…,"a":…,"p":…,"q":…,"f":…,"l":…,"T":…,"m":…,"M":true}`.
    pub fn render(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        JsonObject::begin(out)
            .str("e", "aggTrade")
            .uint("E", unit.convert(self.event_time))
            .str("s", &self.symbol)
            .uint("a", self.id)
            .dec("p", self.price)
            .dec("q", self.qty)
            .uint("f", self.first_trade_id)
            .uint("l", self.last_trade_id)
            .uint("T", unit.convert(self.trade_time))
            .bool("m", self.buyer_maker)
            .bool("M", true)
            .end();
    }

    /// The aggregate trade id.
    pub fn seq(&self) -> u64 {
        self.id
    }
}

/// `<symbol>@blockTrade`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTrade {
    /// Uppercase symbol.
    pub symbol: Arc<str>,
    /// `E`.
    pub event_time: Micros,
    /// `t`: block trades have their own id sequence.
    pub id: u64,
    /// `p`.
    pub price: Decimal8,
    /// `q`.
    pub qty: Decimal8,
    /// `T`.
    pub trade_time: Micros,
    /// `m`.
    pub buyer_maker: bool,
}

impl BlockTrade {
    /// `{"e":"blockTrade","E":…,"s":…,"t":…,"p":…,"q":…,"T":…,"m":…}` (no `M`).
    pub fn render(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        JsonObject::begin(out)
            .str("e", "blockTrade")
            .uint("E", unit.convert(self.event_time))
            .str("s", &self.symbol)
            .uint("t", self.id)
            .dec("p", self.price)
            .dec("q", self.qty)
            .uint("T", unit.convert(self.trade_time))
            .bool("m", self.buyer_maker)
            .end();
    }

    /// The block trade id.
    pub fn seq(&self) -> u64 {
        self.id
    }
}

/// `<symbol>@bookTicker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookTicker {
    /// `u`: the book's update id.
    pub update_id: u64,
    /// Uppercase symbol.
    pub symbol: Arc<str>,
    /// `b`, `B`.
    pub bid: Level8,
    /// `a`, `A`.
    pub ask: Level8,
}

impl BookTicker {
    /// `{"u":…,"s":…,"b":…,"B":…,"a":…,"A":…}` (no `e`, no `E`).
    pub fn render(&self, _unit: TimeUnit, out: &mut Vec<u8>) {
        JsonObject::begin(out)
            .uint("u", self.update_id)
            .str("s", &self.symbol)
            .dec("b", self.bid.0)
            .dec("B", self.bid.1)
            .dec("a", self.ask.0)
            .dec("A", self.ask.1)
            .end();
    }

    /// The update id.
    pub fn seq(&self) -> u64 {
        self.update_id
    }
}

/// `<symbol>@depth<N>` and the REST `/api/v3/depth` snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialDepth {
    /// `lastUpdateId`.
    pub last_update_id: u64,
    /// Best (highest) first.
    pub bids: Vec<Level8>,
    /// Best (lowest) first.
    pub asks: Vec<Level8>,
}

impl PartialDepth {
    /// `{"lastUpdateId":…,"bids":[[p,q],…],"asks":[…]}` (no `e`, `E` or `s`).
    pub fn render(&self, _unit: TimeUnit, out: &mut Vec<u8>) {
        JsonObject::begin(out)
            .uint("lastUpdateId", self.last_update_id)
            .levels("bids", &self.bids)
            .levels("asks", &self.asks)
            .end();
    }

    /// The update id.
    pub fn seq(&self) -> u64 {
        self.last_update_id
    }
}

/// `<symbol>@depth[@100ms]`: levels touched in `U..=u`, with quantity 0 for removed levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthUpdate {
    /// Uppercase symbol.
    pub symbol: Arc<str>,
    /// `E`.
    pub event_time: Micros,
    /// `U`.
    pub first_update_id: u64,
    /// `u`.
    pub final_update_id: u64,
    /// `b`, highest first.
    pub bids: Vec<Level8>,
    /// `a`, lowest first.
    pub asks: Vec<Level8>,
}

impl DepthUpdate {
    /// `{"e":"depthUpdate","E":…,"s":…,"U":…,"u":…,"b":[…],"a":[…]}`.
    pub fn render(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        JsonObject::begin(out)
            .str("e", "depthUpdate")
            .uint("E", unit.convert(self.event_time))
            .str("s", &self.symbol)
            .uint("U", self.first_update_id)
            .uint("u", self.final_update_id)
            .levels("b", &self.bids)
            .levels("a", &self.asks)
            .end();
    }

    /// The final update id.
    pub fn seq(&self) -> u64 {
        self.final_update_id
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::Value;

    /// 2022-12-31 19:43:02.136123 UTC.
    pub(crate) const E: Micros = 1_672_515_782_136_123;

    /// Renders `p`, checks it parses as JSON, and returns the text.
    pub(crate) fn text<P: Payload>(p: &P, unit: TimeUnit) -> String {
        let mut out = Vec::new();
        p.render(unit, &mut out);
        assert!(serde_json::from_slice::<Value>(&out).is_ok());
        String::from_utf8(out).unwrap()
    }

    fn sym() -> Arc<str> {
        Arc::from("BNBBTC")
    }

    #[test]
    fn trades_render_exactly() {
        let (price, qty) = (Decimal8(1_914_100), Decimal8(700_000));
        let t = Trade { symbol: sym(), event_time: E, id: 12345, price, qty, trade_time: E - 1000, buyer_maker: true };
        let ms = r#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.01914100","q":"0.00700000","T":1672515782135,"m":true,"M":true}"#;
        let us = r#"{"e":"trade","E":1672515782136123,"s":"BNBBTC","t":12345,"p":"0.01914100","q":"0.00700000","T":1672515782135123,"m":true,"M":true}"#;
        assert_eq!(
            (text(&t, TimeUnit::Millisecond), text(&t, TimeUnit::Microsecond), t.seq()),
            (ms.into(), us.into(), 12345)
        );

        let a = AggTrade {
            symbol: sym(),
            event_time: E,
            id: 9,
            price,
            qty,
            first_trade_id: 100,
            last_trade_id: 105,
            trade_time: E,
            buyer_maker: false,
        };
        let ms = r#"{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":9,"p":"0.01914100","q":"0.00700000","f":100,"l":105,"T":1672515782136,"m":false,"M":true}"#;
        assert_eq!((text(&a, TimeUnit::Millisecond), a.seq()), (ms.into(), 9));

        let b = BlockTrade { symbol: sym(), event_time: E, id: 582, price, qty, trade_time: E, buyer_maker: true };
        let us = r#"{"e":"blockTrade","E":1672515782136123,"s":"BNBBTC","t":582,"p":"0.01914100","q":"0.00700000","T":1672515782136123,"m":true}"#;
        assert_eq!((text(&b, TimeUnit::Microsecond), b.seq()), (us.into(), 582));
    }

    #[test]
    fn book_payloads_render_exactly() {
        let bid = (Decimal8(2_535_190_000), Decimal8(3_121_000_000));
        let ask = (Decimal8(2_536_520_000), Decimal8(4_066_000_000));
        let bt = BookTicker { update_id: 400_900_217, symbol: Arc::from("BNBUSDT"), bid, ask };
        let json =
            r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
        assert_eq!((text(&bt, TimeUnit::Microsecond), bt.seq()), (json.into(), 400_900_217));

        let pd = PartialDepth { last_update_id: 160, bids: vec![bid, bid], asks: vec![ask] };
        let json = r#"{"lastUpdateId":160,"bids":[["25.35190000","31.21000000"],["25.35190000","31.21000000"]],"asks":[["25.36520000","40.66000000"]]}"#;
        assert_eq!((text(&pd, TimeUnit::Millisecond), pd.seq()), (json.into(), 160));

        let bids = vec![(bid.0, Decimal8(0))];
        let du = DepthUpdate {
            symbol: sym(),
            event_time: E,
            first_update_id: 157,
            final_update_id: 160,
            bids,
            asks: vec![],
        };
        let json = r#"{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["25.35190000","0.00000000"]],"a":[]}"#;
        assert_eq!((text(&du, TimeUnit::Millisecond), du.seq()), (json.into(), 160));
    }

    #[test]
    fn arrays_join_objects() {
        let pd = PartialDepth { last_update_id: 1, bids: vec![], asks: vec![] };
        let mut out = Vec::new();
        render_array(&[pd.clone(), pd], TimeUnit::Millisecond, &mut out);
        let json = br#"[{"lastUpdateId":1,"bids":[],"asks":[]},{"lastUpdateId":1,"bids":[],"asks":[]}]"#;
        assert_eq!(out, json);
        out.clear();
        render_array::<PartialDepth>(&[], TimeUnit::Millisecond, &mut out);
        assert_eq!(out, b"[]");
    }
}
