//! The delivery accounting of an external manager's clients, from what its process reports: every delivery
//! row placed in the upstream's publication record by its key and accounted per subscription (one
//! subscriber, one stream) through [`Track`], in the same unit as the models' (subscriber-deliveries), so
//! that per stream `delivered + lost = published while subscribed`. What the process never reported is
//! owed all the same: a subscription that received nothing loses everything published on its stream from
//! its subscribe (plus the settle time) to its end. A row for a subscription that does not exist is a
//! routing error (002's `max_routing_errors`), unless it arrived within the settle time of its
//! unsubscribe. Drops the mock recorded become outages per client and stream, recovered by the next
//! delivery on it. Pure: the caller supplies every time.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::adapter::protocol::DeliveryRow;
use crate::manager::track::Track;
use crate::mock::publications::{Index, KeyRecord};
use crate::mock::stream_name::{StreamKind, StreamSpec};
use crate::mock::time::Micros;
use crate::record::event::{CohortId, DeliverySample, Event, LatencySample, StreamTally};
use crate::record::freshness::{Freshness, Watch};

/// One subscriber's subscription of one stream.
#[derive(Debug)]
struct Subscription {
    /// Subscribed at (µs since the epoch).
    since: Micros,
    record: Option<Arc<KeyRecord>>,
    watch: Option<Arc<Watch>>,
    track: Track,
    /// A partial book (`depth5` …): the same book sent again is a repeat, not a duplicate.
    snapshot: bool,
    longest_wait: u64,
    /// How far behind its publication the newest event arrived (µs).
    behind: u64,
}

/// A drop of one client's stream, waiting until as many of the stream's subscribers as it cut off have
/// received again. The server cannot tell which of a stream's subscribers a dropped socket served (a manager
/// with a socket per subscription has several for one stream): the outage of `subscribers` of them ends when
/// that many distinct subscribers of the stream have received since the drop (or every one still
/// subscribed has). Exact when every socket of the stream dropped, as in a mass drop; early for a partial
/// drop of such a manager, whose untouched subscribers go on receiving.
#[derive(Debug, Clone)]
struct Outage {
    at: Micros,
    subscribers: u32,
    received: HashSet<u32>,
}

/// What the accounting of one process's clients keeps.
#[derive(Debug)]
pub struct Accounting {
    cohort: CohortId,
    freshness: Option<Arc<Freshness>>,
    settle_us: u64,
    /// When the run started (µs since the epoch), for the run-relative times of events.
    start: Micros,
    /// client → stream → subscriber → subscription.
    live: HashMap<u32, HashMap<String, HashMap<u32, Subscription>>>,
    /// When a subscription ended, for the rows still in flight then.
    departed: HashMap<(u32, u32, String), Micros>,
    outages: HashMap<(u32, String), Outage>,
    sample: DeliverySample,
    streams: HashMap<String, StreamTally>,
    /// The latest receive time reported (µs since the epoch).
    latest: Micros,
    /// Rows for a subscription that does not exist.
    pub routing_errors: u64,
    /// The run's end (µs since the epoch; `Micros::MAX` until it ends): rows received later are not the run's.
    until: Micros,
}

/// How long past its settle time an ended subscription is remembered (its rows after that are routing
/// errors either way).
const DEPARTED_KEPT_US: u64 = 5_000_000;

impl Accounting {
    /// The accounting of `cohort`'s clients in one process, against the publication record of `freshness`
    /// (`None`: no record, every row is unresolved), with the run's settle time and start.
    pub fn new(cohort: CohortId, freshness: Option<Arc<Freshness>>, settle: Duration, start: Micros) -> Self {
        Accounting {
            cohort,
            freshness,
            settle_us: settle.as_micros() as u64,
            start,
            live: HashMap::new(),
            departed: HashMap::new(),
            outages: HashMap::new(),
            sample: DeliverySample::empty(cohort),
            streams: HashMap::new(),
            latest: 0,
            routing_errors: 0,
            until: Micros::MAX,
        }
    }

    /// The run ended at `at`: rows received later (while the process is asked for its metrics and
    /// stopped) are not accounted, as a model's client stops receiving at the end.
    pub fn close_at(&mut self, at: Micros) {
        self.until = at;
    }

