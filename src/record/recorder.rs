//! The recorder: the one task that owns every aggregate of a run. Clients send it [`Event`]s over a
//! bounded channel; when the channel closes it returns what it built. Nothing else aggregates: once a
//! second it publishes a small copy of its running totals ([`progress`](crate::record::progress)) for the
//! live display.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

mod absorb;

use crate::mock::time::now_micros;
use crate::record::event::{CohortId, DeliverySample, Event, StreamTally, latency_histogram};
use crate::record::freshness::Freshness;
use crate::record::progress::{Buckets, CohortProgress, PROGRESS_EVERY, Progress};
use crate::record::steps::{StepLog, StepQuery};

/// Events taken from the channel at once: fewer wake-ups under load, and the progress tick is checked
/// between batches instead of between events.
const BATCH: usize = 256;

/// Width of the fine storm bins.
pub const FINE_BIN: Duration = Duration::from_millis(100);

/// One second of one cohort.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Second {
    /// Connection attempts started.
    pub attempts: u64,
    /// Attempts that upgraded.
    pub connected: u64,
    /// Attempts that failed.
    pub failed: u64,
    /// Subscribers that got a give-up error, and protocol errors (with the failed attempts: the failed
    /// operations of the error rate).
    pub errors: u64,
    /// Connections that ended.
    pub ended: u64,
    /// Client-side open connections at the end of the second.
    pub open: i64,
    /// Most client-side connections open at once within the second.
    #[serde(default)]
    pub open_peak: i64,
    /// Fewest client-side connections open at once within the second (in the recorder's order of events).
    #[serde(default)]
    pub open_least: i64,
    /// WSManager streams active at the end of the second.
    #[serde(default)]
    pub streams: i64,
    /// Most WSManager streams active at once within the second (0 only when none was, and none changed).
    #[serde(default)]
    pub streams_peak: i64,
    /// Fewest WSManager streams active at once within the second.
    #[serde(default)]
    pub streams_least: i64,
    /// Whether a connection event fell in the second (while recording; not kept).
    #[serde(skip)]
    touched: bool,
    /// Whether a stream event fell in it.
    #[serde(skip)]
    streams_touched: bool,
    /// Messages delivered to subscribers.
    pub delivered: u64,
    /// Sequence ids missing.
    pub gaps: u64,
    /// Silent sockets detected.
    pub detections: u64,
    /// Reconnect attempts (not first connects).
    pub retries: u64,
    /// Messages received from the upstream.
    pub received: u64,
    /// Delivery latency p50, p95 and p99 of the messages received in this second (µs; 0 without any).
    pub latency_p50_us: u64,
    /// See `latency_p50_us`.
    pub latency_p95_us: u64,
    /// See `latency_p50_us`.
    pub latency_p99_us: u64,
    /// Staleness p50 and p99 of the samples taken in this second (µs; 0 without any).
    pub staleness_p50_us: u64,
    /// See `staleness_p50_us`.
    pub staleness_p99_us: u64,
}

/// A coarse histogram (two significant digits) for the per-second and per-window figures.
fn coarse_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, crate::record::event::LATENCY_MAX_US, 2).expect("constant histogram bounds are valid")
}

/// Latency and staleness over one stretch of the run (a second, a fault window, the time outside them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stretch {
    /// Delivery latency (µs).
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub latency: Histogram<u64>,
    /// Staleness (µs).
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub staleness: Histogram<u64>,
}

impl Default for Stretch {
    fn default() -> Self {
        Stretch { latency: coarse_histogram(), staleness: coarse_histogram() }
    }
}

/// One second's [`Stretch`], compact: kept for every second that had samples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct EncodedSecond {
    /// Which second of the run.
    second: usize,
    /// Its latency distribution's V2 encoding.
    #[serde(with = "crate::vocab::serialize::base64_bytes")]
    latency: Vec<u8>,
    /// Its staleness distribution's V2 encoding.
    #[serde(with = "crate::vocab::serialize::base64_bytes")]
    staleness: Vec<u8>,
}

impl EncodedSecond {
    fn of(second: usize, stretch: &Stretch) -> EncodedSecond {
        use crate::vocab::serialize::histogram::encode;
        EncodedSecond { second, latency: encode(&stretch.latency), staleness: encode(&stretch.staleness) }
    }

