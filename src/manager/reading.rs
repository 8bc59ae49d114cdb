//! The reading side of one upstream, kept across its reconnects: every message accounted to the subscribers
//! of its stream (latency from the event time, or from the upstream's record for the kinds without one;
//! delivery, loss, late arrivals and duplicates in subscriber-deliveries through [`Track`]; the longest time
//! without data), the staleness watch moved forward, the recovery of an outage, and the batch waiting for
//! the recorder. Where the upstream keeps no record this process can read, consecutive sequence ids are
//! checked instead (trade, aggTrade, diff depth) and the other kinds go unaccounted.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::time::Instant;

use crate::manager::audience::{Audience, Heard, RunContext};
use crate::manager::sequence::{Read, Sequence, Sequences, parse};
use crate::manager::tap::{Mark, Tap};
use crate::manager::track::{Delivery, Track};
use crate::mock::publications::{Index, KeyRecord};
use crate::mock::time::{Micros, now_micros};
use crate::record::event::{CohortId, DeliverySample, Event, LatencySample, StreamTally};
use crate::record::freshness::Watch;

/// Latencies batched before a socket hands them to the recorder early (4 KiB of samples: what a socket holds
/// between flushes stays small when its stream is hot or the recorder is behind).
const BATCH_LATENCIES: usize = 256;

/// One stream's accounting on this socket.
#[derive(Debug)]
struct StreamState {
    /// Which subscription of the stream it accounts (a new one starts afresh).
    generation: u64,
    record: Option<Arc<KeyRecord>>,
    watch: Option<Arc<Watch>>,
    track: Track,
    /// Subscribers when last heard.
    subscribers: u32,
    /// The longest time without data so far (µs).
    longest_wait: u64,
    /// How far behind its publication the newest event arrived (µs): what was still in flight when the
    /// accounting ends can be that far behind, on top of the settle time (a loaded rig's backlog).
    behind: u64,
    /// Since the last flush.
    tally: StreamTally,
    /// Messages of events not yet in a mirrored record (a mock in its own process), in arrival order.
    pending: std::collections::VecDeque<Pending>,
}

/// A message waiting for its event to reach the mirrored record.
#[derive(Debug, Clone, Copy)]
struct Pending {
    key: u64,
    snapshot: bool,
    subscribers: u32,
    /// Received at (µs since the epoch) and, for the kinds without an event time, its run time (ms) for the
    /// latency sample taken once it resolves.
    received: Micros,
    untimed_at_ms: Option<u32>,
    /// When the kernel received it (µs since the epoch; 0: unknown).
    written: Micros,
}

/// How long a message may wait for its event to reach a mirrored record before it counts as unresolved.
const PENDING_FOR: Micros = 5_000_000;

/// What the reading side keeps across reconnects.
pub(crate) struct Reading {
    cohort: CohortId,
    raw_stream: Option<String>,
    streams: HashMap<String, StreamState>,
    /// Consecutive-id checks where no record resolves a message.
    sequences: Sequences,
    sample: DeliverySample,
    /// When the batch last went to the recorder.
    pub last_flush: Instant,
    /// The current outage: when the socket first dropped and how many subscriptions it dropped.
    pub outage: Option<(Instant, u32)>,
    /// Market messages read over every session of the upstream (responses and malformed text apart).
    pub market_messages: u64,
    /// When the last session stopped reading because the run told it to (µs since the epoch): what was
    /// published after that, less the settle time, was never owed.
    pub stopped_reading: Option<Micros>,
    tap: Option<Arc<Tap>>,
}

impl Reading {
    /// The reading side of a raw (`Some(stream)`) or combined upstream of `cohort`.
    pub fn new(cohort: CohortId, raw_stream: Option<String>, tap: Option<Arc<Tap>>) -> Self {
        Reading {
            cohort,
            raw_stream,
            streams: HashMap::new(),
            sequences: Sequences::default(),
            sample: DeliverySample::empty(cohort),
            last_flush: Instant::now(),
            outage: None,
            market_messages: 0,
            stopped_reading: None,
            tap,
        }
    }