    /// Subscriber `subscriber` of `client` subscribed to `stream` at `at`.
    pub fn subscribed(&mut self, client: u32, subscriber: u32, stream: &str, at: Micros) {
        let record = self.freshness.as_ref().and_then(|f| f.record_of(stream));
        let watch = self.freshness.as_ref().and_then(|f| f.watch(self.cohort, stream, at));
        if let Some(watch) = &watch {
            watch.set_subscribers(1);
        }
        let snapshot = StreamSpec::parse(stream).is_some_and(|s| matches!(s.kind, StreamKind::PartialDepth(..)));
        let subscription =
            Subscription { since: at, record, watch, track: Track::default(), snapshot, longest_wait: 0, behind: 0 };
        let subscribers = self.live.entry(client).or_default().entry(stream.to_owned()).or_default();
        subscribers.entry(subscriber).or_insert(subscription);
    }

    /// Subscriber `subscriber` of `client` left `stream` at `at`: its accounting ends.
    pub fn unsubscribed(&mut self, client: u32, subscriber: u32, stream: &str, at: Micros) {
        let Some(streams) = self.live.get_mut(&client) else { return };
        let Some(subscribers) = streams.get_mut(stream) else { return };
        let Some(subscription) = subscribers.remove(&subscriber) else { return };
        if subscribers.is_empty() {
            streams.remove(stream);
        }
        self.departed.insert((client, subscriber, stream.to_owned()), at);
        self.end(stream, subscription, at);
    }

    /// Every subscription `client` holds, as (subscriber, stream).
    pub fn subscriptions_of(&self, client: u32) -> Vec<(u32, String)> {
        let Some(streams) = self.live.get(&client) else { return Vec::new() };
        let mut held: Vec<(u32, String)> = streams
            .iter()
            .flat_map(|(stream, subscribers)| subscribers.keys().map(move |s| (*s, stream.clone())))
            .collect();
        held.sort_unstable();
        held
    }

    /// Accounts a batch of `client`'s deliveries.
    pub fn delivered(&mut self, client: u32, rows: &[DeliveryRow]) {
        for row in rows {
            self.row(client, row);
        }
    }

    fn row(&mut self, client: u32, row: &DeliveryRow) {
        let (stream, received) = (row.stream(), row.received_us());
        if received > self.until {
            return;
        }
        self.latest = self.latest.max(received);
        let Some(subscription) =
            self.live.get_mut(&client).and_then(|s| s.get_mut(stream)).and_then(|s| s.get_mut(&row.subscriber()))
        else {
            let key = (client, row.subscriber(), stream.to_owned());
            let in_flight = self.departed.get(&key).is_some_and(|at| received <= at + self.settle_us);
            if !in_flight {
                self.routing_errors += 1;
            }
            return;
        };
        // One allocation per stream and flush, not per row.
        if !self.streams.contains_key(stream) {
            self.streams.insert(stream.to_owned(), StreamTally::default());
        }
        let tally = self.streams.get_mut(stream).expect("inserted above");
        tally.received += 1;
        self.sample.received += 1;
        let index = match (&subscription.record, row.key()) {
            (Some(record), Some(key)) => record.index_of(key).map(|i| (i, record.clone())),
            _ => None,
        };
        let Some((index, record)) = index else {
            tally.unresolved += 1;
            self.sample.unresolved += 1;
            return;
        };
        if subscription.snapshot && subscription.track.next() == Some(index + 1) {
            return;
        }
        let waiting_since = match subscription.track.next() {
            Some(next) => record.published_no_later_than(next),
            None => record.published_at(record.first_at_or_after(subscription.since)),
        };
        let delivery = subscription.track.receive(index, 1);
        let published = record.published_at(index);
        if delivery.advanced > 0 {
            let waited = waiting_since.map_or(0, |at| received.saturating_sub(at));
            subscription.longest_wait = subscription.longest_wait.max(waited);
            subscription.behind = published.map_or(0, |at| received.saturating_sub(at));
        }
        if let (Some(watch), Some(next)) = (&subscription.watch, subscription.track.next()) {
            watch.received_until(next);
        }
        (tally.delivered, tally.gaps, tally.late, tally.duplicates) = (
            tally.delivered + delivery.delivered,
            tally.gaps + delivery.gaps,
            tally.late + delivery.late,
            tally.duplicates + delivery.duplicates,
        );
        self.sample.delivered += delivery.delivered;
        self.sample.gaps += delivery.gaps;
        self.sample.late += delivery.late;
        self.sample.duplicates += delivery.duplicates;
        if delivery.delivered > 0 {
            let sent = published.or(row.event_time_us()).unwrap_or(received);
            let latency_us = received.saturating_sub(sent).clamp(1, u64::from(u32::MAX)) as u32;
            let at_ms = (received.saturating_sub(self.start) / 1000).min(u64::from(u32::MAX)) as u32;
            self.sample.latencies.push(LatencySample { latency_us, subscribers: 1, at_ms, upstream_us: 0 });
        }
    }