    /// The stretch again (an empty one for bytes that are no encoding).
    fn decoded(&self) -> Stretch {
        use crate::vocab::serialize::histogram::decode;
        let empty = Stretch::default();
        Stretch {
            latency: decode(&self.latency).unwrap_or(empty.latency),
            staleness: decode(&self.staleness).unwrap_or(empty.staleness),
        }
    }
}

/// Seconds still open for samples: a socket hands its latencies over up to a flush interval late, so the
/// last few seconds stay open and are summarised into their [`Second`] once later samples are past them.
const OPEN_SECONDS: usize = 3;

/// Everything recorded about one cohort.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CohortRecord {
    /// Delivery latency (µs): event time to subscriber callback, one value per subscriber-delivery.
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub latency: Histogram<u64>,
    /// The upstream's share of each latency whose receive time the kernel gave (µs): event time to the
    /// upstream's write on that socket, injected delay included.
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub upstream_share: Histogram<u64>,
    /// The delivery share of the same deliveries (µs): the write to the subscriber callback.
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub delivery_share: Histogram<u64>,
    /// Staleness (µs), sampled at fixed instants for every live subscription (one value per subscriber).
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub staleness: Histogram<u64>,
    /// Per subscription, the longest time without data while the upstream published on its stream (µs).
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub without_data: Histogram<u64>,
    /// TCP connect + upgrade (µs).
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub connect_time: Histogram<u64>,
    /// Drop to first message again (µs), per affected connection.
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub recovery: Histogram<u64>,
    /// Silence before a liveness check fired (µs).
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub detection: Histogram<u64>,
    /// Backoff delay waited before each reconnect attempt (µs).
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub retry_delay: Histogram<u64>,
    /// Attempts by outcome label.
    pub attempts: BTreeMap<String, u64>,
    /// Reconnect attempts (not first connects).
    pub reconnects: u64,
    /// Connection ends by label.
    pub ends: BTreeMap<String, u64>,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// Messages delivered to subscribers.
    pub delivered: u64,
    /// Messages received from the upstream.
    pub received: u64,
    /// Subscriber-deliveries skipped, or owed and never received.
    pub gaps: u64,
    /// Of the gaps, the ones that arrived later out of order.
    pub late: u64,
    /// Subscriber-deliveries received again.
    pub duplicates: u64,
    /// Per stream name.
    pub streams: BTreeMap<String, StreamTally>,
    /// Messages that could not be placed in the upstream's record.
    pub unresolved: u64,
    /// Unparseable messages.
    pub malformed: u64,
    /// Give-ups and the subscribers that got the error.
    pub gave_up: u64,
    /// Subscribers that got a give-up error.
    pub gave_up_subscribers: u64,
    /// Unified fallbacks to legacy.
    pub fallbacks: u64,
    /// An external manager's processes.
    pub external: crate::record::external::ExternalRecord,
    /// Subscriptions carried by connections that ended.
    pub subscriptions_dropped: u64,
    /// Subscriptions that received data again after a drop.
    pub subscriptions_recovered: u64,
    /// Every recovery: when data arrived again, how long after the drop, for how many subscribers.
    pub recoveries: Vec<(Duration, Duration, u32)>,
    /// Subscriptions closed while still recovering, with how long they had waited.
    pub abandoned: Vec<(u32, Duration)>,
    /// WSManager streams active now and at most.
    pub active_streams: (i64, i64),
    /// WSManager streams created, cleaned up by reference count, cleaned up idle.
    pub stream_events: (u64, u64, u64),
    /// Open connections now and the most at once.
    pub open: i64,
    /// Most connections open at once.
    pub open_high_water: i64,
    /// In a merged run: the least the most connections open at once can have been (the most the shards'
    /// end-of-second counts add to), `open_high_water` being the most (see
    /// [`Recording::bound_peaks`]).
    #[serde(default)]
    pub open_high_water_low: Option<i64>,
    /// In a merged run: the same lower bound of WSManager's most active streams.
    #[serde(default)]
    pub streams_high_water_low: Option<i64>,
    /// Attempts per 100 ms.
    pub attempts_fine: Vec<u64>,
    /// Reconnect attempts per 100 ms.
    pub retries_fine: Vec<u64>,
    /// Per second.
    pub seconds: Vec<Second>,
    /// Largest number of attempts one client made within any 5 minutes.
    pub max_attempts_per_ip_5m: u64,
    per_client: HashMap<u32, VecDeque<Duration>>,
    /// Connections open now per client that holds any (a manager instance's own count).
    #[serde(skip)]
    open_per_client: HashMap<u32, u32>,
    /// The seconds still open, by second.
    #[serde(skip)]
    open_seconds: BTreeMap<usize, Stretch>,
    /// Each second's latency and staleness distributions, compact (their HdrHistogram V2 encodings): what
    /// lets the shards of a run add their seconds exactly.
    #[serde(default)]
    second_stretches: Vec<EncodedSecond>,
    /// Per fault window of the plan (in plan order), and outside every window.
    pub windows: Vec<Stretch>,
    /// Outside every fault window.
    pub outside: Stretch,
}

