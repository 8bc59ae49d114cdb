//! Staleness: what per-message latency cannot see. A subscriber whose stream stalls, or whose socket is down,
//! contributes no latency samples at all; sampled at fixed instants, its staleness grows instead.
//!
//! At an instant `t`, a live subscription's staleness is `t` minus the publication time of the first event on
//! its stream that it has not received (zero when it has received the newest the upstream published, however
//! rarely the stream publishes): the lag behind the source, in the sense of age of information
//! (`../shared/reference/measurement-truth.md`). An event still in flight counts with its age so far; a
//! stalled stream or a socket that is down counts from the first event it missed.
//!
//! Each subscribed stream of each upstream socket holds a [`Watch`] (the first index it has not received,
//! its subscribers, since when) registered here; the recorder samples every watch on its own tick against
//! the upstream's [`Publications`] record. The clients only store atomics: nothing is aggregated outside the
//! recorder.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::mock::FeedKey;
use crate::mock::market::SymbolId;
use crate::mock::publications::{Index, KeyRecord, Publications};
use crate::mock::stream_name::{StreamKind, StreamSpec};
use crate::mock::time::Micros;
use crate::record::event::CohortId;

/// No event received yet: staleness counts from the subscription's start.
const NOTHING_YET: u64 = u64::MAX;

/// One subscribed stream on one upstream socket, as the staleness sampler sees it.
#[derive(Debug)]
pub struct Watch {
    cohort: CohortId,
    record: Arc<KeyRecord>,
    subscribers: AtomicU32,
    since: Micros,
    next: AtomicU64,
}

impl Watch {
    /// Sets how many subscribers the stream has on this socket (0: none, not sampled).
    pub fn set_subscribers(&self, subscribers: u32) {
        self.subscribers.store(subscribers, Ordering::Relaxed);
    }

    /// Notes that every event before `next` has been received (a later event can only move it forward).
    pub fn received_until(&self, next: Index) {
        let current = self.next.load(Ordering::Relaxed);
        if current == NOTHING_YET || next > current {
            self.next.store(next, Ordering::Relaxed);
        }
    }

    /// When the subscription started (µs since the epoch).
    pub fn since(&self) -> Micros {
        self.since
    }

    /// The stream's publication record.
    pub fn record(&self) -> &Arc<KeyRecord> {
        &self.record
    }

    /// The first index not yet received (`None`: nothing received yet).
    pub fn next(&self) -> Option<Index> {
        Some(self.next.load(Ordering::Relaxed)).filter(|n| *n != NOTHING_YET)
    }

    /// Staleness at `now` (µs).
    pub fn staleness(&self, now: Micros) -> u64 {
        staleness(&self.record, self.next(), self.since, now)
    }
}

/// Staleness at `now` of a subscription that has received every event before `next` (or nothing, having
/// subscribed at `since`): `now` minus the publication time of the first event it lacks, 0 when it lacks
/// none that is published.
pub fn staleness(record: &KeyRecord, next: Option<Index>, since: Micros, now: Micros) -> u64 {
    let first_missing = next.unwrap_or_else(|| record.first_at_or_after(since));
    match record.published_no_later_than(first_missing) {
        Some(published) => now.saturating_sub(published),
        None => 0,
    }
}

/// Maps stream names to the upstream's publication records.
#[derive(Debug)]
pub struct Resolver {
    publications: Arc<Publications>,
    symbols: HashMap<String, SymbolId>,
}

impl Resolver {
    /// A resolver over `publications` for the feed's `symbols` (in feed order); the record is enabled.
    pub fn new(publications: Arc<Publications>, symbols: &[String]) -> Self {
        publications.enable();
        let symbols = symbols.iter().enumerate().map(|(i, s)| (s.clone(), i as SymbolId)).collect();
        Resolver { publications, symbols }
    }

    /// The record of the stream `name`, when it names a stream of the feed whose messages a subscriber can
    /// place in it (the all-market arrays and `referencePrice` carry no key the record is kept by).
    pub fn record_of(&self, name: &str) -> Option<Arc<KeyRecord>> {
        let spec = StreamSpec::parse(name)?;
        if !resolvable(spec.kind) {
            return None;
        }
        let symbol = match &spec.symbol {
            Some(s) => Some(*self.symbols.get(s)?),
            None => None,
        };
        Some(self.publications.of(FeedKey { symbol, kind: spec.kind }))
    }
}

/// Whether a subscriber's message of this kind names the event it carries: a sequence id, or an event time
/// on a payload that is one object.
fn resolvable(kind: StreamKind) -> bool {
    !matches!(
        kind,
        StreamKind::AllMiniTickers
            | StreamKind::AllTickers
            | StreamKind::AllRollingTickers(_)
            | StreamKind::ReferencePrice
    )
}