    /// The mock ended a connection of `client` carrying `streams` at `at` (not closed by the client): each
    /// stream's subscribers of the client are out until it next delivers; returns the subscriptions it
    /// carried (one per stream for a manager with a socket per subscription, `per_subscription`; else every
    /// subscriber of each stream).
    pub fn dropped(&mut self, client: u32, streams: &[String], at: Micros, per_subscription: bool) -> u32 {
        let mut carried = 0;
        for stream in streams {
            let subscribers = self.live.get(&client).and_then(|s| s.get(stream)).map_or(0, |s| s.len() as u32);
            let lost = if per_subscription { subscribers.min(1) } else { subscribers };
            if lost == 0 {
                continue;
            }
            carried += lost;
            let fresh = || Outage { at, subscribers: 0, received: HashSet::new() };
            let outage = self.outages.entry((client, stream.clone())).or_insert_with(fresh);
            outage.subscribers += lost;
            // Whoever received before this drop has to receive again.
            outage.received.clear();
        }
        carried
    }

    /// Recoveries: the outages whose subscribers have received again in `rows` (received after the drop).
    pub fn recovered(&mut self, client: u32, rows: &[DeliveryRow]) -> Vec<Event> {
        let mut events = Vec::new();
        if self.outages.is_empty() {
            return events;
        }
        for row in rows {
            let key = (client, row.stream().to_owned());
            let Some(outage) = self.outages.get_mut(&key) else { continue };
            if row.received_us() <= outage.at || row.received_us() > self.until {
                continue;
            }
            let live = self.live.get(&client).and_then(|s| s.get(row.stream()));
            if !live.is_some_and(|s| s.contains_key(&row.subscriber())) {
                continue;
            }
            outage.received.insert(row.subscriber());
            let still = live.map_or(0, |s| s.len() as u32);
            if (outage.received.len() as u32) < outage.subscribers.min(still.max(1)) {
                continue;
            }
            let Some(outage) = self.outages.remove(&key) else { continue };
            events.push(Event::Recovered {
                cohort: self.cohort,
                at: Duration::from_micros(row.received_us().saturating_sub(self.start)),
                after: Duration::from_micros(row.received_us() - outage.at),
                subscribers: outage.subscribers,
            });
        }
        events
    }

    /// The deliveries since the last call, for the recorder (`None`: nothing to report).
    pub fn take(&mut self) -> Option<DeliverySample> {
        let mut sample = std::mem::replace(&mut self.sample, DeliverySample::empty(self.cohort));
        sample.streams = self.streams.drain().filter(|(_, t)| !t.is_empty()).collect();
        let (latest, keep) = (self.latest, self.settle_us + DEPARTED_KEPT_US);
        self.departed.retain(|_, at| *at + keep > latest);
        (!sample.is_empty() || !sample.latencies.is_empty()).then_some(sample)
    }

    /// Ends every live subscription at `at` (the end of the run) and every outage still waiting: the events
    /// owed and never reported are lost.
    pub fn finish(&mut self, at: Micros) -> Vec<Event> {
        let live = std::mem::take(&mut self.live);
        for (_, streams) in live {
            for (stream, subscribers) in streams {
                for (_, subscription) in subscribers {
                    self.end(&stream, subscription, at);
                }
            }
        }
        let cohort = self.cohort;
        self.outages
            .drain()
            .map(|(_, o)| Event::Abandoned {
                cohort,
                subscriptions: o.subscribers,
                waited: Duration::from_micros(at.saturating_sub(o.at)),
            })
            .collect()
    }

