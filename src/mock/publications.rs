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

use crate::mock::outgoing::FeedKey;
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

/// Events kept for a reader in another process ([`Publications::since`]), at most.
pub const LOGGED: usize = 1 << 20;

/// Events handed out per page of [`Publications::since`] to a reader in another process, at most.
pub const PAGE: usize = 50_000;

/// One published event, as a reader in another process fetches it.
pub type Published = (FeedKey, u64, Micros);

/// Every event of every key in publication order, for a reader in another process.
#[derive(Debug, Default)]
struct Log {
    base: u64,
    events: VecDeque<Published>,
}

/// Every feed key's record.
#[derive(Debug, Default)]
pub struct Publications {
    keys: RwLock<HashMap<FeedKey, Arc<KeyRecord>>>,
    enabled: AtomicBool,
    log: std::sync::Mutex<Option<Log>>,
}

impl Publications {
    /// Starts recording (a reader is there to use the record).
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    /// Starts recording for a reader in another process too: every event is also kept in one log, in
    /// publication order, that [`Publications::since`] pages through.
    pub fn enable_log(&self) {
        *self.log.lock().unwrap_or_else(|p| p.into_inner()) = Some(Log::default());
        self.enable();
    }

    /// Records that the feed published event `key` on `feed` at `at` (nothing unless enabled).
    pub fn record(&self, feed: FeedKey, key: u64, at: Micros) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        self.of(feed).push(key, at);
        if let Some(log) = self.log.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            if log.events.len() == LOGGED {
                log.events.pop_front();
                log.base += 1;
            }
            log.events.push_back((feed, key, at));
        }
    }

    /// Up to `max` logged events from position `from` on, and the position after them (events already
    /// dropped from the log are skipped).
    pub fn since(&self, from: u64, max: usize) -> (u64, Vec<Published>) {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let Some(log) = log.as_ref() else { return (from, Vec::new()) };
        let start = from.max(log.base);
        let skip = usize::try_from(start - log.base).unwrap_or(usize::MAX);
        let events: Vec<Published> = log.events.iter().skip(skip).take(max).copied().collect();
        (start + events.len() as u64, events)
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
    fn the_log_pages_through_every_event_in_order() {
        let publications = Publications::default();
        publications.enable_log();
        let trade = FeedKey { symbol: Some(0), kind: StreamKind::Trade };
        for i in 0..5 {
            publications.record(trade, 10 + i, 100 + i);
        }
        let (next, first) = publications.since(0, 3);
        assert_eq!((next, first.len(), first[0]), (3, 3, (trade, 10, 100)));
        let (next, rest) = publications.since(next, 10);
        assert_eq!((next, rest.len(), rest[1]), (5, 2, (trade, 14, 104)));
        assert_eq!(publications.since(next, 10), (5, Vec::new()));
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
