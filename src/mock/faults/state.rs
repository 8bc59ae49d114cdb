//! The mock's server-wide chaos switches, consulted on its hot paths: handshake verdicts (reject, delay,
//! hang, refuse during an outage), the feed's rate multipliers and withheld depth events, the lifetime
//! given to new connections, whether the listener is closed, and the record of every fault that fired.
//!
//! Each active rule carries the id of the fault that set it, so ending or removing a fault reverts exactly
//! what it changed. Randomness comes from each fault's own seeded generator.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::mock::config::Rate;
use crate::mock::faults::kind::FaultKindName;
use crate::mock::faults::select::Selection;
use crate::mock::limits::ConnectBudget;
use crate::mock::market::SymbolId;

/// Identifies one injected fault (one occurrence) for the lifetime of a server.
pub type FaultId = u64;

/// What happened to one fault: when it started and ended, and how many connections it touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FaultRecord {
    /// Its id.
    pub id: FaultId,
    /// Its kind.
    pub kind: FaultKindName,
    /// Its label, if it had one.
    pub name: Option<String>,
    /// Milliseconds after the mock started.
    pub started_ms: u64,
    /// When its window ended (`None` while active).
    pub ended_ms: Option<u64>,
    /// Connections it acted on (closed, stalled, delayed, …); 0 for handshake and feed faults.
    pub touched: u64,
    /// Upgrades it refused, delayed or held (handshake faults).
    pub handshakes: u64,
    /// The source addresses of the connections it acted on, sorted.
    #[serde(default)]
    pub sources: Vec<std::net::IpAddr>,
    /// How many of the connections it acted on held each stream.
    #[serde(default)]
    pub streams: std::collections::BTreeMap<String, u64>,
}

/// Something a fault changed that is not a rule: undone when it ends.
#[derive(Debug, Clone)]
pub enum Revert {
    /// Reopen the listener after a TCP-refusing outage.
    ReopenListener,
}

/// What the handshake path must do with an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeVerdict {
    /// Answer normally.
    Proceed,
    /// Wait, then answer normally.
    Delay(Duration),
    /// Never answer: hold the socket until the fault ends or the client leaves.
    Hang(CancellationToken),
    /// Answer with this status and optional `Retry-After` seconds.
    Refuse {
        /// HTTP status.
        status: u16,
        /// `Retry-After` seconds.
        retry_after: Option<u64>,
    },
}

/// A handshake rule set by a fault.
#[derive(Debug)]
pub enum HandshakeRule {
    /// Outage: refuse every upgrade with a status.
    Outage {
        /// The HTTP status every upgrade gets while the outage lasts.
        status: u16,
        /// `Retry-After` seconds.
        retry_after: Option<u64>,
    },
    /// Reject a share of upgrades, escalating repeat offenders to 418.
    Reject {
        /// The HTTP status a rejected upgrade gets (429, 503, …); a banned source gets 418 instead.
        status: u16,
        /// `Retry-After` seconds.
        retry_after: Option<u64>,
        /// Per attempt.
        probability: f64,
        /// Rejections before a ban (with status 429).
        ban_after: Option<u32>,
        /// Ban length.
        ban: Duration,
        /// Which sources.
        select: Selection,
        /// Rejections per IP so far.
        strikes: HashMap<IpAddr, u32>,
        /// Banned IPs until.
        bans: HashMap<IpAddr, Instant>,
    },
    /// Delay or hold upgrades.
    Slow {
        /// The wait before a slowed upgrade is answered; `jitter` spreads it either way.
        delay: Duration,
        /// Jitter around it.
        jitter: Duration,
        /// Never answer.
        hang: bool,
        /// Per attempt.
        probability: f64,
        /// Which sources.
        select: Selection,
    },
}

#[derive(Debug)]
struct Active<T> {
    fault: FaultId,
    rule: T,
    rng: StdRng,
    ended: CancellationToken,
}

/// Per-source draws of a handshake rule: the n-th upgrade from a source draws from the rule's seed, the
/// source and n, so the same seed refuses the same clients' same attempts whatever order clients arrive in.
#[derive(Debug, Default)]
struct SourceDraws {
    seed: u64,
    attempts: HashMap<IpAddr, u64>,
}

impl SourceDraws {
    fn new(seed: u64) -> Self {
        SourceDraws { seed, attempts: HashMap::new() }
    }

