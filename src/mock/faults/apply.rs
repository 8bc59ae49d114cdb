//! Carries a fault out on a running mock: chooses the connections it touches (from its seed), sets the
//! server-wide switches or sends per-connection controls, records it, and ends it when its window closes,
//! reverting exactly what it changed.
//!
//! A fault arrives as a [`FaultOrder`], already decided: its kind, its selection, its seed and its window.
//! Deciding those (the plan of a run, a control-API request) is the `chaos` module's work.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::mock::close::CloseHow;
use crate::mock::faults::connection::{ConnFault, MessageAction};
use crate::mock::faults::kind::{FaultKind, Refuse};
use crate::mock::faults::select::Selection;
use crate::mock::faults::state::{FaultId, HandshakeRule, Revert};
use crate::mock::hub::{ConnectionInfo, Control};
use crate::mock::market::SymbolId;
use crate::mock::shared::Shared;
use crate::vocab::seed::mix;

/// One fault the mock is asked to carry out: what, to which connections, under which label, drawn from
/// which seed, and for how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultOrder {
    /// Its label, if it has one.
    pub name: Option<String>,
    /// What it does.
    pub kind: FaultKind,
    /// What it applies to.
    pub select: Selection,
    /// The seed its selections and probabilities are drawn from.
    pub seed: u64,
    /// How long it lasts (`None`: until it is ended).
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub window: Option<Duration>,
}

impl FaultOrder {
    /// What makes this order one the mock must not carry out (see [`FaultKind::problems`]), and a share
    /// or source block that cannot be.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.kind.problems();
        if !(0.0..=1.0).contains(&self.select.share) {
            problems.push(format!("share {} is not a share from 0 to 1", self.select.share));
        }
        for block in &self.select.sources {
            let most = if block.addr.is_ipv4() { 32 } else { 128 };
            if block.prefix > most {
                problems.push(format!("source block {}/{} has a prefix longer than {most}", block.addr, block.prefix));
            }
        }
        problems
    }
}

/// Carries `order` out at `at` (now, if that has passed); stops with the server.
pub fn schedule(shared: &Arc<Shared>, order: FaultOrder, at: Instant) {
    let shared_for_task = shared.clone();
    shared.spawner.spawn(async move {
        let cancel = shared_for_task.cancel.clone();
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(at) => {}
        }
        start(&shared_for_task, &order);
    });
}

/// Carries `order` out now; returns the fault's id. It ends after its window, or when [`end`] is called.
pub fn start(shared: &Arc<Shared>, order: &FaultOrder) -> FaultId {
    let id = shared.chaos.begin(order.kind.name(), order.name.clone());
    let until = order.window.map(|w| Instant::now() + w);
    let touched = apply(shared, id, order, until);
    shared.chaos.touched(id, touched as u64);
    if let Some(window) = order.window {
        let shared_for_end = shared.clone();
        shared.spawner.spawn(async move {
            let cancel = shared_for_end.cancel.clone();
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(window) => {}
            }
            end(&shared_for_end, id);
        });
    }
    id
}

/// Ends a fault: removes its server-wide rules, reverts what it changed, and tells every connection.
pub fn end(shared: &Shared, id: FaultId) {
    for revert in shared.chaos.take_reverts(id) {
        undo(shared, &revert);
    }
    shared.chaos.end(id);
    for connection in shared.hub.connections() {
        connection.outbox.control(Control::EndFault(id));
    }
}

/// Ends every active fault.
pub fn end_all(shared: &Shared) {
    for id in shared.chaos.active() {
        end(shared, id);
    }
}

/// Undoes something a fault changed that is not a rule.
fn undo(shared: &Shared, revert: &Revert) {
    match revert {
        Revert::ReopenListener => shared.chaos.set_listener_closed(false),
    }
}