    /// Ends one subscription's accounting at `at`.
    fn end(&mut self, stream: &str, mut subscription: Subscription, at: Micros) {
        if let Some(watch) = &subscription.watch {
            watch.set_subscribers(0);
        }
        let Some(record) = subscription.record.clone() else { return };
        let cut_off = at.saturating_sub(self.settle_us).saturating_sub(subscription.behind);
        let owed_until: Index = record.published_by(cut_off);
        let lost = match subscription.track.next() {
            Some(next) => {
                if let Some(first_missing) = record.published_no_later_than(next).filter(|t| *t <= cut_off) {
                    subscription.longest_wait = subscription.longest_wait.max(at.saturating_sub(first_missing));
                }
                subscription.track.close(owed_until, 1)
            }
            None => {
                let first = record.first_at_or_after(subscription.since + self.settle_us);
                let first_owed = record.published_at(record.first_at_or_after(subscription.since));
                let waited = first_owed.filter(|t| *t <= cut_off).map_or(0, |t| at.saturating_sub(t));
                subscription.longest_wait = waited;
                owed_until.saturating_sub(first)
            }
        };
        self.sample.gaps += lost;
        self.streams.entry(stream.to_owned()).or_default().gaps += lost;
        self.sample.without_data.push((subscription.longest_wait, 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "btcusdt@trade";

    fn row(subscriber: u32, received_us: u64) -> DeliveryRow {
        DeliveryRow(subscriber, S.to_owned(), Some(1), Some(1), received_us)
    }

    /// An accounting without a publication record, with `subscribers` of client 0 on one stream.
    fn subscribed(subscribers: u32) -> Accounting {
        let mut accounting = Accounting::new(1, None, Duration::from_millis(100), 1_000_000);
        for subscriber in 0..subscribers {
            accounting.subscribed(0, subscriber, S, 1_000_000);
        }
        accounting
    }

    fn recovered_after(events: &[Event]) -> Vec<(Duration, u32)> {
        events
            .iter()
            .map(|e| match e {
                Event::Recovered { after, subscribers, .. } => (*after, *subscribers),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_stream_with_a_socket_per_subscriber_recovers_when_every_dropped_subscriber_received_again() {
        let mut accounting = subscribed(3);
        let dropped = accounting.dropped(0, &[S.to_owned(), S.to_owned(), S.to_owned()], 2_000_000, true);
        assert_eq!(dropped, 3, "one subscription per socket");
        assert!(accounting.recovered(0, &[row(0, 1_999_000)]).is_empty(), "received before the drop");
        assert!(accounting.recovered(0, &[row(0, 3_000_000), row(0, 3_100_000)]).is_empty(), "one of three");
        assert!(accounting.recovered(0, &[row(1, 3_200_000)]).is_empty(), "two of three");
        let events = accounting.recovered(0, &[row(2, 3_500_000)]);
        assert_eq!(recovered_after(&events), [(Duration::from_millis(1_500), 3)], "the last one's reconnect");
        assert!(accounting.recovered(0, &[row(2, 3_600_000)]).is_empty(), "recovered once");
    }

    #[test]
    fn a_subscriber_that_left_during_the_outage_is_not_waited_for() {
        let mut accounting = subscribed(2);
        accounting.dropped(0, &[S.to_owned()], 2_000_000, false);
        accounting.unsubscribed(0, 1, S, 2_100_000);
        let events = accounting.recovered(0, &[row(0, 2_400_000)]);
        assert_eq!(recovered_after(&events), [(Duration::from_millis(400), 2)]);
    }

    #[test]
    fn an_outage_never_recovered_is_abandoned_at_the_end() {
        let mut accounting = subscribed(1);
        accounting.dropped(0, &[S.to_owned()], 2_000_000, false);
        let events = accounting.finish(5_000_000);
        assert!(
            matches!(events[..], [Event::Abandoned { subscriptions: 1, waited, .. }] if waited == Duration::from_secs(3)),
            "{events:?}"
        );
    }

    #[test]
    fn rows_received_after_the_run_ended_are_not_the_run_s() {
        let mut accounting = subscribed(1);
        accounting.close_at(2_000_000);
        accounting.delivered(0, &[row(9, 2_000_001)]);
        assert_eq!(accounting.routing_errors, 0, "not even a routing error");
        accounting.delivered(0, &[row(9, 2_000_000)]);
        assert_eq!(accounting.routing_errors, 1, "up to the end, it is");
    }

    #[test]
    fn a_row_for_a_subscription_that_never_was_is_a_routing_error_unlike_one_in_flight_after_leaving() {
        let mut accounting = subscribed(1);
        accounting.unsubscribed(0, 0, S, 2_000_000);
        accounting.delivered(0, &[row(0, 2_050_000)]);
        assert_eq!(accounting.routing_errors, 0, "within the settle time of the unsubscribe");
        accounting.delivered(0, &[row(0, 2_300_000), row(7, 2_300_000)]);
        assert_eq!(accounting.routing_errors, 2, "after the settle time, and a subscriber that never subscribed");
    }
}
