//! The mock's own counters: the server-side truth a load test compares its clients against.
//!
//! Owns connection counts (open now, high-water mark), upgrades accepted and rejected by reason per
//! second and per source IP, why connections ended, protocol errors answered, frames written and the
//! feed's scheduling lag. Per-stream figures live in the hub and join these in a [`MockSnapshot`].
//! Hot counters are atomics; the rest sit behind a mutex that is never held across an `.await`.

mod replicas;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::mock::faults::state::FaultRecord;
use crate::mock::hub::StreamStats;
pub use crate::mock::outcome::{CloseCause, RejectReason};
use crate::mock::peer_log::{PeerLog, PeerWhat};
use crate::mock::write_lag::{WriteLag, WriteLagMeter};

/// Upgrade outcomes in one bucket (a second, or a source IP).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeCounts {
    /// 101 Switching Protocols sent.
    pub accepted: u64,
    /// Refusals by reason.
    pub rejected: BTreeMap<RejectReason, u64>,
}

impl UpgradeCounts {
    /// Every attempt (accepted and rejected).
    pub fn attempts(&self) -> u64 {
        self.accepted + self.rejected.values().sum::<u64>()
    }
}

/// Upgrade outcomes during one second of the mock's uptime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondCounts {
    /// Seconds since the mock started.
    pub second: u64,
    /// What happened in that second.
    #[serde(flatten)]
    pub counts: UpgradeCounts,
}

/// Upgrade attempts during one 100 ms slot of the mock's uptime (a storm is judged at this resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenthCounts {
    /// 100 ms slots since the mock started.
    pub tenth: u64,
    /// Upgrades accepted in it.
    pub accepted: u64,
    /// Upgrades refused in it (every reason).
    pub rejected: u64,
}

/// Source addresses counted one by one; the upgrades of any further address are counted under
/// [`OTHER_SOURCES`], so that clients from all of 127.0.0.0/8 cannot grow the mock without bound.
pub const IPS_KEPT: usize = 65_536;

/// Where the upgrades of addresses past [`IPS_KEPT`] are counted.
pub const OTHER_SOURCES: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

/// How many 100 ms slots with attempts are kept: the last hour of a busy mock, so that a mock serving
/// for days keeps a bounded record.
pub const TENTHS_KEPT: usize = 36_000;

/// Scheduling lag of the feed: how late events were generated against their schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedLag {
    /// Median lag in microseconds.
    pub p50_us: u64,
    /// 99th percentile lag in microseconds.
    pub p99_us: u64,
    /// Largest lag in microseconds.
    pub max_us: u64,
    /// Scheduled feed jobs run.
    pub jobs: u64,
}

#[derive(Debug, Default)]
struct Tallies {
    per_second: Vec<UpgradeCounts>,
    per_tenth: std::collections::VecDeque<TenthCounts>,
    per_ip: HashMap<IpAddr, UpgradeCounts>,
    closes: BTreeMap<CloseCause, u64>,
    errors_answered: BTreeMap<u8, u64>,
    rest_requests: u64,
    feed_lag: FeedLag,
}

/// The mock's counters, shared by every task of one server.
#[derive(Debug)]
pub struct MockStats {
    started: Instant,
    instance: String,
    /// Milliseconds of uptime at the last reset of the counters, and how many resets there were.
    reset: Mutex<(u64, u64)>,
    open: AtomicU64,
    high_water: AtomicU64,
    frames_written: AtomicU64,
    canary_events: AtomicU64,
    canary_connections: AtomicU64,
    canaries_open: AtomicU64,
    write_lag: WriteLagMeter,
    tallies: Mutex<Tallies>,
    /// Every upgrade and connection end by source address, with its time, when a harness asked for it.
    pub peer_log: PeerLog,
}

