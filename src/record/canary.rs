//! The canaries: a few connections, each from its own loopback address, on the mock's quiet canary
//! stream ([`mock::canary`](crate::mock::canary)), read by the harness's own runtime beside the managers
//! but outside them. A canary event's latency is the delay of the whole rig (the feed task, the fan-out,
//! the mock's writers, the kernel and the harness's scheduler and readers) with no manager in it: it
//! should stay near the loopback floor, and when it rises the rig is loaded, whatever the managers do.
//!
//! A canary that drops (an outage of the mock) reconnects every [`RETRY`] until the run ends; it is never
//! a fault's target.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::net::TcpSocket;
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::mock::time::now_micros;
use crate::record::event::latency_histogram;

/// The wait before a dropped canary connects again.
pub const RETRY: Duration = Duration::from_millis(100);

/// The n-th canary's source address (127.0.0.2 onwards: clients never use 127.0.0.x).
pub fn source_address(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + n as u8))
}

/// What the canaries measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CanaryRecord {
    /// Canary connections asked for.
    pub connections: u32,
    /// Latency of every canary event received (µs).
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub latency: Histogram<u64>,
    /// Latency p99 per second of the run (µs; 0 for a second without samples).
    pub p99_per_second: Vec<u64>,
    /// Canary events that never arrived on a connection that was open (a gap in their numbers).
    pub missed: u64,
    /// Connections made (more than `connections`: a canary was dropped and came back).
    pub connects: u64,
}

impl CanaryRecord {
    fn new(connections: u32) -> Self {
        CanaryRecord { connections, latency: latency_histogram(), p99_per_second: Vec::new(), missed: 0, connects: 0 }
    }
}

/// What the canary tasks share.
struct Shared {
    record: Mutex<Recording>,
    start: Instant,
}

/// Seconds kept open for samples that arrive a little out of order (two canaries recording around a
/// second's boundary); an older second is reduced to its p99 at once, so the memory stays flat however
/// long the run.
const OPEN_SECONDS: usize = 2;

struct Recording {
    record: CanaryRecord,
    /// The latest seconds, oldest first, not yet reduced to their p99.
    open: VecDeque<(usize, Histogram<u64>)>,
    /// The newest second reduced so far.
    closed_through: Option<usize>,
}

impl Recording {
    fn new(connections: u32) -> Self {
        Recording { record: CanaryRecord::new(connections), open: VecDeque::new(), closed_through: None }
    }

    fn sample(&mut self, second: usize, latency_us: u64) {
        self.record.latency.saturating_record(latency_us);
        if self.closed_through.is_some_and(|closed| second <= closed) {
            return; // too late for its second: it counts in the whole run only
        }
        let at = self.open.iter().position(|(s, _)| *s >= second).unwrap_or(self.open.len());
        if self.open.get(at).is_none_or(|(s, _)| *s != second) {
            // A new second, in order among the open ones (a sample may be taken late, after a newer one).
            self.open.insert(at, (second, latency_histogram()));
        }
        if let Some((_, histogram)) = self.open.get_mut(at) {
            histogram.saturating_record(latency_us);
        }
        while self.open.len() > OPEN_SECONDS {
            self.close_oldest();
        }
    }

    /// Reduces the oldest open second to its p99 (0 for a second without samples).
    fn close_oldest(&mut self) -> Option<Histogram<u64>> {
        let (second, histogram) = self.open.pop_front()?;
        self.closed_through = Some(second);
        let per_second = &mut self.record.p99_per_second;
        if per_second.len() <= second {
            per_second.resize(second + 1, 0);
        }
        per_second[second] = if histogram.is_empty() { 0 } else { histogram.value_at_quantile(0.99) };
        Some(histogram)
    }

    /// The p99 of a second (µs; 0 without samples).
    fn p99_of(&self, second: usize) -> u64 {
        match self.open.iter().find(|(s, _)| *s == second) {
            Some((_, h)) if !h.is_empty() => h.value_at_quantile(0.99),
            Some(_) => 0,
            None => self.record.p99_per_second.get(second).copied().unwrap_or(0),
        }
    }

    /// Reduces every open second.
    fn finish(&mut self) {
        while self.close_oldest().is_some() {}
    }
}

