//! Adding one shard's records into another's, as if one recorder had received both shards' events:
//! histograms added exactly (HdrHistogram adds bucket by bucket), counts summed, per-second and 100 ms series
//! added element by element (each shard counts from its own start, and the shards of a run start at one
//! instant), per-client windows joined (a client is in one shard), each second's latency and staleness
//! distributions added and its percentiles read again. One kind of figure cannot be rebuilt from the shards'
//! records and is bounded instead: a high-water mark (connections, WSManager's streams), whose shards' peaks
//! may not coincide. [`Recording::bound_peaks`] brackets it from each shard's per-second peaks and
//! end-of-second counts, and the criteria that read it judge both ends.

use std::collections::BTreeMap;

use super::{CohortRecord, EncodedSecond, Recording, Second, Stretch};
use crate::record::event::add_histogram;

fn add_counts(into: &mut BTreeMap<String, u64>, other: &BTreeMap<String, u64>) {
    for (key, count) in other {
        *into.entry(key.clone()).or_default() += count;
    }
}

/// Adds `other` element by element, the shorter series padded with zeros.
fn add_series(into: &mut Vec<u64>, other: &[u64]) {
    if into.len() < other.len() {
        into.resize(other.len(), 0);
    }
    for (a, b) in into.iter_mut().zip(other) {
        *a += b;
    }
}

impl Stretch {
    fn absorb(&mut self, other: &Stretch) {
        add_histogram(&mut self.latency, &other.latency);
        add_histogram(&mut self.staleness, &other.staleness);
    }
}

impl Second {
    fn absorb(&mut self, other: &Second) {
        self.attempts += other.attempts;
        self.connected += other.connected;
        self.failed += other.failed;
        self.errors += other.errors;
        self.ended += other.ended;
        self.open += other.open;
        self.open_peak += other.open_peak;
        self.open_least += other.open_least;
        self.streams += other.streams;
        self.streams_peak += other.streams_peak;
        self.streams_least += other.streams_least;
        self.delivered += other.delivered;
        self.gaps += other.gaps;
        self.detections += other.detections;
        self.retries += other.retries;
        self.received += other.received;
        self.latency_p50_us = self.latency_p50_us.max(other.latency_p50_us);
        self.latency_p95_us = self.latency_p95_us.max(other.latency_p95_us);
        self.latency_p99_us = self.latency_p99_us.max(other.latency_p99_us);
        self.staleness_p50_us = self.staleness_p50_us.max(other.staleness_p50_us);
        self.staleness_p99_us = self.staleness_p99_us.max(other.staleness_p99_us);
    }
}

impl CohortRecord {
    /// Adds another shard's record of the same cohort.
    pub fn absorb(&mut self, other: &CohortRecord) {
        self.absorb_histograms(other);
        self.absorb_counts(other);
        self.absorb_series(other);
        self.absorb_seconds(other);
        self.absorb_events(other);
        self.open += other.open;
        self.open_high_water += other.open_high_water;
        self.active_streams.0 += other.active_streams.0;
        self.active_streams.1 += other.active_streams.1;
        self.max_attempts_per_ip_5m = self.max_attempts_per_ip_5m.max(other.max_attempts_per_ip_5m);
        for (client, window) in &other.per_client {
            self.per_client.entry(*client).or_default().extend(window.iter().copied());
        }
        if self.windows.len() < other.windows.len() {
            self.windows.resize_with(other.windows.len(), Stretch::default);
        }
        for (into, window) in self.windows.iter_mut().zip(&other.windows) {
            into.absorb(window);
        }
        self.outside.absorb(&other.outside);
    }

    fn absorb_histograms(&mut self, other: &CohortRecord) {
        let pairs = [
            (&mut self.latency, &other.latency),
            (&mut self.upstream_share, &other.upstream_share),
            (&mut self.delivery_share, &other.delivery_share),
            (&mut self.staleness, &other.staleness),
            (&mut self.without_data, &other.without_data),
            (&mut self.connect_time, &other.connect_time),
            (&mut self.recovery, &other.recovery),
            (&mut self.detection, &other.detection),
            (&mut self.retry_delay, &other.retry_delay),
        ];
        for (into, from) in pairs {
            add_histogram(into, from);
        }
    }

