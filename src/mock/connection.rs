//! One established WebSocket connection on the mock: its live-request session, heartbeat, limits,
//! outbound queue and server-side controls, from the 101 until the socket is gone.
//!
//! The task writes queued events in batches (one flush per batch), answers requests in order (a
//! SUBSCRIBE response always precedes the stream's first event), pings on schedule and enforces the
//! pong deadline, the message rate and the lifetime. It ends by removing itself from the hub and
//! recording why it ended; it never outlives its cancellation token.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError as WsProtocolError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;

use crate::mock::close::CloseHow;
use crate::mock::config::{MalformedStream, PongTimeoutAction};
use crate::mock::hub::{ConnId, Control, Outbox, Outgoing, combined_frame};
use crate::mock::limits::MessageRateWindow;
use crate::mock::protocol::{Change, Session};
use crate::mock::route::{Endpoint, WsRoute};
use crate::mock::server::Shared;
use crate::mock::stats::CloseCause;
use crate::mock::time::now_micros;

/// Most queued messages written before one flush.
const MAX_BATCH: usize = 256;

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
    shared: Arc<Shared>,
    outbox: Arc<Outbox>,
    session: Session,
    rate: Option<MessageRateWindow>,
    heartbeat: Heartbeat,
    expires_at: Option<Instant>,
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
    let mut connection = Connection {
        ws,
        id,
        outbox,
        session: Session::new(route.streams, combined, shared.session_rules.clone()),
        rate: config.limits.message_rate.map(MessageRateWindow::new),
        heartbeat: Heartbeat {
            next_ping: config.heartbeat.ping_interval.map(|i| now + i),
            owed_since: None,
            last_payload: Bytes::new(),
        },
        expires_at: config.limits.max_lifetime.map(|l| now + l),
        shared,
    };
    let cause = connection.run(&mut rx, &cancel).await;
    rx.close();
    connection
        .shared
        .hub
        .deregister(connection.id, connection.session.subscriptions());
    connection.shared.stats.connection_closed(cause);
}