impl Default for CohortRecord {
    fn default() -> Self {
        CohortRecord {
            latency: latency_histogram(),
            upstream_share: latency_histogram(),
            delivery_share: latency_histogram(),
            staleness: latency_histogram(),
            without_data: latency_histogram(),
            connect_time: latency_histogram(),
            recovery: latency_histogram(),
            detection: latency_histogram(),
            retry_delay: latency_histogram(),
            attempts: BTreeMap::new(),
            reconnects: 0,
            ends: BTreeMap::new(),
            errors: BTreeMap::new(),
            delivered: 0,
            received: 0,
            gaps: 0,
            late: 0,
            duplicates: 0,
            streams: BTreeMap::new(),
            unresolved: 0,
            malformed: 0,
            gave_up: 0,
            gave_up_subscribers: 0,
            fallbacks: 0,
            external: crate::record::external::ExternalRecord::default(),
            subscriptions_dropped: 0,
            subscriptions_recovered: 0,
            recoveries: Vec::new(),
            abandoned: Vec::new(),
            active_streams: (0, 0),
            stream_events: (0, 0, 0),
            open: 0,
            open_high_water: 0,
            open_high_water_low: None,
            streams_high_water_low: None,
            attempts_fine: Vec::new(),
            retries_fine: Vec::new(),
            seconds: Vec::new(),
            max_attempts_per_ip_5m: 0,
            per_client: HashMap::new(),
            open_per_client: HashMap::new(),
            open_seconds: BTreeMap::new(),
            second_stretches: Vec::new(),
            windows: Vec::new(),
            outside: Stretch::default(),
        }
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

fn slot<T: Default + Clone>(list: &mut Vec<T>, index: usize) -> &mut T {
    if list.len() <= index {
        list.resize(index + 1, T::default());
    }
    &mut list[index]
}

impl CohortRecord {
    /// The clients (by index in the run) that made an attempt.
    pub fn clients(&self) -> impl Iterator<Item = u32> + '_ {
        self.per_client.keys().copied()
    }

    fn second(&mut self, at: Duration) -> &mut Second {
        let open = self.open;
        let second = slot(&mut self.seconds, at.as_secs() as usize);
        second.open = open;
        second.open_peak = second.open_peak.max(open);
        second.open_least = if second.touched { second.open_least.min(open) } else { open };
        second.touched = true;
        second
    }

    /// Notes WSManager's active streams in the second of `at`, before a change and after it.
    fn streams_second(&mut self, at: Duration) {
        let active = self.active_streams.0;
        let second = slot(&mut self.seconds, at.as_secs() as usize);
        second.streams = active;
        second.streams_peak = second.streams_peak.max(active);
        second.streams_least = if second.streams_touched { second.streams_least.min(active) } else { active };
        second.streams_touched = true;
    }

    /// One connection of `client` ended.
    fn closed_by(&mut self, client: u32) {
        if let std::collections::hash_map::Entry::Occupied(mut open) = self.open_per_client.entry(client) {
            *open.get_mut() -= 1;
            if *open.get() == 0 {
                open.remove();
            }
        }
    }

    /// The most connections one client (manager instance) holds open now.
    pub fn busiest_client_open(&self) -> u32 {
        self.open_per_client.values().copied().max().unwrap_or(0)
    }

    fn attempt(
        &mut self,
        client: u32,
        at: Duration,
        outcome_label: String,
        connected: bool,
        took: Duration,
        retry: bool,
    ) {
        *self.attempts.entry(outcome_label).or_default() += 1;
        let bin = (at.as_millis() / FINE_BIN.as_millis()) as usize;
        *slot(&mut self.attempts_fine, bin) += 1;
        if retry {
            *slot(&mut self.retries_fine, bin) += 1;
            self.reconnects += 1;
        }
        if connected {
            self.connect_time.saturating_record(micros(took));
            self.open += 1;
            self.open_high_water = self.open_high_water.max(self.open);
            *self.open_per_client.entry(client).or_default() += 1;
        }
        let second = self.second(at);
        second.attempts += 1;
        second.retries += u64::from(retry);
        if connected {
            second.connected += 1;
        } else {
            second.failed += 1;
        }
        let window = self.per_client.entry(client).or_default();
        window.push_back(at);
        while window.front().is_some_and(|t| at.saturating_sub(*t) >= Duration::from_secs(300)) {
            window.pop_front();
        }
        self.max_attempts_per_ip_5m = self.max_attempts_per_ip_5m.max(window.len() as u64);
    }

    fn deliveries(&mut self, sample: &DeliverySample, at: Duration, windows: &[(Duration, Duration)]) {
        self.delivered += sample.delivered;
        self.received += sample.received;
        self.gaps += sample.gaps;
        self.late += sample.late;
        self.duplicates += sample.duplicates;
        self.malformed += sample.malformed;
        self.unresolved += sample.unresolved;
        for l in &sample.latencies {
            let (value, count) = (u64::from(l.latency_us), u64::from(l.subscribers));
            self.latency.saturating_record_n(value, count);
            if l.upstream_us > 0 {
                let upstream = u64::from(l.upstream_us);
                self.upstream_share.saturating_record_n(upstream, count);
                self.delivery_share.saturating_record_n(value.saturating_sub(upstream).max(1), count);
            }
            let when = Duration::from_millis(u64::from(l.at_ms));
            self.record_stretches(when, windows, (value, count), |s| &mut s.latency);
        }
        for (name, tally) in &sample.streams {
            match self.streams.get_mut(name) {
                Some(total) => total.add(tally),
                None => {
                    self.streams.insert(name.clone(), *tally);
                }
            }
        }
        for (waited, subscribers) in &sample.without_data {
            self.without_data.saturating_record_n((*waited).max(1), u64::from(*subscribers));
        }
        let second = self.second(at);
        second.delivered += sample.delivered;
        second.received += sample.received;
        second.gaps += sample.gaps;
    }

    /// One staleness sample of a subscription with `subscribers`, taken at `at`.
    fn staleness(&mut self, value_us: u64, subscribers: u32, at: Duration, windows: &[(Duration, Duration)]) {
        let value = value_us.max(1);
        self.staleness.saturating_record_n(value, u64::from(subscribers));
        self.record_stretches(at, windows, (value, u64::from(subscribers)), |s| &mut s.staleness);
    }

    /// Records `value` (`count` times) into the stretches a sample taken at `at` belongs to: its second, and
    /// each fault window it falls in, or else the time outside them; `pick` chooses latency or staleness.
    fn record_stretches(
        &mut self,
        at: Duration,
        windows: &[(Duration, Duration)],
        (value, count): (u64, u64),
        pick: fn(&mut Stretch) -> &mut Histogram<u64>,
    ) {
        let second = self.open_second(at.as_secs() as usize);
        if let Some(stretch) = self.open_seconds.get_mut(&second) {
            pick(stretch).saturating_record_n(value, count);
        }
        if self.windows.len() < windows.len() {
            self.windows.resize_with(windows.len(), Stretch::default);
        }
        let mut inside_any = false;
        for ((from, to), stretch) in windows.iter().zip(self.windows.iter_mut()) {
            if *from <= at && at < *to {
                inside_any = true;
                pick(stretch).saturating_record_n(value, count);
            }
        }
        if !inside_any {
            pick(&mut self.outside).saturating_record_n(value, count);
        }
    }

    /// Opens second `second` (a sample older than every open second joins the oldest), summarising the
    /// seconds that are now too old to receive samples; returns the second the sample joins.
    fn open_second(&mut self, second: usize) -> usize {
        let oldest = self.open_seconds.keys().next().copied();
        let second = oldest.map_or(second, |o| second.max(o));
        self.open_seconds.entry(second).or_default();
        while self.open_seconds.len() > OPEN_SECONDS {
            let Some((old, stretch)) = self.open_seconds.pop_first() else { break };
            self.summarise_second(old, &stretch);
        }
        second
    }

    fn summarise_second(&mut self, index: usize, stretch: &Stretch) {
        if !stretch.latency.is_empty() || !stretch.staleness.is_empty() {
            self.second_stretches.push(EncodedSecond::of(index, stretch));
        }
        self.write_quantiles(index, stretch);
    }

    /// Writes a second's latency and staleness quantiles into its row of the series.
    fn write_quantiles(&mut self, index: usize, stretch: &Stretch) {
        let quantiles = |h: &Histogram<u64>| {
            if h.is_empty() {
                (0, 0, 0)
            } else {
                (h.value_at_quantile(0.5), h.value_at_quantile(0.95), h.value_at_quantile(0.99))
            }
        };
        let (latency, staleness) = (quantiles(&stretch.latency), quantiles(&stretch.staleness));
        let second = slot(&mut self.seconds, index);
        (second.latency_p50_us, second.latency_p95_us, second.latency_p99_us) = latency;
        (second.staleness_p50_us, _, second.staleness_p99_us) = staleness;
    }

    /// Fills seconds without events with the open count carried forward, up to `length` seconds.
    fn close_series(&mut self, length: usize) {
        while let Some((index, stretch)) = self.open_seconds.pop_first() {
            self.summarise_second(index, &stretch);
        }
        if self.seconds.len() < length {
            self.seconds.resize(length, Second::default());
        }
        let (mut open, mut streams) = (0, 0);
        for second in &mut self.seconds {
            // A second starts with the count the one before ended with.
            second.open_peak = second.open_peak.max(open);
            second.open_least = if second.touched { second.open_least.min(open) } else { open };
            if second.attempts + second.ended > 0 || second.open != 0 {
                open = second.open;
            } else {
                second.open = open;
            }
            second.open_peak = second.open_peak.max(open);
            second.streams_peak = second.streams_peak.max(streams);
            second.streams_least = if second.streams_touched { second.streams_least.min(streams) } else { streams };
            if second.streams_touched {
                streams = second.streams;
            } else {
                second.streams = streams;
            }
        }
    }
}

/// What the recorder built.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Recording {
    /// Per cohort, in cohort order.
    pub cohorts: Vec<CohortRecord>,
    /// Events received.
    pub events: u64,
    /// Per rehearsal step (empty outside rehearsals).
    pub steps: StepLog,
}

