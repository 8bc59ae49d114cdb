//! What the upstreams of a run share: the run's context ([`RunContext`]: the target, the clock, the
//! recorder) and, per upstream, the [`Audience`] an upstream shares with its manager and its reading side
//! (the subscribers per stream, their staleness watches and the subscriptions that ended).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::mock::time::now_micros;
use crate::record::event::{CohortId, Event};
use crate::record::freshness::{Freshness, Watch};

/// What every upstream of a run shares.
#[derive(Debug)]
pub struct RunContext {
    /// The upstream's address.
    pub target: SocketAddr,
    /// When the run started.
    pub start: Instant,
    /// The recorder.
    pub events: mpsc::Sender<Event>,
    /// Stops every client.
    pub cancel: CancellationToken,
    /// The upstream's publication record and the staleness watches (`None` when the upstream keeps no
    /// record this process can read: sequence ids are then checked where they are consecutive).
    pub freshness: Option<Arc<Freshness>>,
    /// Events published this close to the end of a socket's accounting are not owed yet (in flight, or
    /// held by an injected delay).
    pub settle: Duration,
    /// How far the record this process reads may lag the mock's own (a mirror of a mock in its own
    /// process; zero for the embedded mock's).
    pub record_lag: Duration,
}

impl RunContext {
    /// Time since the start of the run.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Sends an event to the recorder; a full recorder queue applies back-pressure to this client only.
    pub async fn report(&self, event: Event) {
        if self.events.send(event).await.is_err() {
            tracing::debug!("recorder gone; event dropped");
        }
    }
}

/// Subscribers per stream on one upstream, shared with the manager that owns it, when it last saw
/// traffic (for idle cleanup), and each subscribed stream's staleness watch.
#[derive(Debug)]
pub struct Audience {
    state: Mutex<AudienceState>,
    cohort: CohortId,
    freshness: Option<Arc<Freshness>>,
}

#[derive(Debug)]
struct AudienceState {
    streams: HashMap<String, Subscribed>,
    last_traffic: Instant,
    subscriptions: u64,
    departed: Vec<Departed>,
}

/// A subscription whose last subscriber left, waiting for the reading side to end its accounting at the
/// time it left.
#[derive(Debug)]
pub(crate) struct Departed {
    /// The stream.
    pub stream: String,
    /// Which subscription of it.
    pub generation: u64,
    /// When the last subscriber left (µs since the epoch).
    pub at: u64,
    /// Subscribers it had before.
    pub subscribers: u32,
    /// Its watch.
    pub watch: Option<Arc<Watch>>,
}

/// One subscribed stream: its subscribers, which subscription of the stream this is (a stream left and
/// subscribed again on the same socket is a new one), and its watch.
#[derive(Debug)]
struct Subscribed {
    subscribers: u32,
    generation: u64,
    watch: Option<Arc<Watch>>,
}

/// A stream as a message finds it: its subscribers and which subscription it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heard {
    /// Subscribers of the stream on this socket (0: nobody wants it).
    pub subscribers: u32,
    /// Which subscription of the stream.
    pub generation: u64,
    /// Subscriptions ended and not yet settled by the reading side.
    pub departures: bool,
}

impl Audience {
    /// The audience of one upstream of `cohort` in the run `ctx`.
    pub fn new(ctx: &RunContext, cohort: CohortId) -> Self {
        let state = AudienceState {
            streams: HashMap::new(),
            last_traffic: Instant::now(),
            subscriptions: 0,
            departed: Vec::new(),
        };
        Audience { state: Mutex::new(state), cohort, freshness: ctx.freshness.clone() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AudienceState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long ago the upstream last received a message (or was created).
    pub fn silent_for(&self) -> Duration {
        self.lock().last_traffic.elapsed()
    }

    /// Notes a message on `stream` (it is traffic) and returns how the stream stands: one lock per message.
    pub(crate) fn on_message(&self, stream: &str) -> Heard {
        let mut state = self.lock();
        state.last_traffic = Instant::now();
        let departures = !state.departed.is_empty();
        state.streams.get(stream).map_or(Heard { subscribers: 0, generation: 0, departures }, |s| Heard {
            subscribers: s.subscribers,
            generation: s.generation,
            departures,
        })
    }

    /// The staleness watch of a subscribed stream.
    pub(crate) fn watch_of(&self, stream: &str) -> Option<Arc<Watch>> {
        self.lock().streams.get(stream)?.watch.clone()
    }

    /// Sets the subscriber count of a stream (0 removes it).
    pub fn set(&self, stream: &str, subscribers: u32) {
        let mut state = self.lock();
        if subscribers == 0 {
            if let Some(gone) = state.streams.remove(stream) {
                if let Some(watch) = &gone.watch {
                    watch.set_subscribers(0);
                }
                state.departed.push(Departed {
                    stream: stream.to_owned(),
                    generation: gone.generation,
                    at: now_micros(),
                    subscribers: gone.subscribers,
                    watch: gone.watch,
                });
            }
            return;
        }
        if let Some(subscribed) = state.streams.get_mut(stream) {
            subscribed.subscribers = subscribers;
            if let Some(watch) = &subscribed.watch {
                watch.set_subscribers(subscribers);
            }
            return;
        }
        state.subscriptions += 1;
        let watch = self.freshness.as_ref().and_then(|f| f.watch(self.cohort, stream, now_micros()));
        if let Some(watch) = &watch {
            watch.set_subscribers(subscribers);
        }
        let generation = state.subscriptions;
        state.streams.insert(stream.to_owned(), Subscribed { subscribers, generation, watch });
    }

    /// Subscribers of a stream.
    pub fn get(&self, stream: &str) -> u32 {
        self.lock().streams.get(stream).map_or(0, |s| s.subscribers)
    }

    /// Every stream with its count.
    pub fn streams(&self) -> Vec<String> {
        self.lock().streams.keys().cloned().collect()
    }

    /// Subscriptions carried in total.
    pub fn total(&self) -> u32 {
        self.lock().streams.values().map(|s| s.subscribers).sum()
    }

    /// Whether subscriptions ended that the accounting has not settled yet.
    pub(crate) fn has_departed(&self) -> bool {
        !self.lock().departed.is_empty()
    }

    /// The subscriptions that ended since the last call.
    pub(crate) fn take_departed(&self) -> Vec<Departed> {
        std::mem::take(&mut self.lock().departed)
    }

    /// Every subscribed stream with its subscribers, generation and watch, for the end of the accounting.
    pub(crate) fn owed(&self) -> Vec<(String, Heard, Option<Arc<Watch>>)> {
        let state = self.lock();
        let heard = |s: &Subscribed| Heard { subscribers: s.subscribers, generation: s.generation, departures: false };
        state.streams.iter().map(|(name, s)| (name.clone(), heard(s), s.watch.clone())).collect()
    }
}
