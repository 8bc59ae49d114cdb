//! The sections of `report.html` below the criteria: the run's facts, the reconnect storm, latency,
//! recovery, delivery, connections, the fault timeline, the harness's health and the parameters, each
//! as markup in which every run- or scenario-supplied string is escaped.

use std::collections::BTreeMap;

use super::markup::{escape, ms, num, table, td};
use crate::summary::rig::RigSummary;
use crate::summary::{CohortSummary, FaultWindow, HarnessSummary, Percentiles, RunSummary};

fn seconds(ms: u64) -> String {
    format!("{:.1}", ms as f64 / 1000.0)
}

/// "a 3, b 1" from counts by key; "–" when there are none.
fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "–".to_owned();
    }
    map.iter().map(|(key, n)| format!("{key} {n}")).collect::<Vec<_>>().join(", ")
}

/// The UTC time of a Unix time in milliseconds.
fn utc(unix_ms: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_ms);
    humantime::format_rfc3339_seconds(time).to_string()
}

fn fact(name: &str, value: &str) -> String {
    format!("<th>{}</th>{}", escape(name), td(value))
}

/// What decides the exit code, the rollout preset and the baseline compared with, when there are these.
fn gate_facts(summary: &RunSummary) -> Vec<String> {
    let rollout = &summary.scenario["rollout"];
    let gate = match rollout["gate"].as_str() {
        Some("all") => "every cohort",
        _ => "the new manager; the legacy cohort's figures are the reference",
    };
    let mut rows = vec![fact("gate", gate)];
    if let Some(preset) = rollout["preset"].as_str() {
        rows.push(fact("rollout preset", preset));
    }
    if let Some(b) = &summary.baseline {
        rows.push(fact("baseline", &format!("{} (scenario {}, seed {})", b.path, b.scenario, b.seed)));
    }
    rows
}

/// Seed, version, start, length, upstream, the cohorts, the gate's scope, the preset and the baseline.
pub(super) fn run_facts(summary: &RunSummary) -> String {
    let run = &summary.run;
    let seed = match &summary.scenario["seed"] {
        serde_json::Value::Null => "–".to_owned(),
        value => value.to_string(),
    };
    let cohorts: Vec<String> = summary
        .cohorts
        .iter()
        .map(|c| format!("{} ({} clients, {} subscriptions)", c.name, c.clients, c.subscriptions))
        .collect();
    let mut rows = vec![
        fact("seed", &seed),
        fact("wschaos version", &summary.wschaos_version),
        fact("started (UTC)", &utc(run.started_unix_ms)),
        fact(
            "length",
            &format!("{} s{}", seconds(run.elapsed_ms), if run.interrupted { " (interrupted)" } else { "" }),
        ),
        fact("upstream", &run.upstream),
        fact("cohorts", &cohorts.join("; ")),
        fact("events recorded", &run.events_recorded.to_string()),
    ];
    rows.extend(gate_facts(summary));
    table("facts", &[], &rows).replace("<thead><tr></tr></thead>\n", "")
}

/// Attempts by outcome, reconnects, give-ups and fallbacks per cohort.
fn attempts(cohorts: &[CohortSummary]) -> String {
    let attempts: Vec<String> = cohorts
        .iter()
        .map(|c| {
            let a = &c.attempts;
            [td(&c.name), num(a.total), td(&counts(&a.by_outcome)), num(a.retries), num(a.retry_rate_outside_faults)]
                .concat()
                + &[num(a.give_ups), num(a.give_up_subscribers), num(a.fallbacks)].concat()
        })
        .collect();
    let headers = [
        "cohort",
        "attempts",
        "by outcome",
        "reconnects",
        "reconnects outside faults (/s per client)",
        "give-ups",
        "subscribers given up on",
        "fallbacks to legacy",
    ];
    table("attempts", &headers, &attempts)
}

