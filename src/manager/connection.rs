//! One logical upstream connection of a simulated client: connect (from the client's own loopback address,
//! with a time limit), read, detect silence, reconnect under the manager's backoff, give up after its
//! attempt limit; every message goes to the reading side ([`reading`](crate::manager::reading)), which
//! accounts it to each subscriber of its stream. The [`Audience`] it shares with its manager (in
//! [`audience`](crate::manager::audience)) holds the subscribers per stream, their staleness watches and the
//! subscriptions that ended.
//!
//! Everything it measures goes to the recorder as small events and batched samples.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};
use tokio_util::sync::CancellationToken;

use crate::deadline::sleep_until;
use crate::manager::audience::{Audience, RunContext};
use crate::manager::backoff::Backoff;
use crate::manager::reading::Reading;
use crate::manager::settings::RetryReset;
use crate::manager::stamped::Stamped;
use crate::manager::tap::Tap;
use crate::record::event::{AttemptOutcome, CohortId, ConnectionEnd, Event};

/// Where an upstream connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/ws/<stream>`: raw payloads of one stream.
    Raw(String),
    /// `/stream`: wrapped payloads, streams added with SUBSCRIBE.
    Combined,
}

/// How one upstream behaves.
#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    /// Its cohort.
    pub cohort: CohortId,
    /// The client's index (for per-IP accounting).
    pub client: u32,
    /// The client's source address.
    pub source: IpAddr,
    /// Raw or combined.
    pub endpoint: Endpoint,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// Failed attempts in a row before giving up (`None`: never).
    pub max_attempts: Option<u32>,
    /// What sets the attempt count back to zero.
    pub retry_reset: RetryReset,
    /// Connect time limit (`None`: none).
    pub connect_timeout: Option<Duration>,
    /// Silence before the socket is declared dead.
    pub liveness: Option<Duration>,
    /// Control messages per second (combined).
    pub messages_per_second: u32,
    /// Seed of its jitter.
    pub seed: u64,
    /// The client's handover tap (rollout rehearsals only).
    pub tap: Option<Arc<Tap>>,
}

/// How a manager reconnects one upstream.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Reconnect delays.
    pub backoff: Backoff,
    /// Failed attempts in a row before giving up (`None`: never).
    pub max_attempts: Option<u32>,
    /// What sets the attempt count back to zero.
    pub reset: RetryReset,
    /// Connect time limit (`None`: none).
    pub connect_timeout: Option<Duration>,
    /// Silence before the socket is declared dead.
    pub liveness: Option<Duration>,
}

impl UpstreamSpec {
    /// A `/ws/<stream>` upstream of `client` reconnecting under `retry`.
    pub fn raw(client: &crate::manager::client::ClientSpec, stream: &str, retry: Retry, seed: u64) -> Self {
        UpstreamSpec {
            cohort: client.cohort,
            client: client.client,
            source: client.source,
            endpoint: Endpoint::Raw(stream.to_owned()),
            backoff: retry.backoff,
            max_attempts: retry.max_attempts,
            retry_reset: retry.reset,
            connect_timeout: retry.connect_timeout,
            liveness: retry.liveness,
            messages_per_second: 5,
            seed,
            tap: client.tap.clone(),
        }
    }
}

/// A change to a combined upstream's subscriptions.
#[derive(Debug, Clone)]
pub enum SubscriptionChange {
    /// SUBSCRIBE these.
    Subscribe(Vec<String>),
    /// UNSUBSCRIBE these.
    Unsubscribe(Vec<String>),
}

/// How an upstream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Its owner stopped it (unsubscribe, cleanup, end of run).
    Stopped,
    /// It used up its attempts.
    GaveUp,
}

/// The client WebSocket, over a socket that notes when the kernel received each read.
type Socket = WebSocketStream<Stamped>;

/// Streams per SUBSCRIBE request (well under the upstream's 8 KiB message limit).
const SUBSCRIBE_BATCH: usize = 200;

