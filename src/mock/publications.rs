//! The upstream's own record of what it published: per feed key, every event in publication order with the
//! key that identifies it to a subscriber (its sequence id: trade `t`, aggregate `a`, depth `u`, bookTicker
//! `u`, partial depth `lastUpdateId`; its event time `E` in µs for the kinds without one) and when it was
//! published (µs since the epoch).
//!
//! The feed appends, subscribers look up: a message a subscriber reads resolves to its place in the record,
//! which is what loss, staleness and the latency of the kinds without `E` are measured against, for every
//! stream kind alike. An event the feed generated but a fault withheld (a depth gap) is in the record: the
//! subscriber should have had it.
//!
//! Each key keeps its most recent [`REMEMBERED`] events (indices stay absolute), so a long run's memory is
//! bounded; a lookup of a forgotten event finds nothing. Nothing is recorded until a reader enables the
//! record ([`Publications::enable`]: the harness does for its embedded mock), so a standalone mock keeps
//! no record at all.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::mock::hub::FeedKey;
use crate::mock::time::Micros;

/// Events remembered per feed key: 43 minutes of a hot symbol's trades at 100 per second, 4 MiB.
pub const REMEMBERED: usize = 262_144;

/// Position of an event in its key's record, counted from the first event ever published on it.
pub type Index = u64;

#[derive(Debug, Default)]
struct Entries {
    /// Index of the first remembered event.
    base: Index,
    /// (identifying key, published at), oldest first.
    events: VecDeque<(u64, Micros)>,
}

/// The record of one feed key.
#[derive(Debug, Default)]
pub struct KeyRecord {
    entries: RwLock<Entries>,
}

impl KeyRecord {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an event; an identifying key that does not increase is not a new event and is ignored.
    pub fn push(&self, key: u64, at: Micros) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.events.back().is_some_and(|(last, _)| *last >= key) {
            return;
        }
        if entries.events.len() == REMEMBERED {
            entries.events.pop_front();
            entries.base += 1;
        }
        entries.events.push_back((key, at));
    }

    /// The index of the event identified by `key`, if it is remembered.
    pub fn index_of(&self, key: u64) -> Option<Index> {
        let entries = self.read();
        let position = entries.events.binary_search_by_key(&key, |(k, _)| *k).ok()?;
        Some(entries.base + position as Index)
    }

    /// When event `index` was published; for a forgotten one, when the oldest remembered was (it was
    /// published no later); `None` when it has not been published.
    pub fn published_no_later_than(&self, index: Index) -> Option<Micros> {
        let entries = self.read();
        if index < entries.base {
            return entries.events.front().map(|(_, at)| *at);
        }
        entries.events.get(usize::try_from(index - entries.base).ok()?).map(|(_, at)| *at)
    }

    /// When event `index` was published, if it is remembered and has been published.
    pub fn published_at(&self, index: Index) -> Option<Micros> {
        let entries = self.read();
        let position = usize::try_from(index.checked_sub(entries.base)?).ok()?;
        entries.events.get(position).map(|(_, at)| *at)
    }

    /// Events published so far (the index the next one will get).
    pub fn published(&self) -> Index {
        let entries = self.read();
        entries.base + entries.events.len() as Index
    }

    /// The index of the first event published at or after `at` (the next index when none is yet).
    pub fn first_at_or_after(&self, at: Micros) -> Index {
        let entries = self.read();
        entries.base + entries.events.partition_point(|(_, t)| *t < at) as Index
    }

    /// Events published at or before `at` (the index of the first one after it).
    pub fn published_by(&self, at: Micros) -> Index {
        let entries = self.read();
        entries.base + entries.events.partition_point(|(_, t)| *t <= at) as Index
    }

    /// The identifying keys of the first and last event remembered.
    pub fn key_range(&self) -> Option<(u64, u64)> {
        let entries = self.read();
        Some((entries.events.front()?.0, entries.events.back()?.0))
    }
}

/// Every feed key's record.
#[derive(Debug, Default)]
pub struct Publications {
    keys: RwLock<HashMap<FeedKey, Arc<KeyRecord>>>,
    enabled: AtomicBool,
}

impl Publications {
    /// Starts recording (a reader is there to use the record).
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    /// Records that the feed published event `key` on `feed` at `at` (nothing unless enabled).
    pub fn record(&self, feed: FeedKey, key: u64, at: Micros) {
        if self.enabled.load(Ordering::Relaxed) {
            self.of(feed).push(key, at);
        }
    }

    /// The record of `feed` (an empty one, filled from now on, when nothing was published on it yet).
    pub fn of(&self, feed: FeedKey) -> Arc<KeyRecord> {
        if let Some(record) = self.keys.read().unwrap_or_else(|p| p.into_inner()).get(&feed) {
            return record.clone();
        }
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.entry(feed).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::stream_name::StreamKind;

    #[test]
    fn resolves_events_to_absolute_indices_and_forgets_the_oldest() {
        let record = KeyRecord::default();
        for i in 0..(REMEMBERED as u64 + 10) {
            record.push(100 + 2 * i, 1_000 + i);
        }
        record.push(100, 5);
        assert_eq!(record.published(), REMEMBERED as u64 + 10, "a key that does not increase is no event");
        assert_eq!(record.index_of(100), None, "forgotten");
        assert_eq!(record.index_of(100 + 2 * 20), Some(20));
        assert_eq!(record.index_of(101), None, "never published");
        assert_eq!(record.published_at(20), Some(1_020));
        assert_eq!(record.published_at(3), None);
        assert_eq!(record.published_no_later_than(3), Some(1_010), "forgotten: the oldest remembered");
        assert_eq!(record.first_at_or_after(1_020), 20);
        assert_eq!(record.published_by(1_020), 21);
        assert_eq!(record.first_at_or_after(u64::MAX), record.published());
    }

    #[test]
    fn one_record_per_feed_key() {
        let publications = Publications::default();
        let trade = FeedKey { symbol: Some(0), kind: StreamKind::Trade };
        let other = FeedKey { symbol: Some(1), kind: StreamKind::Trade };
        publications.record(trade, 6, 60);
        assert_eq!(publications.of(trade).published(), 0, "nothing recorded until enabled");
        publications.enable();
        publications.record(trade, 7, 70);
        let record = publications.of(trade);
        publications.record(trade, 8, 80);
        assert_eq!((record.published(), publications.of(other).published()), (2, 0));
        assert_eq!(record.key_range(), Some((7, 8)));
    }
}