/// Attempts, reconnects and the storm's shape per cohort.
pub(super) fn storm(cohorts: &[CohortSummary]) -> String {
    let shape: Vec<String> = cohorts
        .iter()
        .map(|c| {
            let a = &c.attempts;
            [td(&c.name), num(a.peak_per_second), num(a.peak_retries_per_second), num(a.peak_retries_per_100ms)]
                .concat()
                + &[num(a.lockstep_index), num(ms(c.retry_delay_us.p50)), num(ms(c.retry_delay_us.p99))].concat()
                + &num(a.max_per_ip_5m)
        })
        .collect();
    let headers = [
        "cohort",
        "peak attempts /s",
        "peak reconnects /s",
        "peak reconnects /100 ms",
        "lockstep index",
        "retry delay p50 (ms)",
        "retry delay p99 (ms)",
        "most attempts per IP in 5 min",
    ];
    format!(
        "{}<h3>The storm's shape</h3>\n<p>Lockstep index: the share of the busiest second's reconnects that fell in \
         its busiest 100 ms (1: all at once; about 0.1: spread evenly).</p>\n{}",
        attempts(cohorts),
        table("storm", &headers, &shape)
    )
}

fn percentile_row(cohort: &str, what: &str, p: &Percentiles) -> String {
    let mean = format!("{:.2}", p.mean / 1000.0);
    [td(cohort), td(what), num(p.count), num(ms(p.p50)), num(ms(p.p90)), num(ms(p.p95)), num(ms(p.p99))].concat()
        + &[num(ms(p.p999)), num(ms(p.max)), num(mean)].concat()
}

const PERCENTILE_HEADERS: [&str; 10] =
    ["cohort", "measure", "count", "p50", "p90", "p95", "p99", "p99.9", "max", "mean"];

/// Delivery latency, staleness, time without data and connect time, per cohort (ms).
pub(super) fn latency(cohorts: &[CohortSummary]) -> String {
    let mut rows = Vec::new();
    for c in cohorts {
        rows.push(percentile_row(&c.name, "delivery latency", &c.latency_us));
        if c.latency_split.split > 0 {
            rows.push(percentile_row(
                &c.name,
                "upstream's share (event time to its write)",
                &c.latency_split.upstream_us,
            ));
            rows.push(percentile_row(&c.name, "delivery share (write to subscriber)", &c.latency_split.delivery_us));
        }
        rows.push(percentile_row(&c.name, "staleness (sampled)", &c.staleness_us));
        rows.push(percentile_row(&c.name, "longest time without data", &c.without_data_us));
        rows.push(percentile_row(&c.name, "connect time", &c.connect_time_us));
    }
    format!(
        "<p>Milliseconds. Delivery latency: from each event's own time to the subscriber's callback (open loop: \
         nothing corrected). Staleness: sampled at fixed instants for every live subscription, how long ago the \
         upstream published the first event it has not received (0 when caught up); a stalled or \
         disconnected subscriber shows here, not in latency.</p>\n{}",
        table("latency", &PERCENTILE_HEADERS, &rows)
    )
}

/// Time to recovery and to detection per cohort (ms).
pub(super) fn recovery(cohorts: &[CohortSummary]) -> String {
    let mut rows = Vec::new();
    for c in cohorts {
        rows.push(percentile_row(&c.name, "from each drop, per connection", &c.recovery_us));
        rows.push(percentile_row(&c.name, "from the fault's end, per subscriber", &c.recovery_from_fault_end_us));
        rows.push(percentile_row(&c.name, "silence before a dead socket was detected", &c.detection_us));
    }
    format!("<p>Milliseconds.</p>\n{}", table("recovery", &PERCENTILE_HEADERS, &rows))
}