    /// Whether nothing waits to go to the recorder: no sample, no tally, no message waiting for its record.
    pub fn holds_nothing(&self) -> bool {
        self.sample.is_empty()
            && self.sample.latencies.is_empty()
            && self.streams.values().all(|s| s.pending.is_empty() && s.tally.is_empty())
    }

    /// Ends the accounting of the subscriptions that ended, then hands the batch to the recorder.
    pub async fn flush(&mut self, ctx: &RunContext, audience: &Audience) {
        self.settle_departed(ctx, audience);
        self.send(ctx).await;
    }

    async fn send(&mut self, ctx: &RunContext) {
        self.last_flush = Instant::now();
        let now = now_micros();
        for state in self.streams.values_mut() {
            drain_pending(state, &mut self.sample, now, false);
        }
        for (name, state) in &mut self.streams {
            if !state.tally.is_empty() {
                self.sample.streams.push((name.clone(), std::mem::take(&mut state.tally)));
            }
        }
        if self.sample.is_empty() {
            return;
        }
        let sample = std::mem::replace(&mut self.sample, DeliverySample::empty(self.cohort));
        ctx.report(Event::Deliveries(Box::new(sample))).await;
    }

    /// Ends the accounting when the upstream stops or gives up: the subscriptions that ended earlier at the
    /// time they ended, the others when reading stopped (now, unless a session stopped reading earlier: a
    /// loaded process may come to this seconds after its socket closed, and what was published meanwhile
    /// could not arrive); what was published up to the settle cut-off and never arrived is lost, every
    /// subscription's longest time without data is reported, and the batch goes to the recorder.
    pub async fn close(&mut self, ctx: &RunContext, audience: &Audience) {
        if !ctx.record_lag.is_zero() && self.streams.values().any(|s| !s.pending.is_empty()) {
            // Messages still waiting for a mirrored record: give the mirror the time it may lag.
            tokio::time::sleep(ctx.record_lag).await;
        }
        self.settle_departed(ctx, audience);
        let now = self.stopped_reading.take().unwrap_or_else(now_micros);
        for (name, heard, watch) in audience.owed() {
            self.end_subscription(ctx, &name, heard, watch.as_deref(), now);
        }
        self.send(ctx).await;
        self.streams.clear();
    }

    /// Ends the accounting of every subscription whose last subscriber left, as of the time it left.
    fn settle_departed(&mut self, ctx: &RunContext, audience: &Audience) {
        settle_departed(&mut self.streams, &mut self.sample, ctx, audience);
    }

    /// Ends one subscription's accounting at `at` (µs since the epoch).
    fn end_subscription(&mut self, ctx: &RunContext, name: &str, heard: Heard, watch: Option<&Watch>, at: Micros) {
        end_subscription(&mut self.streams, &mut self.sample, ctx, (name, heard, watch), at);
    }

    /// Accounts one text message, which the kernel received at `written` (when it says).
    pub async fn on_text(&mut self, ctx: &RunContext, audience: &Audience, text: &str, written: Option<Micros>) {
        let Some(message) = parse(text, self.raw_stream.is_none()) else {
            self.sample.malformed += 1;
            return;
        };
        if message.is_response {
            if message.is_error {
                ctx.report(Event::Error { cohort: self.cohort, kind: "request-refused" }).await;
            }
            return;
        }
        let stream = message.stream.or(self.raw_stream.as_deref()).unwrap_or("");
        let heard = audience.on_message(stream);
        self.sample.received += 1;
        self.market_messages += 1;
        if heard.departures {
            // A subscription that ended is settled before a newer one of the same stream is accounted.
            settle_departed(&mut self.streams, &mut self.sample, ctx, audience);
        }
        if heard.subscribers == 0 {
            return;
        }
        let now = now_micros();
        let accounted = account(
            &mut self.streams,
            &mut self.sequences,
            &mut self.sample,
            (ctx, audience),
            (stream, &message),
            heard,
            (now, written.unwrap_or(0)),
        );
        if let Some(tap) = &self.tap {
            tap.note(stream, Mark::new(message.sequence, ctx.now()));
        }
        let sent = match accounted {
            Accounted::Repeat => None,
            Accounted::Deferred => message.event_time,
            Accounted::Event(published) => message.event_time.or(published),
        };
        if let Some(sent) = sent {
            let at_ms = ctx.now().as_millis() as u32;
            let sample = latency_sample(sent, (written.unwrap_or(0), now), heard.subscribers, at_ms);
            self.sample.latencies.push(sample);
        }
        self.recover(ctx, audience).await;
        if self.sample.latencies.len() >= BATCH_LATENCIES {
            self.flush(ctx, audience).await;
        }
    }

