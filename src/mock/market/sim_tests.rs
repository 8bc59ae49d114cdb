//! Whole-market tests: id sequencing over long random runs, the Binance local-order-book procedure,
//! determinism per seed and per symbol, and candles and tickers fed by real trades.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;
use crate::mock::stream_name::{DepthLevels, DepthSpeed, KlineInterval, TickerWindow};
use crate::mock::time::{Micros, TimeUnit};

/// 2024-02-15 10:30:05 UTC.
const START: Micros = 1_707_993_005_000_000;

fn market(names: &[&str], seed: u64) -> Market {
    let all = default_universe();
    let specs: Vec<SymbolSpec> = names.iter().map(|n| all.iter().find(|s| s.name == *n).unwrap().clone()).collect();
    let block_trade_probability = 0.05;
    let params = MarketParams { block_trade_probability, ..Default::default() };
    Market::new(&specs, params, seed, START)
}

/// Bids strictly descending (`descending`) or asks strictly ascending.
fn strictly_sorted(levels: &[Level8], descending: bool) -> bool {
    levels.windows(2).all(|w| (w[0].0 > w[1].0) == descending && w[0].0 != w[1].0)
}

type Side = BTreeMap<i64, i64>;

fn apply(side: &mut Side, levels: &[Level8]) {
    for (price, qty) in levels {
        match qty.0 {
            0 => side.remove(&price.0),
            q => side.insert(price.0, q),
        };
    }
}

fn to_map(levels: &[Level8]) -> Side {
    levels.iter().map(|(p, q)| (p.0, q.0)).collect()
}

fn check_depth(d: &PartialDepth, update_id: u64, levels: usize) {
    assert_eq!(d.last_update_id, update_id);
    assert_eq!((d.bids.len(), d.asks.len()), (levels, levels));
    assert!(strictly_sorted(&d.bids, true) && strictly_sorted(&d.asks, false));
    assert!(d.bids[0].0 < d.asks[0].0, "book crossed");
    assert!(d.bids.iter().chain(&d.asks).all(|(p, q)| p.0 > 0 && q.0 > 0));
}

/// Tracks the ids of one symbol across operations and checks each step.
#[derive(Default)]
struct Checker {
    trade_id: Option<u64>,
    agg_id: Option<u64>,
    block_id: Option<u64>,
    last_u: BTreeMap<DepthSpeed, u64>,
}

impl Checker {
    fn order(&mut self, o: &OrderOutcome, before: u64, after: u64) {
        let first = o.trades[0].id;
        assert!(self.trade_id.is_none_or(|t| first == t + 1), "trade ids step by one");
        assert!(o.trades.windows(2).all(|w| w[1].id == w[0].id + 1));
        let agg = &o.agg_trade;
        assert!(o.trades.iter().all(|t| t.price == agg.price && t.buyer_maker == agg.buyer_maker));
        let total: i64 = o.trades.iter().map(|t| t.qty.0).sum();
        assert!(o.trades.iter().all(|t| t.qty.0 > 0));
        assert_eq!((agg.qty.0, agg.first_trade_id), (total, first));
        assert_eq!(agg.last_trade_id, o.trades[o.trades.len() - 1].id);
        assert!(self.agg_id.is_none_or(|a| agg.id == a + 1), "agg ids step by one");
        if let Some(b) = &o.block_trade {
            assert!(self.block_id.is_none_or(|prev| b.id == prev + 1));
            self.block_id = Some(b.id);
        }
        let best = if agg.buyer_maker { o.book_ticker.bid.0 } else { o.book_ticker.ask.0 };
        assert_eq!(best, agg.price, "trades print at the best opposite level");
        assert!(after - before == 1 || after - before == 2, "one book change, maybe after a mid move");
        assert_eq!(o.book_ticker.update_id, after);
        self.trade_id = Some(agg.last_trade_id);
        self.agg_id = Some(agg.id);
    }

    fn diff(&mut self, speed: DepthSpeed, d: &DepthUpdate, update_id: u64) {
        let prev = self.last_u.insert(speed, d.final_update_id);
        assert_eq!(Some(d.first_update_id), prev.map(|u| u + 1), "U = previous u + 1");
        assert!(d.first_update_id <= d.final_update_id);
        assert_eq!(d.final_update_id, update_id);
        assert!(strictly_sorted(&d.bids, true) && strictly_sorted(&d.asks, false));
        assert!(d.bids.iter().chain(&d.asks).all(|(_, q)| q.0 >= 0));
    }
}

