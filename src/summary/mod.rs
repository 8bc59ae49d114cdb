//! The run summary: the one model every output format reads (`summary.json` is this, serialized), below
//! everything that reads or fills it. Its parts are plain data: the figures of each cohort, the mock's and
//! the harness's, the rig's self-check ([`rig`]), the verdicts the criteria gave ([`verdict`]) and what a
//! rollout rehearsal did ([`rollout`]). [`build`] makes it from the recorder's aggregates, the mock's
//! server-side truth and the harness's health; the criteria judge it, the rollout fills its rehearsal part
//! and the reports render it. It imports neither `criteria`, `rollout` nor `report`.

pub mod build;
pub mod external;
pub mod percentiles;
pub mod rig;
pub mod rollout;
#[cfg(test)]
pub(crate) mod sample;
pub mod verdict;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::load::population::CohortPlan;
use crate::manager::settings::ManagerKind;
pub use percentiles::Percentiles;

/// Version of the `summary.json` format; raised on any incompatible change.
pub const SCHEMA_VERSION: u32 = 3;

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
    /// Most open at once (in a merged run, the most it can have been).
    pub high_water: i64,
    /// In a merged run: the least the most open at once can have been (the shards' peaks may not have
    /// coincided; `high_water` is then an upper bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_water_low: Option<i64>,
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
    /// Staleness: how long ago the first event a live subscription had not received was published.
    pub staleness_us: Percentiles,
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
    /// Gaps that never arrived: events published while subscribed and never delivered.
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
    /// Most streams served at once (WSManager's own count; the planned distinct streams otherwise; in a
    /// merged run, the most it can have been).
    pub high_water: u64,
    /// In a merged run: the least WSManager's most streams at once can have been.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_water_low: Option<u64>,
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
    /// Connections held: open at the end, most at once, how they ended, subscriptions recovered.
    pub connections: Connections,
    /// Messages received and events delivered, lost, late and repeated, in subscriber-deliveries.
    pub delivery: Delivery,
    /// Stream lifecycle (WSManager).
    pub streams: Streams,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// An external manager's processes (`None` for a model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<external::ExternalSummary>,
    /// Upgrades the mock accepted or refused from the cohort's source addresses, by its own count: the
    /// cross-check of `attempts.total` (a model's attempt still under way at the end is in this count and not
    /// in the model's; `None` without the mock's counters, and in a rehearsal, whose clients keep their
    /// address on either side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_attempts: Option<u64>,
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
    /// The fault kind as written in `kind = "…"` (`disconnect`, `outage`, …).
    pub kind: String,
    /// The fault's `name` label (`None`: unnamed; charts and `events.csv` then label it by its kind).
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
    /// The shard of a sharded run this is (`wschaos run --shard I/N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// The shards merged into this run (`wschaos merge`), with how far apart they ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardRun>,
}

/// Which slice of a sharded run a run directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// The shard, `0..count`.
    pub index: u32,
    /// Shards of the run.
    pub count: u32,
    /// The instant every shard was to start at (`--start-at`), Unix ms.
    pub start_at_unix_ms: Option<u64>,
}

/// One shard of a merged run: when it started against the others, and whether its rig kept up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRun {
    /// The shard.
    pub index: u32,
    /// Its clients, over every cohort (a client of a side-by-side run counts once per cohort).
    pub clients: u64,
    /// Its start, Unix ms.
    pub started_unix_ms: u64,
    /// Its start after the earliest shard's (ms): how far its clients and the fault windows were apart.
    pub start_offset_ms: u64,
    /// The instant it was to start at (`--start-at`, a barrier's or its parent's), Unix ms; `None` when it
    /// started on its own.
    #[serde(default)]
    pub start_at_unix_ms: Option<u64>,
    /// Its run length (ms).
    pub elapsed_ms: u64,
    /// Its scheduler's lag, p99 (µs).
    pub lag_p99_us: u64,
    /// Its canaries' latency p99 (µs), when it had canaries.
    pub canary_p99_us: Option<u64>,
    /// Whether its rig's own delay could be in its figures (then the merged run's timed verdicts are not
    /// measurable).
    pub rig_lagged: bool,
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
    pub rig: rig::RigSummary,
    /// Every criterion judged (per cohort where it applies).
    #[serde(default)]
    pub verdicts: Vec<verdict::Verdict>,
    /// The baseline the new cohorts were compared with (`--baseline`).
    #[serde(default)]
    pub baseline: Option<BaselineInfo>,
    /// The rollout rehearsal, when the scenario steps traffic over.
    #[serde(default)]
    pub rollout: Option<rollout::RolloutSummary>,
    /// Per stream name: the mock's record and each cohort's delivery.
    #[serde(default)]
    pub streams: Vec<StreamSummary>,
    /// What the managers of the run assumed beyond their documents, and the settings the scenario changed.
    #[serde(default)]
    pub assumptions: Vec<crate::manager::assumptions::Assumption>,
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
            external: None,
            server_attempts: None,
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

    /// Why an external cohort's processes could not keep up (their timed verdicts are not measurable):
    /// the first such cohort's cause, with its name.
    pub fn external_lag_cause(&self) -> Option<String> {
        self.cohorts
            .iter()
            .find_map(|c| c.external.as_ref().and_then(|e| e.lag_cause()).map(|cause| format!("{}: {cause}", c.name)))
    }

    /// Why some verdicts of the run are not measurable: the rig's cause when it lagged, else the first
    /// external cohort's whose processes could not keep up, else a sharded rehearsal's step whose figures
    /// the shards did not pool (`None` when everything kept up).
    pub fn not_measurable_cause(&self) -> Option<String> {
        if self.rig_lagged() {
            return Some(self.rig_cause());
        }
        self.external_lag_cause().or_else(|| self.unpooled_cause()).or_else(|| self.unresolved_peaks_cause())
    }

    /// Why a gating verdict read from a merged run's high-water marks cannot tell: its bounds lie either side
    /// of the threshold.
    pub fn unresolved_peaks_cause(&self) -> Option<String> {
        let marks = ["connections-per-stream", "connection-reduction"];
        let v = self
            .verdicts
            .iter()
            .find(|v| v.gates && v.status == verdict::Status::NotMeasurable && marks.contains(&v.criterion.as_str()))?;
        Some(format!("{} of {}: {}", v.criterion, v.cohort.as_deref().unwrap_or("the run"), v.note))
    }

    /// Why a sharded rehearsal stopped stepping unjudged: the step whose figures the shards did not pool.
    pub fn unpooled_cause(&self) -> Option<String> {
        let outcome = &self.rollout.as_ref()?.outcome;
        // A rollback before the step that could not be pooled is an outcome all the same.
        let (step, why) = outcome.unpooled.as_ref().filter(|_| outcome.rollback_step.is_none())?;
        Some(format!("the shards did not pool the figures of rehearsal step {}: {why}", step + 1))
    }

    /// A cohort by name.
    pub fn cohort(&self, name: &str) -> Option<&CohortSummary> {
        self.cohorts.iter().find(|c| c.name == name)
    }
}