/// What the recorder is given besides its events.
#[derive(Debug)]
pub struct Setup {
    /// Cohorts of the run.
    pub cohorts: usize,
    /// Length of the per-second series.
    pub run_seconds: usize,
    /// When the run started (events' arrival times count from it).
    pub start: tokio::time::Instant,
    /// Where the running totals go every [`PROGRESS_EVERY`].
    pub progress: watch::Sender<Progress>,
    /// Per-step counts of a rehearsal (`StepLog::default()` otherwise).
    pub steps: StepLog,
    /// A rehearsal controller's questions about a step.
    pub queries: mpsc::Receiver<StepQuery>,
    /// The staleness watches and how often to sample them (`None`: staleness is not measured).
    pub freshness: Option<(Arc<Freshness>, Duration)>,
    /// The fault plan's windows (start, end since the start of the run) that get figures of their own.
    pub windows: Vec<(Duration, Duration)>,
}

impl Setup {
    /// A setup without a rehearsal.
    #[cfg(test)]
    pub fn plain(
        cohorts: usize,
        run_seconds: usize,
        start: tokio::time::Instant,
        progress: watch::Sender<Progress>,
    ) -> Setup {
        let (_no_questions, queries) = mpsc::channel(1);
        Setup {
            cohorts,
            run_seconds,
            start,
            progress,
            steps: StepLog::new(Vec::new(), cohorts),
            queries,
            freshness: None,
            windows: Vec::new(),
        }
    }
}

