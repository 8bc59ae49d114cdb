//! The counters of several mock replicas (seeded alike and started together, serving one run's shards
//! between them) as one mock's: counts summed, per-second and 100 ms slots added by their index, per-address
//! counts joined (each client connects to one replica), the slowest replica's lag figures. A stream's
//! published events are one market's, the same on every replica: the most any replica published, not a
//! sum; its deliveries and subscribers are summed. The fault record is the first replica's (each replica
//! ran the same plan), with what every replica's faults touched added.

use super::{MockSnapshot, SecondCounts, TenthCounts, UpgradeCounts};

fn add_counts(into: &mut UpgradeCounts, other: &UpgradeCounts) {
    into.accepted += other.accepted;
    for (reason, count) in &other.rejected {
        *into.rejected.entry(*reason).or_default() += count;
    }
}

fn add_seconds(into: &mut Vec<SecondCounts>, other: &[SecondCounts]) {
    for slot in other {
        match into.iter_mut().find(|s| s.second == slot.second) {
            Some(s) => add_counts(&mut s.counts, &slot.counts),
            None => into.push(slot.clone()),
        }
    }
    into.sort_by_key(|s| s.second);
}

fn add_tenths(into: &mut Vec<TenthCounts>, other: &[TenthCounts]) {
    for slot in other {
        match into.iter_mut().find(|s| s.tenth == slot.tenth) {
            Some(s) => {
                s.accepted += slot.accepted;
                s.rejected += slot.rejected;
            }
            None => into.push(*slot),
        }
    }
    into.sort_by_key(|s| s.tenth);
}

impl MockSnapshot {
    /// Adds another replica's counters into these.
    pub fn absorb_replica(&mut self, other: &MockSnapshot) {
        self.instance = format!("{},{}", self.instance, other.instance);
        self.uptime_ms = self.uptime_ms.max(other.uptime_ms);
        self.connections_open += other.connections_open;
        // The replicas' peaks may not coincide: their sum bounds the fleet's from above.
        self.connections_high_water += other.connections_high_water;
        add_counts(&mut self.upgrades, &other.upgrades);
        add_seconds(&mut self.upgrades_per_second, &other.upgrades_per_second);
        add_tenths(&mut self.upgrades_per_100ms, &other.upgrades_per_100ms);
        self.counter_resets += other.counter_resets;
        for (ip, counts) in &other.upgrades_per_ip {
            add_counts(self.upgrades_per_ip.entry(*ip).or_default(), counts);
        }
        for (cause, count) in &other.closes {
            *self.closes.entry(*cause).or_default() += count;
        }
        for (code, count) in &other.errors_answered {
            *self.errors_answered.entry(*code).or_default() += count;
        }
        self.absorb_totals(other);
        self.absorb_streams(other);
        for fault in &mut self.faults {
            let same = other.faults.iter().filter(|f| f.id == fault.id);
            fault.touched += same.map(|f| f.touched).sum::<u64>();
        }
    }

    fn absorb_totals(&mut self, other: &MockSnapshot) {
        self.rest_requests += other.rest_requests;
        self.frames_written += other.frames_written;
        self.messages_dropped += other.messages_dropped;
        let (f, g) = (&mut self.feed_lag, &other.feed_lag);
        (f.p50_us, f.p99_us, f.max_us) = (f.p50_us.max(g.p50_us), f.p99_us.max(g.p99_us), f.max_us.max(g.max_us));
        f.jobs += g.jobs;
        let (w, v) = (&mut self.write_lag, &other.write_lag);
        (w.p50_us, w.p99_us, w.p999_us, w.max_us) =
            (w.p50_us.max(v.p50_us), w.p99_us.max(v.p99_us), w.p999_us.max(v.p999_us), w.max_us.max(v.max_us));
        self.canary_connections += other.canary_connections;
        self.canary_events += other.canary_events;
        self.process_cpu_seconds += other.process_cpu_seconds;
        self.process_peak_rss_kib += other.process_peak_rss_kib;
    }

    fn absorb_streams(&mut self, other: &MockSnapshot) {
        for stream in &other.streams {
            let Some(s) = self.streams.iter_mut().find(|s| s.name == stream.name) else {
                self.streams.push(stream.clone());
                continue;
            };
            s.subscribers += stream.subscribers;
            s.subscribers_high_water += stream.subscribers_high_water;
            s.events_published = s.events_published.max(stream.events_published);
            s.first_seq = s.first_seq.into_iter().chain(stream.first_seq).min();
            s.last_seq = s.last_seq.into_iter().chain(stream.last_seq).max();
            s.messages_sent += stream.messages_sent;
            s.messages_dropped += stream.messages_dropped;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(json: serde_json::Value) -> MockSnapshot {
        let mut base = serde_json::json!({
            "uptime_ms": 1000, "connections_open": 0, "connections_high_water": 0,
            "upgrades": {"accepted": 0, "rejected": {}}, "upgrades_per_second": [], "upgrades_per_ip": {},
            "closes": {}, "errors_answered": {}, "rest_requests": 0, "frames_written": 0, "messages_dropped": 0,
            "feed_lag": {"p50_us": 0, "p99_us": 0, "max_us": 0, "jobs": 0}, "streams": [], "faults": []
        });
        for (k, v) in json.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn two_replicas_count_as_one_mock() {
        let mut a = snapshot(serde_json::json!({
            "connections_open": 3, "upgrades": {"accepted": 3, "rejected": {}},
            "upgrades_per_second": [{"second": 0, "accepted": 3, "rejected": {}}],
            "upgrades_per_ip": {"127.0.0.2": {"accepted": 3, "rejected": {}}},
            "feed_lag": {"p50_us": 10, "p99_us": 90, "max_us": 100, "jobs": 5},
            "streams": [{"name": "btcusdt@trade", "subscribers": 3, "subscribers_high_water": 3,
                         "events_published": 40, "first_seq": 1, "last_seq": 40, "messages_sent": 120,
                         "messages_dropped": 0}]
        }));
        let b = snapshot(serde_json::json!({
            "connections_open": 2, "upgrades": {"accepted": 2, "rejected": {}},
            "upgrades_per_second": [{"second": 0, "accepted": 1, "rejected": {}},
                                    {"second": 1, "accepted": 1, "rejected": {}}],
            "upgrades_per_ip": {"127.0.0.3": {"accepted": 2, "rejected": {}}},
            "feed_lag": {"p50_us": 20, "p99_us": 50, "max_us": 300, "jobs": 6},
            "streams": [{"name": "btcusdt@trade", "subscribers": 2, "subscribers_high_water": 2,
                         "events_published": 41, "first_seq": 1, "last_seq": 41, "messages_sent": 82,
                         "messages_dropped": 0}]
        }));
        a.absorb_replica(&b);
        assert_eq!((a.connections_open, a.upgrades.accepted, a.upgrades_per_ip.len()), (5, 5, 2));
        let per_second: Vec<(u64, u64)> = a.upgrades_per_second.iter().map(|s| (s.second, s.counts.accepted)).collect();
        assert_eq!(per_second, [(0, 4), (1, 1)]);
        assert_eq!((a.feed_lag.p50_us, a.feed_lag.p99_us, a.feed_lag.max_us, a.feed_lag.jobs), (20, 90, 300, 11));
        let s = &a.streams[0];
        assert_eq!((s.subscribers, s.events_published, s.last_seq, s.messages_sent), (5, 41, Some(41), 202));
    }
}
