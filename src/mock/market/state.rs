//! The simulated market of one symbol: its own RNG, book, id counters, trade statistics, open candles and
//! diff-depth cursors, and the operations that advance them and build payloads.
//!
//! Every book change (mid move, random quantity change, trade consumption) consumes exactly one update id
//! from the single per-symbol counter that `bookTicker.u`, depth `lastUpdateId` and diff `U`/`u` share.

use std::collections::BTreeSet;
use std::sync::Arc;

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::book::{Book, Side};
use super::decimal::{Decimal8, Volume8};
use super::payload::{AggTrade, BlockTrade, BookTicker, DepthUpdate, Level8, PartialDepth, Trade};
use super::symbols::SymbolSpec;
use super::ticker::{AvgPrice, Kline, MiniTicker, ReferencePrice, RollingTicker, Ticker};
use super::trade_stats::{Candle, Fill, TradeStats};
use crate::mock::stream_name::{DepthSpeed, KlineInterval, TickerWindow};
use crate::mock::time::Micros;
use crate::vocab::seed::splitmix64;

/// Knobs of the simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketParams {
    /// Levels per side of every book (at least 1).
    pub book_levels: usize,
    /// Chance that a taker order also prints a block trade.
    pub block_trade_probability: f64,
    /// Most trades one taker order fills (at least 1).
    pub max_trades_per_order: u32,
}

impl Default for MarketParams {
    fn default() -> Self {
        MarketParams { book_levels: 100, block_trade_probability: 0.01, max_trades_per_order: 3 }
    }
}

/// Everything one taker order produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderOutcome {
    /// The fills, with consecutive trade ids.
    pub trades: Vec<Trade>,
    /// The fills aggregated (`f`/`l` = first/last trade id).
    pub agg_trade: AggTrade,
    /// A block trade printed alongside, sometimes.
    pub block_trade: Option<BlockTrade>,
    /// The best bid and ask after the order.
    pub book_ticker: BookTicker,
}

const MINUTE: Micros = 60_000_000;
const DAY: Micros = 1440 * MINUTE;
/// Chance that a taker order is preceded by a one-tick mid move.
const MID_MOVE_PROBABILITY: f64 = 0.25;
/// Mean reversion of the mid: the up-move probability drops by this much per unit of relative drift.
const MEAN_REVERSION: f64 = 2.0;

/// What changed since a diff-depth speed last emitted.
#[derive(Debug, Clone)]
struct DepthCursor {
    speed: DepthSpeed,
    last_update_id: u64,
    bids: BTreeSet<i64>,
    asks: BTreeSet<i64>,
}

/// One symbol's market.
#[derive(Debug, Clone)]
pub struct SymbolState {
    /// Lowercase name.
    pub name: String,
    /// Uppercase name, as payloads print it.
    pub upper: Arc<str>,
    rng: StdRng,
    book: Book,
    start_price: i64,
    start: Micros,
    update_id: u64,
    next_trade_id: u64,
    next_agg_id: u64,
    next_block_id: u64,
    stats: TradeStats,
    candles: Vec<Candle>,
    cursors: Vec<DepthCursor>,
    last_change: Option<Micros>,
}

fn level8(level: Option<(i64, i64)>) -> Level8 {
    let (price, qty) = level.unwrap_or((0, 0));
    (Decimal8(price), Decimal8(qty))
}

/// Splits `total` lots into `parts` positive parts.
fn split(total: i64, parts: i64, rng: &mut StdRng) -> Vec<i64> {
    let mut left = total;
    let mut out = Vec::with_capacity(parts as usize);
    for still_to_come in (1..parts).rev() {
        let part = rng.random_range(1..=left - still_to_come);
        out.push(part);
        left -= part;
    }
    out.push(left);
    out
}

impl SymbolState {
    /// The market of `spec`, the `index`-th symbol, with its RNG seeded from `(seed, index)`.
    pub fn new(spec: &SymbolSpec, index: usize, seed: u64, levels: usize, start: Micros) -> SymbolState {
        let mut rng = StdRng::seed_from_u64(splitmix64(seed ^ splitmix64(index as u64 + 1)));
        let tick = Decimal8::from_f64(spec.tick_size).0.max(1);
        let lot = Decimal8::from_f64(spec.lot_size).0.max(1);
        let price = (Decimal8::from_f64(spec.price).0 / tick).max(1) * tick;
        let typical = spec.level_notional() / spec.price.max(1e-8) / spec.lot_size.max(1e-8);
        let typical = (typical.round() as i64).clamp(1, (i64::MAX / 64 / lot).max(1));
        let book = Book::new(price, tick, lot, typical, levels.max(1), &mut rng);
        SymbolState {
            name: spec.name.clone(),
            upper: Arc::from(spec.name.to_ascii_uppercase()),
            start_price: price,
            start,
            update_id: rng.random_range(1_000_000_000..10_000_000_000),
            next_trade_id: rng.random_range(10_000_000..1_000_000_000),
            next_agg_id: rng.random_range(10_000_000..1_000_000_000),
            next_block_id: rng.random_range(1..1_000_000),
            stats: TradeStats::new(price),
            candles: Vec::new(),
            cursors: Vec::new(),
            last_change: None,
            book,
            rng,
        }
    }

