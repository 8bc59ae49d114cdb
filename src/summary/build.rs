//! Building the run summary's figures: each cohort's from the recorder's aggregates (the fault windows and
//! the quiet seconds told apart), the mock's from its final snapshot, the streams' from both, the fault
//! windows from the mock's records and the harness's from its health.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::{
    Attempts, CohortPlan, CohortSummary, Connections, Delivery, FaultWindow, HarnessSummary, LatencySeries,
    LatencySplit, OperationSeries, Percentiles, ServerStream, ServerSummary, StreamDelivery, StreamSummary, Streams,
    StretchFigures, WindowFigures, WindowLabel,
};
use crate::mock::faults::FaultRecord;
use crate::mock::stats::MockSnapshot;
use crate::record::recorder::CohortRecord;
use crate::record::selfcheck::Health;

impl StretchFigures {
    /// The figures of a recorded stretch.
    pub fn of(stretch: &crate::record::recorder::Stretch) -> Self {
        StretchFigures {
            latency_us: Percentiles::of(&stretch.latency),
            staleness_us: Percentiles::of(&stretch.staleness),
        }
    }
}

/// Fills a cohort's per-window figures from its record, for the plan's `windows`.
pub fn stretch_figures(cohort: &mut CohortSummary, record: &CohortRecord, windows: &[WindowLabel]) {
    let empty = crate::record::recorder::Stretch::default();
    cohort.fault_windows = windows
        .iter()
        .enumerate()
        .map(|(i, w)| WindowFigures {
            window: w.clone(),
            figures: StretchFigures::of(record.windows.get(i).unwrap_or(&empty)),
        })
        .collect();
}

/// Peak attempts in any bin.
fn peak(bins: impl Iterator<Item = u64>) -> u64 {
    bins.max().unwrap_or(0)
}

/// Within the busiest second of reconnect attempts (a sliding window of ten 100 ms bins), the share that
/// fell in its busiest bin: 1 when the storm arrives in lockstep, about 0.1 when spread evenly; 0 for fewer
/// than 10 reconnects.
fn lockstep(fine: &[u64]) -> f64 {
    let window_of = |start: usize| &fine[start..(start + 10).min(fine.len())];
    let Some(start) = (0..fine.len()).max_by_key(|start| window_of(*start).iter().sum::<u64>()) else {
        return 0.0;
    };
    let window = window_of(start);
    let total: u64 = window.iter().sum();
    if total < 10 { 0.0 } else { *window.iter().max().unwrap_or(&0) as f64 / total as f64 }
}

/// Whether second `s` overlaps a fault window (plus `grace` after it).
fn in_fault(faults: &[FaultWindow], s: usize, grace: Duration) -> bool {
    let (from, to) = (s as u64 * 1000, (s as u64 + 1) * 1000);
    faults.iter().any(|f| f.start_ms < to && f.end_ms.map_or(u64::MAX, |e| e + grace.as_millis() as u64) > from)
}

