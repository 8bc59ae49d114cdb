//! The run summary: the one model every output format reads (`summary.json` is this, serialized). Built
//! from the recorder's aggregates, the mock's server-side truth and the harness's health.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::mock::faults::state::FaultRecord;
use crate::mock::stats::MockSnapshot;
use crate::record::recorder::CohortRecord;
use crate::record::selfcheck::Health;
use crate::scenario::{ManagerKind, Scenario};

/// Version of the `summary.json` format; raised on any incompatible change.
pub const SCHEMA_VERSION: u32 = 3;

/// Percentiles of a histogram, in its unit (µs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// The percentiles of `h` (all zero when empty).
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// Connection attempts and the storm they made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attempts {
    /// Every attempt.
    pub total: u64,
    /// Attempts that upgraded.
    pub connected: u64,
    /// By outcome (`connected`, `http-429`, `refused`, `timeout`, …).
    pub by_outcome: BTreeMap<String, u64>,
    /// Reconnect attempts (not first connects).
    pub retries: u64,
    /// Most attempts in one second.
    pub peak_per_second: u64,
    /// Most attempts in one 100 ms bin.
    pub peak_per_100ms: u64,
    /// Most reconnect attempts in one second (the storm after a drop or an outage).
    pub peak_retries_per_second: u64,
    /// Most reconnect attempts in one 100 ms bin.
    pub peak_retries_per_100ms: u64,
    /// Largest share of a second's reconnect attempts in a single 100 ms bin, over seconds with at least
    /// 10 (1: the whole storm in lockstep; 0.1: spread evenly).
    pub lockstep_index: f64,
    /// Most attempts one client (source address) made within any 5 minutes.
    pub max_per_ip_5m: u64,
    /// Reconnect attempts per second per client outside fault windows (steady state).
    pub retry_rate_outside_faults: f64,
    /// Managers that gave up and reported the error.
    pub give_ups: u64,
    /// Subscribers that received a give-up error.
    pub give_up_subscribers: u64,
    /// Unified clients that fell back to legacy.
    pub fallbacks: u64,
}

/// Connections held.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Connections {
    /// Open when the run ended.
    pub open_at_end: i64,
    /// Most open at once.
    pub high_water: i64,
    /// How connections ended (`close-1001`, `abnormal-1006`, `silent`, `local`, …).
    pub ends: BTreeMap<String, u64>,
    /// Subscriptions carried by connections that dropped.
    pub subscriptions_dropped: u64,
    /// Subscriptions that received data again after a drop.
    pub subscriptions_recovered: u64,
    /// Of those, the ones that did within the recovery deadline.
    pub subscriptions_recovered_in_time: u64,
    /// Subscriptions closed locally while still recovering, before the deadline passed (not judged).
    pub subscriptions_abandoned: u64,
}

/// Messages, in subscriber-deliveries (a shared socket's event counts once per subscriber it serves) except
/// `received`: `delivered + lost = published`, duplicates apart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Distinct events handed to subscribers (late arrivals included).
    pub delivered: u64,
    /// Socket messages read from the upstream.
    pub received: u64,
    /// Events skipped in a stream, or owed and never received when a socket's accounting ended.
    pub gaps: u64,
    /// Of the gaps, events that arrived later out of order.
    #[serde(default)]
    pub late: u64,
    /// Lost: gaps that never arrived.
    #[serde(default)]
    pub lost: u64,
    /// What the upstream published on the subscribed streams while they were subscribed (from each one's
    /// first event on): `delivered + lost`.
    #[serde(default)]
    pub published: u64,
    /// Events received again.
    pub duplicates: u64,
    /// Messages that could not be placed in the upstream's record (outside the identity; 0 normally).
    #[serde(default)]
    pub unresolved: u64,
    /// Unparseable or binary messages.
    pub malformed: u64,
    /// Socket messages received outside fault windows (and their recovery allowance).
    pub steady_received: u64,
    /// Subscriber-deliveries outside fault windows.
    #[serde(default)]
    pub steady_delivered: u64,
    /// Gaps outside fault windows.
    pub steady_gaps: u64,
}

/// Per-second operations of a cohort.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperationSeries {
    /// Failed attempts, give-up errors and protocol errors of each second.
    pub failed: Vec<u64>,
    /// Connection attempts of each second.
    pub attempts: Vec<u64>,
}

/// Per-second delivery latency percentiles (µs, two significant digits; 0 without a sample).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySeries {
    /// Median of each second.
    pub p50_us: Vec<u64>,
    /// 95th percentile of each second.
    pub p95_us: Vec<u64>,
    /// 99th percentile of each second.
    pub p99_us: Vec<u64>,
}