/// Runs one upstream until `stop` or give-up; `commands` change a combined upstream's subscriptions (a raw
/// one has none). Connecting and the session are boxed: a task holds only the one of them it is in, not
/// the larger of the two (a legacy client has one task per subscription).
pub async fn run(
    ctx: Arc<RunContext>,
    spec: UpstreamSpec,
    audience: Arc<Audience>,
    mut commands: Option<mpsc::Receiver<SubscriptionChange>>,
    stop: CancellationToken,
) -> Exit {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let raw_stream = match &spec.endpoint {
        Endpoint::Raw(stream) => Some(stream.clone()),
        Endpoint::Combined => None,
    };
    let mut state = Reading::new(spec.cohort, raw_stream, spec.tap.clone());
    // Attempts since the count was last reset: at each upgrade, or at the first market message.
    let mut tries = 0u32;
    loop {
        let reconnecting = state.outage.is_some();
        let attempts = (&mut tries, reconnecting);
        let connected = Box::pin(connect_with_retries(&ctx, &spec, &stop, attempts, &mut rng, &audience)).await;
        let Some(ws) = connected else {
            state.close(&ctx, &audience).await;
            if stop.is_cancelled() {
                abandon(&ctx, &spec, state.outage.take()).await;
                return Exit::Stopped;
            }
            return Exit::GaveUp;
        };
        let read_before = state.market_messages;
        let ended = Box::pin(session(&ctx, &spec, ws, &audience, commands.as_mut(), &stop, &mut state)).await;
        if spec.retry_reset == RetryReset::OnMessage {
            // An upgrade that brought no market data was one more try; data starts the count afresh.
            tries = if state.market_messages > read_before { 0 } else { tries + 1 };
        }
        match ended {
            None => {
                state.close(&ctx, &audience).await;
                abandon(&ctx, &spec, state.outage.take()).await;
                let end = Event::Ended {
                    cohort: spec.cohort,
                    client: spec.client,
                    at: ctx.now(),
                    end: ConnectionEnd::Local,
                    subscriptions: audience.total(),
                };
                ctx.report(end).await;
                return Exit::Stopped;
            }
            Some(end) => {
                // A socket that drops again before recovering is still in the same outage: its
                // subscriptions are counted as dropped once.
                let newly_dropped = if state.outage.is_none() { audience.total() } else { 0 };
                state.outage.get_or_insert((Instant::now(), newly_dropped));
                let at = ctx.now();
                ctx.report(Event::Ended {
                    cohort: spec.cohort,
                    client: spec.client,
                    at,
                    end,
                    subscriptions: newly_dropped,
                })
                .await;
            }
        }
    }
}

/// Reports the subscriptions of an outage that were closed locally before they recovered.
async fn abandon(ctx: &RunContext, spec: &UpstreamSpec, outage: Option<(Instant, u32)>) {
    if let Some((since, subscriptions)) = outage.filter(|(_, n)| *n > 0) {
        ctx.report(Event::Abandoned { cohort: spec.cohort, subscriptions, waited: since.elapsed() }).await;
    }
}

/// Connects, retrying with the backoff; `tries` counts the attempts since the count was last reset (it
/// carries over from earlier sessions when only market data resets it). `None` when stopped or given up.
async fn connect_with_retries(
    ctx: &RunContext,
    spec: &UpstreamSpec,
    stop: &CancellationToken,
    (tries, reconnecting): (&mut u32, bool),
    rng: &mut StdRng,
    audience: &Audience,
) -> Option<Socket> {
    let mut wait = reconnecting;
    loop {
        if spec.max_attempts.is_some_and(|max| *tries >= max) {
            ctx.report(Event::GaveUp { cohort: spec.cohort, at: ctx.now(), subscribers: audience.total() }).await;
            return None;
        }
        let mut waited = Duration::ZERO;
        if wait {
            let delay = spec.backoff.delay(tries.saturating_sub(u32::from(!reconnecting)), rng);
            waited = delay;
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        wait = true;
        let at = ctx.now();
        let started = Instant::now();
        let result = tokio::select! {
            _ = stop.cancelled() => return None,
            result = connect(ctx.target, spec) => result,
        };
        let outcome = result.as_ref().map_or_else(|o| *o, |_| AttemptOutcome::Connected);
        let retry = reconnecting || *tries > 0;
        let took = started.elapsed();
        let event = Event::Attempt { cohort: spec.cohort, client: spec.client, at, outcome, took, retry, waited };
        ctx.report(event).await;
        if let Ok(ws) = result {
            if spec.retry_reset == RetryReset::OnOpen {
                *tries = 0;
            }
            return Some(ws);
        }
        *tries += 1;
    }
}

fn path(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Raw(stream) => format!("/ws/{stream}?timeUnit=MICROSECOND"),
        Endpoint::Combined => "/stream?timeUnit=MICROSECOND".to_owned(),
    }
}