/// Messages per cohort, and the mock's counts.
pub(super) fn delivery(summary: &RunSummary) -> String {
    let rows: Vec<String> = summary
        .cohorts
        .iter()
        .map(|c| {
            let d = &c.delivery;
            [td(&c.name), num(d.delivered), num(d.received), num(d.gaps), num(d.duplicates), num(d.malformed)].concat()
                + &[num(d.steady_received), num(d.steady_gaps)].concat()
        })
        .collect();
    let headers = [
        "cohort",
        "delivered",
        "received",
        "lost (gaps)",
        "repeated",
        "malformed",
        "received outside faults",
        "lost outside faults",
    ];
    let mut out = table("delivery", &headers, &rows);
    if let Some(server) = &summary.server {
        let row = [
            num(server.events_published),
            num(server.messages_sent),
            num(server.messages_dropped),
            num(server.streams),
            num(ms(server.feed_lag_p99_us)),
        ]
        .concat();
        let headers = ["events published", "messages sent", "dropped at full queues", "streams", "feed lag p99 (ms)"];
        out.push_str(&format!("<h3>The mock's side</h3>\n{}", table("server-delivery", &headers, &[row])));
    }
    out
}

/// Connections held per cohort.
fn connections_held(summary: &RunSummary) -> String {
    let held: Vec<String> = summary
        .cohorts
        .iter()
        .map(|c| {
            let k = &c.connections;
            [td(&c.name), num(c.clients), num(c.subscriptions), num(c.distinct_streams), num(k.high_water)].concat()
                + &[num(k.open_at_end), td(&counts(&k.ends)), td(&counts(&c.errors))].concat()
        })
        .collect();
    let headers = [
        "cohort",
        "clients",
        "subscriptions",
        "distinct streams",
        "high water",
        "open at end",
        "ends by cause",
        "errors",
    ];
    table("connections", &headers, &held)
}

/// Subscriptions dropped and recovered, and the stream lifecycle, per cohort.
fn subscriptions(summary: &RunSummary) -> String {
    let subscriptions: Vec<String> = summary
        .cohorts
        .iter()
        .map(|c| {
            let (k, s) = (&c.connections, &c.streams);
            [td(&c.name), num(k.subscriptions_dropped), num(k.subscriptions_recovered)].concat()
                + &[num(k.subscriptions_recovered_in_time), num(k.subscriptions_abandoned), num(s.created)].concat()
                + &[num(s.cleaned_up), num(s.idle_cleaned_up), num(s.high_water)].concat()
        })
        .collect();
    let headers = [
        "cohort",
        "subscriptions dropped",
        "recovered",
        "recovered in time",
        "abandoned",
        "streams created",
        "cleaned up",
        "idle cleaned up",
        "streams high water",
    ];
    format!("<h3>Subscriptions and streams</h3>\n{}", table("subscriptions", &headers, &subscriptions))
}

/// Connections, subscriptions and streams per cohort, and the mock's connection counts.
pub(super) fn connections(summary: &RunSummary) -> String {
    let mut out = connections_held(summary) + &subscriptions(summary);
    if let Some(server) = &summary.server {
        let row = [num(server.connections_high_water), num(server.upgrades_accepted)].concat()
            + &[
                td(&counts(&server.upgrades_rejected)),
                num(server.peak_attempts_per_second),
                td(&counts(&server.closes)),
            ]
            .concat();
        let headers = ["connections high water", "upgrades accepted", "refused", "peak attempts /s", "closes by cause"];
        out.push_str(&format!("<h3>The mock's side</h3>\n{}", table("server-connections", &headers, &[row])));
    }
    out
}

/// A fault's bar on the timeline: its position and width as shares of the run.
fn timeline_bar(fault: &FaultWindow, run_ms: u64) -> String {
    let run = run_ms.max(1) as f64;
    let start = fault.start_ms.min(run_ms);
    let end = fault.end_ms.unwrap_or(run_ms).clamp(start, run_ms);
    let left = 100.0 * start as f64 / run;
    let width = 100.0 * (end - start) as f64 / run;
    let label = escape(fault.name.as_deref().unwrap_or(&fault.kind));
    format!("<span style=\"left:{left:.2}%;width:{width:.2}%\" title=\"{label}\">{label}</span>")
}