    /// The current update id.
    pub fn update_id(&self) -> u64 {
        self.update_id
    }

    /// Numbers one book change and records the levels it touched for every diff cursor.
    fn commit(&mut self, now: Micros) {
        self.update_id += 1;
        self.last_change = self.last_change.max(Some(now));
        for (side, price) in self.book.drain_touched() {
            for cursor in &mut self.cursors {
                match side {
                    Side::Bid => cursor.bids.insert(price),
                    Side::Ask => cursor.asks.insert(price),
                };
            }
        }
    }

    /// With some probability, moves the mid one tick, pulled back towards the starting price.
    fn maybe_move_mid(&mut self, now: Micros) {
        if self.rng.random::<f64>() >= MID_MOVE_PROBABILITY {
            return;
        }
        let mid = self.book.mid().unwrap_or(self.start_price) as f64;
        let drift = (mid - self.start_price as f64) / self.start_price as f64;
        let up_probability = (0.5 - MEAN_REVERSION * drift).clamp(0.1, 0.9);
        let up = self.rng.random::<f64>() < up_probability;
        if self.book.move_mid(up, &mut self.rng) {
            self.commit(now);
        }
    }

    /// One taker order: 1..=max trades at the best opposite level, one aggTrade, maybe a block trade.
    pub fn taker_order(&mut self, params: &MarketParams, now: Micros) -> OrderOutcome {
        self.maybe_move_mid(now);
        let buyer_maker = !self.rng.random::<bool>();
        let side = if buyer_maker { Side::Bid } else { Side::Ask };
        let lot = self.book.lot();
        let best = self.book.best(side);
        let (price, level_qty) = best.unwrap_or((self.stats.last_price(), lot));
        let total = self.rng.random_range(1..=(level_qty / lot).min(self.book.typical_lots()).max(1));
        let parts = self.rng.random_range(1..=params.max_trades_per_order.max(1));
        let first_trade_id = self.next_trade_id;
        let trades = split(total, i64::from(parts).min(total), &mut self.rng)
            .into_iter()
            .map(|lots| self.fill(price, lots * lot, buyer_maker, now))
            .collect();
        if self.book.take(side, total * lot, &mut self.rng).is_some() {
            self.commit(now);
        }
        let agg_trade = self.aggregate(first_trade_id, price, total * lot, buyer_maker, now);
        let block_trade = (self.rng.random::<f64>() < params.block_trade_probability)
            .then(|| self.block_trade(price, total * lot, buyer_maker, now));
        let book_ticker = self.book_ticker();
        OrderOutcome { trades, agg_trade, block_trade, book_ticker }
    }

    /// One trade of an order: takes the next trade id and updates statistics and candles.
    fn fill(&mut self, price: i64, qty: i64, buyer_maker: bool, now: Micros) -> Trade {
        let fill = Fill { time: now, id: self.next_trade_id, price, qty, buyer_maker };
        self.next_trade_id += 1;
        self.stats.record(fill);
        for candle in &mut self.candles {
            candle.record(&fill);
        }
        self.last_change = self.last_change.max(Some(now));
        let (symbol, price, qty) = (self.upper.clone(), Decimal8(price), Decimal8(qty));
        Trade { symbol, event_time: now, id: fill.id, price, qty, trade_time: now, buyer_maker }
    }

    /// The aggTrade of the trades from `first_trade_id` to the last one taken.
    fn aggregate(&mut self, first_trade_id: u64, price: i64, qty: i64, buyer_maker: bool, now: Micros) -> AggTrade {
        let id = self.next_agg_id;
        self.next_agg_id += 1;
        AggTrade {
            symbol: self.upper.clone(),
            event_time: now,
            id,
            price: Decimal8(price),
            qty: Decimal8(qty),
            first_trade_id,
            last_trade_id: self.next_trade_id - 1,
            trade_time: now,
            buyer_maker,
        }
    }

    /// An off-book block trade 5 to 50 times the order's size, at its price.
    fn block_trade(&mut self, price: i64, qty: i64, buyer_maker: bool, now: Micros) -> BlockTrade {
        let id = self.next_block_id;
        self.next_block_id += 1;
        let qty = qty.saturating_mul(self.rng.random_range(5..=50));
        let (price, qty) = (Decimal8(price), Decimal8(qty));
        BlockTrade { symbol: self.upper.clone(), event_time: now, id, price, qty, trade_time: now, buyer_maker }
    }

    /// One random quantity change somewhere in the book.
    pub fn book_change(&mut self, now: Micros) -> BookTicker {
        if self.book.change_random_level(&mut self.rng) {
            self.commit(now);
        }
        self.book_ticker()
    }