/// Runs `connections` canaries against `target` until `cancel`, publishing each second's p99 (µs) on
/// `p99`; returns what they measured.
pub async fn run(
    target: SocketAddr,
    connections: u32,
    cancel: CancellationToken,
    p99: watch::Sender<u64>,
) -> CanaryRecord {
    let shared = Arc::new(Shared { record: Mutex::new(Recording::new(connections)), start: Instant::now() });
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..connections {
        tasks.spawn(canary(target, source_address(n), shared.clone(), cancel.clone()));
    }
    let publisher = tokio::spawn(publish_per_second(shared.clone(), cancel.clone(), p99));
    while tasks.join_next().await.is_some() {}
    if publisher.await.is_err() {
        tracing::debug!("the canaries' live figures stopped early");
    }
    let mut recording = shared.record.lock().await;
    recording.finish();
    recording.record.clone()
}

/// Publishes the p99 of the last full second, once a second.
async fn publish_per_second(shared: Arc<Shared>, cancel: CancellationToken, p99: watch::Sender<u64>) {
    let mut tick = tokio::time::interval_at(shared.start + Duration::from_secs(1), Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let last = (shared.start.elapsed().as_secs() as usize).saturating_sub(1);
        let recording = shared.record.lock().await;
        p99.send_replace(recording.p99_of(last));
    }
}

/// One canary: connect, read until the connection ends, connect again, until `cancel`.
async fn canary(target: SocketAddr, source: IpAddr, shared: Arc<Shared>, cancel: CancellationToken) {
    while !cancel.is_cancelled() {
        if let Some(ws) = connect(target, source).await {
            shared.record.lock().await.record.connects += 1;
            read(ws, &shared, &cancel).await;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn connect(target: SocketAddr, source: IpAddr) -> Option<Socket> {
    let socket = TcpSocket::new_v4().ok()?;
    if target.ip().is_loopback() {
        socket.bind(SocketAddr::new(source, 0)).ok()?;
    }
    let tcp = tokio::time::timeout(Duration::from_secs(5), socket.connect(target)).await.ok()?.ok()?;
    tcp.set_nodelay(true).ok()?;
    let url = format!("ws://{target}{}", crate::mock::canary::PATH);
    let (ws, _) = tokio::time::timeout(Duration::from_secs(5), client_async(url, tcp)).await.ok()?.ok()?;
    Some(ws)
}

async fn read(mut ws: Socket, shared: &Shared, cancel: &CancellationToken) {
    let mut last: Option<u64> = None;
    loop {
        let message = tokio::select! {
            _ = cancel.cancelled() => return,
            message = ws.next() => message,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            _ => return,
        };
        let now = now_micros();
        let Some((at, n)) = parse(text.as_str()) else { continue };
        let second = shared.start.elapsed().as_secs() as usize;
        let mut recording = shared.record.lock().await;
        recording.sample(second, now.saturating_sub(at).max(1));
        if let Some(previous) = last {
            recording.record.missed += n.saturating_sub(previous + 1);
        }
        last = Some(n);
    }
}

/// The event time and number of a canary event.
fn parse(text: &str) -> Option<(u64, u64)> {
    #[derive(serde::Deserialize)]
    struct Event {
        #[serde(rename = "E")]
        at: u64,
        n: u64,
    }
    let event: Event = serde_json::from_str(text).ok()?;
    Some((event.at, event.n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_second_is_reduced_to_its_p99_once_two_newer_ones_are_open() {
        let mut recording = Recording::new(1);
        recording.sample(0, 1_000);
        recording.sample(1, 2_000);
        recording.sample(0, 1_500); // a second still open takes a late sample
        assert_eq!(recording.open.len(), 2);
        recording.sample(3, 1_800); // second 0 is reduced, second 2 had no samples
        assert_eq!(recording.open.len(), 2, "never more than two seconds are held whole");
        assert_eq!(recording.record.p99_per_second, [1_500]);
        recording.sample(0, 9_000); // too late for its second: the whole run only
        assert_eq!(recording.p99_of(0), 1_500);
        assert_eq!(recording.p99_of(1), 2_000);
        recording.sample(2, 1_200); // second 2's first sample, taken late: it still opens in order
        assert_eq!(recording.record.p99_per_second, [1_500, 2_000], "second 1 is reduced to make room");
        recording.finish();
        assert_eq!(recording.record.p99_per_second, [1_500, 2_000, 1_200, 1_800]);
        assert_eq!(recording.record.latency.len(), 6);
        assert!((9_000..9_010).contains(&recording.record.latency.max()), "within the histogram's precision");
    }

    #[test]
    fn reads_what_the_mock_renders() {
        let mut out = Vec::new();
        crate::mock::canary::render(1_700_000_000_000_001, 42, &mut out);
        assert_eq!(parse(std::str::from_utf8(&out).unwrap()), Some((1_700_000_000_000_001, 42)));
        assert_eq!(parse("{\"e\":\"trade\"}"), None);
        assert_eq!(source_address(0), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    }
}