/// The faults on a timeline of the run, then as a table.
pub(super) fn faults(summary: &RunSummary) -> String {
    if summary.faults.is_empty() {
        return "<p>No fault fired.</p>\n".to_owned();
    }
    let run_ms = summary.run.elapsed_ms;
    let bars: String = summary.faults.iter().map(|f| timeline_bar(f, run_ms)).collect();
    let axis = format!("<div class=\"timeline-axis\"><span>0 s</span><span>{} s</span></div>", seconds(run_ms));
    let rows: Vec<String> = summary
        .faults
        .iter()
        .map(|f| {
            let end = f.end_ms.map_or_else(|| "–".to_owned(), seconds);
            let length = f.end_ms.map_or_else(|| "–".to_owned(), |e| seconds(e.saturating_sub(f.start_ms)));
            [num(seconds(f.start_ms)), num(end), num(length), td(&f.kind), td(f.name.as_deref().unwrap_or(""))].concat()
                + &[num(f.touched), num(f.handshakes)].concat()
        })
        .collect();
    let headers = ["start (s)", "end (s)", "length (s)", "kind", "name", "connections touched", "handshakes"];
    format!("<div class=\"timeline\">{bars}</div>\n{axis}\n{}", table("faults", &headers, &rows))
}

/// Scheduler lag, CPU and memory, and whether the harness was saturated.
pub(super) fn harness(h: &HarnessSummary) -> String {
    let saturated = if h.saturated {
        "<td class=\"status-fail\">yes: latency verdicts are not measurable</td>"
    } else {
        "<td class=\"status-pass\">no</td>"
    };
    let row = [num(ms(h.lag_p50_us)), num(ms(h.lag_p99_us)), num(ms(h.lag_max_us)), num(ms(h.saturation_threshold_us))]
        .concat()
        + saturated
        + &[num(h.cpu_seconds), num(format!("{:.1}", h.max_rss_kib as f64 / 1024.0)), num(h.rss_per_connection_bytes)]
            .concat();
    let headers = [
        "scheduler lag p50 (ms)",
        "p99 (ms)",
        "max (ms)",
        "saturated above p99 (ms)",
        "saturated",
        "CPU (s)",
        "peak memory (MiB)",
        "bytes per open connection",
    ];
    table("harness", &headers, &[row])
}

/// The external managers' processes (nothing without one), and what went wrong with them.
pub(super) fn external(cohorts: &[CohortSummary]) -> String {
    use crate::report::external::{EXTERNAL_HEADERS, external_cohorts, external_problems, external_row};
    let cohorts = external_cohorts(cohorts);
    if cohorts.is_empty() {
        return String::new();
    }
    let rows: Vec<String> =
        cohorts.iter().map(|(c, e)| external_row(c, e).iter().map(|t| td(t)).collect::<String>()).collect();
    let problems: String =
        cohorts.iter().flat_map(|(c, e)| external_problems(c, e)).map(|p| format!("<li>{}</li>", escape(&p))).collect();
    let list = if problems.is_empty() { String::new() } else { format!("<ul class=\"problems\">{problems}</ul>") };
    format!("<h3>External managers</h3>{}{list}", table("external", &EXTERNAL_HEADERS, &rows))
}