impl LatencySeries {
    /// The series of a latency metric path (`latency_us.p50`, `.p95`, `.p99`).
    pub fn of_metric(&self, path: &[String]) -> Option<&[u64]> {
        match path {
            [first, q] if first == "latency_us" => match q.as_str() {
                "p50" => Some(&self.p50_us),
                "p95" => Some(&self.p95_us),
                "p99" => Some(&self.p99_us),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Latency and staleness over a stretch of the run (µs; two significant digits).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StretchFigures {
    /// Delivery latency.
    pub latency_us: Percentiles,
    /// Staleness.
    pub staleness_us: Percentiles,
}

impl StretchFigures {
    /// The figures of a recorded stretch.
    pub fn of(stretch: &crate::record::recorder::Stretch) -> Self {
        StretchFigures {
            latency_us: Percentiles::of(&stretch.latency),
            staleness_us: Percentiles::of(&stretch.staleness),
        }
    }
}

/// One fault window of the plan and the figures inside it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowFigures {
    /// The window.
    #[serde(flatten)]
    pub window: WindowLabel,
    /// Inside it.
    #[serde(flatten)]
    pub figures: StretchFigures,
}

/// Which fault window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowLabel {
    /// The fault's label.
    pub name: Option<String>,
    /// Its kind.
    pub kind: String,
    /// Start and end (ms since the start of the run), as planned.
    pub start_ms: u64,
    /// See `start_ms`.
    pub end_ms: u64,
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

/// One stream name across the run: the upstream's record of it and each cohort's delivery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamSummary {
    /// The name as subscribed.
    pub name: String,
    /// The mock's counts for it, when the mock's counters were read.
    pub server: Option<ServerStream>,
    /// Per cohort name.
    pub cohorts: BTreeMap<String, StreamDelivery>,
}

/// The mock's counts for one stream name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerStream {
    /// Events published while it had subscribers.
    pub published: u64,
    /// Sequence id of the first and last of them (none for kinds without one).
    pub first_id: Option<u64>,
    /// See `first_id`.
    pub last_id: Option<u64>,
    /// Messages queued to its subscribers' connections.
    pub sent: u64,
    /// Messages the mock dropped at full queues.
    pub dropped: u64,
}

/// One cohort's delivery on one stream, in subscriber-deliveries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamDelivery {
    /// Socket messages read.
    pub received: u64,
    /// Distinct events delivered.
    pub delivered: u64,
    /// Lost.
    pub lost: u64,
    /// Delivered late, out of order.
    pub late: u64,
    /// Received again.
    pub duplicates: u64,
    /// Not placed in the upstream's record.
    #[serde(default)]
    pub unresolved: u64,
    /// `delivered + lost`.
    pub published: u64,
}

/// WSManager stream lifecycle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Streams {
    /// Streams created.
    pub created: u64,
    /// Closed by reference counting.
    pub cleaned_up: u64,
    /// Closed by the idle sweep.
    pub idle_cleaned_up: u64,
    /// Most streams served at once (WSManager's own count; the planned distinct streams otherwise).
    pub high_water: u64,
}

/// One cohort's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohortSummary {
    /// Cohort name (the manager's).
    pub name: String,
    /// The manager.
    pub manager: ManagerKind,
    /// Clients in it.
    pub clients: u32,
    /// Subscriptions at start.
    pub subscriptions: u64,
    /// Distinct streams per client at start, summed over the clients.
    pub distinct_streams: u64,
    /// Delivery latency (µs): event time to subscriber callback, per subscriber-delivery. Open loop: the
    /// event time is the intended time, so nothing is corrected.
    pub latency_us: Percentiles,
    /// The same latency split by who added it, over the deliveries whose receive time the kernel gave.
    #[serde(default)]
    pub latency_split: LatencySplit,
    /// Staleness (µs): sampled at fixed instants for every live subscription, how long ago the upstream
    /// published the first event it has not received (0 when caught up); empty when not measured.
    #[serde(default)]
    pub staleness_us: Percentiles,
    /// Per subscription, the longest time without data while the upstream published on its stream (µs).
    #[serde(default)]
    pub without_data_us: Percentiles,
    /// Latency and staleness inside each fault window of the plan (those with a length, in plan order).
    #[serde(default)]
    pub fault_windows: Vec<WindowFigures>,
    /// Latency and staleness outside every fault window.
    #[serde(default)]
    pub outside_faults: StretchFigures,
    /// Delivery latency percentiles of each second of the run (µs; 0 for a second without a sample): what
    /// comparative figures draw their confidence intervals from.
    #[serde(default)]
    pub latency_per_second: LatencySeries,
    /// Failed operations and operations of each second (the error rate's parts; subscriptions made at start
    /// are in `subscriptions`): what the error-rate comparison draws its interval from.
    #[serde(default)]
    pub operations_per_second: OperationSeries,
    /// Connect time (µs).
    pub connect_time_us: Percentiles,
    /// Time to recovery after a drop (µs), per connection from its drop.
    pub recovery_us: Percentiles,
    /// Time to recovery per affected subscriber (µs): from the end of the fault window the drop fell in
    /// (an outage, a stall), or from the drop itself for instant faults and unplanned drops.
    pub recovery_from_fault_end_us: Percentiles,
    /// Silence before a dead socket was detected (µs).
    pub detection_us: Percentiles,
    /// Backoff delay before each reconnect attempt (µs): one value when reconnects are in lockstep.
    pub retry_delay_us: Percentiles,
    /// Attempts and storm shape.
    pub attempts: Attempts,
    /// Connections.
    pub connections: Connections,
    /// Messages.
    pub delivery: Delivery,
    /// Stream lifecycle (WSManager).
    pub streams: Streams,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
}

