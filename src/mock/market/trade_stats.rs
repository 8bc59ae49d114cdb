//! Trade statistics of one symbol: per-minute buckets over the last 24 hours (for the 24h, rolling-window
//! and average-price tickers) and open candles per kline interval.
//!
//! Owns the arithmetic over trades; it never sees the book, ids other than trade ids, or payload rendering.

use std::collections::VecDeque;

use super::calendar::candle_bounds;
use super::decimal::{Decimal8, SCALE, Volume8};
use crate::mock::stream_name::KlineInterval;
use crate::mock::time::Micros;

const MINUTE: Micros = 60_000_000;
/// Buckets kept: a day plus the partial minute at each end.
const KEEP_MINUTES: u64 = 24 * 60 + 1;

/// One trade as the statistics see it (prices and quantities in units of 1e-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    /// Trade time.
    pub time: Micros,
    /// Trade id.
    pub id: u64,
    /// Trade price in units of 1e-8.
    pub price: i64,
    /// Base quantity.
    pub qty: i64,
    /// True when the seller was the taker (`m`).
    pub buyer_maker: bool,
}

impl Fill {
    /// Quote quantity, `price * qty`, in units of 1e-8.
    pub fn quote(&self) -> i128 {
        i128::from(self.price) * i128::from(self.qty) / i128::from(SCALE)
    }
}

/// Aggregate statistics over a time window, as the tickers print them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowStats {
    /// Last price before the window (the starting price if none): `o`, and `x` of the 24h ticker.
    pub open: Decimal8,
    /// Highest of the open and the trades in the window.
    pub high: Decimal8,
    /// Lowest of the open and the trades in the window.
    pub low: Decimal8,
    /// Last price.
    pub close: Decimal8,
    /// Base volume.
    pub volume: Volume8,
    /// Quote volume.
    pub quote_volume: Volume8,
    /// First trade id in the window, -1 when none.
    pub first_id: i64,
    /// Last trade id in the window, -1 when none.
    pub last_id: i64,
    /// Number of trades.
    pub count: u64,
    /// Window start (`O`).
    pub open_time: Micros,
    /// Window end (`C`).
    pub close_time: Micros,
}

impl WindowStats {
    /// Quote volume / base volume (0 with no volume): `w`.
    pub fn weighted_avg(&self) -> Decimal8 {
        match self.volume.0 {
            0 => Decimal8::ZERO,
            v => Decimal8((self.quote_volume.0 * i128::from(SCALE) / v) as i64),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    minute: u64,
    high: i64,
    low: i64,
    close: i64,
    volume: i128,
    quote: i128,
    first_id: u64,
    last_id: u64,
    count: u64,
}

/// Per-minute trade buckets for the last day, plus the last price and trade.
#[derive(Debug, Clone)]
pub struct TradeStats {
    buckets: VecDeque<Bucket>,
    /// Close of the newest bucket dropped (the starting price until one is).
    before: i64,
    last: Option<Fill>,
}

impl TradeStats {
    /// Statistics with no trades yet, starting at `price`.
    pub fn new(price: i64) -> TradeStats {
        TradeStats { buckets: VecDeque::new(), before: price, last: None }
    }

    /// The last trade, if any.
    pub fn last(&self) -> Option<Fill> {
        self.last
    }

    /// The last trade price, or the starting price.
    pub fn last_price(&self) -> i64 {
        self.last.map_or(self.before, |f| f.price)
    }

    /// Adds a trade (times are expected not to go backwards; a late trade joins the newest bucket).
    pub fn record(&mut self, fill: Fill) {
        let minute = fill.time / MINUTE;
        match self.buckets.back_mut() {
            Some(b) if b.minute >= minute => {
                b.high = b.high.max(fill.price);
                b.low = b.low.min(fill.price);
                b.close = fill.price;
                b.volume += i128::from(fill.qty);
                b.quote += fill.quote();
                b.last_id = fill.id;
                b.count += 1;
            }
            _ => self.buckets.push_back(Bucket {
                minute,
                high: fill.price,
                low: fill.price,
                close: fill.price,
                volume: fill.qty.into(),
                quote: fill.quote(),
                first_id: fill.id,
                last_id: fill.id,
                count: 1,
            }),
        }
        while let Some(old) = self.buckets.front().filter(|b| b.minute + KEEP_MINUTES < minute) {
            self.before = old.close;
            self.buckets.pop_front();
        }
        self.last = Some(fill);
    }

    /// Statistics of the trades from the minute containing `from` up to now, stamped `O = from`, `C = to`.
    pub fn window(&self, from: Micros, to: Micros) -> WindowStats {
        let start = self.buckets.partition_point(|b| b.minute < from / MINUTE);
        let open = start.checked_sub(1).map_or(self.before, |i| self.buckets[i].close);
        let mut s = WindowStats {
            open: Decimal8(open),
            high: Decimal8(open),
            low: Decimal8(open),
            close: Decimal8(self.last_price()),
            volume: Volume8(0),
            quote_volume: Volume8(0),
            first_id: -1,
            last_id: -1,
            count: 0,
            open_time: from,
            close_time: to,
        };
        for b in self.buckets.range(start..) {
            s.high = s.high.max(Decimal8(b.high));
            s.low = s.low.min(Decimal8(b.low));
            s.volume.0 += b.volume;
            s.quote_volume.0 += b.quote;
            if s.first_id < 0 {
                s.first_id = b.first_id as i64;
            }
            s.last_id = b.last_id as i64;
            s.count += b.count;
        }
        s
    }
}

/// The open candle of one kline stream, updated by every trade after it was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candle {
    /// The kline interval it spans (`1s` to `1M`), as in its stream's name.
    pub interval: KlineInterval,
    /// Boundaries in UTC+8.
    pub utc8: bool,
    /// Open time.
    pub open_time: Micros,
    /// Open time of the next candle.
    pub next_open: Micros,
    /// Open, high, low, close.
    pub ohlc: [i64; 4],
    /// Base volume, quote volume, taker-buy base volume, taker-buy quote volume.
    pub volumes: [i128; 4],
    /// First trade id, -1 when none.
    pub first_id: i64,
    /// Last trade id, -1 when none.
    pub last_id: i64,
    /// Number of trades.
    pub count: u64,
}

impl Candle {
    /// An empty candle containing `now`, every price at `price`.
    pub fn new(interval: KlineInterval, utc8: bool, now: Micros, price: i64) -> Candle {
        let (open_time, next_open) = candle_bounds(interval, utc8, now);
        Candle {
            interval,
            utc8,
            open_time,
            next_open,
            ohlc: [price; 4],
            volumes: [0; 4],
            first_id: -1,
            last_id: -1,
            count: 0,
        }
    }

