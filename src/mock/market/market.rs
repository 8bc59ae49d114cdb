//! The whole simulated market: one [`SymbolState`] per symbol of the universe, addressed by [`SymbolId`].
//!
//! Owns the symbol index and the parameters, and is the public face of the module: every operation takes
//! the instant it happens at (`now`) and never reads a clock, so the same seed and the same call sequence
//! give byte-identical payloads.

use std::collections::HashMap;

use super::payload::{BookTicker, DepthUpdate, PartialDepth};
use super::state::{MarketParams, OrderOutcome, SymbolState};
use super::symbols::SymbolSpec;
use super::ticker::{AvgPrice, Kline, MiniTicker, ReferencePrice, RollingTicker, Ticker};
use crate::mock::stream_name::{DepthLevels, DepthSpeed, KlineInterval, TickerWindow};
use crate::mock::time::Micros;

/// Index of a symbol in the universe the market was built from.
pub type SymbolId = u16;

/// The simulated spot market.
#[derive(Debug, Clone)]
pub struct Market {
    params: MarketParams,
    symbols: Vec<SymbolState>,
    index: HashMap<String, SymbolId>,
}

impl Market {
    /// A market over `symbols` (at most 65,536; later ones are ignored) whose books and statistics start
    /// at `start`. Each symbol's RNG is seeded from `(seed, its index)`, so its walk is independent of the
    /// other symbols' activity.
    pub fn new(symbols: &[SymbolSpec], params: MarketParams, seed: u64, start: Micros) -> Market {
        let count = symbols.len().min(usize::from(SymbolId::MAX) + 1);
        let states: Vec<SymbolState> = symbols[..count]
            .iter()
            .enumerate()
            .map(|(i, spec)| SymbolState::new(spec, i, seed, params.book_levels, start))
            .collect();
        let mut index = HashMap::new();
        for (i, state) in states.iter().enumerate() {
            index.entry(state.name.clone()).or_insert(i as SymbolId);
        }
        Market { params, symbols: states, index }
    }

    fn sym(&self, id: SymbolId) -> &SymbolState {
        &self.symbols[usize::from(id)]
    }

    fn sym_mut(&mut self, id: SymbolId) -> &mut SymbolState {
        &mut self.symbols[usize::from(id)]
    }

    /// The parameters the market was built with.
    pub fn params(&self) -> &MarketParams {
        &self.params
    }

    /// How many symbols there are; ids are `0..symbols()`.
    pub fn symbols(&self) -> usize {
        self.symbols.len()
    }

    /// The id of a lowercase symbol name (`btcusdt`).
    pub fn symbol_id(&self, name: &str) -> Option<SymbolId> {
        self.index.get(name).copied()
    }

    /// The lowercase name of a symbol. Like every method taking an id, panics on an id not from this market.
    pub fn symbol_name(&self, id: SymbolId) -> &str {
        &self.sym(id).name
    }

    /// The symbol's current book update id.
    pub fn update_id(&self, id: SymbolId) -> u64 {
        self.sym(id).update_id()
    }

    /// One taker order (maybe preceded by a one-tick mid move): its trades, aggTrade, optional block trade
    /// and the resulting bookTicker.
    pub fn taker_order(&mut self, id: SymbolId, now: Micros) -> OrderOutcome {
        let Market { params, symbols, .. } = self;
        symbols[usize::from(id)].taker_order(params, now)
    }

    /// One random quantity change in the book (one update id); returns the bookTicker after it.
    pub fn book_change(&mut self, id: SymbolId, now: Micros) -> BookTicker {
        self.sym_mut(id).book_change(now)
    }

    /// The levels touched since the previous emission for `speed` (quantity 0 = removed), with
    /// `U` = previous `u` + 1 and `u` = the current update id. `None` when no update id was consumed since
    /// (nothing is recorded then), and on the first call for a speed, which only sets the baseline.
    pub fn diff_depth(&mut self, id: SymbolId, speed: DepthSpeed, now: Micros) -> Option<DepthUpdate> {
        self.sym_mut(id).diff_depth(speed, now)
    }

    /// The top `levels` of the book with the current update id (`@depth<N>`).
    pub fn partial_depth(&self, id: SymbolId, levels: DepthLevels) -> PartialDepth {
        self.sym(id).depth(levels.count())
    }

    /// Up to `limit` levels per side with the current update id (REST `/api/v3/depth`).
    pub fn rest_depth(&self, id: SymbolId, limit: usize) -> PartialDepth {
        self.sym(id).depth(limit)
    }

    /// The open candle containing `now`, aligned in UTC or UTC+8 (`utc8`).
    pub fn kline(&mut self, id: SymbolId, interval: KlineInterval, utc8: bool, now: Micros) -> Kline {
        self.sym_mut(id).kline(interval, utc8, now)
    }

    /// The 24h mini ticker.
    pub fn mini_ticker(&self, id: SymbolId, now: Micros) -> MiniTicker {
        self.sym(id).mini_ticker(now)
    }

    /// The 24h ticker (`O` = now − 24h, `C` = now).
    pub fn ticker(&self, id: SymbolId, now: Micros) -> Ticker {
        self.sym(id).ticker(now)
    }

    /// The rolling-window ticker (`O` = now − window, rounded down to a minute; `C` = now).
    pub fn rolling_ticker(&self, id: SymbolId, window: TickerWindow, now: Micros) -> RollingTicker {
        self.sym(id).rolling_ticker(window, now)
    }

    /// The 5-minute average price.
    pub fn avg_price(&self, id: SymbolId, now: Micros) -> AvgPrice {
        self.sym(id).avg_price(now)
    }

    /// The reference price (the mid) at `now`.
    pub fn reference_price(&self, id: SymbolId, now: Micros) -> ReferencePrice {
        self.sym(id).reference_price(now)
    }

    /// True when the symbol traded or its book changed at or after `since` (for `!miniTicker@arr`).
    pub fn changed_since(&self, id: SymbolId, since: Micros) -> bool {
        self.sym(id).changed_since(since)
    }
}