    /// A uniform draw in [0, 1) for the next upgrade from `ip`, and a generator for anything else it needs.
    fn next(&mut self, ip: IpAddr) -> (f64, StdRng) {
        let n = self.attempts.entry(ip).or_default();
        *n += 1;
        let source = match ip {
            IpAddr::V4(v4) => u64::from(u32::from(v4)),
            IpAddr::V6(v6) => {
                let b = v6.octets();
                u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]])
            }
        };
        let key = crate::vocab::seed::mix(
            self.seed ^ crate::vocab::seed::mix(source) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        ((key >> 11) as f64 / (1u64 << 53) as f64, StdRng::seed_from_u64(key))
    }
}

#[derive(Debug, Default)]
struct Rules {
    reverts: Vec<(FaultId, Revert)>,
    handshake: Vec<Active<(HandshakeRule, SourceDraws)>>,
    bursts: Vec<Active<(Vec<SymbolId>, f64)>>,
    depth_gaps: Vec<Active<(Vec<SymbolId>, f64)>>,
    lifetimes: Vec<Active<(Selection, Duration)>>,
    connect_limits: Vec<Active<ConnectBudget>>,
}

/// The server-wide chaos switches of one mock.
#[derive(Debug)]
pub struct ChaosState {
    rules: Mutex<Rules>,
    listener_closed: watch::Sender<bool>,
    records: watch::Sender<Vec<FaultRecord>>,
    next_id: AtomicU64,
    started: Instant,
}