/// The rig's self-check: each part's figures, its threshold and whether it lagged.
pub(super) fn rig(rig: &RigSummary) -> String {
    if rig.parts.is_empty() {
        return String::new();
    }
    let rows: Vec<String> = rig
        .parts
        .iter()
        .map(|p| {
            let state = match (p.measured, p.lagged) {
                (false, _) => td(&format!("not measured: {}", p.note)),
                (true, lagged) if p.dropped.is_some() => {
                    let class = if lagged { "status-fail" } else { "status-pass" };
                    let words = format!("{} dropped ({})", p.dropped.unwrap_or(0), p.note);
                    format!("<td class=\"{class}\">{}</td>", escape(&words))
                }
                (true, true) => {
                    "<td class=\"status-fail\">lagged: latency and storm verdicts are not measurable</td>".into()
                }
                (true, false) => "<td class=\"status-pass\">ok</td>".into(),
            };
            [td(&p.part), td(&p.what), num(ms(p.p50_us)), num(ms(p.p99_us)), num(ms(p.max_us)), num(p.samples)].concat()
                + &num(ms(p.threshold_us))
                + &state
        })
        .collect();
    let headers =
        ["rig part", "what it measures", "p50 (ms)", "p99 (ms)", "max (ms)", "samples", "lags above p99 (ms)", "state"];
    table("rig", &headers, &rows)
}

/// Every leaf of a JSON value with its key path (`workload.clients`, `faults[0].name`), in key order.
pub fn flatten(value: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                flatten(child, &child_path, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (index, child) in items.iter().enumerate() {
                flatten(child, &format!("{path}[{index}]"), out);
            }
        }
        Value::String(text) => out.push((path.to_owned(), text.clone())),
        Value::Null => out.push((path.to_owned(), "–".to_owned())),
        other => out.push((path.to_owned(), other.to_string())),
    }
}

fn parameter_table(value: &serde_json::Value) -> String {
    let mut leaves = Vec::new();
    flatten(value, "", &mut leaves);
    let rows: Vec<String> =
        leaves.iter().map(|(key, value)| format!("<td><code>{}</code></td>{}", escape(key), td(value))).collect();
    table("parameters", &["parameter", "value"], &rows)
}

/// The scenario as run, and the mock's configuration, every key with its value (durations in ms).
pub(super) fn parameters(summary: &RunSummary) -> String {
    format!(
        "{}<p>The scenario as run, with every default filled in (durations in milliseconds).</p>\n{}\
         <details><summary>The mock's configuration</summary>\n{}</details>\n",
        assumptions(summary),
        parameter_table(&summary.scenario),
        parameter_table(&summary.mock_config)
    )
}

/// What the managers assumed beyond their documents, and what the scenario changed.
fn assumptions(summary: &RunSummary) -> String {
    if summary.assumptions.is_empty() {
        return String::new();
    }
    let rows: Vec<String> = summary
        .assumptions
        .iter()
        .map(|a| {
            let document = a.document.as_deref().unwrap_or("–");
            format!(
                "{}<td><code>{}</code></td>{}{}{}",
                td(a.manager.as_str()),
                escape(&a.setting),
                td(&a.value),
                td(a.basis.words()),
                td(document)
            )
        })
        .collect();
    format!(
        "<h3>Assumptions</h3>\n<p>What the manager models assumed where their documents say nothing, and the \
         settings this scenario changed; the figures above rest on them.</p>\n{}",
        table("assumptions", &["manager", "setting", "value", "why", "the document says"], &rows)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_flatten_to_key_paths_in_order() {
        let value = serde_json::json!({"b": {"y": [1, {"z": null}], "x": "<x>"}, "a": true, "e": []});
        let mut out = Vec::new();
        flatten(&value, "", &mut out);
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b.x", "b.y[0]", "b.y[1].z", "e"]);
        assert_eq!(out[1].1, "<x>");
        assert!(parameter_table(&value).contains("&lt;x&gt;"));
    }

    #[test]
    fn the_timeline_places_faults_as_shares_of_the_run() {
        let fault = FaultWindow {
            kind: "outage".into(),
            name: Some("a\"b".into()),
            start_ms: 5_000,
            end_ms: None,
            touched: 0,
            handshakes: 0,
            sources: Vec::new(),
            streams: Default::default(),
        };
        let bar = timeline_bar(&fault, 20_000);
        assert_eq!(bar, "<span style=\"left:25.00%;width:75.00%\" title=\"a&quot;b\">a&quot;b</span>");
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
    }
}