/// One TCP connect and upgrade from the client's address, within its time limit.
async fn connect(target: SocketAddr, spec: &UpstreamSpec) -> Result<Socket, AttemptOutcome> {
    let attempt = async {
        let socket = if target.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }
            .map_err(|_| AttemptOutcome::Other)?;
        if target.ip().is_loopback() {
            socket.bind(SocketAddr::new(spec.source, 0)).map_err(|_| AttemptOutcome::Other)?;
        }
        let tcp = socket.connect(target).await.map_err(|e| io_outcome(&e))?;
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY: {e}");
        }
        let url = format!("ws://{target}{}", path(&spec.endpoint));
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER).write_buffer_size(0);
        let stamped = Stamped::new(tcp).map_err(|e| io_outcome(&e))?;
        let (ws, _) = client_async_with_config(url, stamped, Some(config)).await.map_err(|e| ws_outcome(&e))?;
        Ok(ws)
    };
    let Some(limit) = spec.connect_timeout else { return attempt.await };
    match tokio::time::timeout(limit, attempt).await {
        Ok(result) => result,
        Err(_) => Err(AttemptOutcome::Timeout),
    }
}

fn io_outcome(e: &std::io::Error) -> AttemptOutcome {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => AttemptOutcome::Refused,
        ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe => AttemptOutcome::Reset,
        TimedOut => AttemptOutcome::Timeout,
        _ => AttemptOutcome::Other,
    }
}

fn ws_outcome(e: &WsError) -> AttemptOutcome {
    match e {
        WsError::Http(response) => AttemptOutcome::Http(response.status().as_u16()),
        WsError::Io(e) => io_outcome(e),
        WsError::Protocol(_) | WsError::ConnectionClosed | WsError::AlreadyClosed => AttemptOutcome::Reset,
        _ => AttemptOutcome::Other,
    }
}

/// The WebSocket's read buffer: the most one read takes from the socket (about ten market messages), and what
/// an open connection holds once it has read anything (the buffer is filled to its size on the first read).
const READ_BUFFER: usize = 2 * 1024;

/// Frames handled in one go when they are already read (or readable) before the session's other
/// branches get a look again.
const DRAIN_AT_MOST: usize = 64;

/// How often a socket hands its deliveries to the recorder.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// How often a socket that holds nothing for the recorder looks again (a frame or a command brings the next
/// flush back to [`FLUSH_EVERY`]): an idle connection does not wake up four times a second for nothing,
/// which is most of what 100,000 idle connections would cost.
const IDLE_FLUSH_EVERY: Duration = Duration::from_secs(5);

/// One connected session; `None` when stopped, or how the connection ended.
///
/// Its timers live across the loop (a deadline moved later is an atomic store, not a new timer), and a
/// message that arrives with others already read is handled with them, so the cost of a wake-up is shared
/// by every frame it brings.
async fn session(
    ctx: &RunContext,
    spec: &UpstreamSpec,
    mut ws: Socket,
    audience: &Audience,
    mut commands: Option<&mut mpsc::Receiver<SubscriptionChange>>,
    stop: &CancellationToken,
    state: &mut Reading,
) -> Option<ConnectionEnd> {
    let mut outbox = Pacer::new(spec.messages_per_second);
    if spec.endpoint == Endpoint::Combined {
        outbox.queue_subscribe("SUBSCRIBE", audience.streams());
    }
    let mut last_traffic = Instant::now();
    let far = || Instant::now() + Duration::from_secs(86_400 * 365);
    let silence = tokio::time::sleep_until(spec.liveness.map_or_else(far, |l| last_traffic + l));
    let flush = tokio::time::sleep_until(state.last_flush + FLUSH_EVERY);
    let stopped = stop.cancelled();
    tokio::pin!(silence, flush, stopped);
    loop {
        tokio::select! {
            () = &mut stopped => {
                // What reached the socket before the stop is the manager's: read what is there now (a
                // loaded harness may be behind the socket), then stop reading.
                drain_readable(ctx, &mut ws, audience, state).await;
                state.stopped_reading = Some(crate::mock::time::now_micros());
                close_quietly(&mut ws).await;
                return None;
            }
            () = sleep_until(outbox.next_send()) => {
                if let Some(text) = outbox.pop() {
                    if let Err(e) = ws.send(Message::text(text)).await {
                        return Some(end_of(&e));
                    }
                }
            }
            command = next_command(commands.as_deref_mut()) => {
                match command {
                    Some(SubscriptionChange::Subscribe(streams)) => outbox.queue_subscribe("SUBSCRIBE", streams),
                    Some(SubscriptionChange::Unsubscribe(streams)) => outbox.queue_subscribe("UNSUBSCRIBE", streams),
                    None => commands = None,
                }
                wake_flush(flush.as_mut(), state.last_flush);
            }
            () = &mut silence, if spec.liveness.is_some() => {
                ctx.report(Event::Detected { cohort: spec.cohort, at: ctx.now(), silent_for: last_traffic.elapsed() }).await;
                drop(ws);
                return Some(ConnectionEnd::Silent);
            }
            () = &mut flush => {
                state.flush(ctx, audience).await;
                let every = if state.holds_nothing() && !audience.has_departed() { IDLE_FLUSH_EVERY } else { FLUSH_EVERY };
                flush.as_mut().reset(state.last_flush + every);
            }
            message = ws.next() => {
                let flushed = state.last_flush;
                let mut next = Some(message);
                let mut handled = 0;
                while let Some(message) = next.take() {
                    if let Some(end) = on_frame(ctx, &ws, message, audience, state).await {
                        return Some(end);
                    }
                    handled += 1;
                    if handled < DRAIN_AT_MOST {
                        next = futures_util::FutureExt::now_or_never(ws.next());
                    }
                }
                last_traffic = Instant::now();
                if let Some(liveness) = spec.liveness {
                    silence.as_mut().reset(last_traffic + liveness);
                }
                if state.last_flush != flushed {
                    // A full batch went early: the next flush is a period after it.
                    flush.as_mut().reset(state.last_flush + FLUSH_EVERY);
                } else {
                    wake_flush(flush.as_mut(), state.last_flush);
                }
            }
        }
    }
}