    fn absorb_counts(&mut self, other: &CohortRecord) {
        add_counts(&mut self.attempts, &other.attempts);
        add_counts(&mut self.ends, &other.ends);
        add_counts(&mut self.errors, &other.errors);
        for (name, tally) in &other.streams {
            self.streams.entry(name.clone()).or_default().add(tally);
        }
        let scalars = [
            (&mut self.reconnects, other.reconnects),
            (&mut self.delivered, other.delivered),
            (&mut self.received, other.received),
            (&mut self.gaps, other.gaps),
            (&mut self.late, other.late),
            (&mut self.duplicates, other.duplicates),
            (&mut self.unresolved, other.unresolved),
            (&mut self.malformed, other.malformed),
            (&mut self.gave_up, other.gave_up),
            (&mut self.gave_up_subscribers, other.gave_up_subscribers),
            (&mut self.fallbacks, other.fallbacks),
            (&mut self.subscriptions_dropped, other.subscriptions_dropped),
            (&mut self.subscriptions_recovered, other.subscriptions_recovered),
            (&mut self.stream_events.0, other.stream_events.0),
            (&mut self.stream_events.1, other.stream_events.1),
            (&mut self.stream_events.2, other.stream_events.2),
        ];
        for (into, count) in scalars {
            *into += count;
        }
        let external = &mut self.external;
        external.garbage += other.external.garbage;
        external.failed += other.external.failed;
        external.routing_errors += other.external.routing_errors;
        external.failures.extend(other.external.failures.iter().cloned());
    }

    fn absorb_series(&mut self, other: &CohortRecord) {
        add_series(&mut self.attempts_fine, &other.attempts_fine);
        add_series(&mut self.retries_fine, &other.retries_fine);
        if self.seconds.len() < other.seconds.len() {
            self.seconds.resize(other.seconds.len(), Second::default());
        }
        for (into, second) in self.seconds.iter_mut().zip(&other.seconds) {
            into.absorb(second);
        }
    }

    /// Each second's distributions added, and its percentiles read from the sum (a second's percentiles of
    /// records without their distributions stay the highest of the shards').
    fn absorb_seconds(&mut self, other: &CohortRecord) {
        let mut by_second: BTreeMap<usize, Stretch> = BTreeMap::new();
        for encoded in self.second_stretches.iter().chain(&other.second_stretches) {
            by_second.entry(encoded.second).or_default().absorb(&encoded.decoded());
        }
        self.second_stretches = by_second.iter().map(|(second, stretch)| EncodedSecond::of(*second, stretch)).collect();
        for (second, stretch) in &by_second {
            self.write_quantiles(*second, stretch);
        }
    }

    fn absorb_events(&mut self, other: &CohortRecord) {
        self.recoveries.extend(other.recoveries.iter().copied());
        self.recoveries.sort_unstable();
        self.abandoned.extend(other.abandoned.iter().copied());
        self.abandoned.sort_unstable();
    }
}

/// One figure of a second.
type Reading = fn(&Second) -> i64;

/// The most a quantity of the shards can have added to at once, and the least its most can have been:
/// `peak(s)` and `least(s)` are a shard's most and fewest within second `s`, `marks` the sum of the
/// shards' own high-water marks and the largest of them. At any one instant a shard is in its second `s`,
/// `s - 1` or `s + 1` of another's (they start within a second of each other, or the merge says the rig
/// lagged), so the fleet held at most the sum of each shard's most over those three seconds and at least
/// the sum of each shard's fewest over them; its peak was at least the most that lower figure reaches, and
/// at least any one shard's own mark.
fn bounds(shards: &[&CohortRecord], (peak, least): (Reading, Reading), marks: (i64, i64)) -> (i64, i64) {
    let (sum, largest) = marks;
    let seconds = shards.iter().map(|s| s.seconds.len()).max().unwrap_or(0);
    let (mut low, mut high) = (largest, 0);
    for k in 0..seconds {
        let near = |r: &&CohortRecord| -> Option<(i64, i64)> {
            let window = r.seconds.get(k.saturating_sub(1)..(k + 2).min(r.seconds.len()))?;
            Some((window.iter().map(peak).max()?, window.iter().map(least).min()?))
        };
        let (most, fewest) =
            shards.iter().filter_map(near).fold((0, 0), |(m, f), (most, fewest)| (m + most, f + fewest));
        (high, low) = (high.max(most), low.max(fewest));
    }
    // Without per-second records (none were kept) only the sum of the shards' own marks bounds it.
    let high = if seconds == 0 { sum } else { high.min(sum) };
    (low.min(high), high)
}

