//! Fan-out: which connection is subscribed to which stream, and delivery of each published event to
//! every subscriber's bounded outbound queue.
//!
//! An event is rendered once per time unit and once more per stream name for the `{"stream","data"}`
//! wrapper; every subscriber then gets a reference-counted clone of the same bytes. A full queue drops
//! (and counts) or asks the connection to close, by policy; publishing never waits for a slow client.
//! The hub also keeps the registry of open connections that server-side controls act on. It owns no
//! sockets and no clocks.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::mock::close::CloseHow;
use crate::mock::config::QueueFullPolicy;
use crate::mock::faults::connection::ConnFault;
use crate::mock::faults::state::FaultId;
use crate::mock::market::SymbolId;
use crate::mock::queue::{Queue, Refused};
use crate::mock::route::Endpoint;
use crate::mock::stream_name::{StreamKind, StreamSpec};
use crate::mock::time::TimeUnit;

pub use crate::mock::outgoing::{ConnId, FeedKey, Outgoing, StreamId};

/// A server-side instruction to one connection, delivered outside the bounded data queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// End the connection this way.
    Close(CloseHow),
    /// Send the `serverShutdown` event in the connection's shape.
    ServerShutdown,
    /// The outbound queue overflowed under the `disconnect` policy: close with 1008 "Slow consumer".
    SlowConsumer,
    /// Start a per-connection fault until `until` (`None`: until ended), seeded with `seed`.
    Fault {
        /// The fault's id.
        fault: FaultId,
        /// What it does.
        kind: ConnFault,
        /// When its window ends.
        until: Option<Instant>,
        /// Seed of the connection's fault randomness.
        seed: u64,
    },
    /// End a per-connection fault.
    EndFault(FaultId),
    /// Close the connection once it is this old (now, if it already is).
    Lifetime(std::time::Duration),
}

const FORMAT_COMBINED: u8 = 1;
const FORMAT_MICROS: u8 = 2;

/// The sending side of a connection, shared by the hub (events) and the registry (controls).
#[derive(Debug)]
pub struct Outbox {
    queue: Queue<Outgoing>,
    format: AtomicU8,
    controls: Mutex<VecDeque<Control>>,
    control_ready: Notify,
    dropped: AtomicU64,
    overflowed: AtomicBool,
    policy: QueueFullPolicy,
}

impl Outbox {
    /// An outbox with a queue of `capacity` messages; returns it and the connection's receiving end.
    pub fn new(
        capacity: usize,
        policy: QueueFullPolicy,
        combined: bool,
        unit: TimeUnit,
    ) -> (Arc<Outbox>, OutboxReceiver) {
        let outbox = Outbox {
            queue: Queue::new(capacity),
            format: AtomicU8::new(0),
            controls: Mutex::new(VecDeque::new()),
            control_ready: Notify::new(),
            dropped: AtomicU64::new(0),
            overflowed: AtomicBool::new(false),
            policy,
        };
        outbox.set_combined(combined);
        if unit == TimeUnit::Microsecond {
            outbox.format.fetch_or(FORMAT_MICROS, Ordering::Relaxed);
        }
        let outbox = Arc::new(outbox);
        (outbox.clone(), OutboxReceiver { outbox })
    }

    /// Switches the `{"stream","data"}` wrapper on or off (SET_PROPERTY combined).
    pub fn set_combined(&self, combined: bool) {
        if combined {
            self.format.fetch_or(FORMAT_COMBINED, Ordering::Relaxed);
        } else {
            self.format.fetch_and(!FORMAT_COMBINED, Ordering::Relaxed);
        }
    }

    /// Whether events are wrapped.
    pub fn combined(&self) -> bool {
        self.format.load(Ordering::Relaxed) & FORMAT_COMBINED != 0
    }

    /// The connection's time unit.
    pub fn time_unit(&self) -> TimeUnit {
        if self.format.load(Ordering::Relaxed) & FORMAT_MICROS != 0 {
            TimeUnit::Microsecond
        } else {
            TimeUnit::Millisecond
        }
    }

    /// Queues a control instruction and wakes the connection.
    pub fn control(&self, control: Control) {
        self.controls.lock().unwrap_or_else(|p| p.into_inner()).push_back(control);
        self.control_ready.notify_one();
    }