/// One cohort's summary.
pub fn cohort_summary(
    record: &CohortRecord,
    plan: CohortPlan,
    faults: &[FaultWindow],
    recovery_grace: Duration,
) -> CohortSummary {
    let CohortPlan { name, manager, clients, subscriptions, distinct_streams, .. } = plan;
    let quiet: Vec<&crate::record::recorder::Second> = record
        .seconds
        .iter()
        .enumerate()
        .filter(|(s, _)| !in_fault(faults, *s, recovery_grace))
        .map(|(_, r)| r)
        .collect();
    // A cohort without WSManager's stream events serves the streams it planned.
    let planned_streams = if record.stream_events.0 == 0 { distinct_streams } else { 0 };
    let quiet_retries: u64 = quiet.iter().map(|s| s.retries).sum();
    let retry_rate = if quiet.is_empty() || clients == 0 {
        0.0
    } else {
        quiet_retries as f64 / quiet.len() as f64 / f64::from(clients)
    };
    CohortSummary {
        name,
        manager,
        clients,
        subscriptions,
        distinct_streams,
        latency_us: Percentiles::of(&record.latency),
        latency_split: LatencySplit {
            upstream_us: Percentiles::of(&record.upstream_share),
            delivery_us: Percentiles::of(&record.delivery_share),
            split: record.upstream_share.len(),
        },
        staleness_us: Percentiles::of(&record.staleness),
        without_data_us: Percentiles::of(&record.without_data),
        fault_windows: Vec::new(),
        outside_faults: StretchFigures::of(&record.outside),
        latency_per_second: LatencySeries {
            p50_us: record.seconds.iter().map(|s| s.latency_p50_us).collect(),
            p95_us: record.seconds.iter().map(|s| s.latency_p95_us).collect(),
            p99_us: record.seconds.iter().map(|s| s.latency_p99_us).collect(),
        },
        operations_per_second: OperationSeries {
            failed: record.seconds.iter().map(|s| s.failed + s.errors).collect(),
            attempts: record.seconds.iter().map(|s| s.attempts).collect(),
        },
        connect_time_us: Percentiles::of(&record.connect_time),
        recovery_us: Percentiles::of(&record.recovery),
        recovery_from_fault_end_us: Percentiles::of(&recovery_from_fault_end(&record.recoveries, faults)),
        detection_us: Percentiles::of(&record.detection),
        retry_delay_us: Percentiles::of(&record.retry_delay),
        attempts: Attempts {
            total: record.attempts.values().sum(),
            connected: record.attempts.get("connected").copied().unwrap_or(0),
            by_outcome: record.attempts.clone(),
            retries: record.seconds.iter().map(|s| s.retries).sum(),
            peak_per_second: peak(record.seconds.iter().map(|s| s.attempts)),
            peak_per_100ms: peak(record.attempts_fine.iter().copied()),
            peak_retries_per_second: peak(record.seconds.iter().map(|s| s.retries)),
            peak_retries_per_100ms: peak(record.retries_fine.iter().copied()),
            lockstep_index: (lockstep(&record.retries_fine) * 1000.0).round() / 1000.0,
            max_per_ip_5m: record.max_attempts_per_ip_5m,
            retry_rate_outside_faults: (retry_rate * 10_000.0).round() / 10_000.0,
            give_ups: record.gave_up,
            give_up_subscribers: record.gave_up_subscribers,
            fallbacks: record.fallbacks,
        },
        connections: Connections {
            open_at_end: record.open,
            high_water: record.open_high_water,
            high_water_low: record.open_high_water_low,
            ends: record.ends.clone(),
            subscriptions_dropped: record.subscriptions_dropped,
            subscriptions_recovered: record.subscriptions_recovered,
            subscriptions_recovered_in_time: record
                .recoveries
                .iter()
                .filter(|(_, after, _)| *after <= recovery_grace)
                .map(|(_, _, n)| u64::from(*n))
                .sum(),
            subscriptions_abandoned: record
                .abandoned
                .iter()
                .filter(|(_, waited)| *waited < recovery_grace)
                .map(|(n, _)| u64::from(*n))
                .sum(),
        },
        delivery: Delivery {
            delivered: record.delivered,
            received: record.received,
            gaps: record.gaps,
            late: record.late,
            lost: record.gaps.saturating_sub(record.late),
            published: record.delivered + record.gaps.saturating_sub(record.late),
            duplicates: record.duplicates,
            unresolved: record.unresolved,
            malformed: record.malformed,
            steady_received: quiet.iter().map(|s| s.received).sum(),
            steady_delivered: quiet.iter().map(|s| s.delivered).sum(),
            steady_gaps: quiet.iter().map(|s| s.gaps).sum(),
        },
        streams: Streams {
            created: record.stream_events.0,
            cleaned_up: record.stream_events.1,
            idle_cleaned_up: record.stream_events.2,
            high_water: (record.active_streams.1.max(0) as u64).max(planned_streams),
            high_water_low: record.streams_high_water_low.map(|low| (low.max(0) as u64).max(planned_streams)),
        },
        errors: record.errors.clone(),
        external: None,
        server_attempts: None,
    }
}

/// Recovery times measured from the end of the fault window each drop fell in (or from the drop), one
/// value per recovered subscriber.
fn recovery_from_fault_end(recoveries: &[(Duration, Duration, u32)], faults: &[FaultWindow]) -> Histogram<u64> {
    let mut histogram = crate::record::event::latency_histogram();
    for (at, after, subscribers) in recoveries {
        let dropped = at.saturating_sub(*after).as_millis() as u64;
        let recovered = at.as_millis() as u64;
        let window_end = faults
            .iter()
            .filter(|f| f.start_ms <= dropped + 1000)
            .filter_map(|f| f.end_ms)
            .filter(|end| *end > dropped && *end <= recovered)
            .max();
        let from = window_end.map_or(*after, |end| Duration::from_millis(recovered - end));
        histogram.saturating_record_n((from.as_micros() as u64).max(1), u64::from(*subscribers).max(1));
    }
    histogram
}

/// The mock's side, from its final snapshot.
pub fn server_summary(snapshot: &MockSnapshot) -> ServerSummary {
    let label = |v: serde_json::Value| v.as_str().map(str::to_owned).unwrap_or_default();
    ServerSummary {
        connections_high_water: snapshot.connections_high_water,
        upgrades_accepted: snapshot.upgrades.accepted,
        upgrades_rejected: snapshot.upgrades.rejected.iter().map(|(r, n)| (r.label(), *n)).collect(),
        peak_attempts_per_second: snapshot.upgrades_per_second.iter().map(|s| s.counts.attempts()).max().unwrap_or(0),
        closes: snapshot.closes.iter().map(|(c, n)| (label(serde_json::to_value(c).unwrap_or_default()), *n)).collect(),
        events_published: snapshot.streams.iter().map(|s| s.events_published).sum(),
        messages_sent: snapshot.streams.iter().map(|s| s.messages_sent).sum(),
        messages_dropped: snapshot.messages_dropped,
        streams: snapshot.streams.len() as u64,
        feed_lag_p99_us: snapshot.feed_lag.p99_us,
    }
}

