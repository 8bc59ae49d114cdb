//! When market events happen: a seeded schedule of taker orders and book changes per symbol (hot symbols
//! more often than cold ones), depth windows every 100 ms and 1000 ms, tickers every second and klines
//! every two seconds, and the task that runs it, publishing each event through the hub.
//!
//! [`Schedule`] is pure (instants in, jobs out) and reproducible from the seed. The task stamps each event
//! with the wall-clock time at which it is generated, so a subscriber's latency never includes the feed's
//! own lateness; that lateness is measured separately and published as the mock's health.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::mock::canary;
use crate::mock::config::{Arrivals, FeedConfig};
use crate::mock::market::{Market, Payload, SymbolId, render_array};
use crate::mock::outgoing::FeedKey;
use crate::mock::shared::Shared;
use crate::mock::stats::FeedLag;
use crate::mock::stream_name::{DepthSpeed, KlineInterval, StreamKind};
use crate::mock::time::{Micros, now_micros};

/// A unit of feed work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Job {
    /// A taker order on a symbol: trades, an aggTrade, maybe a block trade, and a bookTicker.
    Order(SymbolId),
    /// A book change on a symbol: a bookTicker.
    BookChange(SymbolId),
    /// The end of a depth window: diff and partial depth for every symbol.
    Depth(DepthSpeed),
    /// Ticker, miniTicker, rolling tickers, avgPrice, referencePrice and the all-market arrays.
    Tickers,
    /// Klines other than `1s`.
    Klines,
    /// `kline_1s`.
    KlinesOneSecond,
    /// The rig's canary event ([`canary`](crate::mock::canary)).
    Canary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    due: Instant,
    order: u64,
    job: Job,
}

/// The pure, seeded schedule of feed jobs.
#[derive(Debug)]
pub struct Schedule {
    heap: BinaryHeap<Reverse<Entry>>,
    rng: StdRng,
    arrivals: Arrivals,
    order_rates: Vec<f64>,
    book_rates: Vec<f64>,
    ticker_period: Duration,
    kline_period: Duration,
    next_order: u64,
}

impl Schedule {
    /// A schedule starting at `start`; each symbol's first order and book change get a seeded phase.
    pub fn new(config: &FeedConfig, seed: u64, start: Instant) -> Self {
        let mut schedule = Schedule {
            heap: BinaryHeap::new(),
            rng: StdRng::seed_from_u64(seed ^ 0x6665_6564),
            arrivals: config.arrivals,
            order_rates: config.orders_per_second.clone(),
            book_rates: config.book_changes_per_second.clone(),
            ticker_period: config.ticker_period,
            kline_period: config.kline_period,
            next_order: 0,
        };
        for symbol in 0..config.symbols.len() as SymbolId {
            for job in [Job::Order(symbol), Job::BookChange(symbol)] {
                if let Some(gap) = schedule.gap(job, 1.0) {
                    let phase = gap.mul_f64(schedule.rng.random::<f64>());
                    schedule.push(start + phase, job);
                }
            }
        }
        for job in [
            Job::Depth(DepthSpeed::Ms100),
            Job::Depth(DepthSpeed::Ms1000),
            Job::Tickers,
            Job::Klines,
            Job::KlinesOneSecond,
            Job::Canary,
        ] {
            if let Some(gap) = schedule.gap(job, 1.0) {
                schedule.push(start + gap, job);
            }
        }
        schedule
    }

    fn push(&mut self, due: Instant, job: Job) {
        self.next_order += 1;
        self.heap.push(Reverse(Entry { due, order: self.next_order, job }));
    }

    /// The time until the next occurrence of `job` at its rate times `factor` (a burst), or `None` when
    /// it never happens (rate 0).
    fn gap(&mut self, job: Job, factor: f64) -> Option<Duration> {
        let rate = match job {
            Job::Order(s) => self.order_rates[s as usize] * factor,
            Job::BookChange(s) => self.book_rates[s as usize] * factor,
            Job::Depth(speed) => return Some(Duration::from_millis(speed.millis())),
            Job::Tickers => return Some(self.ticker_period),
            Job::Klines => return Some(self.kline_period),
            Job::KlinesOneSecond => return Some(Duration::from_secs(1)),
            Job::Canary => return Some(canary::PERIOD),
        };
        if rate <= 0.0 {
            return None;
        }
        let mean = 1.0 / rate;
        let seconds = match self.arrivals {
            Arrivals::Fixed => mean,
            Arrivals::Poisson => -mean * (1.0 - self.rng.random::<f64>()).ln(),
        };
        Some(Duration::from_secs_f64(seconds))
    }

    /// When the next job is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.due)
    }

    /// Takes the next job due at or before `now` and schedules its next occurrence (from its due time,
    /// so a late feed catches up instead of drifting) at the symbol's rate times `factor(symbol)`.
    /// Returns the job and when it was due.
    pub fn pop_due(&mut self, now: Instant, factor: impl Fn(SymbolId) -> f64) -> Option<(Job, Instant)> {
        if self.next_due()? > now {
            return None;
        }
        let Reverse(entry) = self.heap.pop()?;
        let multiplier = match entry.job {
            Job::Order(s) | Job::BookChange(s) => factor(s),
            _ => 1.0,
        };
        if let Some(gap) = self.gap(entry.job, multiplier) {
            self.push(entry.due + gap, entry.job);
        }
        Some((entry.job, entry.due))
    }
}