/// Runs `steps` random operations on symbol 0; returns the 100 ms diffs and a snapshot taken at `snap_at`.
fn random_run(m: &mut Market, steps: usize, snap_at: usize) -> (Vec<DepthUpdate>, PartialDepth) {
    let mut rng = StdRng::seed_from_u64(99);
    let mut checker = Checker::default();
    let (mut now, mut diffs, mut snapshot) = (START, Vec::new(), None);
    for speed in [DepthSpeed::Ms100, DepthSpeed::Ms1000] {
        assert_eq!(m.diff_depth(0, speed, now), None, "the first call only sets the baseline");
        checker.last_u.insert(speed, m.update_id(0));
    }
    for step in 0..steps {
        now += rng.random_range(0..20_000);
        let before = m.update_id(0);
        match rng.random_range(0..100) {
            0..45 => {
                let order = m.taker_order(0, now);
                checker.order(&order, before, m.update_id(0));
            }
            45..85 => {
                let bt = m.book_change(0, now);
                assert_eq!((bt.update_id, m.update_id(0)), (before + 1, before + 1));
            }
            85..95 => {
                let speed = if step % 3 == 0 { DepthSpeed::Ms1000 } else { DepthSpeed::Ms100 };
                let diff = m.diff_depth(0, speed, now);
                assert_eq!(diff.is_none(), checker.last_u[&speed] == before);
                if let Some(d) = diff {
                    checker.diff(speed, &d, before);
                    if speed == DepthSpeed::Ms100 {
                        diffs.push(d);
                    }
                }
            }
            _ => check_depth(&m.partial_depth(0, DepthLevels::L20), m.update_id(0), 20),
        }
        if step == snap_at {
            snapshot = Some(m.rest_depth(0, 5000));
        }
    }
    if let Some(d) = m.diff_depth(0, DepthSpeed::Ms100, now) {
        checker.diff(DepthSpeed::Ms100, &d, m.update_id(0));
        diffs.push(d);
    }
    assert_eq!(m.diff_depth(0, DepthSpeed::Ms100, now), None, "nothing new, nothing sent");
    (diffs, snapshot.unwrap())
}

#[test]
fn long_runs_keep_ids_and_books_consistent() {
    for name in ["btcusdt", "shibusdt", "xrpbtc"] {
        let mut m = market(&[name], 11);
        let (diffs, snapshot) = random_run(&mut m, 20_000, 7_000);
        check_depth(&snapshot, snapshot.last_update_id, 100);
        // Binance's local order book procedure: drop u <= lastUpdateId, the first applied event straddles it.
        let (mut bids, mut asks) = (to_map(&snapshot.bids), to_map(&snapshot.asks));
        let mut applied = diffs.iter().skip_while(|d| d.final_update_id <= snapshot.last_update_id);
        let first = applied.next().unwrap();
        assert!(first.first_update_id <= snapshot.last_update_id + 1);
        for d in std::iter::once(first).chain(applied) {
            apply(&mut bids, &d.bids);
            apply(&mut asks, &d.asks);
        }
        let now = m.rest_depth(0, 5000);
        check_depth(&now, m.update_id(0), 100);
        assert_eq!((bids, asks), (to_map(&now.bids), to_map(&now.asks)), "{name}");
    }
}

/// Runs a fixed mix of operations over three symbols and renders every payload in both units.
fn transcript(seed: u64) -> Vec<u8> {
    let mut m = market(&["btcusdt", "ethusdt", "pepeusdt"], seed);
    let mut rng = StdRng::seed_from_u64(3);
    let (mut out, mut now) = (Vec::new(), START);
    for _ in 0..3000 {
        now += rng.random_range(0..50_000);
        let id = rng.random_range(0..3);
        let unit = if rng.random() { TimeUnit::Millisecond } else { TimeUnit::Microsecond };
        render_op(&mut m, id, rng.random_range(0..12), now, unit, &mut out);
    }
    out
}

/// Renders one payload on its own line.
fn line<P: Payload>(p: &P, unit: TimeUnit, out: &mut Vec<u8>) {
    p.render(unit, out);
    out.push(b'\n');
}