/// The mock's side of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerSummary {
    /// Most connections open at once.
    pub connections_high_water: u64,
    /// Upgrades accepted.
    pub upgrades_accepted: u64,
    /// Refusals by reason.
    pub upgrades_rejected: BTreeMap<String, u64>,
    /// Most upgrade attempts in one second.
    pub peak_attempts_per_second: u64,
    /// Connection ends by cause.
    pub closes: BTreeMap<String, u64>,
    /// Events published on subscribed streams.
    pub events_published: u64,
    /// Messages queued to subscribers.
    pub messages_sent: u64,
    /// Messages dropped at full queues.
    pub messages_dropped: u64,
    /// Streams with subscribers at some point.
    pub streams: u64,
    /// Feed lag p99 (µs).
    pub feed_lag_p99_us: u64,
}

/// The harness's health.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HarnessSummary {
    /// Scheduler lag p50 (µs).
    pub lag_p50_us: u64,
    /// Scheduler lag p99 (µs).
    pub lag_p99_us: u64,
    /// Largest lag (µs).
    pub lag_max_us: u64,
    /// The saturation threshold on lag p99 (µs).
    pub saturation_threshold_us: u64,
    /// The harness was too busy for its latency figures to be trusted.
    pub saturated: bool,
    /// CPU seconds used by the harness process.
    pub cpu_seconds: f64,
    /// Largest resident memory (KiB).
    pub max_rss_kib: u64,
    /// Resident memory when the run started, before any client connected (KiB; 0 in runs written before
    /// it was kept).
    #[serde(default)]
    pub rss_at_start_kib: u64,
    /// Resident memory per open connection at the peak: what the run added to the memory at its start,
    /// over the most connections open at once (bytes).
    pub rss_per_connection_bytes: u64,
}

/// A fault window as reports draw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// Kind.
    pub kind: String,
    /// Label.
    pub name: Option<String>,
    /// Start (ms after the run started).
    pub start_ms: u64,
    /// End (ms), when it ended.
    pub end_ms: Option<u64>,
    /// Connections it touched.
    pub touched: u64,
    /// Handshakes it refused, delayed or held.
    pub handshakes: u64,
    /// Source addresses of the connections it selected, sorted (one per client).
    #[serde(default)]
    pub sources: Vec<String>,
    /// How many of the connections it selected held each stream.
    #[serde(default)]
    pub streams: BTreeMap<String, u64>,
}

/// The run itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Unix time the run started (ms).
    pub started_unix_ms: u64,
    /// Length (ms).
    pub elapsed_ms: u64,
    /// Stopped by Ctrl-C before its end.
    pub interrupted: bool,
    /// The upstream: `embedded`, or the target URL.
    pub upstream: String,
    /// Events the recorder received.
    pub events_recorded: u64,
}

/// A cohort's latency split by who added it (see [`Stamped`](crate::manager::stamped::Stamped)): each
/// subscriber-delivery whose read the kernel time-stamped, its upstream share (event time to the
/// upstream's write on that socket, injected delay included) and its delivery share (that write to the
/// subscriber callback: the socket buffer, the harness's scheduler and the manager). The two shares of one
/// delivery add up to its latency; their percentiles do not add up to the latency's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySplit {
    /// Event time to the upstream's write (µs).
    pub upstream_us: Percentiles,
    /// The upstream's write to the subscriber callback (µs).
    pub delivery_us: Percentiles,
    /// Subscriber-deliveries split, of `latency_us.count` (the rest came before the kernel's timestamps
    /// were on, or from a socket without them).
    pub split: u64,
}

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The wschaos version that ran.
    pub wschaos_version: String,
    /// The scenario as run (validated, with every default filled in).
    pub scenario: serde_json::Value,
    /// The mock configuration as run.
    pub mock_config: serde_json::Value,
    /// The run.
    pub run: RunInfo,
    /// Per cohort.
    pub cohorts: Vec<CohortSummary>,
    /// The mock's truth (embedded mock only).
    pub server: Option<ServerSummary>,
    /// Faults that fired.
    pub faults: Vec<FaultWindow>,
    /// Harness health.
    pub harness: HarnessSummary,
    /// The whole rig's self-check.
    #[serde(default)]
    pub rig: crate::report::rig::RigSummary,
    /// Every criterion judged (per cohort where it applies).
    #[serde(default)]
    pub verdicts: Vec<crate::criteria::verdict::Verdict>,
    /// The baseline the new cohorts were compared with (`--baseline`).
    #[serde(default)]
    pub baseline: Option<BaselineInfo>,
    /// The rollout rehearsal, when the scenario steps traffic over.
    #[serde(default)]
    pub rollout: Option<crate::rollout::summary::RolloutSummary>,
    /// Per stream name: the mock's record and each cohort's delivery.
    #[serde(default)]
    pub streams: Vec<StreamSummary>,
}

