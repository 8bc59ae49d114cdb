//! The mock's counters in the OpenMetrics text format, for `GET /metrics`, written by prometheus-client (the
//! Prometheus project's Rust client): a registry built from a [`MockSnapshot`] at every scrape, each
//! counter and gauge holding the snapshot's figure. Every metric is prefixed `wschaos_mock_`.
//!
//! Pure: renders a snapshot.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::mock::StreamStats;
use crate::mock::stats::MockSnapshot;

/// The `Content-Type` of the rendering.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A family of series told apart by their labels.
type Labelled<M> = Family<Vec<(String, String)>, M>;

/// Renders a snapshot as OpenMetrics text.
pub fn render(snapshot: &MockSnapshot) -> String {
    let mut registry = Registry::with_prefix("wschaos_mock");
    connections(&mut registry, snapshot);
    streams(&mut registry, snapshot);
    faults(&mut registry, snapshot);
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &registry) {
        // Writing to a String fails only on a formatting error of the library's own.
        tracing::warn!("the mock's metrics could not be encoded: {e}");
    }
    out
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let counter = Counter::<u64>::default();
    counter.inc_by(value);
    registry.register(name, help, counter);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let gauge = Gauge::<i64>::default();
    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, gauge);
}

/// A counter family of `(label value, count)` pairs under label `label`.
fn counters<'a>(
    registry: &mut Registry,
    (name, help, label): (&str, &str, &str),
    values: impl Iterator<Item = (String, u64)> + 'a,
) {
    let family = Labelled::<Counter<u64>>::default();
    for (value, n) in values {
        family.get_or_create(&vec![(label.to_owned(), value)]).inc_by(n);
    }
    registry.register(name, help, family);
}

fn connections(registry: &mut Registry, s: &MockSnapshot) {
    let uptime = Gauge::<f64, AtomicU64>::default();
    uptime.set(s.uptime_ms as f64 / 1000.0);
    registry.register("uptime_seconds", "Seconds since the mock started", uptime);
    gauge(registry, "connections_open", "WebSocket connections open now", s.connections_open);
    gauge(registry, "connections_high_water", "Most connections open at once", s.connections_high_water);
    counter(registry, "upgrades_accepted", "Upgrades answered with 101", s.upgrades.accepted);
    let rejected = s.upgrades.rejected.iter().map(|(reason, n)| (reason.label(), *n));
    counters(registry, ("upgrades_rejected", "Upgrades and requests refused, by reason", "reason"), rejected);
    let cause = |c| serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let closes = s.closes.iter().map(|(c, n)| (cause(c), *n));
    counters(registry, ("closes", "Connections ended, by cause", "cause"), closes);
    let errors = s.errors_answered.iter().map(|(code, n)| (code.to_string(), *n));
    counters(registry, ("errors_answered", "Protocol error responses, by Binance error code", "code"), errors);
    counter(registry, "frames_written", "Data frames written to clients", s.frames_written);
    counter(registry, "messages_dropped", "Messages dropped at full outbound queues", s.messages_dropped);
    let lag = Labelled::<Gauge<f64, AtomicU64>>::default();
    for (quantile, us) in [("0.5", s.feed_lag.p50_us), ("0.99", s.feed_lag.p99_us), ("1", s.feed_lag.max_us)] {
        lag.get_or_create(&vec![("quantile".to_owned(), quantile.to_owned())]).set(us as f64 / 1e6);
    }
    registry.register("feed_lag_seconds", "Lateness of the feed against its schedule", lag);
}

/// A per-stream metric: name, help, whether it counts, and how to read it from a stream's figures.
type Series = (&'static str, &'static str, bool, fn(&StreamStats) -> u64);

fn streams(registry: &mut Registry, s: &MockSnapshot) {
    let series: [Series; 4] = [
        ("stream_subscribers", "Subscribers per stream now", false, |t| t.subscribers),
        ("stream_events_published", "Events published per stream", true, |t| t.events_published),
        ("stream_messages_sent", "Messages queued to subscribers per stream", true, |t| t.messages_sent),
        ("stream_messages_dropped", "Messages dropped per stream", true, |t| t.messages_dropped),
    ];
    for (name, help, counts, value) in series {
        let per_stream = s.streams.iter().map(|t| (t.name.clone(), value(t)));
        if counts {
            counters(registry, (name, help, "stream"), per_stream);
        } else {
            let family = Labelled::<Gauge<i64>>::default();
            for (stream, n) in per_stream {
                family.get_or_create(&vec![("stream".to_owned(), stream)]).set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            registry.register(name, help, family);
        }
    }
}

fn faults(registry: &mut Registry, s: &MockSnapshot) {
    let mut by_kind = std::collections::BTreeMap::new();
    for record in &s.faults {
        *by_kind.entry(record.kind.as_str().to_owned()).or_insert(0u64) += 1;
    }
    counters(registry, ("faults_started", "Faults that fired, by kind", "kind"), by_kind.into_iter());
    let active = s.faults.iter().filter(|r| r.ended_ms.is_none()).count() as u64;
    gauge(registry, "faults_active", "Faults in force now", active);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::stats::MockStats;

    #[test]
    fn renders_valid_exposition_lines() {
        let stats = MockStats::new();
        stats.upgrade_accepted("127.0.0.1".parse().unwrap(), std::time::Duration::ZERO);
        stats.upgrade_rejected("127.0.0.1".parse().unwrap(), crate::mock::stats::RejectReason::Injected(503));
        let stream = crate::mock::StreamStats { name: "weird\"name".into(), subscribers: 2, ..Default::default() };
        let text = render(&stats.snapshot(vec![stream], vec![]));
        assert!(text.contains("wschaos_mock_connections_open 1\n"), "{text}");
        assert!(text.contains("wschaos_mock_upgrades_rejected_total{reason=\"injected-503\"} 1\n"), "{text}");
        assert!(text.contains("wschaos_mock_stream_subscribers{stream=\"weird\\\"name\"} 2\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with EOF: {text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(line.starts_with("wschaos_mock_"), "{line}");
        }
    }
}