/// A point-in-time copy of everything the mock counts, serializable for `/stats` and run reports (and read
/// back by a harness driving a mock in another process).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MockSnapshot {
    /// Which mock this is: different for every mock started (process id, start time and a random part), so
    /// that the shards of a run can tell whether they read one mock's counters or several.
    #[serde(default)]
    pub instance: String,
    /// Milliseconds since the mock started.
    pub uptime_ms: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Most connections open at once.
    pub connections_high_water: u64,
    /// Upgrade outcomes over the whole run.
    pub upgrades: UpgradeCounts,
    /// Upgrade outcomes per second of uptime (seconds with no attempts omitted).
    pub upgrades_per_second: Vec<SecondCounts>,
    /// Upgrade attempts per 100 ms of uptime (slots with no attempts omitted; the last [`TENTHS_KEPT`]).
    #[serde(default)]
    pub upgrades_per_100ms: Vec<TenthCounts>,
    /// Milliseconds of uptime when the counters were last reset (`POST /stats/reset`; 0: never). Totals,
    /// high-water marks and per-stream figures count from then; `connections_open` and subscribers are
    /// what is open now.
    #[serde(default)]
    pub counters_since_ms: u64,
    /// How many times the counters were reset.
    #[serde(default)]
    pub counter_resets: u64,
    /// Upgrade outcomes per source IP.
    pub upgrades_per_ip: BTreeMap<IpAddr, UpgradeCounts>,
    /// Why connections ended.
    pub closes: BTreeMap<CloseCause, u64>,
    /// Protocol error responses sent, by Binance error code.
    pub errors_answered: BTreeMap<u8, u64>,
    /// REST helper requests answered.
    pub rest_requests: u64,
    /// WebSocket data frames written to clients.
    pub frames_written: u64,
    /// Messages dropped because a connection's outbound queue was full (all streams).
    pub messages_dropped: u64,
    /// The feed's scheduling lag (the mock's own health).
    pub feed_lag: FeedLag,
    /// Publication to the writer, per message written, without injected delay (the mock's own health).
    #[serde(default)]
    pub write_lag: WriteLag,
    /// Canary connections upgraded (the rig's instrument; not in the connection and upgrade counts).
    #[serde(default)]
    pub canary_connections: u64,
    /// Canary events published.
    #[serde(default)]
    pub canary_events: u64,
    /// CPU seconds the mock's process has used (the harness's too, for an embedded mock).
    #[serde(default)]
    pub process_cpu_seconds: f64,
    /// Largest resident memory of the mock's process (KiB; the harness's too, for an embedded mock).
    #[serde(default)]
    pub process_peak_rss_kib: u64,
    /// Per-stream figures from the fan-out hub.
    pub streams: Vec<StreamStats>,
    /// Every fault that fired: kind, window and what it touched.
    pub faults: Vec<FaultRecord>,
}

/// A name for a mock started now, unlike any other's: its process, the time and a random part (the standard
/// library's per-process hash keys, so no seed is drawn from).
fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let unix_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    format!("{:x}-{unix_ms:x}-{:08x}", std::process::id(), random as u32)
}

impl MockSnapshot {
    /// The figures of one stream, by name.
    pub fn stream(&self, name: &str) -> Option<&StreamStats> {
        self.streams.iter().find(|s| s.name == name)
    }
}

impl MockStats {
    /// Counters starting now.
    pub fn new() -> Self {
        MockStats {
            started: Instant::now(),
            instance: instance_id(),
            reset: Mutex::new((0, 0)),
            open: AtomicU64::new(0),
            high_water: AtomicU64::new(0),
            frames_written: AtomicU64::new(0),
            canary_events: AtomicU64::new(0),
            canary_connections: AtomicU64::new(0),
            canaries_open: AtomicU64::new(0),
            write_lag: WriteLagMeter::default(),
            tallies: Mutex::new(Tallies::default()),
            peer_log: PeerLog::default(),
        }
    }