/// Which stored baseline a run was judged against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineInfo {
    /// The file read.
    pub path: String,
    /// The scenario that recorded it.
    pub scenario: String,
    /// Its seed.
    pub seed: u64,
    /// When that run started (Unix ms).
    pub started_unix_ms: u64,
}

impl CohortSummary {
    /// A cohort that recorded nothing (the shape of the summary, for validating metric paths).
    pub fn empty(manager: ManagerKind) -> CohortSummary {
        CohortSummary {
            name: manager.as_str().to_owned(),
            manager,
            clients: 0,
            subscriptions: 0,
            distinct_streams: 0,
            latency_us: Percentiles::default(),
            latency_split: LatencySplit::default(),
            staleness_us: Percentiles::default(),
            without_data_us: Percentiles::default(),
            fault_windows: Vec::new(),
            outside_faults: StretchFigures::default(),
            latency_per_second: LatencySeries::default(),
            operations_per_second: OperationSeries::default(),
            connect_time_us: Percentiles::default(),
            recovery_us: Percentiles::default(),
            recovery_from_fault_end_us: Percentiles::default(),
            detection_us: Percentiles::default(),
            retry_delay_us: Percentiles::default(),
            attempts: Attempts::default(),
            connections: Connections::default(),
            delivery: Delivery::default(),
            streams: Streams::default(),
            errors: BTreeMap::new(),
        }
    }
}

impl RunSummary {
    /// True when the rig's own delay could be in the latency and storm figures (a part of the rig lagged,
    /// or the harness's scheduler saturated): those verdicts are `not-measurable`.
    pub fn rig_lagged(&self) -> bool {
        self.rig.lagged || self.harness.saturated
    }

    /// Why the rig's figures cannot be trusted, when [`rig_lagged`](Self::rig_lagged).
    pub fn rig_cause(&self) -> String {
        if self.rig.lagged { self.rig.cause() } else { "the harness was saturated".to_owned() }
    }

    /// A cohort by name.
    pub fn cohort(&self, name: &str) -> Option<&CohortSummary> {
        self.cohorts.iter().find(|c| c.name == name)
    }
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

/// A cohort as planned: its manager, clients, subscriptions and distinct streams per client (summed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CohortPlan {
    /// The manager.
    pub manager: ManagerKind,
    /// Clients.
    pub clients: u32,
    /// Subscriptions at start.
    pub subscriptions: u64,
    /// Distinct streams per client at start, summed.
    pub distinct_streams: u64,
}

/// One cohort's summary.
pub fn cohort_summary(
    record: &CohortRecord,
    plan: CohortPlan,
    faults: &[FaultWindow],
    recovery_grace: Duration,
) -> CohortSummary {
    let CohortPlan { manager, clients, subscriptions, distinct_streams } = plan;
    let quiet: Vec<&crate::record::recorder::Second> = record
        .seconds
        .iter()
        .enumerate()
        .filter(|(s, _)| !in_fault(faults, *s, recovery_grace))
        .map(|(_, r)| r)
        .collect();
    let quiet_retries: u64 = quiet.iter().map(|s| s.retries).sum();
    let retry_rate = if quiet.is_empty() || clients == 0 {
        0.0
    } else {
        quiet_retries as f64 / quiet.len() as f64 / f64::from(clients)
    };
    CohortSummary {
        name: manager.as_str().to_owned(),
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
            high_water: (record.active_streams.1.max(0) as u64).max(if record.stream_events.0 == 0 {
                distinct_streams
            } else {
                0
            }),
        },
        errors: record.errors.clone(),
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

/// The harness summary, with saturation judged against the scenario's threshold.
pub fn harness_summary(health: &Health, scenario: &Scenario, peak_connections: i64) -> HarnessSummary {
    let s = health.summary();
    let threshold = scenario.harness.saturation_lag.as_micros() as u64;
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