/// Per stream name, the mock's counts (when read) beside each cohort's delivery.
pub fn stream_summaries(cohorts: &[(String, &CohortRecord)], snapshot: Option<&MockSnapshot>) -> Vec<StreamSummary> {
    let mut streams: BTreeMap<String, StreamSummary> = BTreeMap::new();
    fn entry<'a>(streams: &'a mut BTreeMap<String, StreamSummary>, name: &str) -> &'a mut StreamSummary {
        streams.entry(name.to_owned()).or_insert_with(|| StreamSummary { name: name.to_owned(), ..Default::default() })
    }
    for (cohort, record) in cohorts {
        for (name, t) in &record.streams {
            let lost = t.lost();
            let delivery = StreamDelivery {
                received: t.received,
                delivered: t.delivered,
                lost,
                late: t.late,
                duplicates: t.duplicates,
                unresolved: t.unresolved,
                published: t.delivered + lost,
            };
            entry(&mut streams, name).cohorts.insert(cohort.clone(), delivery);
        }
    }
    for s in snapshot.map(|s| s.streams.as_slice()).unwrap_or_default() {
        entry(&mut streams, &s.name).server = Some(ServerStream {
            published: s.events_published,
            first_id: s.first_seq,
            last_id: s.last_seq,
            sent: s.messages_sent,
            dropped: s.messages_dropped,
        });
    }
    streams.into_values().collect()
}

/// Fault windows from the mock's records, relative to the run start (`offset_ms` after the mock started).
pub fn fault_windows(records: &[FaultRecord], offset_ms: u64) -> Vec<FaultWindow> {
    records
        .iter()
        .map(|r| FaultWindow {
            kind: r.kind.as_str().to_owned(),
            name: r.name.clone(),
            start_ms: r.started_ms.saturating_sub(offset_ms),
            end_ms: r.ended_ms.map(|e| e.saturating_sub(offset_ms)),
            touched: r.touched,
            handshakes: r.handshakes,
            sources: r.sources.iter().map(ToString::to_string).collect(),
            streams: r.streams.clone(),
        })
        .collect()
}

/// The harness summary, with saturation judged against the scenario's threshold (`saturation_lag`).
pub fn harness_summary(health: &Health, saturation_lag: Duration, peak_connections: i64) -> HarnessSummary {
    let s = health.summary();
    let threshold = saturation_lag.as_micros() as u64;
    HarnessSummary {
        lag_p50_us: s.lag_p50_us,
        lag_p99_us: s.lag_p99_us,
        lag_max_us: s.lag_max_us,
        saturation_threshold_us: threshold,
        saturated: s.lag_p99_us > threshold,
        cpu_seconds: (s.cpu_seconds * 100.0).round() / 100.0,
        max_rss_kib: s.max_rss_kib,
        rss_at_start_kib: s.rss_at_start_kib,
        rss_per_connection_bytes: match u64::try_from(peak_connections) {
            Ok(peak) if peak > 0 => s.max_rss_kib.saturating_sub(s.rss_at_start_kib) * 1024 / peak,
            _ => 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockstep_judges_the_busiest_second() {
        let mut fine = vec![0u64; 30];
        fine[3] = 100;
        fine[12..20].copy_from_slice(&[10, 10, 10, 10, 10, 10, 10, 10]);
        fine[25] = 9;
        fine[26] = 2;
        assert!(lockstep(&fine) > 0.9, "the 100-attempt second dominates");
        assert!(lockstep(&fine[10..]) < 0.2, "an even storm");
        assert_eq!(lockstep(&[3, 2]), 0.0, "too few to judge");
    }

    #[test]
    fn recovery_counts_from_the_end_of_the_window_the_drop_fell_in() {
        let window = |start_ms, end_ms| FaultWindow {
            kind: "x".into(),
            name: None,
            start_ms,
            end_ms: Some(end_ms),
            touched: 0,
            handshakes: 0,
            sources: Vec::new(),
            streams: Default::default(),
        };
        let faults = vec![window(30_000, 30_004), window(60_000, 70_000)];
        let s = Duration::from_millis;
        let recoveries = vec![
            (s(71_000), s(10_900), 2), // dropped at 60.1 s by the outage: 1 s after it ended, for two subscribers
            (s(31_200), s(1_150), 1),  // dropped at 30.05 s by an instant disconnect: from the drop
        ];
        let h = recovery_from_fault_end(&recoveries, &faults);
        assert_eq!(h.len(), 3);
        assert_eq!(h.value_at_quantile(0.5) / 1000, 1000);
        assert_eq!(h.max() / 1000, 1150);
    }

    #[test]
    fn fault_windows_mark_seconds_with_grace() {
        let faults = vec![FaultWindow {
            kind: "stall".into(),
            name: None,
            start_ms: 2500,
            end_ms: Some(3200),
            touched: 1,
            handshakes: 0,
            sources: Vec::new(),
            streams: Default::default(),
        }];
        let marked: Vec<usize> = (0..8).filter(|s| in_fault(&faults, *s, Duration::from_secs(2))).collect();
        assert_eq!(marked, [2, 3, 4, 5]);
    }
}