    /// Takes the next queued control instruction.
    pub fn next_control(&self) -> Option<Control> {
        self.controls.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
    }

    /// Resolves when a control instruction may be waiting.
    pub async fn control_ready(&self) {
        self.control_ready.notified().await;
    }

    /// Messages this connection lost to a full queue.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Offers one message; returns whether it was queued.
    fn offer(&self, message: Outgoing) -> bool {
        match self.queue.try_send(message) {
            Ok(()) => true,
            Err(Refused::Closed(_)) => false,
            Err(Refused::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                if self.policy == QueueFullPolicy::Disconnect && !self.overflowed.swap(true, Ordering::Relaxed) {
                    self.control(Control::SlowConsumer);
                }
                false
            }
        }
    }
}

/// The connection's end of its outbox: it takes the queued messages; dropped (or closed), the outbox refuses
/// more.
#[derive(Debug)]
pub struct OutboxReceiver {
    outbox: Arc<Outbox>,
}

impl OutboxReceiver {
    /// Waits for the next queued message (cancel-safe).
    pub async fn recv(&mut self) -> Option<Outgoing> {
        self.outbox.queue.recv().await
    }

    /// The next queued message, if any.
    pub fn try_recv(&mut self) -> Option<Outgoing> {
        self.outbox.queue.try_recv()
    }

    /// Refuses further messages.
    pub fn close(&mut self) {
        self.outbox.queue.close();
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        self.outbox.queue.close();
    }
}

/// What the hub knows of one open connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The connection's id.
    pub id: ConnId,
    /// The client's address.
    pub peer: SocketAddr,
    /// Raw or combined endpoint.
    pub endpoint: Endpoint,
    /// When the upgrade completed.
    pub opened_at: Instant,
    /// Its sending side.
    pub outbox: Arc<Outbox>,
    /// The stable identity a fault's selection gave it (its source, streams and rank among their twins;
    /// 0 outside a selection).
    pub stable_key: u64,
}

/// Figures of one stream name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StreamStats {
    /// The name as clients subscribed it.
    pub name: String,
    /// Subscribers now.
    pub subscribers: u64,
    /// Most subscribers at once.
    pub subscribers_high_water: u64,
    /// Events published while it had subscribers.
    pub events_published: u64,
    /// Sequence id of the first published event (trade id, update id, …; 0 for kinds without one).
    pub first_seq: Option<u64>,
    /// Sequence id of the last published event.
    pub last_seq: Option<u64>,
    /// Messages handed to subscribers' queues.
    pub messages_sent: u64,
    /// Messages lost to full queues.
    pub messages_dropped: u64,
}

#[derive(Debug)]
struct StreamSlot {
    name: Arc<str>,
    subscribers: Vec<(ConnId, Arc<Outbox>)>,
    stats: StreamStats,
    /// Events can be published under the name (a feed key, or the canary): decided once, at creation.
    publishable: bool,
}

#[derive(Debug, Default)]
struct HubState {
    slots: Vec<StreamSlot>,
    /// Slots of names that can never publish (a symbol outside the feed), released when their last
    /// subscriber left; only such names take them again, so a released id never lands on a live stream.
    vacant: Vec<StreamId>,
    by_name: HashMap<Arc<str>, StreamId>,
    by_key: HashMap<FeedKey, Vec<StreamId>>,
    connections: HashMap<ConnId, ConnectionInfo>,
    next_conn: ConnId,
}

/// The fan-out hub of one server.
#[derive(Debug)]
pub struct Hub {
    symbols: HashMap<String, SymbolId>,
    state: Mutex<HubState>,
}