    fn with_tallies<T>(&self, f: impl FnOnce(&mut Tallies) -> T) -> T {
        let mut guard = self.tallies.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn second_now(&self) -> usize {
        self.started.elapsed().as_secs() as usize
    }

    fn tenth_now(&self) -> u64 {
        (self.started.elapsed().as_millis() / 100) as u64
    }

    /// Records an accepted upgrade and a newly open connection, `took` after its TCP connection was accepted.
    pub fn upgrade_accepted(&self, ip: IpAddr, took: std::time::Duration) {
        self.peer_log.push(ip, PeerWhat::Accepted { took_us: took.as_micros() as u64 });
        // Read under the lock, so that slots are appended in time order.
        self.with_tallies(|t| {
            let (second, tenth) = (self.second_now(), self.tenth_now());
            bucket(&mut t.per_second, second).accepted += 1;
            tenth_bucket(&mut t.per_tenth, tenth).accepted += 1;
            ip_bucket(&mut t.per_ip, ip).accepted += 1;
        });
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.high_water.fetch_max(open, Ordering::Relaxed);
    }

    /// Records a refused upgrade or request.
    pub fn upgrade_rejected(&self, ip: IpAddr, reason: RejectReason) {
        self.peer_log.push(ip, PeerWhat::Rejected(reason));
        self.with_tallies(|t| {
            let (second, tenth) = (self.second_now(), self.tenth_now());
            *bucket(&mut t.per_second, second).rejected.entry(reason).or_default() += 1;
            tenth_bucket(&mut t.per_tenth, tenth).rejected += 1;
            *ip_bucket(&mut t.per_ip, ip).rejected.entry(reason).or_default() += 1;
        });
    }

    /// Records the end of an established connection from `ip` that carried `streams` (asked for only when
    /// the peer log keeps entries).
    pub fn connection_closed(&self, ip: IpAddr, cause: CloseCause, streams: impl FnOnce() -> Vec<String>) {
        if self.peer_log.enabled() {
            self.peer_log.push(ip, PeerWhat::Closed { cause, streams: streams() });
        }
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.with_tallies(|t| *t.closes.entry(cause).or_default() += 1);
    }

    /// Records a protocol error response.
    pub fn error_answered(&self, code: u8) {
        self.with_tallies(|t| *t.errors_answered.entry(code).or_default() += 1);
    }

    /// Records a REST helper request.
    pub fn rest_request(&self) {
        self.with_tallies(|t| t.rest_requests += 1);
    }

    /// Adds written data frames.
    pub fn frames_written(&self, n: u64) {
        self.frames_written.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts an upgraded canary connection (apart from the market's).
    pub fn canary_connected(&self) {
        self.canary_connections.fetch_add(1, Ordering::Relaxed);
        self.canaries_open.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the end of a canary connection.
    pub fn canary_closed(&self) {
        self.canaries_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts a canary event and returns its number (from 1).
    pub fn canary_published(&self) -> u64 {
        self.canary_events.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Records `count` messages taken to be written `us` after their publication (or their injected
    /// delay's due time).
    pub fn write_lag(&self, us: u64, count: u64) {
        self.write_lag.record_n(us, count);
    }

    /// Replaces the feed lag summary.
    pub fn set_feed_lag(&self, lag: FeedLag) {
        self.with_tallies(|t| t.feed_lag = lag);
    }

    /// Starts every counter afresh (totals, per-second and per-IP tallies, close causes, frames, write
    /// lag, canary counts); the high-water mark restarts from the connections open now, which stay counted.
    pub fn reset(&self) {
        self.with_tallies(|t| {
            let feed_lag = t.feed_lag;
            *t = Tallies { feed_lag, ..Tallies::default() };
        });
        self.high_water.store(self.open.load(Ordering::Relaxed), Ordering::Relaxed);
        self.frames_written.store(0, Ordering::Relaxed);
        self.canary_events.store(0, Ordering::Relaxed);
        self.canary_connections.store(0, Ordering::Relaxed);
        self.write_lag.reset();
        let mut reset = self.reset.lock().unwrap_or_else(|p| p.into_inner());
        *reset = (self.started.elapsed().as_millis() as u64, reset.1 + 1);
    }

    /// Milliseconds of uptime at the last reset of the counters (0: never), and how many resets there were.
    pub fn counters_since(&self) -> (u64, u64) {
        *self.reset.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections open now.
    pub fn open_connections(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// A copy of every counter, joined with the hub's per-stream figures.
    pub fn snapshot(&self, streams: Vec<StreamStats>, faults: Vec<FaultRecord>) -> MockSnapshot {
        let (counters_since_ms, counter_resets) = self.counters_since();
        self.with_tallies(|t| {
            let mut total = UpgradeCounts::default();
            for counts in &t.per_second {
                add_counts(&mut total, counts);
            }
            MockSnapshot {
                instance: self.instance.clone(),
                uptime_ms: self.started.elapsed().as_millis() as u64,
                connections_open: self.open.load(Ordering::Relaxed),
                connections_high_water: self.high_water.load(Ordering::Relaxed),
                upgrades: total,
                upgrades_per_second: per_second_rows(&t.per_second),
                upgrades_per_100ms: t.per_tenth.iter().copied().collect(),
                counters_since_ms,
                counter_resets,
                upgrades_per_ip: t.per_ip.iter().map(|(ip, c)| (*ip, c.clone())).collect(),
                closes: t.closes.clone(),
                errors_answered: t.errors_answered.clone(),
                rest_requests: t.rest_requests,
                frames_written: self.frames_written.load(Ordering::Relaxed),
                messages_dropped: streams.iter().map(|s| s.messages_dropped).sum(),
                feed_lag: t.feed_lag,
                write_lag: self.write_lag.read(),
                canary_connections: self.canary_connections.load(Ordering::Relaxed),
                canary_events: self.canary_events.load(Ordering::Relaxed),
                process_cpu_seconds: crate::os::cpu_seconds(),
                process_peak_rss_kib: crate::os::peak_rss_kib(),
                streams,
                faults,
            }
        })
    }
}

impl Default for MockStats {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket(per_second: &mut Vec<UpgradeCounts>, second: usize) -> &mut UpgradeCounts {
    if per_second.len() <= second {
        per_second.resize_with(second + 1, UpgradeCounts::default);
    }
    &mut per_second[second]
}

/// The counts of `ip`, or of [`OTHER_SOURCES`] once [`IPS_KEPT`] addresses are counted.
fn ip_bucket(per_ip: &mut HashMap<IpAddr, UpgradeCounts>, ip: IpAddr) -> &mut UpgradeCounts {
    let key = if per_ip.len() >= IPS_KEPT && !per_ip.contains_key(&ip) { OTHER_SOURCES } else { ip };
    per_ip.entry(key).or_default()
}

/// The slot of `tenth`, appended when it is new; the oldest goes past [`TENTHS_KEPT`].
fn tenth_bucket(per_tenth: &mut std::collections::VecDeque<TenthCounts>, tenth: u64) -> &mut TenthCounts {
    if per_tenth.back().is_none_or(|last| last.tenth != tenth) {
        if per_tenth.len() == TENTHS_KEPT {
            per_tenth.pop_front();
        }
        per_tenth.push_back(TenthCounts { tenth, accepted: 0, rejected: 0 });
    }
    per_tenth.back_mut().expect("a slot was just ensured")
}

fn add_counts(total: &mut UpgradeCounts, counts: &UpgradeCounts) {
    total.accepted += counts.accepted;
    for (reason, n) in &counts.rejected {
        *total.rejected.entry(*reason).or_default() += n;
    }
}

fn per_second_rows(per_second: &[UpgradeCounts]) -> Vec<SecondCounts> {
    per_second
        .iter()
        .enumerate()
        .filter(|(_, c)| c.attempts() > 0)
        .map(|(second, counts)| SecondCounts { second: second as u64, counts: counts.clone() })
        .collect()
}
