//! One established WebSocket connection on the mock: its live-request session, heartbeat, limits,
//! outbound queue, server-side controls and faults, from the 101 until the socket is gone.
//!
//! The task answers requests in order (a SUBSCRIBE response always precedes the stream's first event),
//! writes queued events in batches ([`write`]), pings on schedule and enforces the pong deadline, the
//! message rate and the lifetime, applies controls and per-connection faults ([`controls`]), and ends by
//! removing itself from the hub and recording why it ended ([`ending`]). It never outlives its
//! cancellation token.

mod controls;
mod ending;
mod write;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;

use crate::deadline::sleep_until;
use crate::mock::config::{MalformedStream, PongTimeoutAction};
use crate::mock::faults::connection::ConnChaos;
use crate::mock::faults::kind::StallMode;
use crate::mock::hub::{ConnId, Outbox, OutboxReceiver, Outgoing};
use crate::mock::limits::MessageRateWindow;
use crate::mock::protocol::{Change, Session};
use crate::mock::route::{Endpoint, WsRoute};
use crate::mock::shared::Shared;
use crate::mock::stats::CloseCause;
use crate::mock::time::now_micros;

/// The WebSocket over the accepted TCP socket.
pub type Socket = WebSocketStream<TcpStream>;

/// Heartbeat bookkeeping: when to ping next and since when a pong is owed.
#[derive(Debug)]
struct Heartbeat {
    next_ping: Option<Instant>,
    owed_since: Option<Instant>,
    last_payload: Bytes,
}

/// What woke the connection task.
enum Wake {
    Shutdown,
    Control,
    Incoming(Option<Result<Message, WsError>>),
    Outgoing(Outgoing),
    Timer,
}

/// One connection's state while it runs.
struct Connection {
    ws: Socket,
    id: ConnId,
    peer: SocketAddr,
    shared: Arc<Shared>,
    outbox: Arc<Outbox>,
    session: Session,
    rate: Option<MessageRateWindow>,
    heartbeat: Heartbeat,
    opened_at: Instant,
    expires_at: Option<Instant>,
    /// Present only once a fault touches the connection.
    chaos: Option<Box<ConnChaos>>,
}

/// Serves an upgraded connection until it ends; the caller has already counted the upgrade.
pub async fn serve(ws: Socket, shared: Arc<Shared>, peer: SocketAddr, route: WsRoute, cancel: CancellationToken) {
    let combined = route.endpoint == Endpoint::Combined;
    let config = &shared.config;
    let (outbox, mut rx) = Outbox::new(config.outbound_queue, config.on_queue_full, combined, route.time_unit);
    let id = shared.hub.register(peer, route.endpoint, outbox.clone());
    for name in &route.streams {
        shared.hub.subscribe(id, name);
    }
    let now = Instant::now();
    let canary = route.canary;
    let faulted_lifetime = if canary { None } else { shared.chaos.lifetime_for(peer.ip()) };
    let lifetime = [config.limits.max_lifetime, faulted_lifetime].into_iter().flatten().min();
    let mut connection = Connection {
        ws,
        id,
        peer,
        outbox,
        session: Session::new(route.streams, combined, shared.session_rules.clone()),
        rate: config.limits.message_rate.map(MessageRateWindow::new),
        heartbeat: Heartbeat {
            next_ping: config.heartbeat.ping_interval.map(|i| now + i),
            owed_since: None,
            last_payload: Bytes::new(),
        },
        opened_at: now,
        expires_at: lifetime.map(|l| now + l),
        chaos: None,
        shared,
    };
    let cause = connection.run(&mut rx, &cancel).await;
    rx.close();
    connection.shared.hub.deregister(connection.id, connection.session.subscriptions());
    if canary {
        connection.shared.stats.canary_closed();
    } else {
        let streams = || connection.session.subscriptions().iter().map(|s| s.to_string()).collect();
        connection.shared.stats.connection_closed(connection.peer.ip(), cause, streams);
    }
}

impl Connection {
    async fn run(&mut self, rx: &mut OutboxReceiver, cancel: &CancellationToken) -> CloseCause {
        loop {
            let timer = self.next_deadline();
            let reading = self.stall() != Some(StallMode::Silent);
            let wake = tokio::select! {
                biased;
                _ = cancel.cancelled() => Wake::Shutdown,
                _ = self.outbox.control_ready() => Wake::Control,
                incoming = self.ws.next(), if reading => Wake::Incoming(incoming),
                Some(message) = rx.recv() => Wake::Outgoing(message),
                _ = sleep_until(timer) => Wake::Timer,
            };
            let ended = match wake {
                Wake::Shutdown => Some(self.close_frame(1001, "Server shutting down", CloseCause::Shutdown).await),
                Wake::Control => self.apply_controls().await,
                Wake::Incoming(incoming) => self.on_incoming(incoming).await,
                Wake::Outgoing(first) => self.write_queued(first, rx, cancel).await,
                Wake::Timer => self.on_timer().await,
            };
            if let Some(cause) = ended {
                return cause;
            }
        }
    }