    async fn recover(&mut self, ctx: &RunContext, audience: &Audience) {
        let Some((since, dropped)) = self.outage.take() else { return };
        let recovered = audience.total().min(dropped);
        let after = since.elapsed();
        ctx.report(Event::Recovered { cohort: self.cohort, at: ctx.now(), after, subscribers: recovered }).await;
        if dropped > recovered {
            // Subscribers that left the shared socket while it was recovering.
            ctx.report(Event::Abandoned { cohort: self.cohort, subscriptions: dropped - recovered, waited: after })
                .await;
        }
    }

    /// A binary frame where text was expected.
    pub fn malformed(&mut self) {
        self.sample.malformed += 1;
    }
}

/// Ends the accounting of every subscription whose last subscriber left, as of the time it left.
fn settle_departed(
    streams: &mut HashMap<String, StreamState>,
    sample: &mut DeliverySample,
    ctx: &RunContext,
    audience: &Audience,
) {
    for gone in audience.take_departed() {
        let heard = Heard { subscribers: gone.subscribers, generation: gone.generation, departures: false };
        end_subscription(streams, sample, ctx, (&gone.stream, heard, gone.watch.as_deref()), gone.at);
    }
}

/// Ends one subscription's accounting at `at` (µs since the epoch).
fn end_subscription(
    streams: &mut HashMap<String, StreamState>,
    sample: &mut DeliverySample,
    ctx: &RunContext,
    (name, heard, watch): (&str, Heard, Option<&Watch>),
    at: Micros,
) {
    let settle = ctx.settle.as_micros() as Micros;
    let cut_off = at.saturating_sub(settle);
    let current = streams.get(name).is_some_and(|s| s.generation == heard.generation);
    if let Some(mut state) = current.then(|| streams.remove(name)).flatten() {
        drain_pending(&mut state, sample, at, true);
        close_stream(sample, &mut state, heard.subscribers, (cut_off, at));
        sample.streams.push((name.to_owned(), std::mem::take(&mut state.tally)));
        return;
    }
    let from = watch.map_or(0, |w| w.since() + settle);
    let lost = never_received(sample, watch, heard.subscribers, (from, cut_off, at));
    if lost > 0 {
        sample.streams.push((name.to_owned(), StreamTally { gaps: lost, ..StreamTally::default() }));
    }
}

/// What a message was to the accounting.
enum Accounted {
    /// An event (its publication time, when the record has it).
    Event(Option<Micros>),
    /// A partial book sent again unchanged: not a new event, and no latency of its own.
    Repeat,
    /// Waiting for its event to reach a mirrored record (its latency, if it has no event time, is taken then).
    Deferred,
}

/// The latency of a message sent at `sent`, written by the upstream (received by the kernel) at `written`
/// (0: unknown) and handed to its `subscribers` at `received`, all µs since the epoch.
fn latency_sample(sent: Micros, (written, received): (Micros, Micros), subscribers: u32, at_ms: u32) -> LatencySample {
    let micros = |d: u64| d.clamp(1, u64::from(u32::MAX)) as u32;
    let latency_us = micros(received.saturating_sub(sent));
    let upstream_us = if written == 0 { 0 } else { micros(written.saturating_sub(sent)).min(latency_us) };
    LatencySample { latency_us, subscribers, at_ms, upstream_us }
}

