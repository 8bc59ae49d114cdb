//! A per-symbol limit order book in integer units of 1e-8: `levels` bids and asks one tick apart around a
//! mid price, with the spread kept at one tick.
//!
//! Owns the price levels and the journal of touched levels that diff-depth events are built from. It does
//! not count update ids: every public mutation here is one book change, and the caller numbers it.

use std::collections::BTreeMap;

use rand::{Rng, rngs::StdRng};

/// A side of the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// Buy orders, best = highest price.
    Bid,
    /// Sell orders, best = lowest price.
    Ask,
}

/// A `(price, quantity)` level in units of 1e-8.
pub type Level = (i64, i64);

/// The order book of one symbol.
#[derive(Debug, Clone)]
pub struct Book {
    tick: i64,
    lot: i64,
    typical_lots: i64,
    levels: usize,
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
    touched: Vec<(Side, i64)>,
}

impl Book {
    /// A full book of `levels` per side whose best bid is `mid` rounded down to a tick (at least one
    /// tick); level sizes are `1..=2 * typical_lots` lots.
    pub fn new(mid: i64, tick: i64, lot: i64, typical_lots: i64, levels: usize, rng: &mut StdRng) -> Book {
        let tick = tick.max(1);
        let best_bid = (mid / tick).max(1) * tick;
        let mut book = Book {
            tick,
            lot: lot.max(1),
            typical_lots: typical_lots.max(1),
            levels,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            touched: Vec::new(),
        };
        for i in 0..levels as i64 {
            let qty = book.fresh_qty(rng);
            book.asks.insert(best_bid + (i + 1) * tick, qty);
            let qty = book.fresh_qty(rng);
            if best_bid - i * tick > 0 {
                book.bids.insert(best_bid - i * tick, qty);
            }
        }
        book
    }

    /// The quantity step.
    pub fn lot(&self) -> i64 {
        self.lot
    }

    /// The usual size of a level, in lots.
    pub fn typical_lots(&self) -> i64 {
        self.typical_lots
    }

    /// All levels of one side, keyed by price (ascending).
    pub fn side(&self, side: Side) -> &BTreeMap<i64, i64> {
        match side {
            Side::Bid => &self.bids,
            Side::Ask => &self.asks,
        }
    }

    /// The best level of a side.
    pub fn best(&self, side: Side) -> Option<Level> {
        let level = match side {
            Side::Bid => self.bids.last_key_value(),
            Side::Ask => self.asks.first_key_value(),
        };
        level.map(|(p, q)| (*p, *q))
    }

    /// The mid price, `(best bid + best ask) / 2`.
    pub fn mid(&self) -> Option<i64> {
        Some((self.best(Side::Bid)?.0 + self.best(Side::Ask)?.0) / 2)
    }

    /// The quantity at a price (0 when there is no level).
    pub fn qty(&self, side: Side, price: i64) -> i64 {
        self.side(side).get(&price).copied().unwrap_or(0)
    }

    /// Up to `n` levels of a side, best first.
    pub fn top(&self, side: Side, n: usize) -> Vec<Level> {
        match side {
            Side::Bid => self.bids.iter().rev().take(n).map(|(p, q)| (*p, *q)).collect(),
            Side::Ask => self.asks.iter().take(n).map(|(p, q)| (*p, *q)).collect(),
        }
    }