    /// The stall in force, if a fault set one.
    fn stall(&self) -> Option<StallMode> {
        self.chaos.as_ref().and_then(|c| c.stall())
    }

    fn next_deadline(&self) -> Option<Instant> {
        let pong_deadline = self
            .heartbeat
            .owed_since
            .zip(self.shared.config.heartbeat.pong_timeout)
            .map(|(since, timeout)| since + timeout);
        let chaos = self.chaos.as_ref().and_then(|c| c.next_deadline());
        [self.heartbeat.next_ping, pong_deadline, self.expires_at, chaos].into_iter().flatten().min()
    }

    async fn on_incoming(&mut self, incoming: Option<Result<Message, WsError>>) -> Option<CloseCause> {
        let message = match incoming {
            None => return Some(CloseCause::ClientVanished),
            Some(Err(e)) => return Some(self.on_error(e).await),
            Some(Ok(message)) => message,
        };
        let counted = matches!(message, Message::Text(_) | Message::Binary(_) | Message::Ping(_) | Message::Pong(_));
        if counted && !self.rate.as_mut().is_none_or(|r| r.admit(Instant::now())) {
            return Some(self.close_frame(1008, "Too many requests", CloseCause::MessageRate).await);
        }
        match message {
            Message::Text(text) => self.on_request(text.as_str()).await,
            Message::Ping(_) => self.flush().await,
            Message::Pong(payload) => {
                self.on_pong(&payload);
                None
            }
            Message::Close(_) => {
                if let Err(e) = self.ws.flush().await {
                    tracing::debug!("could not answer the client's close: {e}");
                }
                Some(CloseCause::ClientClose)
            }
            Message::Binary(_) | Message::Frame(_) => None,
        }
    }

    async fn on_request(&mut self, text: &str) -> Option<CloseCause> {
        let outcome = self.session.handle(text);
        for change in &outcome.changes {
            match change {
                Change::Subscribe(name) => self.shared.hub.subscribe(self.id, name),
                Change::Unsubscribe(name) => self.shared.hub.unsubscribe(self.id, name),
                Change::Combined(on) => self.outbox.set_combined(*on),
            }
        }
        if let Some(code) = outcome.error {
            self.shared.stats.error_answered(code);
        }
        if let Err(e) = self.ws.send(Message::text(outcome.response)).await {
            return Some(self.on_error(e).await);
        }
        let close_on_malformed = self.shared.config.malformed_stream == MalformedStream::ErrorAndClose;
        if outcome.malformed_stream && close_on_malformed {
            return Some(self.close_frame(1008, "Invalid request", CloseCause::MalformedStream).await);
        }
        None
    }

    fn on_pong(&mut self, payload: &[u8]) {
        let strict = self.shared.config.heartbeat.strict_pong_payload;
        if !strict || payload == self.heartbeat.last_payload.as_ref() {
            self.heartbeat.owed_since = None;
        }
    }

    async fn on_timer(&mut self) -> Option<CloseCause> {
        let now = Instant::now();
        if let Some(ended) = self.expire_faults(now).await {
            return Some(ended);
        }
        if self.expires_at.is_some_and(|t| t <= now) {
            let code = self.shared.config.limits.lifetime_close_code;
            return Some(self.close_frame(code, "Connection lifetime expired", CloseCause::Lifetime).await);
        }
        let pong_deadline = self.heartbeat.owed_since.zip(self.shared.config.heartbeat.pong_timeout);
        let silent = self.stall() == Some(StallMode::Silent);
        if !silent && pong_deadline.is_some_and(|(since, timeout)| since + timeout <= now) {
            return Some(match self.shared.config.heartbeat.on_pong_timeout {
                PongTimeoutAction::Close => self.close_frame(1008, "Pong timeout", CloseCause::PongTimeout).await,
                PongTimeoutAction::Drop => self.close_silently(CloseCause::PongTimeout).await,
            });
        }
        if self.heartbeat.next_ping.is_some_and(|t| t <= now) {
            return self.ping(now).await;
        }
        None
    }

    async fn ping(&mut self, now: Instant) -> Option<CloseCause> {
        let interval = self.shared.config.heartbeat.ping_interval?;
        self.heartbeat.next_ping = Some(now + interval);
        if self.stall() == Some(StallMode::Silent) {
            return None;
        }
        self.heartbeat.owed_since.get_or_insert(now);
        let payload = Bytes::from((now_micros() / 1000).to_string());
        self.heartbeat.last_payload = payload.clone();
        match self.ws.send(Message::Ping(payload)).await {
            Ok(()) => None,
            Err(e) => Some(self.on_error(e).await),
        }
    }

    async fn flush(&mut self) -> Option<CloseCause> {
        match self.ws.flush().await {
            Ok(()) => None,
            Err(e) => Some(self.on_error(e).await),
        }
    }
}