impl Connection {
    async fn run(&mut self, rx: &mut mpsc::Receiver<Outgoing>, cancel: &CancellationToken) -> CloseCause {
        loop {
            let timer = self.next_deadline();
            let wake = tokio::select! {
                biased;
                _ = cancel.cancelled() => Wake::Shutdown,
                _ = self.outbox.control_ready() => Wake::Control,
                incoming = self.ws.next() => Wake::Incoming(incoming),
                Some(message) = rx.recv() => Wake::Outgoing(message),
                _ = sleep_until(timer) => Wake::Timer,
            };
            let ended = match wake {
                Wake::Shutdown => Some(
                    self.close_frame(1001, "Server shutting down", CloseCause::Shutdown)
                        .await,
                ),
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

    fn next_deadline(&self) -> Option<Instant> {
        let pong_deadline = self
            .heartbeat
            .owed_since
            .zip(self.shared.config.heartbeat.pong_timeout)
            .map(|(since, timeout)| since + timeout);
        [self.heartbeat.next_ping, pong_deadline, self.expires_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Writes `first` and whatever else is queued (up to a batch), then flushes once. A control or a
    /// shutdown interrupts a write that a stalled client is holding up.
    async fn write_queued(
        &mut self,
        first: Outgoing,
        rx: &mut mpsc::Receiver<Outgoing>,
        cancel: &CancellationToken,
    ) -> Option<CloseCause> {
        let written = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Some(CloseCause::Shutdown),
            _ = self.outbox.control_ready() => return self.apply_controls().await,
            result = write_batch(&mut self.ws, first, rx) => result,
        };
        match written {
            Ok(n) => {
                self.shared.stats.frames_written(n);
                None
            }
            Err(e) => Some(self.on_error(e).await),
        }
    }

    async fn on_incoming(&mut self, incoming: Option<Result<Message, WsError>>) -> Option<CloseCause> {
        let message = match incoming {
            None => return Some(CloseCause::ClientVanished),
            Some(Err(e)) => return Some(self.on_error(e).await),
            Some(Ok(message)) => message,
        };
        let counted = matches!(
            message,
            Message::Text(_) | Message::Binary(_) | Message::Ping(_) | Message::Pong(_)
        );
        if counted && !self.rate.as_mut().is_none_or(|r| r.admit(Instant::now())) {
            return Some(
                self.close_frame(1008, "Too many requests", CloseCause::MessageRate)
                    .await,
            );
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
            return Some(
                self.close_frame(1008, "Invalid request", CloseCause::MalformedStream)
                    .await,
            );
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
        if self.expires_at.is_some_and(|t| t <= now) {
            let code = self.shared.config.limits.lifetime_close_code;
            return Some(
                self.close_frame(code, "Connection lifetime expired", CloseCause::Lifetime)
                    .await,
            );
        }
        let pong_deadline = self.heartbeat.owed_since.zip(self.shared.config.heartbeat.pong_timeout);
        if pong_deadline.is_some_and(|(since, timeout)| since + timeout <= now) {
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

    async fn apply_controls(&mut self) -> Option<CloseCause> {
        while let Some(control) = self.outbox.next_control() {
            let ended = match control {
                Control::Close(how) => Some(self.close(how).await),
                Control::ServerShutdown => self.send_server_shutdown().await,
                Control::SlowConsumer => Some(self.close_frame(1008, "Slow consumer", CloseCause::SlowConsumer).await),
            };
            if ended.is_some() {
                return ended;
            }
        }
        None
    }

    async fn send_server_shutdown(&mut self) -> Option<CloseCause> {
        let unit = self.outbox.time_unit();
        let payload = format!("{{\"e\":\"serverShutdown\",\"E\":{}}}", unit.convert(now_micros()));
        let text = if self.outbox.combined() {
            String::from_utf8_lossy(&combined_frame("!serverShutdown", payload.as_bytes())).into_owned()
        } else {
            payload
        };
        match self.ws.send(Message::text(text)).await {
            Ok(()) => None,
            Err(e) => Some(self.on_error(e).await),
        }
    }

    async fn close(&mut self, how: CloseHow) -> CloseCause {
        match how {
            CloseHow::Frame { code, reason } => self.close_frame(code, &reason, CloseCause::ServerInitiated).await,
            CloseHow::Fin => self.close_silently(CloseCause::ServerInitiated).await,
            CloseHow::Reset => {
                if let Err(e) = self.ws.get_ref().set_zero_linger() {
                    tracing::debug!("could not set zero linger: {e}");
                }
                CloseCause::ServerInitiated
            }
        }
    }

    /// Sends a close frame and waits (briefly) for the client's reply so the socket ends with FIN.
    async fn close_frame(&mut self, code: u16, reason: &str, cause: CloseCause) -> CloseCause {
        let frame = CloseFrame {
            code: code.into(),
            reason: reason.into(),
        };
        let grace = self.shared.config.close_grace;
        let ws = &mut self.ws;
        let exchange = async {
            if ws.close(Some(frame)).await.is_ok() {
                while let Some(Ok(_)) = ws.next().await {}
            }
        };
        if tokio::time::timeout(grace, exchange).await.is_err() {
            tracing::debug!("client did not answer the close frame within {grace:?}");
        }
        cause
    }

    /// Ends the TCP connection with a FIN and no close frame (the client sees 1006), draining what the
    /// client still sends so the kernel does not turn the FIN into a reset.
    async fn close_silently(&mut self, cause: CloseCause) -> CloseCause {
        let grace = self.shared.config.close_grace;
        let tcp = self.ws.get_mut();
        let drain = async {
            if let Err(e) = tcp.shutdown().await {
                tracing::debug!("shutdown failed: {e}");
            }
            let mut sink = [0u8; 1024];
            while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::debug!("client kept the socket open for {grace:?} after our FIN");
        }
        cause
    }

    /// Sorts a socket error into a close cause, answering with a close frame where the protocol says so.
    async fn on_error(&mut self, error: WsError) -> CloseCause {
        match error {
            WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
                self.close_frame(1009, "Message too big", CloseCause::MessageTooBig)
                    .await
            }
            WsError::Utf8(_) => {
                self.close_frame(1007, "Invalid UTF-8", CloseCause::ProtocolViolation)
                    .await
            }
            WsError::Protocol(WsProtocolError::ResetWithoutClosingHandshake) => CloseCause::ClientVanished,
            WsError::ConnectionClosed | WsError::AlreadyClosed => CloseCause::ClientClose,
            WsError::Io(e) if is_disconnect(&e) => CloseCause::ClientVanished,
            WsError::Io(e) => {
                tracing::debug!("connection i/o error: {e}");
                CloseCause::IoError
            }
            WsError::Protocol(e) => {
                tracing::debug!("client protocol violation: {e}");
                self.close_frame(1002, "Protocol error", CloseCause::ProtocolViolation)
                    .await
            }
            other => {
                tracing::debug!("connection error: {other}");
                CloseCause::IoError
            }
        }
    }
}

fn is_disconnect(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
    )
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Feeds `first` and up to a batch of further queued messages, then flushes; returns how many.
async fn write_batch(ws: &mut Socket, first: Outgoing, rx: &mut mpsc::Receiver<Outgoing>) -> Result<u64, WsError> {
    ws.feed(Message::Text(first.text)).await?;
    let mut written = 1;
    while written < MAX_BATCH as u64 {
        let Ok(next) = rx.try_recv() else { break };
        ws.feed(Message::Text(next.text)).await?;
        written += 1;
    }
    ws.flush().await?;
    Ok(written)
}