/// Runs the recorder until every sender is gone, publishing its running totals every [`PROGRESS_EVERY`]
/// and answering a rehearsal controller's questions between batches; `start` gives the run time of an
/// event's arrival.
pub async fn run(mut events: mpsc::Receiver<Event>, setup: Setup) -> Recording {
    let Setup { cohorts, run_seconds, start, progress, steps, mut queries, freshness, windows } = setup;
    let mut recording = Recording { cohorts: vec![CohortRecord::default(); cohorts], events: 0, steps };
    let mut tick = tokio::time::interval_at(start + PROGRESS_EVERY, PROGRESS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let every = freshness.as_ref().map_or(Duration::from_secs(3600), |(_, every)| *every);
    let mut staleness_tick = tokio::time::interval_at(start + every, every);
    staleness_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            biased;
            _ = tick.tick() => publish_progress(&progress, &recording.cohorts, start.elapsed()),
            _ = staleness_tick.tick(), if freshness.is_some() => {
                if let Some((watches, _)) = &freshness {
                    sample_staleness(watches, &mut recording.cohorts, start.elapsed(), &windows);
                }
            }
            received = events.recv_many(&mut batch, BATCH) => {
                if received == 0 {
                    break;
                }
                for event in batch.drain(..) {
                    recording.events += 1;
                    let now = start.elapsed();
                    recording.steps.observe(&event, now);
                    apply(&mut recording.cohorts, event, now, &windows);
                }
            }
            Some(query) = queries.recv() => recording.steps.answer(query),
        }
    }
    publish_progress(&progress, &recording.cohorts, start.elapsed());
    for cohort in &mut recording.cohorts {
        cohort.close_series(run_seconds);
    }
    recording
}