/// Runs the feed until `cancel`: sleeps to the next due job, runs everything due, publishes.
pub async fn run(shared: Arc<Shared>, seed: u64, cancel: CancellationToken) {
    let mut schedule = Schedule::new(&shared.config.feed, seed, Instant::now());
    let mut lag = LagMeter::new();
    let mut tickers_since = now_micros();
    while let Some(due) = schedule.next_due() {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(due) => {}
        }
        let now = Instant::now();
        while let Some((job, due)) = schedule.pop_due(now, |s| shared.chaos.rate_factor(s)) {
            lag.record(now.saturating_duration_since(due));
            run_job(&shared, job, &mut tickers_since);
        }
        lag.publish_every_second(&shared, now);
    }
}

fn run_job(shared: &Shared, job: Job, tickers_since: &mut Micros) {
    let now = now_micros();
    if job == Job::Canary {
        // Not a market event: the market is not locked for it.
        let n = shared.stats.canary_published();
        shared.hub.publish_named(canary::STREAM, n, |_, out| canary::render(now, n, out));
        return;
    }
    let mut market = shared.market.lock().unwrap_or_else(|p| p.into_inner());
    match job {
        Job::Order(symbol) => {
            let outcome = market.taker_order(symbol, now);
            for trade in &outcome.trades {
                publish(shared, symbol, StreamKind::Trade, trade, now);
            }
            publish(shared, symbol, StreamKind::AggTrade, &outcome.agg_trade, now);
            if let Some(block) = &outcome.block_trade {
                publish(shared, symbol, StreamKind::BlockTrade, block, now);
            }
            publish(shared, symbol, StreamKind::BookTicker, &outcome.book_ticker, now);
        }
        Job::BookChange(symbol) => {
            let ticker = market.book_change(symbol, now);
            publish(shared, symbol, StreamKind::BookTicker, &ticker, now);
        }
        Job::Depth(speed) => depth_window(shared, &mut market, speed, now),
        Job::Tickers => {
            tickers(shared, &market, now, *tickers_since);
            *tickers_since = now;
        }
        Job::Klines => klines(shared, &mut market, now, |i| i != KlineInterval::S1),
        Job::KlinesOneSecond => klines(shared, &mut market, now, |i| i == KlineInterval::S1),
        Job::Canary => {}
    }
}

/// The key that identifies an event to a subscriber: its sequence id, or its event time (`now`, which is
/// what `E` renders) for the kinds without one.
fn identifying(seq: u64, now: Micros) -> u64 {
    if seq == 0 { now } else { seq }
}

fn publish(shared: &Shared, symbol: SymbolId, kind: StreamKind, payload: &impl Payload, now: Micros) {
    let key = FeedKey { symbol: Some(symbol), kind };
    // A block trade's message is read by its event time (its id is not a field subscribers check).
    let id = if kind == StreamKind::BlockTrade { now } else { identifying(payload.seq(), now) };
    shared.publications.record(key, id, now);
    shared.hub.publish(key, payload.seq(), |unit, out| payload.render(unit, out));
}

/// Closes a depth window for every symbol (so `U` always follows the previous `u`), publishing the diffs
/// and partial books that have subscribers.
fn depth_window(shared: &Shared, market: &mut Market, speed: DepthSpeed, now: Micros) {
    for symbol in 0..market.symbols() as SymbolId {
        if let Some(diff) = market.diff_depth(symbol, speed, now) {
            // A depth-gap fault withholds the event (the next one's `U` no longer follows this `u`); it is
            // in the record all the same: subscribers should have had it.
            let key = FeedKey { symbol: Some(symbol), kind: StreamKind::DiffDepth(speed) };
            if shared.chaos.withhold_depth(symbol) {
                shared.publications.record(key, identifying(diff.seq(), now), now);
            } else {
                publish(shared, symbol, key.kind, &diff, now);
            }
        }
    }
    for key in shared.hub.active_keys(|k| matches!(k, StreamKind::PartialDepth(_, s) if s == speed)) {
        if let (Some(symbol), StreamKind::PartialDepth(levels, _)) = (key.symbol, key.kind) {
            let partial = market.partial_depth(symbol, levels);
            publish(shared, symbol, key.kind, &partial, now);
        }
    }
}

