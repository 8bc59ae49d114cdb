//! The simulated Binance spot market behind the mock's market streams: per-symbol order books, trades,
//! candles and tickers, and the exact JSON payloads of every stream (sections 6.3–6.12 of the reference).
//!
//! Pure: no I/O, no async, no clocks. Callers pass the instant (`now`, Unix microseconds) to every
//! operation and render payloads in the connection's time unit.

mod book;
mod calendar;
mod decimal;
mod json;
#[allow(clippy::module_inception)]
mod market;
mod payload;
mod state;
mod symbols;
mod ticker;
mod trade_stats;

#[cfg(test)]
mod sim_tests;

pub use calendar::candle_bounds;
pub use decimal::{Decimal8, Volume8};
pub use market::{Market, SymbolId};
pub use payload::{AggTrade, BlockTrade, BookTicker, DepthUpdate, Level8, PartialDepth, Payload, Trade, render_array};
pub use state::{MarketParams, OrderOutcome};
pub use symbols::{SymbolSpec, default_universe};
pub use ticker::{AvgPrice, Kline, MiniTicker, ReferencePrice, RollingTicker, Ticker};
pub use trade_stats::WindowStats;