impl Default for ChaosState {
    fn default() -> Self {
        ChaosState {
            rules: Mutex::new(Rules::default()),
            listener_closed: watch::Sender::new(false),
            records: watch::Sender::new(Vec::new()),
            next_id: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

impl ChaosState {
    fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Opens a record for a fault starting now and returns its id.
    pub fn begin(&self, kind: FaultKindName, name: Option<String>) -> FaultId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let record = FaultRecord {
            id,
            kind,
            name,
            started_ms: self.now_ms(),
            ended_ms: None,
            touched: 0,
            handshakes: 0,
            sources: Vec::new(),
            streams: std::collections::BTreeMap::new(),
        };
        self.records.send_modify(|r| r.push(record));
        id
    }

    /// Adds to the connections a fault touched.
    pub fn touched(&self, id: FaultId, connections: u64) {
        self.records.send_modify(|records| {
            if let Some(r) = records.iter_mut().find(|r| r.id == id) {
                r.touched += connections;
            }
        });
    }

    /// Records which connections a fault selected: their source addresses and the streams they held.
    pub fn selected<'a>(
        &self,
        id: FaultId,
        connections: impl Iterator<Item = (std::net::IpAddr, &'a [std::sync::Arc<str>])>,
    ) {
        self.records.send_modify(|records| {
            let Some(r) = records.iter_mut().find(|r| r.id == id) else { return };
            for (source, streams) in connections {
                if let Err(at) = r.sources.binary_search(&source) {
                    r.sources.insert(at, source);
                }
                for stream in streams {
                    *r.streams.entry(stream.to_string()).or_default() += 1;
                }
            }
        });
    }

    fn handshake_acted(&self, id: FaultId) {
        self.records.send_modify(|records| {
            if let Some(r) = records.iter_mut().find(|r| r.id == id) {
                r.handshakes += 1;
            }
        });
    }

    /// Ends a fault: removes every rule it set and closes its record. Idempotent.
    pub fn end(&self, id: FaultId) {
        {
            let mut rules = self.rules();
            for token in [
                drain_fault(&mut rules.handshake, id),
                drain_fault(&mut rules.bursts, id),
                drain_fault(&mut rules.depth_gaps, id),
                drain_fault(&mut rules.lifetimes, id),
                drain_fault(&mut rules.connect_limits, id),
            ]
            .into_iter()
            .flatten()
            {
                token.cancel();
            }
        }
        let now = self.now_ms();
        self.records.send_modify(|records| {
            if let Some(r) = records.iter_mut().find(|r| r.id == id && r.ended_ms.is_none()) {
                r.ended_ms = Some(now);
            }
        });
    }

    /// Every fault record so far.
    pub fn records(&self) -> Vec<FaultRecord> {
        self.records.borrow().clone()
    }

    /// Ids of the faults still active.
    pub fn active(&self) -> Vec<FaultId> {
        self.records.borrow().iter().filter(|r| r.ended_ms.is_none()).map(|r| r.id).collect()
    }

    /// Waits until the records satisfy `done` (tests use it to wait for a fault's end without sleeping).
    pub async fn wait_for_records(&self, done: impl Fn(&[FaultRecord]) -> bool) {
        let mut rx = self.records.subscribe();
        if rx.wait_for(|r| done(r)).await.is_err() {
            tracing::debug!("fault records dropped while waiting");
        }
    }

    /// Remembers something fault `id` changed, to undo when it ends.
    pub fn add_revert(&self, id: FaultId, revert: Revert) {
        self.rules().reverts.push((id, revert));
    }

    /// Takes what fault `id` must undo.
    pub fn take_reverts(&self, id: FaultId) -> Vec<Revert> {
        let mut rules = self.rules();
        let (mine, others): (Vec<_>, Vec<_>) = rules.reverts.drain(..).partition(|(f, _)| *f == id);
        rules.reverts = others;
        mine.into_iter().map(|(_, r)| r).collect()
    }

    /// Adds a handshake rule for fault `id`, with its seeded generator.
    pub fn add_handshake_rule(&self, id: FaultId, rule: HandshakeRule, seed: u64) -> CancellationToken {
        let ended = CancellationToken::new();
        self.rules().handshake.push(Active {
            fault: id,
            rule: (rule, SourceDraws::new(seed)),
            rng: StdRng::seed_from_u64(seed),
            ended: ended.clone(),
        });
        ended
    }

    /// Multiplies the event rate of `symbols` by `factor` while fault `id` lasts.
    pub fn add_burst(&self, id: FaultId, symbols: Vec<SymbolId>, factor: f64) {
        let rule = Active {
            fault: id,
            rule: (symbols, factor),
            rng: StdRng::seed_from_u64(id),
            ended: CancellationToken::new(),
        };
        self.rules().bursts.push(rule);
    }

    /// Withholds diff-depth events of `symbols` with `probability` while fault `id` lasts.
    pub fn add_depth_gap(&self, id: FaultId, symbols: Vec<SymbolId>, probability: f64, seed: u64) {
        let rule = Active {
            fault: id,
            rule: (symbols, probability),
            rng: StdRng::seed_from_u64(seed),
            ended: CancellationToken::new(),
        };
        self.rules().depth_gaps.push(rule);
    }

    /// Gives new connections matching `select` a lifetime of `age` while fault `id` lasts.
    pub fn add_lifetime(&self, id: FaultId, select: Selection, age: Duration) {
        let rule =
            Active { fault: id, rule: (select, age), rng: StdRng::seed_from_u64(id), ended: CancellationToken::new() };
        self.rules().lifetimes.push(rule);
    }

    /// Replaces the per-IP attempt budget with `limit` (fresh buckets) while fault `id` lasts; the
    /// configured budget is left untouched and applies again when the fault ends.
    pub fn add_connect_limit(&self, id: FaultId, limit: Option<Rate>) {
        let rule = Active {
            fault: id,
            rule: ConnectBudget::new(limit),
            rng: StdRng::seed_from_u64(id),
            ended: CancellationToken::new(),
        };
        self.rules().connect_limits.push(rule);
    }

    /// The verdict of the latest `connect-limit` fault on an attempt from `ip`, if one is active.
    pub fn admit_connect(&self, ip: IpAddr, now: Instant) -> Option<bool> {
        self.rules().connect_limits.last_mut().map(|budget| budget.rule.admit(ip, now))
    }

    /// The product of the active burst factors for a symbol (1 when none).
    pub fn rate_factor(&self, symbol: SymbolId) -> f64 {
        self.rules().bursts.iter().filter(|b| b.rule.0.contains(&symbol)).map(|b| b.rule.1).product()
    }

    /// True when the next diff-depth event of `symbol` is to be withheld.
    pub fn withhold_depth(&self, symbol: SymbolId) -> bool {
        let mut rules = self.rules();
        rules.depth_gaps.iter_mut().any(|g| g.rule.0.contains(&symbol) && g.rng.random::<f64>() < g.rule.1)
    }

    /// The shortest chaos lifetime for a new connection from `ip`, if any fault sets one.
    pub fn lifetime_for(&self, ip: IpAddr) -> Option<Duration> {
        self.rules().lifetimes.iter().filter(|l| l.rule.0.source_matches(ip)).map(|l| l.rule.1).min()
    }

    /// Closes (true) or reopens (false) the listener: closed means connection refused.
    pub fn set_listener_closed(&self, closed: bool) {
        self.listener_closed.send_replace(closed);
    }

    /// Watches whether the listener should be closed.
    pub fn listener_closed(&self) -> watch::Receiver<bool> {
        self.listener_closed.subscribe()
    }

    /// Decides what happens to an upgrade from `ip` under the active handshake rules (first match wins:
    /// outage, then bans and rejections, then delays).
    pub fn on_upgrade(&self, ip: IpAddr, now: Instant) -> HandshakeVerdict {
        let (verdict, fault) = {
            let mut rules = self.rules();
            let mut decided = (HandshakeVerdict::Proceed, None);
            for active in rules.handshake.iter_mut() {
                let verdict = judge(active, ip, now);
                if verdict != HandshakeVerdict::Proceed {
                    decided = (verdict, Some(active.fault));
                    break;
                }
            }
            decided
        };
        if let Some(id) = fault {
            self.handshake_acted(id);
        }
        verdict
    }
}

fn drain_fault<T>(list: &mut Vec<Active<T>>, id: FaultId) -> Vec<CancellationToken> {
    let mut tokens = Vec::new();
    list.retain(|a| {
        if a.fault == id {
            tokens.push(a.ended.clone());
        }
        a.fault != id
    });
    tokens
}

fn judge(active: &mut Active<(HandshakeRule, SourceDraws)>, ip: IpAddr, now: Instant) -> HandshakeVerdict {
    let (rule, draws) = &mut active.rule;
    match rule {
        HandshakeRule::Outage { status, retry_after } => {
            HandshakeVerdict::Refuse { status: *status, retry_after: *retry_after }
        }
        HandshakeRule::Reject { status, retry_after, probability, ban_after, ban, select, strikes, bans } => {
            if !select.source_matches(ip) {
                return HandshakeVerdict::Proceed;
            }
            if bans.get(&ip).is_some_and(|until| *until > now) {
                return HandshakeVerdict::Refuse { status: 418, retry_after: Some(ban.as_secs().max(1)) };
            }
            if draws.next(ip).0 >= *probability {
                return HandshakeVerdict::Proceed;
            }
            let count = strikes.entry(ip).or_default();
            *count += 1;
            if ban_after.is_some_and(|limit| *count > limit) {
                bans.insert(ip, now + *ban);
                return HandshakeVerdict::Refuse { status: 418, retry_after: Some(ban.as_secs().max(1)) };
            }
            HandshakeVerdict::Refuse { status: *status, retry_after: *retry_after }
        }
        HandshakeRule::Slow { delay, jitter, hang, probability, select } => {
            if !select.source_matches(ip) {
                return HandshakeVerdict::Proceed;
            }
            let (draw, mut rng) = draws.next(ip);
            if draw >= *probability {
                return HandshakeVerdict::Proceed;
            }
            if *hang {
                return HandshakeVerdict::Hang(active.ended.clone());
            }
            HandshakeVerdict::Delay(jittered(*delay, *jitter, &mut rng))
        }
    }
}

/// `delay` plus a uniform draw in ±`jitter`, never negative.
pub fn jittered(delay: Duration, jitter: Duration, rng: &mut StdRng) -> Duration {
    if jitter.is_zero() {
        return delay;
    }
    let offset = rng.random_range(-jitter.as_secs_f64()..=jitter.as_secs_f64());
    Duration::from_secs_f64((delay.as_secs_f64() + offset).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn rejections_escalate_to_a_ban_and_end_with_the_fault() {
        let chaos = ChaosState::default();
        let id = chaos.begin(FaultKindName::RejectHandshakes, None);
        let rule = HandshakeRule::Reject {
            status: 429,
            retry_after: Some(30),
            probability: 1.0,
            ban_after: Some(2),
            ban: Duration::from_secs(120),
            select: Selection::default(),
            strikes: HashMap::new(),
            bans: HashMap::new(),
        };
        chaos.add_handshake_rule(id, rule, 1);
        let now = Instant::now();
        let refused =
            |status| HandshakeVerdict::Refuse { status, retry_after: Some(if status == 418 { 120 } else { 30 }) };
        assert_eq!(chaos.on_upgrade(ip(1), now), refused(429));
        assert_eq!(chaos.on_upgrade(ip(1), now), refused(429));
        assert_eq!(chaos.on_upgrade(ip(1), now), refused(418));
        assert_eq!(chaos.on_upgrade(ip(1), now), refused(418), "banned");
        assert_eq!(chaos.on_upgrade(ip(2), now), refused(429), "strikes are per IP");
        assert_eq!(chaos.records()[0].handshakes, 5);
        chaos.end(id);
        assert_eq!(chaos.on_upgrade(ip(1), now), HandshakeVerdict::Proceed);
        assert!(chaos.records()[0].ended_ms.is_some());
    }

    #[test]
    fn bursts_multiply_and_revert() {
        let chaos = ChaosState::default();
        let a = chaos.begin(FaultKindName::Burst, None);
        let b = chaos.begin(FaultKindName::Burst, None);
        chaos.add_burst(a, vec![0, 1], 10.0);
        chaos.add_burst(b, vec![1], 2.0);
        assert_eq!((chaos.rate_factor(0), chaos.rate_factor(1), chaos.rate_factor(2)), (10.0, 20.0, 1.0));
        chaos.end(a);
        assert_eq!((chaos.rate_factor(0), chaos.rate_factor(1)), (1.0, 2.0));
    }
}