    /// Starts the candle containing `now` (empty, at the previous close) if this one has ended.
    pub fn roll(&mut self, now: Micros) {
        if now >= self.next_open {
            *self = Candle::new(self.interval, self.utc8, now, self.ohlc[3]);
        }
    }

    /// Adds a trade, rolling first if it falls after this candle.
    pub fn record(&mut self, fill: &Fill) {
        self.roll(fill.time);
        let [open, high, low, close] = &mut self.ohlc;
        if self.count == 0 {
            *open = fill.price;
            *high = fill.price;
            *low = fill.price;
            self.first_id = fill.id as i64;
        }
        *high = (*high).max(fill.price);
        *low = (*low).min(fill.price);
        *close = fill.price;
        let quote = fill.quote();
        self.volumes[0] += i128::from(fill.qty);
        self.volumes[1] += quote;
        if !fill.buyer_maker {
            self.volumes[2] += i128::from(fill.qty);
            self.volumes[3] += quote;
        }
        self.last_id = fill.id as i64;
        self.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Micros = 1_707_993_000_000_000; // a minute boundary

    fn fill(time: Micros, id: u64, price: i64, qty: i64, buyer_maker: bool) -> Fill {
        Fill { time, id, price, qty, buyer_maker }
    }

    #[test]
    fn windows_aggregate_buckets() {
        let mut s = TradeStats::new(1000);
        s.record(fill(T0 + 1, 7, 1100, 2 * SCALE, false));
        s.record(fill(T0 + 61_000_000, 8, 900, SCALE, true));
        s.record(fill(T0 + 125_000_000, 9, 1050, SCALE, true));
        let all = s.window(T0 - 3_600_000_000, T0 + 130_000_000);
        assert_eq!((all.open.0, all.high.0, all.low.0, all.close.0), (1000, 1100, 900, 1050));
        assert_eq!((all.first_id, all.last_id, all.count), (7, 9, 3));
        assert_eq!((all.volume.0, all.quote_volume.0), (4 * i128::from(SCALE), 2200 + 900 + 1050));
        assert_eq!(all.weighted_avg(), Decimal8(1037));
        let recent = s.window(T0 + 60_000_000, T0 + 130_000_000);
        assert_eq!((recent.open.0, recent.high.0, recent.low.0, recent.count), (1100, 1100, 900, 2));
        let empty = s.window(T0 + 180_000_000, T0 + 190_000_000);
        assert_eq!((empty.open.0, empty.close.0, empty.first_id, empty.count), (1050, 1050, -1, 0));
        assert_eq!(empty.weighted_avg(), Decimal8::ZERO);
    }

    #[test]
    fn old_buckets_are_dropped() {
        let mut s = TradeStats::new(1000);
        s.record(fill(T0, 1, 1200, 1, false));
        s.record(fill(T0 + 2 * 86_400_000_000, 2, 1300, 1, false));
        assert_eq!(s.buckets.len(), 1);
        let w = s.window(T0 + 86_400_000_000, T0 + 2 * 86_400_000_000);
        assert_eq!((w.open.0, w.count, w.first_id), (1200, 1, 2));
    }

    #[test]
    fn candles_follow_trades_and_roll() {
        let mut c = Candle::new(KlineInterval::M1, false, T0 + 5, 1000);
        assert_eq!((c.open_time, c.next_open), (T0, T0 + 60_000_000));
        c.record(&fill(T0 + 10, 3, 1010, SCALE, false));
        c.record(&fill(T0 + 20, 4, 990, SCALE, true));
        assert_eq!(c.ohlc, [1010, 1010, 990, 990]);
        assert_eq!((c.first_id, c.last_id, c.count), (3, 4, 2));
        assert_eq!(c.volumes, [2 * i128::from(SCALE), 2000, i128::from(SCALE), 1010]);
        c.roll(T0 + 150_000_000);
        assert_eq!((c.open_time, c.ohlc, c.first_id, c.count), (T0 + 120_000_000, [990; 4], -1, 0));
    }
}