/// Accounts a message of `stream` heard by `heard.subscribers`.
fn account(
    streams: &mut HashMap<String, StreamState>,
    sequences: &mut Sequences,
    sample: &mut DeliverySample,
    (ctx, audience): (&RunContext, &Audience),
    (stream, message): (&str, &Read<'_>),
    heard: Heard,
    (now, written): (Micros, Micros),
) -> Accounted {
    let state = stream_state(streams, ctx, audience, stream, heard.generation);
    state.subscribers = heard.subscribers;
    state.tally.received += 1;
    let Some(record) = state.record.clone() else {
        // No record of what the upstream published: consecutive ids are all there is to check.
        let delivery = consecutive_check(sequences, stream, message, heard.subscribers);
        add(sample, &mut state.tally, delivery);
        return Accounted::Event(None);
    };
    drain_pending(state, sample, now, false);
    let snapshot = matches!(message.sequence, Sequence::Snapshot(_));
    let key = identifying_key(message);
    let index = key.and_then(|k| record.index_of(k));
    let newer_than_recorded = |k: u64| record.key_range().is_none_or(|(_, last)| k > last);
    match (index, key) {
        (Some(index), _) if state.pending.is_empty() => {
            let applied = apply(state, sample, (index, snapshot, heard.subscribers), now);
            applied.map_or(Accounted::Repeat, |_| Accounted::Event(record.published_at(index)))
        }
        (_, Some(k)) if !state.pending.is_empty() || newer_than_recorded(k) => {
            // A mirrored record may not have the event yet: account it once it does, in arrival order.
            let untimed_at_ms = message.event_time.is_none().then(|| ctx.now().as_millis() as u32);
            let subscribers = heard.subscribers;
            let pending = Pending { key: k, snapshot, subscribers, received: now, untimed_at_ms, written };
            state.pending.push_back(pending);
            Accounted::Deferred
        }
        _ => {
            // Not in the record (forgotten, or never published): counted apart, outside the identity.
            sample.unresolved += 1;
            state.tally.unresolved += 1;
            Accounted::Event(None)
        }
    }
}

/// Accounts event `index` received at `received` by `subscribers`; `None` for a partial book sent again
/// unchanged.
fn apply(
    state: &mut StreamState,
    sample: &mut DeliverySample,
    (index, snapshot, subscribers): (Index, bool, u32),
    received: Micros,
) -> Option<()> {
    let record = state.record.as_deref()?;
    if snapshot && state.track.next() == Some(index + 1) {
        return None;
    }
    let waiting_since = match state.track.next() {
        Some(next) => record.published_no_later_than(next),
        None => state.watch.as_ref().and_then(|w| record.published_at(record.first_at_or_after(w.since()))),
    };
    let delivery = state.track.receive(index, subscribers);
    if delivery.advanced > 0 {
        let waited = waiting_since.map_or(0, |at| received.saturating_sub(at));
        state.longest_wait = state.longest_wait.max(waited);
        state.behind = record.published_at(index).map_or(0, |at| received.saturating_sub(at));
    }
    if let (Some(watch), Some(next)) = (&state.watch, state.track.next()) {
        watch.received_until(next);
    }
    add(sample, &mut state.tally, delivery);
    Some(())
}

/// Accounts the waiting messages whose events have reached the mirrored record, in arrival order; one that
/// waited too long (or every one, when `last`) counts as unresolved.
fn drain_pending(state: &mut StreamState, sample: &mut DeliverySample, now: Micros, last: bool) {
    if state.pending.is_empty() {
        return;
    }
    let Some(record) = state.record.clone() else { return };
    while let Some(p) = state.pending.front().copied() {
        match record.index_of(p.key) {
            Some(index) => {
                state.pending.pop_front();
                let applied = apply(state, sample, (index, p.snapshot, p.subscribers), p.received);
                if let (Some(()), Some(at_ms), Some(published)) = (applied, p.untimed_at_ms, record.published_at(index))
                {
                    let latency = latency_sample(published, (p.written, p.received), p.subscribers, at_ms);
                    sample.latencies.push(latency);
                }
            }
            None if last || now.saturating_sub(p.received) > PENDING_FOR => {
                state.pending.pop_front();
                sample.unresolved += 1;
                state.tally.unresolved += 1;
            }
            None => break,
        }
    }
}

/// The accounting of `stream`, started afresh for a new subscription of it.
fn stream_state<'a>(
    streams: &'a mut HashMap<String, StreamState>,
    ctx: &RunContext,
    audience: &Audience,
    stream: &str,
    generation: u64,
) -> &'a mut StreamState {
    let fresh = || StreamState {
        generation,
        record: ctx.freshness.as_ref().and_then(|f| f.record_of(stream)),
        watch: audience.watch_of(stream),
        track: Track::default(),
        subscribers: 0,
        longest_wait: 0,
        behind: 0,
        tally: StreamTally::default(),
        pending: std::collections::VecDeque::new(),
    };
    if !streams.contains_key(stream) {
        streams.insert(stream.to_owned(), fresh());
    }
    let state = streams.get_mut(stream).expect("inserted above");
    if state.generation != generation {
        // Left and subscribed again on this socket: a new subscription, accounted afresh.
        let tally = std::mem::take(&mut state.tally);
        *state = fresh();
        state.tally = tally;
    }
    state
}

