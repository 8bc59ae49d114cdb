//! The mock's counters in the Prometheus text exposition format (version 0.0.4), for `GET /metrics`.
//!
//! Pure: renders a [`MockSnapshot`]; every metric is prefixed `wschaos_mock_`.

use std::fmt::Write;

use crate::mock::StreamStats;
use crate::mock::stats::MockSnapshot;

/// Renders a snapshot as Prometheus text.
pub fn render(snapshot: &MockSnapshot) -> String {
    let mut out = Metrics(String::new());
    connections(&mut out, snapshot);
    streams(&mut out, snapshot);
    faults(&mut out, snapshot);
    out.0
}

struct Metrics(String);

impl Metrics {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _written = writeln!(self.0, "# HELP wschaos_mock_{name} {help}\n# TYPE wschaos_mock_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        let labels = if labels.is_empty() { String::new() } else { format!("{{{}}}", labels.join(",")) };
        let _written = writeln!(self.0, "wschaos_mock_{name}{labels} {value}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.header(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn connections(out: &mut Metrics, s: &MockSnapshot) {
    out.single("uptime_seconds", "gauge", "Seconds since the mock started.", s.uptime_ms as f64 / 1000.0);
    out.single("connections_open", "gauge", "WebSocket connections open now.", s.connections_open);
    out.single("connections_high_water", "gauge", "Most connections open at once.", s.connections_high_water);
    out.header("upgrades_accepted_total", "counter", "Upgrades answered with 101.");
    out.sample("upgrades_accepted_total", &[], s.upgrades.accepted);
    out.header("upgrades_rejected_total", "counter", "Upgrades and requests refused, by reason.");
    for (reason, n) in &s.upgrades.rejected {
        out.sample("upgrades_rejected_total", &[("reason", &reason.label())], n);
    }
    out.header("closes_total", "counter", "Connections ended, by cause.");
    for (cause, n) in &s.closes {
        let cause = serde_json::to_value(cause).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        out.sample("closes_total", &[("cause", &cause)], n);
    }
    out.header("errors_answered_total", "counter", "Protocol error responses, by Binance error code.");
    for (code, n) in &s.errors_answered {
        out.sample("errors_answered_total", &[("code", &code.to_string())], n);
    }
    out.single("frames_written_total", "counter", "Data frames written to clients.", s.frames_written);
    out.single("messages_dropped_total", "counter", "Messages dropped at full outbound queues.", s.messages_dropped);
    out.header("feed_lag_seconds", "gauge", "Lateness of the feed against its schedule.");
    out.sample("feed_lag_seconds", &[("quantile", "0.5")], s.feed_lag.p50_us as f64 / 1e6);
    out.sample("feed_lag_seconds", &[("quantile", "0.99")], s.feed_lag.p99_us as f64 / 1e6);
    out.sample("feed_lag_seconds", &[("quantile", "1")], s.feed_lag.max_us as f64 / 1e6);
}

/// A per-stream metric: name, type, help and how to read it from a stream's figures.
type Series = (&'static str, &'static str, &'static str, fn(&StreamStats) -> u64);

fn streams(out: &mut Metrics, s: &MockSnapshot) {
    let series: [Series; 4] = [
        ("stream_subscribers", "gauge", "Subscribers per stream now.", |t| t.subscribers),
        ("stream_events_published_total", "counter", "Events published per stream.", |t| t.events_published),
        ("stream_messages_sent_total", "counter", "Messages queued to subscribers per stream.", |t| t.messages_sent),
        ("stream_messages_dropped_total", "counter", "Messages dropped per stream.", |t| t.messages_dropped),
    ];
    for (name, kind, help, value) in series {
        out.header(name, kind, help);
        for stream in &s.streams {
            out.sample(name, &[("stream", &stream.name)], value(stream));
        }
    }
}

fn faults(out: &mut Metrics, s: &MockSnapshot) {
    out.header("faults_started_total", "counter", "Faults that fired, by kind.");
    let mut by_kind = std::collections::BTreeMap::new();
    for record in &s.faults {
        *by_kind.entry(record.kind.as_str()).or_insert(0u64) += 1;
    }
    for (kind, n) in by_kind {
        out.sample("faults_started_total", &[("kind", kind)], n);
    }
    let active = s.faults.iter().filter(|r| r.ended_ms.is_none()).count();
    out.single("faults_active", "gauge", "Faults in force now.", active);
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
        assert!(text.contains("wschaos_mock_connections_open 1\n"));
        assert!(text.contains("wschaos_mock_upgrades_rejected_total{reason=\"injected-503\"} 1\n"));
        assert!(text.contains("wschaos_mock_stream_subscribers{stream=\"weird\\\"name\"} 2\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(line.starts_with("wschaos_mock_"), "{line}");
        }
    }
}