/// One staleness sample of every live subscription.
fn sample_staleness(
    freshness: &Freshness,
    cohorts: &mut [CohortRecord],
    at: Duration,
    windows: &[(Duration, Duration)],
) {
    freshness.sample(now_micros(), |id, value, subscribers| {
        if let Some(c) = cohorts.get_mut(id) {
            c.staleness(value, subscribers, at, windows);
        }
    });
}

fn cohort(cohorts: &mut [CohortRecord], id: CohortId) -> Option<&mut CohortRecord> {
    cohorts.get_mut(id)
}

fn apply(cohorts: &mut [CohortRecord], event: Event, now: Duration, windows: &[(Duration, Duration)]) {
    match event {
        Event::Attempt { cohort: id, client, at, outcome, took, retry, waited } => {
            if let Some(c) = cohort(cohorts, id) {
                if retry {
                    c.retry_delay.saturating_record(micros(waited));
                }
                let connected = outcome == crate::record::event::AttemptOutcome::Connected;
                c.attempt(client, at, outcome.label(), connected, took, retry);
            }
        }
        Event::Ended { cohort: id, client, at, end, subscriptions } => {
            if let Some(c) = cohort(cohorts, id) {
                c.closed_by(client);
                *c.ends.entry(end.label()).or_default() += 1;
                // The second's peak counts the connection until it ended.
                c.second(at);
                c.open -= 1;
                c.second(at).ended += 1;
                if end != crate::record::event::ConnectionEnd::Local {
                    c.subscriptions_dropped += u64::from(subscriptions);
                }
            }
        }
        Event::Recovered { cohort: id, at, after, subscribers } => {
            if let Some(c) = cohort(cohorts, id) {
                c.recovery.saturating_record(micros(after));
                c.recoveries.push((at, after, subscribers));
                c.subscriptions_recovered += u64::from(subscribers);
            }
        }
        Event::Abandoned { cohort: id, subscriptions, waited } => {
            if let Some(c) = cohort(cohorts, id) {
                c.abandoned.push((subscriptions, waited));
            }
        }
        Event::Detected { cohort: id, at, silent_for } => {
            if let Some(c) = cohort(cohorts, id) {
                c.detection.saturating_record(micros(silent_for));
                c.second(at).detections += 1;
            }
        }
        Event::GaveUp { cohort: id, at, subscribers } => {
            if let Some(c) = cohort(cohorts, id) {
                c.gave_up += 1;
                c.gave_up_subscribers += u64::from(subscribers);
                c.second(at).errors += u64::from(subscribers);
            }
        }
        Event::Fallback { cohort: id, .. } => {
            if let Some(c) = cohort(cohorts, id) {
                c.fallbacks += 1;
            }
        }
        Event::Stream { cohort: id, created, idle } => {
            if let Some(c) = cohort(cohorts, id) {
                match (created, idle) {
                    (true, _) => c.stream_events.0 += 1,
                    (false, false) => c.stream_events.1 += 1,
                    (false, true) => c.stream_events.2 += 1,
                }
                // The recorder's clock places it: a stream event carries no time of its own.
                c.streams_second(now);
                c.active_streams.0 += if created { 1 } else { -1 };
                c.active_streams.1 = c.active_streams.1.max(c.active_streams.0);
                c.streams_second(now);
            }
        }
        Event::Deliveries(sample) => {
            if let Some(c) = cohort(cohorts, sample.cohort) {
                c.deliveries(&sample, now, windows);
            }
        }
        Event::Error { cohort: id, kind } => {
            if let Some(c) = cohort(cohorts, id) {
                *c.errors.entry(kind.to_owned()).or_default() += 1;
                c.second(now).errors += 1;
            }
        }
        Event::Process { cohort: id, report } => {
            if let Some(c) = cohort(cohorts, id) {
                c.external.add(*report);
            }
        }
        Event::Handover(_) => {}
    }
}