fn render_op(m: &mut Market, id: SymbolId, op: u32, now: Micros, unit: TimeUnit, out: &mut Vec<u8>) {
    match op {
        0..=2 => {
            let o = m.taker_order(id, now);
            o.trades.iter().for_each(|t| line(t, unit, out));
            line(&o.agg_trade, unit, out);
            o.block_trade.iter().for_each(|b| line(b, unit, out));
            line(&o.book_ticker, unit, out);
        }
        3..=4 => line(&m.book_change(id, now), unit, out),
        5 => m.diff_depth(id, DepthSpeed::Ms100, now).iter().for_each(|d| line(d, unit, out)),
        6 => line(&m.partial_depth(id, DepthLevels::L5), unit, out),
        7 => line(&m.kline(id, KlineInterval::M1, false, now), unit, out),
        8 => line(&m.ticker(id, now), unit, out),
        9 => line(&m.rolling_ticker(id, TickerWindow::H1, now), unit, out),
        10 => line(&m.avg_price(id, now), unit, out),
        _ => {
            render_array(&[m.mini_ticker(id, now)], unit, out);
            out.push(b'\n');
            line(&m.reference_price(id, now), unit, out);
        }
    }
}

#[test]
fn same_seed_same_bytes() {
    let a = transcript(42);
    assert_eq!(a, transcript(42));
    assert_ne!(a, transcript(43));
    for text in a.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        assert!(serde_json::from_slice::<serde_json::Value>(text).is_ok(), "{}", String::from_utf8_lossy(text));
    }
}

#[test]
fn symbols_walk_independently() {
    let mut alone = market(&["btcusdt", "ethusdt"], 5);
    let mut busy = alone.clone();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..2000u64 {
        let now = START + i * 1000;
        render_op(&mut alone, 0, (i % 12) as u32, now, TimeUnit::Millisecond, &mut a);
        render_op(&mut busy, 1, ((i * 7) % 12) as u32, now, TimeUnit::Millisecond, &mut Vec::new());
        render_op(&mut busy, 0, (i % 12) as u32, now, TimeUnit::Millisecond, &mut b);
    }
    assert_eq!(a, b);
}

#[test]
fn looks_up_symbols() {
    let m = Market::new(&default_universe(), MarketParams::default(), 1, START);
    assert_eq!(m.symbols(), default_universe().len());
    assert_eq!((m.symbol_id("btcusdt"), m.symbol_id("ethbtc").map(|i| m.symbol_name(i))), (Some(0), Some("ethbtc")));
    assert_eq!((m.symbol_id("BTCUSDT"), m.symbol_id("nosuchusdt")), (None, None));
    assert_eq!(m.ticker(0, START).symbol.as_ref(), "BTCUSDT");
    check_depth(&m.rest_depth(13, 1000), m.update_id(13), 100);
}

/// Places `n` orders one millisecond apart from `from`; returns the trades.
fn orders(m: &mut Market, n: u64, from: Micros) -> Vec<Trade> {
    (0..n).flat_map(|i| m.taker_order(0, from + i * 1000).trades).collect()
}

/// `(first id, last id, count, low, high, last price, base volume, taker-buy volume)` of some trades.
fn summary(trades: &[Trade]) -> (i64, i64, u64, i64, i64, i64, i128, i128) {
    let prices = trades.iter().map(|t| t.price.0);
    let volume = |f: fn(&&Trade) -> bool| trades.iter().filter(f).map(|t| i128::from(t.qty.0)).sum();
    let (first, last) = (&trades[0], &trades[trades.len() - 1]);
    let (low, high) = (prices.clone().min().unwrap(), prices.max().unwrap());
    let count = trades.len() as u64;
    (first.id as i64, last.id as i64, count, low, high, last.price.0, volume(|_| true), volume(|t| !t.buyer_maker))
}