impl Hub {
    /// A hub for a feed whose universe is `symbols` (index = [`SymbolId`]).
    pub fn new(symbols: &[String]) -> Self {
        let symbols = symbols.iter().enumerate().map(|(i, s)| (s.clone(), i as SymbolId)).collect();
        Hub { symbols, state: Mutex::new(HubState::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers an open connection and returns its id.
    pub fn register(&self, peer: SocketAddr, endpoint: Endpoint, outbox: Arc<Outbox>) -> ConnId {
        let mut state = self.lock();
        state.next_conn += 1;
        let id = state.next_conn;
        let info = ConnectionInfo { id, peer, endpoint, opened_at: Instant::now(), outbox, stable_key: 0 };
        state.connections.insert(id, info);
        id
    }

    /// Removes a connection and all its subscriptions.
    pub fn deregister(&self, conn: ConnId, subscriptions: &[String]) {
        let mut state = self.lock();
        state.connections.remove(&conn);
        for name in subscriptions {
            remove_subscriber(&mut state, conn, name);
        }
    }

    /// Starts delivering `name` to `conn`.
    pub fn subscribe(&self, conn: ConnId, name: &str) {
        let mut state = self.lock();
        let Some(outbox) = state.connections.get(&conn).map(|c| c.outbox.clone()) else {
            return;
        };
        let id = self.slot_id(&mut state, name);
        let slot = &mut state.slots[id as usize];
        slot.subscribers.push((conn, outbox));
        slot.stats.subscribers = slot.subscribers.len() as u64;
        slot.stats.subscribers_high_water = slot.stats.subscribers_high_water.max(slot.stats.subscribers);
    }

    /// Stops delivering `name` to `conn`.
    pub fn unsubscribe(&self, conn: ConnId, name: &str) {
        remove_subscriber(&mut self.lock(), conn, name);
    }

    fn slot_id(&self, state: &mut HubState, name: &str) -> StreamId {
        if let Some(id) = state.by_name.get(name) {
            return *id;
        }
        let key = self.feed_key(name);
        let shared: Arc<str> = Arc::from(name);
        let stats = StreamStats { name: name.to_owned(), ..StreamStats::default() };
        let publishable = publishable(key, name);
        let slot = StreamSlot { name: shared.clone(), subscribers: Vec::new(), stats, publishable };
        let reused = if publishable { None } else { state.vacant.pop() };
        let id = match reused {
            Some(id) => {
                state.slots[id as usize] = slot;
                id
            }
            None => {
                state.slots.push(slot);
                (state.slots.len() - 1) as StreamId
            }
        };
        state.by_name.insert(shared, id);
        if let Some(key) = key {
            state.by_key.entry(key).or_default().push(id);
        }
        id
    }

    /// Starts every stream's counters afresh; subscribers stay, and their high-water mark restarts from them.
    pub fn reset_stream_stats(&self) {
        let mut state = self.lock();
        for slot in state.slots.iter_mut().filter(|s| !s.name.is_empty()) {
            let subscribers = slot.subscribers.len() as u64;
            slot.stats = StreamStats {
                name: slot.name.to_string(),
                subscribers,
                subscribers_high_water: subscribers,
                ..StreamStats::default()
            };
        }
    }

    /// The feed key of a stream name, when its symbol is in the universe.
    fn feed_key(&self, name: &str) -> Option<FeedKey> {
        let spec = StreamSpec::parse(name)?;
        let symbol = match spec.symbol {
            Some(s) => Some(*self.symbols.get(&s)?),
            None => None,
        };
        Some(FeedKey { symbol, kind: spec.kind })
    }

    /// True when some connection is subscribed to a stream under `key`.
    pub fn has_subscribers(&self, key: FeedKey) -> bool {
        let state = self.lock();
        state.by_key.get(&key).is_some_and(|ids| ids.iter().any(|id| !state.slots[*id as usize].subscribers.is_empty()))
    }

    /// Keys with at least one subscriber whose kind passes `filter`.
    pub fn active_keys(&self, filter: impl Fn(StreamKind) -> bool) -> Vec<FeedKey> {
        let state = self.lock();
        let mut keys: Vec<FeedKey> = state
            .by_key
            .iter()
            .filter(|(key, ids)| {
                filter(key.kind) && ids.iter().any(|id| !state.slots[*id as usize].subscribers.is_empty())
            })
            .map(|(key, _)| *key)
            .collect();
        keys.sort_by_key(|k| (k.symbol, k.kind));
        keys
    }

    /// Delivers one event to every subscriber of every name under `key`; renders lazily, once per time
    /// unit and wrapper. Returns how many messages were queued.
    pub fn publish(&self, key: FeedKey, seq: u64, render: impl Fn(TimeUnit, &mut Vec<u8>)) -> u64 {
        let mut state = self.lock();
        let HubState { slots, by_key, .. } = &mut *state;
        let Some(ids) = by_key.get(&key) else {
            return 0;
        };
        let mut event = Event { seq, at: Instant::now(), payloads: Payloads::default() };
        let mut queued = 0;
        for &id in ids {
            let slot = &mut slots[id as usize];
            if slot.subscribers.is_empty() {
                continue;
            }
            queued += deliver(slot, id, &mut event, &render);
        }
        queued
    }

    /// Delivers one event to the subscribers of the stream named `name` (a stream outside the feed's keys,
    /// such as the rig's canary) when it has any. Returns how many messages were queued.
    pub fn publish_named(&self, name: &str, seq: u64, render: impl Fn(TimeUnit, &mut Vec<u8>)) -> u64 {
        let mut state = self.lock();
        let Some(id) = state.by_name.get(name).copied() else {
            return 0;
        };
        let slot = &mut state.slots[id as usize];
        if slot.subscribers.is_empty() {
            return 0;
        }
        let mut event = Event { seq, at: Instant::now(), payloads: Payloads::default() };
        deliver(slot, id, &mut event, &render)
    }

    /// Every open connection, for server-side controls.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let mut list: Vec<ConnectionInfo> = self.lock().connections.values().cloned().collect();
        list.sort_by_key(|c| c.id);
        list
    }

    /// Every open connection with the names of the streams it holds.
    pub fn connections_with_streams(&self) -> Vec<(ConnectionInfo, Vec<Arc<str>>)> {
        let state = self.lock();
        let mut held: HashMap<ConnId, Vec<Arc<str>>> = HashMap::new();
        for slot in &state.slots {
            for (conn, _) in &slot.subscribers {
                held.entry(*conn).or_default().push(slot.name.clone());
            }
        }
        let mut list: Vec<(ConnectionInfo, Vec<Arc<str>>)> =
            state.connections.values().map(|c| (c.clone(), held.remove(&c.id).unwrap_or_default())).collect();
        list.sort_by_key(|(c, _)| c.id);
        list
    }

    /// Ids of the stream names that satisfy `matches`.
    pub fn stream_ids_matching(&self, matches: impl Fn(&str) -> bool) -> std::collections::HashSet<StreamId> {
        let state = self.lock();
        let live = state.slots.iter().enumerate().filter(|(_, s)| !s.name.is_empty());
        live.filter(|(_, s)| matches(&s.name)).map(|(i, _)| i as StreamId).collect()
    }

    /// Per-stream figures of the market streams (not the rig's canary), sorted by name: every stream of
    /// the feed anyone subscribed to, and the names outside the feed while someone holds them.
    pub fn stream_stats(&self) -> Vec<StreamStats> {
        let state = self.lock();
        let market = state.slots.iter().filter(|s| !s.name.is_empty() && &*s.name != crate::mock::canary::STREAM);
        let mut stats: Vec<StreamStats> = market.map(|s| s.stats.clone()).collect();
        stats.sort_by(|a, b| a.name.cmp(&b.name));
        stats
    }
}

fn remove_subscriber(state: &mut HubState, conn: ConnId, name: &str) {
    let Some(id) = state.by_name.get(name).copied() else {
        return;
    };
    let slot = &mut state.slots[id as usize];
    if let Some(pos) = slot.subscribers.iter().position(|(c, _)| *c == conn) {
        slot.subscribers.swap_remove(pos);
    }
    slot.stats.subscribers = slot.subscribers.len() as u64;
    if slot.subscribers.is_empty() && !slot.publishable {
        // Nobody holds a name that can never publish: its state goes (a client subscribing to made-up
        // names cannot grow the mock).
        *slot = StreamSlot {
            name: Arc::from(""),
            subscribers: Vec::new(),
            stats: StreamStats::default(),
            publishable: false,
        };
        state.by_name.remove(name);
        state.vacant.push(id);
    }
}

/// Whether events can ever be published under a name: one of the feed's keys, or the rig's canary.
fn publishable(key: Option<FeedKey>, name: &str) -> bool {
    key.is_some() || name == crate::mock::canary::STREAM
}

/// An event's bare payload per time unit, rendered on first need.
#[derive(Default)]
struct Payloads {
    raw: [Option<Bytes>; 2],
}

impl Payloads {
    fn raw(&mut self, unit: TimeUnit, render: &impl Fn(TimeUnit, &mut Vec<u8>)) -> Bytes {
        self.raw[unit.index()]
            .get_or_insert_with(|| {
                let mut out = Vec::with_capacity(256);
                render(unit, &mut out);
                Bytes::from(out)
            })
            .clone()
    }
}

/// Wraps a payload as `{"stream":"<name>","data":<payload>}`.
pub fn combined_frame(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + name.len() + 24);
    out.extend_from_slice(b"{\"stream\":");
    if serde_json::to_writer(&mut out, name).is_err() {
        out.extend_from_slice(b"\"\"");
    }
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(payload);
    out.push(b'}');
    out
}

fn text(bytes: Bytes) -> Option<Utf8Bytes> {
    Utf8Bytes::try_from(bytes).ok()
}

/// One event being published: its sequence id, publish time and lazily rendered payloads.
struct Event {
    seq: u64,
    at: Instant,
    payloads: Payloads,
}

/// Delivers one event to one stream's subscribers; returns the number queued.
fn deliver(slot: &mut StreamSlot, id: StreamId, event: &mut Event, render: &impl Fn(TimeUnit, &mut Vec<u8>)) -> u64 {
    let mut frames: [Option<Utf8Bytes>; 4] = Default::default();
    let (mut sent, mut dropped) = (0, 0);
    for (_, outbox) in &slot.subscribers {
        let unit = outbox.time_unit();
        let combined = outbox.combined();
        let index = unit.index() * 2 + usize::from(combined);
        if frames[index].is_none() {
            let payload = event.payloads.raw(unit, render);
            frames[index] =
                if combined { text(Bytes::from(combined_frame(&slot.name, &payload))) } else { text(payload) };
        }
        let Some(frame) = frames[index].clone() else {
            continue;
        };
        if outbox.offer(Outgoing { stream: id, text: frame, at: event.at }) {
            sent += 1;
        } else {
            dropped += 1;
        }
    }
    let stats = &mut slot.stats;
    stats.events_published += 1;
    stats.first_seq.get_or_insert(event.seq);
    stats.last_seq = Some(event.seq);
    stats.messages_sent += sent;
    stats.messages_dropped += dropped;
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Hub {
        Hub::new(&["btcusdt".to_owned(), "ethusdt".to_owned()])
    }

    fn peer() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    fn trade_key() -> FeedKey {
        FeedKey { symbol: Some(0), kind: StreamKind::Trade }
    }

    #[test]
    fn one_render_is_shared_by_every_subscriber() {
        let hub = hub();
        let (a, mut rx_a) = Outbox::new(8, QueueFullPolicy::Drop, false, TimeUnit::Millisecond);
        let (b, mut rx_b) = Outbox::new(8, QueueFullPolicy::Drop, false, TimeUnit::Millisecond);
        let (c, mut rx_c) = Outbox::new(8, QueueFullPolicy::Drop, true, TimeUnit::Microsecond);
        for outbox in [a, b, c] {
            let id = hub.register(peer(), Endpoint::Raw, outbox);
            hub.subscribe(id, "btcusdt@trade");
        }
        let renders = std::cell::Cell::new(0);
        let queued = hub.publish(trade_key(), 42, |unit, out| {
            renders.set(renders.get() + 1);
            out.extend_from_slice(format!("{{\"t\":{}}}", unit.index()).as_bytes());
        });
        assert_eq!(queued, 3);
        assert_eq!(renders.get(), 2, "once per time unit");
        let (ma, mb) = (rx_a.try_recv().unwrap(), rx_b.try_recv().unwrap());
        assert_eq!(ma.text.as_str(), "{\"t\":0}");
        assert_eq!(ma.text.as_str().as_ptr(), mb.text.as_str().as_ptr(), "same bytes, not a copy");
        assert_eq!(rx_c.try_recv().unwrap().text.as_str(), "{\"stream\":\"btcusdt@trade\",\"data\":{\"t\":1}}");
        let stats = hub.stream_stats();
        assert_eq!((stats[0].events_published, stats[0].first_seq, stats[0].messages_sent), (1, Some(42), 3));
    }

    #[test]
    fn full_queue_drops_or_asks_to_close() {
        let hub = hub();
        let (drop_box, _rx1) = Outbox::new(1, QueueFullPolicy::Drop, false, TimeUnit::Millisecond);
        let (close_box, _rx2) = Outbox::new(1, QueueFullPolicy::Disconnect, false, TimeUnit::Millisecond);
        for outbox in [drop_box.clone(), close_box.clone()] {
            let id = hub.register(peer(), Endpoint::Raw, outbox);
            hub.subscribe(id, "btcusdt@trade");
        }
        for seq in 0..3 {
            hub.publish(trade_key(), seq, |_, out| out.extend_from_slice(b"{}"));
        }
        assert_eq!(drop_box.dropped(), 2);
        assert_eq!(drop_box.next_control(), None);
        assert_eq!(close_box.next_control(), Some(Control::SlowConsumer));
        assert_eq!(close_box.next_control(), None, "asked once");
        assert_eq!(hub.stream_stats()[0].messages_dropped, 4);
    }

    #[test]
    fn aliases_share_a_key_and_unknown_symbols_never_publish() {
        let hub = hub();
        let (o, mut rx) = Outbox::new(8, QueueFullPolicy::Drop, true, TimeUnit::Millisecond);
        let id = hub.register(peer(), Endpoint::Combined, o);
        for name in ["btcusdt@depth", "btcusdt@depth@1000ms", "zzzusdt@depth"] {
            hub.subscribe(id, name);
        }
        let key =
            FeedKey { symbol: Some(0), kind: StreamKind::DiffDepth(crate::mock::stream_name::DepthSpeed::Ms1000) };
        assert_eq!(hub.active_keys(|_| true), vec![key]);
        assert_eq!(hub.publish(key, 1, |_, out| out.extend_from_slice(b"1")), 2);
        let names: Vec<String> = (0..2).map(|_| rx.try_recv().unwrap().text.as_str().to_owned()).collect();
        assert!(names[0].contains("\"btcusdt@depth\"") && names[1].contains("\"btcusdt@depth@1000ms\""));
        hub.deregister(id, &["btcusdt@depth".into(), "btcusdt@depth@1000ms".into(), "zzzusdt@depth".into()]);
        assert!(!hub.has_subscribers(key));
        assert!(hub.connections().is_empty());
    }

    #[test]
    fn names_that_can_never_publish_are_released_when_nobody_holds_them() {
        let hub = hub();
        let (o, _rx) = Outbox::new(8, QueueFullPolicy::Drop, false, TimeUnit::Millisecond);
        let conn = hub.register(peer(), Endpoint::Raw, o);
        let made_up: Vec<String> = (0..100).map(|i| format!("zz{i}usdt@trade")).collect();
        for name in &made_up {
            hub.subscribe(conn, name);
        }
        hub.subscribe(conn, "btcusdt@trade");
        assert_eq!(hub.stream_stats().len(), 101, "held names are listed");
        hub.deregister(conn, &made_up.iter().cloned().chain(["btcusdt@trade".to_owned()]).collect::<Vec<_>>());
        let listed: Vec<String> = hub.stream_stats().into_iter().map(|s| s.name).collect();
        assert_eq!(listed, ["btcusdt@trade"], "the feed's stream keeps its figures; the made-up ones are gone");
        let (o, _rx2) = Outbox::new(8, QueueFullPolicy::Drop, false, TimeUnit::Millisecond);
        let again = hub.register(peer(), Endpoint::Raw, o);
        for name in &made_up {
            hub.subscribe(again, name);
        }
        hub.subscribe(again, "ethusdt@trade");
        assert_eq!(hub.lock().slots.len(), 102, "released slots are taken again by made-up names only");
        let eth = hub.lock().by_name.get("ethusdt@trade").copied();
        assert_eq!(eth, Some(101), "a feed stream never takes a released id");
    }

    #[test]
    fn a_reset_starts_the_stream_counters_afresh_and_keeps_subscribers() {
        let hub = hub();
        let (o, _rx) = Outbox::new(8, QueueFullPolicy::Drop, false, TimeUnit::Millisecond);
        let conn = hub.register(peer(), Endpoint::Raw, o);
        hub.subscribe(conn, "btcusdt@trade");
        assert_eq!(hub.publish(trade_key(), 7, |_, out| out.extend_from_slice(b"{}")), 1);
        hub.reset_stream_stats();
        let stats = &hub.stream_stats()[0];
        assert_eq!((stats.events_published, stats.messages_sent, stats.last_seq), (0, 0, None));
        assert_eq!((stats.subscribers, stats.subscribers_high_water), (1, 1));
    }
}