    /// The best bid and ask with the current update id.
    pub fn book_ticker(&self) -> BookTicker {
        BookTicker {
            update_id: self.update_id,
            symbol: self.upper.clone(),
            bid: level8(self.book.best(Side::Bid)),
            ask: level8(self.book.best(Side::Ask)),
        }
    }

    /// The levels touched since this speed's last emission; see `Market::diff_depth`.
    pub fn diff_depth(&mut self, speed: DepthSpeed, now: Micros) -> Option<DepthUpdate> {
        let Some(cursor) = self.cursors.iter_mut().find(|c| c.speed == speed) else {
            let (bids, asks) = (BTreeSet::new(), BTreeSet::new());
            let cursor = DepthCursor { speed, last_update_id: self.update_id, bids, asks };
            self.cursors.push(cursor);
            return None;
        };
        if cursor.last_update_id == self.update_id {
            return None;
        }
        let book = &self.book;
        let level = |side, price: &i64| (Decimal8(*price), Decimal8(book.qty(side, *price)));
        let bids = cursor.bids.iter().rev().map(|p| level(Side::Bid, p)).collect();
        let asks = cursor.asks.iter().map(|p| level(Side::Ask, p)).collect();
        cursor.bids.clear();
        cursor.asks.clear();
        let first_update_id = cursor.last_update_id + 1;
        cursor.last_update_id = self.update_id;
        Some(DepthUpdate {
            symbol: self.upper.clone(),
            event_time: now,
            first_update_id,
            final_update_id: self.update_id,
            bids,
            asks,
        })
    }

    /// Up to `levels` per side, best first, with the current update id.
    pub fn depth(&self, levels: usize) -> PartialDepth {
        let side = |side| self.book.top(side, levels).into_iter().map(|l| level8(Some(l))).collect();
        PartialDepth { last_update_id: self.update_id, bids: side(Side::Bid), asks: side(Side::Ask) }
    }

    /// The candle of `interval` containing `now`, created (empty, at the last price) on first use.
    pub fn kline(&mut self, interval: KlineInterval, utc8: bool, now: Micros) -> Kline {
        let position = self.candles.iter().position(|c| c.interval == interval && c.utc8 == utc8);
        let index = position.unwrap_or_else(|| {
            self.candles.push(Candle::new(interval, utc8, now, self.stats.last_price()));
            self.candles.len() - 1
        });
        let candle = &mut self.candles[index];
        candle.roll(now);
        Kline {
            symbol: self.upper.clone(),
            event_time: now,
            interval,
            open_time: candle.open_time,
            next_open: candle.next_open,
            first_trade_id: candle.first_id,
            last_trade_id: candle.last_id,
            ohlc: candle.ohlc.map(Decimal8),
            volumes: candle.volumes.map(Volume8),
            trades: candle.count,
            closed: false,
        }
    }

    /// The 24h mini ticker.
    pub fn mini_ticker(&self, now: Micros) -> MiniTicker {
        let stats = self.stats.window(now.saturating_sub(DAY), now);
        MiniTicker { symbol: self.upper.clone(), event_time: now, stats }
    }

    /// The 24h ticker.
    pub fn ticker(&self, now: Micros) -> Ticker {
        Ticker {
            symbol: self.upper.clone(),
            event_time: now,
            stats: self.stats.window(now.saturating_sub(DAY), now),
            last_qty: Decimal8(self.stats.last().map_or(0, |f| f.qty)),
            bid: level8(self.book.best(Side::Bid)),
            ask: level8(self.book.best(Side::Ask)),
        }
    }

    /// The rolling-window ticker; `O` is `now - window` rounded down to a minute.
    pub fn rolling_ticker(&self, window: TickerWindow, now: Micros) -> RollingTicker {
        let from = now.saturating_sub(window.seconds() * 1_000_000);
        let stats = self.stats.window(from - from % MINUTE, now);
        RollingTicker { symbol: self.upper.clone(), event_time: now, window, stats }
    }

    /// The 5-minute volume-weighted average price (the last price when nothing traded).
    pub fn avg_price(&self, now: Micros) -> AvgPrice {
        let stats = self.stats.window(now.saturating_sub(5 * MINUTE), now);
        let price = if stats.count == 0 { stats.close } else { stats.weighted_avg() };
        let last_trade_time = self.stats.last().map_or(self.start, |f| f.time);
        AvgPrice { symbol: self.upper.clone(), event_time: now, price, last_trade_time }
    }

    /// The mid price at `now`.
    pub fn reference_price(&self, now: Micros) -> ReferencePrice {
        let price = self.book.mid().map(Decimal8);
        ReferencePrice { symbol: self.upper.clone(), price, time: now }
    }

    /// True when a trade or book change happened at or after `since`.
    pub fn changed_since(&self, since: Micros) -> bool {
        self.last_change.is_some_and(|t| t >= since)
    }
}