/// Applies a fault; returns the number of connections it acted on.
fn apply(shared: &Arc<Shared>, id: FaultId, order: &FaultOrder, until: Option<Instant>) -> usize {
    let (select, seed) = (&order.select, order.seed);
    match &order.kind {
        FaultKind::Disconnect { how, stagger } => disconnect(shared, chosen(shared, id, select, seed), how, *stagger),
        FaultKind::Outage { notice, notice_lead, how, refuse } => {
            outage(shared, id, (*notice, *notice_lead), how.clone(), refuse.clone())
        }
        FaultKind::RejectHandshakes { status, retry_after, probability, ban_after, ban } => {
            let rule = HandshakeRule::Reject {
                status: *status,
                retry_after: *retry_after,
                probability: *probability,
                ban_after: *ban_after,
                ban: *ban,
                select: select.clone(),
                strikes: Default::default(),
                bans: Default::default(),
            };
            shared.chaos.add_handshake_rule(id, rule, seed);
            0
        }
        FaultKind::SlowHandshake { delay, jitter, hang, probability } => {
            let rule = HandshakeRule::Slow {
                delay: *delay,
                jitter: *jitter,
                hang: *hang,
                probability: *probability,
                select: select.clone(),
            };
            shared.chaos.add_handshake_rule(id, rule, seed);
            0
        }
        FaultKind::Stall { mode } => per_connection(shared, id, select, seed, until, ConnFault::Stall { mode: *mode }),
        FaultKind::Latency { delay, jitter } => {
            per_connection(shared, id, select, seed, until, ConnFault::Latency { delay: *delay, jitter: *jitter })
        }
        FaultKind::DropMessages { probability } => {
            messages(shared, id, select, seed, until, MessageAction::Drop, *probability)
        }
        FaultKind::DuplicateMessages { probability } => {
            messages(shared, id, select, seed, until, MessageAction::Duplicate, *probability)
        }
        FaultKind::ReorderMessages { probability } => {
            messages(shared, id, select, seed, until, MessageAction::Reorder, *probability)
        }
        FaultKind::Corrupt { variant, count, size, fragments } => {
            let kind = ConnFault::Corrupt { variant: *variant, count: *count, size: *size, fragments: *fragments };
            per_connection(shared, id, select, seed, None, kind)
        }
        FaultKind::Burst { factor } => {
            shared.chaos.add_burst(id, symbols(shared, select), *factor);
            0
        }
        FaultKind::DepthGap { probability } => {
            shared.chaos.add_depth_gap(id, symbols(shared, select), *probability, seed);
            0
        }
        FaultKind::MaxLifetime { age } => {
            shared.chaos.add_lifetime(id, select.clone(), *age);
            let chosen = chosen(shared, id, select, seed);
            for connection in &chosen {
                connection.outbox.control(Control::Lifetime(*age));
            }
            chosen.len()
        }
        FaultKind::ConnectLimit { limit } => {
            shared.chaos.add_connect_limit(id, *limit);
            0
        }
    }
}

/// The connections a fault selects: matching source and streams, then the seeded share drawn over their
/// stable identities (see [`Selection::choose`]). What was selected is recorded on the fault.
fn chosen(shared: &Shared, id: FaultId, select: &Selection, seed: u64) -> Vec<ConnectionInfo> {
    let candidates: Vec<(ConnectionInfo, Vec<Arc<str>>)> = shared
        .hub
        .connections_with_streams()
        .into_iter()
        .filter(|(c, streams)| {
            !crate::mock::canary::holds_canary(streams)
                && select.source_matches(c.peer.ip())
                && (!select.filters_streams() || streams.iter().any(|s| select.stream_matches(s)))
        })
        .collect();
    let keys = stable_identities(&candidates);
    let keyed: Vec<(u64, usize)> = keys.into_iter().zip(0..candidates.len()).collect();
    let picked = select.choose(&keyed, seed);
    shared.chaos.selected(id, picked.iter().map(|(_, i)| (candidates[*i].0.peer.ip(), candidates[*i].1.as_slice())));
    picked.into_iter().map(|(key, i)| with_key(candidates[i].0.clone(), key)).collect()
}

/// A connection with the stable identity its per-connection randomness is keyed on.
fn with_key(mut connection: ConnectionInfo, key: u64) -> ConnectionInfo {
    connection.stable_key = key;
    connection
}

/// Each candidate's stable identity: its source address and the streams it holds, and its rank among the
/// candidates that share both. Twins (a client's sockets on the same stream) are interchangeable: accept
/// order decides which twin gets which rank, never how many of a client's sockets are chosen or which
/// streams they carry.
fn stable_identities(candidates: &[(ConnectionInfo, Vec<Arc<str>>)]) -> Vec<u64> {
    let base: Vec<u64> = candidates
        .iter()
        .map(|(c, streams)| {
            let mut names: Vec<&str> = streams.iter().map(|s| &**s).collect();
            names.sort_unstable();
            identity_hash(c.peer.ip(), &names)
        })
        .collect();
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|i| (base[*i], candidates[*i].0.id));
    let mut keys = vec![0; candidates.len()];
    let mut rank = 0u64;
    for (n, i) in order.iter().enumerate() {
        rank = if n > 0 && base[order[n - 1]] == base[*i] { rank + 1 } else { 0 };
        keys[*i] = mix(base[*i] ^ rank.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }
    keys
}