/// Publishes the totals of `records` at `at`, reusing the channel's buffer (no allocation once warm).
fn publish_progress(sender: &watch::Sender<Progress>, records: &[CohortRecord], at: Duration) {
    sender.send_modify(|progress| {
        progress.at = at;
        progress.cohorts.clear();
        progress.cohorts.extend(records.iter().map(progress_of));
    });
}

/// The running totals of one cohort's record: a handful of counters, and the latency and staleness
/// distributions reduced to buckets (one pass over each histogram's recorded values, thousands at most).
fn progress_of(record: &CohortRecord) -> CohortProgress {
    CohortProgress {
        open: record.open,
        attempts: record.attempts.values().sum(),
        reconnects: record.reconnects,
        delivered: record.delivered,
        gaps: record.gaps,
        open_high_water: record.open_high_water,
        busiest_client_open: record.busiest_client_open(),
        connected: record.attempts.get("connected").copied().unwrap_or(0),
        errors: record.errors.values().sum(),
        gave_up: (record.gave_up, record.gave_up_subscribers),
        streams: (record.stream_events.0, record.stream_events.1 + record.stream_events.2),
        active_streams: record.active_streams.0,
        latency: Buckets::of(&record.latency),
        staleness: Buckets::of(&record.staleness),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::event::{AttemptOutcome, ConnectionEnd, LatencySample};

    #[tokio::test]
    async fn aggregates_storms_connections_and_latency() {
        let (tx, rx) = mpsc::channel(64);
        let start = tokio::time::Instant::now();
        let (progress, _) = watch::channel(Progress::start(2));
        let recorder = tokio::spawn(run(rx, Setup::plain(2, 3, start, progress)));
        let ms = Duration::from_millis;
        for (i, at) in [ms(10), ms(20), ms(150), ms(1500)].into_iter().enumerate() {
            let outcome = if i == 2 { AttemptOutcome::Http(429) } else { AttemptOutcome::Connected };
            tx.send(Event::Attempt { cohort: 1, client: 7, at, outcome, took: ms(2), retry: i > 0, waited: ms(1000) })
                .await
                .unwrap();
        }
        tx.send(Event::Ended { cohort: 1, client: 7, at: ms(1600), end: ConnectionEnd::Abnormal, subscriptions: 4 })
            .await
            .unwrap();
        let sample = DeliverySample {
            delivered: 3,
            received: 2,
            gaps: 1,
            latencies: vec![LatencySample { latency_us: 5000, subscribers: 2, at_ms: 1200, upstream_us: 3000 }],
            streams: vec![(
                "btcusdt@trade".to_owned(),
                StreamTally { delivered: 3, gaps: 1, ..StreamTally::default() },
            )],
            without_data: vec![(250_000, 2)],
            ..DeliverySample::empty(1)
        };
        tx.send(Event::Deliveries(Box::new(sample))).await.unwrap();
        drop(tx);
        let recording = recorder.await.unwrap();
        let c = &recording.cohorts[1];
        assert_eq!((&c.attempts_fine[..2], c.attempts_fine[15]), (&[2, 1][..], 1));
        assert_eq!(c.attempts["connected"], 3);
        assert_eq!(c.attempts["http-429"], 1);
        assert_eq!(c.reconnects, 3);
        assert_eq!((c.open, c.open_high_water), (2, 3));
        assert_eq!(c.seconds.len(), 3);
        assert_eq!((c.seconds[0].open, c.seconds[1].open, c.seconds[2].open), (2, 2, 2));
        let peaks: Vec<i64> = c.seconds.iter().map(|s| s.open_peak).collect();
        assert_eq!(peaks, [2, 3, 2], "the third connection was open for 100 ms of second 1");
        let least: Vec<i64> = c.seconds.iter().map(|s| s.open_least).collect();
        assert_eq!(least, [0, 2, 2], "second 0 began with none open");
        assert_eq!(c.max_attempts_per_ip_5m, 4);
        assert_eq!(c.subscriptions_dropped, 4);
        assert_eq!(c.latency.len(), 2, "one latency per subscriber that got the message, nothing invented");
        assert_eq!((c.upstream_share.len(), c.delivery_share.len()), (2, 2), "split where the kernel gave a time");
        let (up, down) = (c.upstream_share.max(), c.delivery_share.max());
        assert!(c.upstream_share.equivalent(up, 3000) && c.delivery_share.equivalent(down, 2000), "{up} + {down}");
        assert_eq!(c.streams["btcusdt@trade"].delivered, 3);
        assert_eq!((c.without_data.len(), c.without_data.max() / 1000), (2, 250));
        assert_eq!(c.seconds[1].latency_p50_us / 1000, 5, "the second it was received in");
        assert_eq!(c.outside.latency.len(), 2, "no fault windows: all outside");
        assert_eq!(recording.cohorts[0].attempts.len(), 0);
    }

    #[test]
    fn the_busiest_client_is_the_one_holding_most_connections_now() {
        let mut cohorts = vec![CohortRecord::default()];
        let attempt = |client| Event::Attempt {
            cohort: 0,
            client,
            at: Duration::from_millis(10),
            outcome: AttemptOutcome::Connected,
            took: Duration::from_millis(1),
            retry: false,
            waited: Duration::ZERO,
        };
        let ended = |client| Event::Ended {
            cohort: 0,
            client,
            at: Duration::from_millis(20),
            end: ConnectionEnd::Abnormal,
            subscriptions: 1,
        };
        for client in [7, 7, 7, 8] {
            apply(&mut cohorts, attempt(client), Duration::ZERO, &[]);
        }
        assert_eq!(cohorts[0].busiest_client_open(), 3, "client 7 holds three sockets");
        for event in [ended(7), ended(7), ended(9)] {
            apply(&mut cohorts, event, Duration::ZERO, &[]);
        }
        assert_eq!(cohorts[0].busiest_client_open(), 1, "one each now; an unknown client's end changes nothing");
        assert_eq!(progress_of(&cohorts[0]).busiest_client_open, 1);
    }

    #[test]
    fn publishing_copies_the_running_totals_and_notifies() {
        let (tx, mut rx) = watch::channel(Progress::start(1));
        let mut record = CohortRecord {
            open: 3,
            open_high_water: 5,
            reconnects: 2,
            delivered: 900,
            gaps: 1,
            gave_up: 1,
            gave_up_subscribers: 4,
            stream_events: (7, 2, 1),
            active_streams: (4, 6),
            ..Default::default()
        };
        record.attempts.insert("connected".into(), 4);
        record.attempts.insert("http-429".into(), 2);
        record.errors.insert("protocol".into(), 3);
        record.latency.record_n(40_000, 9).unwrap();
        record.staleness.record(300_000).unwrap();
        publish_progress(&tx, &[record], Duration::from_secs(2));
        assert!(rx.has_changed().unwrap());
        let seen = rx.borrow_and_update().clone();
        let c = &seen.cohorts[0];
        assert_eq!(seen.at, Duration::from_secs(2));
        assert_eq!((c.open, c.open_high_water, c.attempts, c.connected, c.reconnects), (3, 5, 6, 4, 2));
        assert_eq!((c.delivered, c.gaps, c.errors, c.gave_up), (900, 1, 3, (1, 4)));
        assert_eq!((c.streams, c.active_streams), ((7, 3), 4), "cleanups by reference count and idle alike");
        assert_eq!((c.latency.count, c.latency.at_or_under[4], c.latency.at_or_under[5]), (9, 0, 9), "40 ms");
        assert_eq!((c.staleness.count, c.staleness.at_or_under[7], c.staleness.at_or_under[8]), (1, 0, 1));
    }
}
