//! When the embedded mock sent each recent update id of each symbol, for the kinds whose payload carries no
//! event time (`bookTicker`, partial depth): the harness measures their delivery latency from here.
//!
//! A bounded ring per symbol and kind; the feed records, subscribers look up.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::mock::market::SymbolId;
use crate::mock::time::Micros;

/// Update ids remembered per symbol and kind.
pub const REMEMBERED: usize = 8192;

/// The two kinds without `E`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untimed {
    /// `bookTicker` (`u`).
    BookTicker,
    /// Partial depth (`lastUpdateId`).
    PartialDepth,
}

/// Recent (update id, send time) pairs, oldest first.
type Ring = VecDeque<(u64, Micros)>;

/// Send times by symbol and update id.
#[derive(Debug, Default)]
pub struct SendTimes {
    rings: Mutex<Vec<[Ring; 2]>>,
}

impl SendTimes {
    fn index(kind: Untimed) -> usize {
        match kind {
            Untimed::BookTicker => 0,
            Untimed::PartialDepth => 1,
        }
    }

    /// Records that update `id` of `symbol` was sent at `at` (ids arrive in increasing order).
    pub fn record(&self, symbol: SymbolId, kind: Untimed, id: u64, at: Micros) {
        let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        if rings.len() <= symbol as usize {
            rings.resize_with(symbol as usize + 1, Default::default);
        }
        let ring = &mut rings[symbol as usize][Self::index(kind)];
        if ring.back().is_some_and(|(last, _)| *last >= id) {
            return;
        }
        if ring.len() == REMEMBERED {
            ring.pop_front();
        }
        ring.push_back((id, at));
    }

    /// When update `id` of `symbol` was sent, if still remembered.
    pub fn lookup(&self, symbol: SymbolId, kind: Untimed, id: u64) -> Option<Micros> {
        let rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        let ring = &rings.get(symbol as usize)?[Self::index(kind)];
        let (front, back) = ring.as_slices();
        let find = |part: &[(u64, Micros)]| part.binary_search_by_key(&id, |(i, _)| *i).ok().map(|p| part[p].1);
        find(front).or_else(|| find(back))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_recent_ids_per_symbol_and_kind() {
        let times = SendTimes::default();
        for id in 0..(REMEMBERED as u64 + 10) {
            times.record(3, Untimed::BookTicker, id * 2, 1000 + id);
        }
        times.record(3, Untimed::PartialDepth, 40, 7);
        assert_eq!(times.lookup(3, Untimed::BookTicker, 10), None, "the oldest are forgotten");
        assert_eq!(times.lookup(3, Untimed::BookTicker, 40), Some(1020));
        let recent = (REMEMBERED as u64 + 5) * 2;
        assert_eq!(times.lookup(3, Untimed::BookTicker, recent), Some(1000 + REMEMBERED as u64 + 5));
        assert_eq!(times.lookup(3, Untimed::BookTicker, recent + 1), None, "never sent");
        assert_eq!(times.lookup(3, Untimed::PartialDepth, 40), Some(7));
        assert_eq!(times.lookup(9, Untimed::BookTicker, 1), None);
    }
}