/// Frames read at most when a stopped session drains what already reached its socket.
const DRAIN_AT_STOP: usize = 4_096;

/// Handles the frames a socket already holds (as many as [`DRAIN_AT_STOP`]), without waiting for more.
async fn drain_readable(ctx: &RunContext, ws: &mut Socket, audience: &Audience, state: &mut Reading) {
    for _ in 0..DRAIN_AT_STOP {
        let Some(message) = futures_util::FutureExt::now_or_never(ws.next()) else { return };
        if on_frame(ctx, ws, message, audience, state).await.is_some() {
            return;
        }
    }
}

/// Brings an idle socket's next flush back to a period after its last one (at once when that has passed).
fn wake_flush(flush: std::pin::Pin<&mut tokio::time::Sleep>, last_flush: Instant) {
    let due = last_flush + FLUSH_EVERY;
    if flush.deadline() > due {
        flush.reset(due);
    }
}

/// The next command, or never when the upstream takes none (or no more).
async fn next_command(commands: Option<&mut mpsc::Receiver<SubscriptionChange>>) -> Option<SubscriptionChange> {
    match commands {
        Some(commands) => commands.recv().await,
        None => std::future::pending().await,
    }
}

/// Handles one frame read; how the connection ended, if it did.
async fn on_frame(
    ctx: &RunContext,
    ws: &Socket,
    message: Option<Result<Message, WsError>>,
    audience: &Audience,
    state: &mut Reading,
) -> Option<ConnectionEnd> {
    match message {
        Some(Ok(Message::Text(text))) => {
            let written = ws.get_ref().received_at();
            state.on_text(ctx, audience, text.as_str(), written).await;
            None
        }
        Some(Ok(Message::Close(frame))) => {
            Some(frame.map_or(ConnectionEnd::Abnormal, |f| ConnectionEnd::Closed(u16::from(f.code))))
        }
        Some(Ok(Message::Binary(_))) => {
            state.malformed();
            None
        }
        Some(Ok(_)) => None,
        Some(Err(e)) => Some(end_of(&e)),
        None => Some(ConnectionEnd::Abnormal),
    }
}

fn end_of(error: &WsError) -> ConnectionEnd {
    match error {
        WsError::Io(e) if e.kind() == std::io::ErrorKind::ConnectionReset => ConnectionEnd::Reset,
        _ => ConnectionEnd::Abnormal,
    }
}

async fn close_quietly(ws: &mut Socket) {
    let closing = tokio::time::timeout(Duration::from_secs(1), ws.close(None));
    if !matches!(closing.await, Ok(Ok(()))) {
        tracing::debug!("upstream did not take our close in time");
    }
}

/// Control messages waiting to be sent, no faster than the upstream's limit allows (one slot of the
/// per-second budget is left for pongs).
struct Pacer {
    queue: std::collections::VecDeque<String>,
    gap: Duration,
    next: Instant,
    id: u64,
}

impl Pacer {
    fn new(per_second: u32) -> Self {
        let gap = Duration::from_secs(1) / per_second.saturating_sub(1).max(1);
        Pacer { queue: Default::default(), gap, next: Instant::now(), id: 0 }
    }

    fn queue_subscribe(&mut self, method: &str, streams: Vec<String>) {
        for batch in streams.chunks(SUBSCRIBE_BATCH) {
            self.id += 1;
            self.queue.push_back(serde_json::json!({ "method": method, "params": batch, "id": self.id }).to_string());
        }
    }

    fn next_send(&self) -> Option<Instant> {
        (!self.queue.is_empty()).then_some(self.next)
    }

    fn pop(&mut self) -> Option<String> {
        let text = self.queue.pop_front()?;
        self.next = Instant::now() + self.gap;
        Some(text)
    }
}