fn tickers(shared: &Shared, market: &Market, now: Micros, since: Micros) {
    for key in shared.hub.active_keys(is_ticker_kind) {
        let kind = key.kind;
        match (key.symbol, kind) {
            (Some(s), StreamKind::MiniTicker) => publish(shared, s, kind, &market.mini_ticker(s, now), now),
            (Some(s), StreamKind::Ticker) => publish(shared, s, kind, &market.ticker(s, now), now),
            (Some(s), StreamKind::RollingTicker(w)) => publish(shared, s, kind, &market.rolling_ticker(s, w, now), now),
            (Some(s), StreamKind::AvgPrice) => publish(shared, s, kind, &market.avg_price(s, now), now),
            (Some(s), StreamKind::ReferencePrice) => publish(shared, s, kind, &market.reference_price(s, now), now),
            (None, StreamKind::AllMiniTickers) => {
                all_market(shared, key, market, (since, now), |s| market.mini_ticker(s, now))
            }
            (None, StreamKind::AllTickers) => all_market(shared, key, market, (since, now), |s| market.ticker(s, now)),
            (None, StreamKind::AllRollingTickers(w)) => {
                all_market(shared, key, market, (since, now), |s| market.rolling_ticker(s, w, now))
            }
            _ => {}
        }
    }
}

fn is_ticker_kind(kind: StreamKind) -> bool {
    matches!(
        kind,
        StreamKind::MiniTicker
            | StreamKind::Ticker
            | StreamKind::RollingTicker(_)
            | StreamKind::AvgPrice
            | StreamKind::ReferencePrice
            | StreamKind::AllMiniTickers
            | StreamKind::AllTickers
            | StreamKind::AllRollingTickers(_)
    )
}

/// Publishes an all-market array of the symbols that changed since the previous period (nothing when
/// none did, as Binance sends only changed symbols).
fn all_market<T: Payload>(
    shared: &Shared,
    key: FeedKey,
    market: &Market,
    (since, now): (Micros, Micros),
    item: impl Fn(SymbolId) -> T,
) {
    let items: Vec<T> =
        (0..market.symbols() as SymbolId).filter(|s| market.changed_since(*s, since)).map(item).collect();
    if !items.is_empty() {
        shared.publications.record(key, now, now);
        shared.hub.publish(key, 0, |unit, out| render_array(&items, unit, out));
    }
}

fn klines(shared: &Shared, market: &mut Market, now: Micros, wanted: impl Fn(KlineInterval) -> bool) {
    let keys = shared.hub.active_keys(|k| matches!(k, StreamKind::Kline { interval, .. } if wanted(interval)));
    for key in keys {
        if let (Some(symbol), StreamKind::Kline { interval, utc8 }) = (key.symbol, key.kind) {
            let kline = market.kline(symbol, interval, utc8, now);
            publish(shared, symbol, key.kind, &kline, now);
        }
    }
}

/// The feed's lateness against its schedule, summarised into the stats once a second.
struct LagMeter {
    histogram: Option<Histogram<u64>>,
    last_publish: Instant,
}

impl LagMeter {
    fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, 3_600_000_000, 2).ok();
        LagMeter { histogram, last_publish: Instant::now() }
    }

    fn record(&mut self, lag: Duration) {
        if let Some(h) = &mut self.histogram {
            h.saturating_record(lag.as_micros().max(1) as u64);
        }
    }

    fn publish_every_second(&mut self, shared: &Shared, now: Instant) {
        if now.duration_since(self.last_publish) < Duration::from_secs(1) {
            return;
        }
        self.last_publish = now;
        let Some(h) = &self.histogram else {
            return;
        };
        shared.stats.set_feed_lag(FeedLag {
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
            jobs: h.len(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::config::MockConfig;

    fn jobs_in(schedule: &mut Schedule, start: Instant, span: Duration) -> Vec<Job> {
        let mut jobs = Vec::new();
        while let Some((job, _)) = schedule.pop_due(start + span, |_| 1.0) {
            jobs.push(job);
            assert!(jobs.len() < 1_000_000, "bounded");
        }
        jobs
    }

    #[test]
    fn same_seed_same_schedule_and_hot_symbols_trade_more() {
        let config = MockConfig::default().feed;
        let start = Instant::now();
        let a = jobs_in(&mut Schedule::new(&config, 7, start), start, Duration::from_secs(10));
        let b = jobs_in(&mut Schedule::new(&config, 7, start), start, Duration::from_secs(10));
        assert_eq!(a, b);
        let orders = |s| a.iter().filter(|j| **j == Job::Order(s)).count();
        assert_eq!(orders(0), 100, "10 orders/s on the hottest symbol for 10 s");
        assert!(orders(0) > 5 * orders(9));
        assert_eq!(a.iter().filter(|j| **j == Job::Depth(DepthSpeed::Ms100)).count(), 100);
        assert_eq!(a.iter().filter(|j| **j == Job::Tickers).count(), 10);
    }

    #[test]
    fn poisson_arrivals_keep_the_mean_rate() {
        let mut config = MockConfig::default().feed;
        config.arrivals = Arrivals::Poisson;
        let start = Instant::now();
        let jobs = jobs_in(&mut Schedule::new(&config, 3, start), start, Duration::from_secs(100));
        let orders = jobs.iter().filter(|j| **j == Job::Order(0)).count();
        assert!((900..=1100).contains(&orders), "{orders} orders in 100 s at 10/s");
    }
}