#[test]
fn klines_follow_trades() {
    let mut m = market(&["btcusdt"], 1);
    let empty = m.kline(0, KlineInterval::M1, false, START);
    assert_eq!((empty.open_time, empty.next_open), (START - 5_000_000, START + 55_000_000));
    assert_eq!((empty.first_trade_id, empty.trades, empty.ohlc), (-1, 0, [Decimal8(9_700_000_000_000); 4]));
    let trades = orders(&mut m, 20, START + 1_000_000);
    let k = m.kline(0, KlineInterval::M1, false, START + 30_000_000);
    let [o, h, l, c] = k.ohlc.map(|d| d.0);
    let seen = (k.first_trade_id, k.last_trade_id, k.trades, l, h, c, k.volumes[0].0, k.volumes[2].0);
    assert_eq!((seen, o), (summary(&trades), trades[0].price.0));

    let later = m.kline(0, KlineInterval::M1, false, START + 120_000_000);
    assert_eq!((later.open_time, later.trades, later.first_trade_id), (START + 115_000_000, 0, -1));
    assert_eq!(later.ohlc, [k.ohlc[3]; 4], "an empty candle sits at the previous close");
    let mut out = Vec::new();
    later.render(TimeUnit::Millisecond, &mut out);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["k"]["T"].as_u64(), Some((START + 175_000_000) / 1000 - 1));
}

#[test]
fn klines_align_to_their_zone() {
    let mut m = market(&["btcusdt"], 1);
    let open = |m: &mut Market, i, utc8| m.kline(0, i, utc8, START).open_time / 1_000_000;
    assert_eq!(open(&mut m, KlineInterval::H1, false), 1_707_991_200, "10:00 UTC");
    assert_eq!(open(&mut m, KlineInterval::D1, false), 1_707_955_200, "00:00 UTC");
    assert_eq!(open(&mut m, KlineInterval::D1, true), 1_707_926_400, "16:00 UTC the day before");
    assert_eq!(open(&mut m, KlineInterval::W1, false), 1_707_696_000, "Monday");
    assert_eq!(open(&mut m, KlineInterval::Month1, false), 1_706_745_600, "Feb 1st");
}

#[test]
fn day_tickers_summarise_trades() {
    let mut m = market(&["ethusdt"], 2);
    assert!(!m.changed_since(0, START));
    let trades = orders(&mut m, 30, START);
    let (now, last) = (START + 3_600_000_000, &trades[trades.len() - 1]);
    let t = m.ticker(0, now);
    let s = &t.stats;
    let (first, last_id, count, low, high, close, volume, _) = summary(&trades);
    let seen = (s.first_id, s.last_id, s.count, s.close.0, s.volume.0);
    assert_eq!(seen, (first, last_id, count, close, volume));
    let range = (low.min(s.open.0), high.max(s.open.0));
    assert_eq!((s.low.0, s.high.0), range, "the range includes the open");
    assert_eq!((s.open, t.last_qty), (Decimal8(340_000_000_000), last.qty));
    assert_eq!((s.open_time, s.close_time), (now - 86_400_000_000, now));
    assert_eq!(m.mini_ticker(0, now).stats, *s);
    let r = m.reference_price(0, now).price.unwrap();
    assert!(t.bid.0 <= r && r <= t.ask.0);
    assert!(m.changed_since(0, last.trade_time) && !m.changed_since(0, last.trade_time + 1));
}

#[test]
fn window_tickers_and_avg_price() {
    let mut m = market(&["ethusdt"], 2);
    let trades = orders(&mut m, 30, START);
    let (now, last) = (START + 3_600_000_000, &trades[trades.len() - 1]);
    let hour = m.rolling_ticker(0, TickerWindow::H1, now).stats;
    assert_eq!((hour.open_time, hour.count), (START - 5_000_000, trades.len() as u64));
    let four = m.rolling_ticker(0, TickerWindow::H4, now + 3 * 3_600_000_000).stats;
    assert_eq!((four.count, four.first_id, four.open), (hour.count, hour.first_id, hour.open));
    let empty = m.rolling_ticker(0, TickerWindow::H1, now + 3_600_000_000).stats;
    assert_eq!((empty.count, empty.first_id, empty.open, empty.close), (0, -1, last.price, last.price));

    let avg = m.avg_price(0, START + 60_000_000);
    let (_, _, _, low, high, ..) = summary(&trades);
    assert!(avg.price.0 >= low && avg.price.0 <= high);
    assert_eq!(avg.last_trade_time, last.trade_time);
    assert_eq!(m.avg_price(0, now).price, last.price, "no recent trades: the last price");
}