impl Recording {
    /// After every shard's recording is absorbed: each cohort's high-water marks (connections, WSManager's
    /// streams) bracketed from the shards' per-second records, `open_high_water` and the streams' mark the
    /// upper bound, `*_low` the lower one.
    pub fn bound_peaks(&mut self, shards: &[&Recording]) {
        for (index, merged) in self.cohorts.iter_mut().enumerate() {
            let records: Vec<&CohortRecord> = shards.iter().filter_map(|s| s.cohorts.get(index)).collect();
            let largest = records.iter().map(|r| r.open_high_water).max().unwrap_or(0);
            let marks = (merged.open_high_water, largest);
            let (low, high) = bounds(&records, (|s| s.open_peak, |s| s.open_least), marks);
            (merged.open_high_water, merged.open_high_water_low) = (high, Some(low));
            let largest = records.iter().map(|r| r.active_streams.1).max().unwrap_or(0);
            let marks = (merged.active_streams.1, largest);
            let (low, high) = bounds(&records, (|s| s.streams_peak, |s| s.streams_least), marks);
            (merged.active_streams.1, merged.streams_high_water_low) = (high, Some(low));
        }
    }

    /// Adds another shard's recording of the same run, cohort by cohort and rehearsal step by step.
    pub fn absorb(&mut self, other: &Recording) {
        self.steps.absorb(&other.steps);
        if self.cohorts.len() < other.cohorts.len() {
            self.cohorts.resize_with(other.cohorts.len(), CohortRecord::default);
        }
        for (into, cohort) in self.cohorts.iter_mut().zip(&other.cohorts) {
            into.absorb(cohort);
        }
        self.events += other.events;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::event::StreamTally;

    fn record(latencies: &[u64], delivered: u64, seconds: &[u64]) -> CohortRecord {
        let mut r = CohortRecord::default();
        for l in latencies {
            r.latency.record(*l).unwrap();
            r.outside.latency.record(*l).unwrap();
        }
        r.delivered = delivered;
        r.attempts.insert("connected".into(), delivered / 10);
        r.streams.insert("btcusdt@trade".into(), StreamTally { delivered, gaps: 1, ..StreamTally::default() });
        r.attempts_fine = seconds.to_vec();
        r.seconds = seconds.iter().map(|d| Second { delivered: *d, ..Second::default() }).collect();
        for second in 0..seconds.len() {
            let mut stretch = Stretch::default();
            for l in latencies {
                stretch.latency.record(*l * (second as u64 + 1)).unwrap();
            }
            r.summarise_second(second, &stretch);
        }
        r.open_high_water = 3;
        r.max_attempts_per_ip_5m = delivered / 100;
        r.per_client.insert(delivered as u32, [std::time::Duration::from_secs(1)].into());
        r
    }

    #[test]
    fn two_shards_add_up_to_the_record_of_both() {
        // A hand-computed case: 4 latencies in one shard, 6 in the other; the merged median is the 5th of
        // the 10 sorted values, its p90 the 9th.
        let mut a = record(&[100, 200, 300, 400], 40, &[1, 2, 3]);
        let b = record(&[150, 250, 350, 450, 550, 650], 600, &[10, 20]);
        a.absorb(&b);
        assert_eq!(a.latency.len(), 10);
        assert_eq!(a.latency.value_at_quantile(0.5), a.latency.highest_equivalent(300));
        assert_eq!(a.latency.value_at_quantile(0.9), a.latency.highest_equivalent(550));
        assert_eq!((a.latency.min(), a.latency.max()), (100, a.latency.highest_equivalent(650)));
        assert_eq!(a.outside.latency.len(), 10);
        assert_eq!(a.delivered, 640);
        assert_eq!(a.attempts["connected"], 64);
        let tally = a.streams["btcusdt@trade"];
        assert_eq!((tally.delivered, tally.gaps), (640, 2));
        assert_eq!(a.attempts_fine, [11, 22, 3]);
        let delivered: Vec<u64> = a.seconds.iter().map(|s| s.delivered).collect();
        assert_eq!(delivered, [11, 22, 3]);
        // Each second's percentiles, from the shards' distributions of that second added: second 0 holds
        // the ten values, whose median is 300; second 2 only the first shard's four, doubled and tripled.
        let coarse = Stretch::default().latency;
        let h = |v| coarse.highest_equivalent(v);
        let p50: Vec<u64> = a.seconds.iter().map(|s| s.latency_p50_us).collect();
        assert_eq!(p50, [h(300), h(600), h(600)]);
        // High-water marks: the sum (an upper bound, until bracketed).
        assert_eq!(a.open_high_water, 6);
        assert_eq!(a.max_attempts_per_ip_5m, 6);
        let mut clients: Vec<u32> = a.clients().collect();
        clients.sort_unstable();
        assert_eq!(clients, [40, 600]);
    }

    /// A shard's connections open (`(most, fewest)` per second).
    fn held(seconds: &[(i64, i64)]) -> Recording {
        let r = CohortRecord {
            seconds: seconds
                .iter()
                .map(|(peak, least)| Second { open_peak: *peak, open_least: *least, open: *least, ..Second::default() })
                .collect(),
            open_high_water: seconds.iter().map(|s| s.0).max().unwrap_or(0),
            ..CohortRecord::default()
        };
        Recording { cohorts: vec![r], ..Recording::default() }
    }

    #[test]
    fn high_water_marks_are_bracketed_from_each_second() {
        // Hand-computed: shard a peaks at 10 in second 1, shard b at 10 in second 5; each holds 2 otherwise.
        let a = held(&[(2, 2), (10, 2), (2, 2), (2, 2), (2, 2), (2, 2), (2, 2)]);
        let b = held(&[(2, 2), (2, 2), (2, 2), (2, 2), (2, 2), (10, 2), (2, 2)]);
        let mut merged = Recording::default();
        merged.absorb(&a);
        merged.absorb(&b);
        assert_eq!(merged.cohorts[0].open_high_water, 20, "the sum of the marks, before bracketing");
        merged.bound_peaks(&[&a, &b]);
        let c = &merged.cohorts[0];
        // At most one shard's peak and the other's most within a second of it: 10 + 2; at least one shard's
        // own 10 (the fewest add to 2 + 2 only).
        assert_eq!((c.open_high_water_low, c.open_high_water), (Some(10), 12));
        // Peaks a second apart (a shard started later) still count together.
        let late = held(&[(2, 2), (2, 2), (10, 10), (2, 2)]);
        let mut merged = Recording::default();
        merged.absorb(&a);
        merged.absorb(&late);
        merged.bound_peaks(&[&a, &late]);
        assert_eq!((merged.cohorts[0].open_high_water_low, merged.cohorts[0].open_high_water), (Some(10), 20));
        // A steady population's bounds meet: each shard holds 16 throughout.
        let steady = held(&[(16, 16); 5]);
        let mut merged = Recording::default();
        merged.absorb(&steady);
        merged.absorb(&steady);
        merged.bound_peaks(&[&steady, &steady]);
        assert_eq!((merged.cohorts[0].open_high_water_low, merged.cohorts[0].open_high_water), (Some(32), 32));
    }

    #[test]
    fn a_recording_absorbs_cohort_by_cohort() {
        let mut a = Recording { cohorts: vec![record(&[100], 1, &[1])], events: 5, ..Recording::default() };
        let b = Recording {
            cohorts: vec![record(&[200], 2, &[2]), record(&[300], 3, &[3])],
            events: 7,
            ..Recording::default()
        };
        a.absorb(&b);
        assert_eq!(a.events, 12);
        assert_eq!(a.cohorts.iter().map(|c| c.delivered).collect::<Vec<_>>(), [3, 3]);
    }
}