/// Every live watch of a run.
#[derive(Debug)]
pub struct Freshness {
    resolver: Resolver,
    watches: Mutex<Vec<Arc<Watch>>>,
}

impl Freshness {
    /// Watches resolved through `resolver`.
    pub fn new(resolver: Resolver) -> Self {
        Freshness { resolver, watches: Mutex::new(Vec::new()) }
    }

    /// The record of stream `name`.
    pub fn record_of(&self, name: &str) -> Option<Arc<KeyRecord>> {
        self.resolver.record_of(name)
    }

    /// Starts watching a subscription of `cohort` to `stream` made at `since`; `None` when the stream is
    /// not one of the feed's.
    pub fn watch(&self, cohort: CohortId, stream: &str, since: Micros) -> Option<Arc<Watch>> {
        let record = self.resolver.record_of(stream)?;
        let watch = Arc::new(Watch {
            cohort,
            record,
            subscribers: AtomicU32::new(0),
            since,
            next: AtomicU64::new(NOTHING_YET),
        });
        self.watches.lock().unwrap_or_else(|p| p.into_inner()).push(watch.clone());
        Some(watch)
    }

    /// Samples every live watch at `now`: `visit(cohort, staleness µs, subscribers)`, once per distinct
    /// cohort and value with the subscribers added up (thousands of caught-up subscriptions of one stream
    /// cost one histogram record). Watches whose owner is gone are forgotten.
    pub fn sample(&self, now: Micros, mut visit: impl FnMut(CohortId, u64, u32)) {
        let mut by_value: HashMap<(CohortId, u64), u32> = HashMap::new();
        let mut known: HashMap<(*const KeyRecord, Option<Index>, Micros), u64> = HashMap::new();
        {
            let mut watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
            watches.retain(|w| Arc::strong_count(w) > 1);
            for watch in watches.iter() {
                let subscribers = watch.subscribers.load(Ordering::Relaxed);
                if subscribers == 0 {
                    continue;
                }
                let next = watch.next();
                let since = if next.is_some() { 0 } else { watch.since };
                let value = *known
                    .entry((Arc::as_ptr(&watch.record), next, since))
                    .or_insert_with(|| staleness(&watch.record, next, since, now));
                let total = by_value.entry((watch.cohort, value)).or_default();
                *total = total.saturating_add(subscribers);
            }
        }
        for ((cohort, value), subscribers) in by_value {
            visit(cohort, value, subscribers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn freshness() -> (Arc<Publications>, Freshness) {
        let publications = Arc::new(Publications::default());
        let resolver = Resolver::new(publications.clone(), &["btcusdt".to_owned()]);
        (publications, Freshness::new(resolver))
    }

    #[test]
    fn zero_when_caught_up_whatever_the_rate_and_growing_from_the_first_missed_event() {
        let (publications, freshness) = freshness();
        let trade = FeedKey { symbol: Some(0), kind: StreamKind::Trade };
        let watch = freshness.watch(0, "btcusdt@trade", 1_000).unwrap();
        watch.set_subscribers(3);
        assert_eq!(watch.staleness(5_000), 0, "nothing published yet");
        publications.record(trade, 10, 2_000);
        assert_eq!(watch.staleness(2_500), 500, "in flight: its age so far");
        watch.received_until(1);
        assert_eq!(watch.staleness(900_000), 0, "caught up with a quiet stream");
        publications.record(trade, 11, 3_000);
        publications.record(trade, 12, 4_000);
        assert_eq!(watch.staleness(10_000), 7_000, "from the first event missed, not the newest");
        watch.received_until(3);
        watch.received_until(2);
        assert_eq!(watch.staleness(10_000), 0, "never moves backwards");
        let mut seen = Vec::new();
        freshness.sample(10_000, |cohort, value, subscribers| seen.push((cohort, value, subscribers)));
        assert_eq!(seen, [(0, 0, 3)]);
    }

    #[test]
    fn a_subscription_that_never_received_counts_from_its_start() {
        let (publications, freshness) = freshness();
        let trade = FeedKey { symbol: Some(0), kind: StreamKind::Trade };
        publications.record(trade, 1, 500);
        let watch = freshness.watch(1, "btcusdt@trade", 1_000).unwrap();
        watch.set_subscribers(1);
        assert_eq!(watch.staleness(1_200), 0, "what was published before it subscribed is not owed");
        publications.record(trade, 2, 1_100);
        assert_eq!(watch.staleness(1_200), 100);
        assert!(freshness.watch(0, "ethusdt@trade", 0).is_none(), "not a symbol of the feed");
        assert!(freshness.watch(0, "!miniTicker@arr", 0).is_none(), "no key to place its messages by");
        drop(watch);
        let mut samples = 0;
        freshness.sample(2_000, |_, _, _| samples += 1);
        assert_eq!(samples, 0, "a dropped watch is forgotten");
    }
}