    /// The levels touched since the last drain, in order (a price may repeat).
    pub fn drain_touched(&mut self) -> std::vec::Drain<'_, (Side, i64)> {
        self.touched.drain(..)
    }

    /// Gives a random level (biased towards the top of the book) a new, different quantity.
    pub fn change_random_level(&mut self, rng: &mut StdRng) -> bool {
        let side = if rng.random() { Side::Bid } else { Side::Ask };
        let depth = self.side(side).len();
        if depth == 0 {
            return false;
        }
        let index = rng.random_range(0..depth).min(rng.random_range(0..depth));
        let price = match side {
            Side::Bid => self.bids.keys().rev().nth(index),
            Side::Ask => self.asks.keys().nth(index),
        };
        let Some(&price) = price else { return false };
        let old = self.qty(side, price);
        let mut qty = self.fresh_qty(rng);
        if qty == old {
            qty += self.lot;
        }
        self.set(side, price, qty);
        true
    }

    /// Moves the mid one tick up (the best ask becomes the best bid) or down. The far end of the side
    /// that grew is trimmed and the side that shrank is refilled, so each keeps `levels` entries.
    pub fn move_mid(&mut self, up: bool, rng: &mut StdRng) -> bool {
        let (from, to) = if up { (Side::Ask, Side::Bid) } else { (Side::Bid, Side::Ask) };
        let Some((price, _)) = self.best(from) else {
            return false;
        };
        if !up && price <= self.tick {
            return false;
        }
        self.set(from, price, 0);
        let qty = self.fresh_qty(rng);
        self.set(to, price, qty);
        self.trim(to);
        self.refill(from, price, rng);
        true
    }

    /// Takes up to `qty` from the best level of `side`; a level emptied this way is replenished with a
    /// fresh quantity (hidden liquidity), so the spread never widens. Returns `(price, taken)`.
    pub fn take(&mut self, side: Side, qty: i64, rng: &mut StdRng) -> Option<Level> {
        let (price, level_qty) = self.best(side)?;
        let taken = qty.clamp(0, level_qty);
        let mut left = level_qty - taken;
        if left == 0 {
            left = self.fresh_qty(rng);
        }
        self.set(side, price, left);
        Some((price, taken))
    }

    fn fresh_qty(&self, rng: &mut StdRng) -> i64 {
        self.lot * rng.random_range(1..=2 * self.typical_lots)
    }

    fn set(&mut self, side: Side, price: i64, qty: i64) {
        let map = match side {
            Side::Bid => &mut self.bids,
            Side::Ask => &mut self.asks,
        };
        if qty > 0 {
            map.insert(price, qty);
        } else {
            map.remove(&price);
        }
        self.touched.push((side, price));
    }

    fn trim(&mut self, side: Side) {
        while self.side(side).len() > self.levels {
            let worst = match side {
                Side::Bid => self.bids.first_key_value(),
                Side::Ask => self.asks.last_key_value(),
            };
            let Some((&price, _)) = worst else { return };
            self.set(side, price, 0);
        }
    }

    fn refill(&mut self, side: Side, anchor: i64, rng: &mut StdRng) {
        while self.side(side).len() < self.levels {
            let next = match side {
                Side::Bid => self.bids.first_key_value().map_or(anchor, |(p, _)| *p) - self.tick,
                Side::Ask => self.asks.last_key_value().map_or(anchor, |(p, _)| *p) + self.tick,
            };
            if next <= 0 {
                return;
            }
            let qty = self.fresh_qty(rng);
            self.set(side, next, qty);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn book(levels: usize) -> (Book, StdRng) {
        let mut rng = StdRng::seed_from_u64(1);
        (Book::new(1_000_050, 100, 10, 50, levels, &mut rng), rng)
    }

    fn assert_sane(b: &Book, levels: usize) {
        assert_eq!(b.bids.len(), levels);
        assert_eq!(b.asks.len(), levels);
        let (bid, ask) = (b.best(Side::Bid).unwrap().0, b.best(Side::Ask).unwrap().0);
        assert_eq!(ask - bid, b.tick);
        let all = b.bids.iter().chain(b.asks.iter());
        assert!(all.clone().all(|(p, q)| p % b.tick == 0 && *q > 0 && q % b.lot == 0));
    }

    #[test]
    fn builds_around_the_mid() {
        let (b, _) = book(100);
        assert_sane(&b, 100);
        assert_eq!(b.best(Side::Bid).unwrap().0, 1_000_000);
        assert_eq!(b.top(Side::Ask, 2).iter().map(|l| l.0).collect::<Vec<_>>(), [1_000_100, 1_000_200]);
        assert_eq!(b.top(Side::Bid, 2)[1].0, 999_900);
    }

    #[test]
    fn moving_the_mid_keeps_the_shape() {
        let (mut b, mut rng) = book(10);
        assert!(b.move_mid(true, &mut rng));
        assert_sane(&b, 10);
        assert_eq!(b.best(Side::Bid).unwrap().0, 1_000_100);
        let touched: Vec<_> = b.drain_touched().collect();
        assert!(touched.contains(&(Side::Ask, 1_000_100)) && touched.contains(&(Side::Bid, 1_000_100)));
        assert!(touched.contains(&(Side::Bid, 999_100)) && touched.contains(&(Side::Ask, 1_001_100)));
        assert_eq!(b.qty(Side::Ask, 1_000_100), 0);
        for _ in 0..3 {
            assert!(b.move_mid(false, &mut rng));
        }
        assert_sane(&b, 10);
        assert_eq!(b.best(Side::Bid).unwrap().0, 999_800);
    }

    #[test]
    fn taking_and_changing_touch_one_level() {
        let (mut b, mut rng) = book(5);
        b.drain_touched().for_each(drop);
        let (price, qty) = b.best(Side::Ask).unwrap();
        assert_eq!(b.take(Side::Ask, qty - 10, &mut rng), Some((price, qty - 10)));
        assert_eq!(b.best(Side::Ask), Some((price, 10)));
        assert_eq!(b.take(Side::Ask, 1_000_000, &mut rng), Some((price, 10)));
        assert!(b.qty(Side::Ask, price) > 0, "replenished");
        assert!(b.change_random_level(&mut rng));
        assert_eq!(b.drain_touched().count(), 3);
        assert_sane(&b, 5);
    }

    #[test]
    fn never_crosses_zero() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut b = Book::new(300, 1, 1, 5, 100, &mut rng);
        for _ in 0..400 {
            b.move_mid(false, &mut rng);
        }
        assert_eq!(b.best(Side::Bid).unwrap().0, 1);
        assert_eq!(b.bids.len(), 1);
        assert!(b.mid().unwrap() > 0);
    }
}