/// FNV-1a over a source address and stream names: stable across runs, processes and Rust releases.
fn identity_hash(source: std::net::IpAddr, streams: &[&str]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let octets = match source {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    for byte in octets.iter().chain(streams.iter().flat_map(|s| s.as_bytes().iter().chain(b"/"))) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The symbols of the universe a feed fault selects.
fn symbols(shared: &Shared, select: &Selection) -> Vec<SymbolId> {
    let symbols = &shared.config.feed.symbols;
    (0..symbols.len()).filter(|i| select.symbol_matches(&symbols[*i].name)).map(|i| i as SymbolId).collect()
}

fn per_connection(
    shared: &Shared,
    id: FaultId,
    select: &Selection,
    seed: u64,
    until: Option<Instant>,
    kind: ConnFault,
) -> usize {
    let chosen = chosen(shared, id, select, seed);
    for connection in &chosen {
        let control =
            Control::Fault { fault: id, kind: kind.clone(), until, seed: connection_seed(seed, connection.stable_key) };
        connection.outbox.control(control);
    }
    chosen.len()
}

fn messages(
    shared: &Shared,
    id: FaultId,
    select: &Selection,
    seed: u64,
    until: Option<Instant>,
    action: MessageAction,
    probability: f64,
) -> usize {
    let streams: Option<Arc<HashSet<_>>> =
        select.filters_streams().then(|| Arc::new(shared.hub.stream_ids_matching(|name| select.stream_matches(name))));
    per_connection(shared, id, select, seed, until, ConnFault::Messages { action, probability, streams })
}

/// The seed of one connection's own generator: the fault's seed mixed with the connection's stable
/// identity, and a constant that keeps it unrelated to the draw that selected the connection. The one place
/// a per-connection seed is derived.
fn connection_seed(seed: u64, stable_key: u64) -> u64 {
    mix(seed ^ stable_key ^ 0x5EED_0FC0_77EC_7105)
}

/// Closes `chosen` now, or spread evenly over `stagger`.
fn disconnect(shared: &Arc<Shared>, chosen: Vec<ConnectionInfo>, how: &CloseHow, stagger: Duration) -> usize {
    let count = chosen.len();
    if stagger.is_zero() || count <= 1 {
        for connection in &chosen {
            connection.outbox.control(Control::Close(how.clone()));
        }
        return count;
    }
    let step = stagger / count as u32;
    let (how, cancel) = (how.clone(), shared.cancel.clone());
    shared.spawner.spawn(async move {
        let start = Instant::now();
        for (i, connection) in chosen.into_iter().enumerate() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(start + step * i as u32) => {}
            }
            connection.outbox.control(Control::Close(how.clone()));
        }
    });
    count
}

/// serverShutdown (optional, then a lead time), every connection closed, new upgrades refused.
fn outage(shared: &Arc<Shared>, id: FaultId, notice: (bool, Duration), how: CloseHow, refuse: Refuse) -> usize {
    match refuse {
        Refuse::Http { status, retry_after } => {
            shared.chaos.add_handshake_rule(id, HandshakeRule::Outage { status, retry_after }, id);
        }
        Refuse::Tcp => {
            shared.chaos.add_revert(id, Revert::ReopenListener);
            shared.chaos.set_listener_closed(true);
        }
    }
    let connections = shared.hub.connections();
    let count = connections.len();
    let (send_notice, lead) = notice;
    if send_notice {
        for connection in &connections {
            connection.outbox.control(Control::ServerShutdown);
        }
    }
    if lead.is_zero() {
        for connection in &connections {
            connection.outbox.control(Control::Close(how.clone()));
        }
        return count;
    }
    let cancel = shared.cancel.clone();
    shared.spawner.spawn(async move {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(lead) => {}
        }
        for connection in &connections {
            connection.outbox.control(Control::Close(how.clone()));
        }
    });
    count
}