/// The key the upstream's record identifies the message's event by: its sequence id, or its event time for
/// the kinds without one.
fn identifying_key(message: &Read<'_>) -> Option<u64> {
    match message.sequence {
        Sequence::Trade(id) | Sequence::AggTrade(id) | Sequence::UpdateId(id) | Sequence::Snapshot(id) => Some(id),
        Sequence::Depth { last, .. } => Some(last),
        Sequence::None => message.event_time,
    }
}

/// Without a record: consecutive ids only (a broken depth chain counts one missing event).
fn consecutive_check(sequences: &mut Sequences, stream: &str, message: &Read<'_>, subscribers: u32) -> Delivery {
    let n = u64::from(subscribers);
    let check = sequences.check(stream, message);
    if check.duplicate {
        return Delivery { duplicates: n, ..Delivery::default() };
    }
    Delivery { delivered: n, gaps: check.missing * n, ..Delivery::default() }
}

fn add(sample: &mut DeliverySample, tally: &mut StreamTally, d: Delivery) {
    sample.delivered += d.delivered;
    sample.gaps += d.gaps;
    sample.late += d.late;
    sample.duplicates += d.duplicates;
    tally.delivered += d.delivered;
    tally.gaps += d.gaps;
    tally.late += d.late;
    tally.duplicates += d.duplicates;
}

/// Closes a stream that received: the events owed up to the cut-off (moved back by how far behind the
/// stream was arriving) that never came are lost, and the time since the first of them counts as time
/// without data.
fn close_stream(
    sample: &mut DeliverySample,
    state: &mut StreamState,
    subscribers: u32,
    (cut_off, at): (Micros, Micros),
) {
    let cut_off = cut_off.saturating_sub(state.behind);
    if let Some(record) = state.record.clone() {
        if let Some(next) = state.track.next() {
            let owed_until: Index = record.published_by(cut_off);
            let lost = state.track.close(owed_until, subscribers);
            add(sample, &mut state.tally, Delivery { gaps: lost, ..Delivery::default() });
            if let Some(first_missing) = record.published_no_later_than(next).filter(|t| *t <= cut_off) {
                state.longest_wait = state.longest_wait.max(at.saturating_sub(first_missing));
            }
        }
        if subscribers > 0 {
            sample.without_data.push((state.longest_wait, subscribers));
        }
    }
}

/// Closes a subscription that never received anything: everything published on its stream from `from` (its
/// start plus the settle time it had to reach the upstream) to the cut-off is lost (returned, in
/// subscriber-deliveries), and it was without data all that time.
fn never_received(
    sample: &mut DeliverySample,
    watch: Option<&Watch>,
    subscribers: u32,
    (from, cut_off, at): (Micros, Micros, Micros),
) -> u64 {
    let Some(watch) = watch else { return 0 };
    let record = watch.record();
    let first = record.first_at_or_after(from);
    let lost = record.published_by(cut_off).saturating_sub(first) * u64::from(subscribers);
    sample.gaps += lost;
    let first_owed = record.published_at(record.first_at_or_after(watch.since()));
    let waited = first_owed.filter(|t| *t <= cut_off).map_or(0, |t| at.saturating_sub(t));
    sample.without_data.push((waited, subscribers));
    lost
}
