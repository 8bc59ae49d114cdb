//! The HTTP side of one accepted TCP connection: read the request head, then answer it with a REST
//! helper, a refusal (routing, upgrade headers, the per-IP budget, or an active chaos rule), or a 101
//! followed by the WebSocket session.
//!
//! Only the route survives the handshake, so an idle connection costs only its session.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;

use crate::mock::connection;
use crate::mock::exchange_info::Exchange;
use crate::mock::faults::state::HandshakeVerdict;
use crate::mock::handshake::{self, HeadError, RequestHead, UpgradeProblem};
use crate::mock::market::SymbolSpec;
use crate::mock::route::{self, RestRoute, RoutePolicy, Target, WsRoute};
use crate::mock::shared::Shared;
use crate::mock::stats::RejectReason;
use crate::mock::time::now_micros;

/// Serves one TCP connection: the HTTP handshake, then (for an accepted upgrade) the WebSocket session.
/// Nothing from the handshake but the route outlives it, so an idle connection costs only its session: each
/// phase is boxed, and the task holds only the one it is in (inline, a task would hold the larger of the
/// two for the connection's whole life, about 3 KiB more per connection).
pub async fn handle_socket(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, cancel: CancellationToken) {
    let upgraded = tokio::select! {
        _ = cancel.cancelled() => return,
        upgraded = Box::pin(handshake_phase(stream, peer, &shared)) => upgraded,
    };
    if let Some(Upgraded { stream, leftover, route }) = upgraded {
        let ws = WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(shared.ws_config)).await;
        Box::pin(connection::serve(ws, shared, peer, route, cancel)).await;
    }
}

/// A socket whose upgrade was accepted (101 sent), with the bytes that followed the request head.
struct Upgraded {
    stream: TcpStream,
    leftover: Vec<u8>,
    route: WsRoute,
}

/// An HTTP refusal: status, the reason it is counted under, a message, extra headers.
struct Refusal {
    status: u16,
    reason: RejectReason,
    message: String,
    headers: Vec<(&'static str, String)>,
}

impl Refusal {
    fn new(status: u16, reason: RejectReason, message: impl Into<String>) -> Self {
        Refusal { status, reason, message: message.into(), headers: Vec::new() }
    }
}

/// Reads the request and answers it: a REST helper, a refusal, or a 101 (returned for the session).
async fn handshake_phase(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) -> Option<Upgraded> {
    let accepted = Instant::now();
    tune_socket(&stream, shared);
    let head = match handshake::read_head(&mut stream, shared.config.handshake_timeout).await {
        Ok(head) => head,
        Err(e) => {
            if let Some(refusal) = head_refusal(shared, peer, e) {
                refuse(&mut stream, peer, shared, refusal).await;
            }
            return None;
        }
    };
    match answer(&head, peer, shared) {
        Ok(Target::Rest(rest)) => serve_rest(&mut stream, shared, rest).await,
        Ok(Target::WebSocket(route)) => {
            // The rig's canary measures the rig: no handshake fault touches it.
            if route.canary || apply_chaos(&mut stream, peer, shared).await {
                return switch_protocols(stream, (peer, accepted), shared, head, route).await;
            }
        }
        Err(refusal) => refuse(&mut stream, peer, shared, refusal).await,
    }
    None
}

/// Applies the active handshake faults to an upgrade; true when it may proceed to the 101.
async fn apply_chaos(stream: &mut TcpStream, peer: SocketAddr, shared: &Shared) -> bool {
    match shared.chaos.on_upgrade(peer.ip(), Instant::now()) {
        HandshakeVerdict::Proceed => true,
        HandshakeVerdict::Delay(delay) => {
            tokio::time::sleep(delay).await;
            true
        }
        HandshakeVerdict::Hang(fault_ended) => {
            hold_until_gone(stream, &fault_ended).await;
            shared.stats.upgrade_rejected(peer.ip(), RejectReason::Withheld);
            false
        }
        HandshakeVerdict::Refuse { status, retry_after } => {
            let mut refusal = Refusal::new(status, RejectReason::Injected(status), "Service unavailable (injected)");
            if let Some(seconds) = retry_after {
                refusal.headers.push(("Retry-After", seconds.to_string()));
            }
            refuse(stream, peer, shared, refusal).await;
            false
        }
    }
}

/// Never answers: waits until the client gives up (EOF or reset) or the fault ends, reading and discarding.
async fn hold_until_gone(stream: &mut TcpStream, fault_ended: &CancellationToken) {
    let mut sink = [0u8; 512];
    loop {
        tokio::select! {
            _ = fault_ended.cancelled() => return,
            read = tokio::io::AsyncReadExt::read(stream, &mut sink) => {
                if !matches!(read, Ok(n) if n > 0) {
                    return;
                }
            }
        }
    }
}

fn tune_socket(stream: &TcpStream, shared: &Shared) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("could not set TCP_NODELAY: {e}");
    }
    if let Some(bytes) = shared.config.send_buffer {
        if let Err(e) = socket2::SockRef::from(stream).set_send_buffer_size(bytes) {
            tracing::debug!("could not set the send buffer: {e}");
        }
    }
}

/// Decides what a complete request gets: its target, or a refusal (method, URL length, route, upgrade
/// headers, then the per-IP connection-attempt budget).
fn answer(head: &RequestHead, peer: SocketAddr, shared: &Shared) -> Result<Target, Refusal> {
    if head.method != "GET" {
        return Err(Refusal::new(405, RejectReason::MethodNotAllowed, "only GET is served"));
    }
    if shared.config.limits.max_url_length.is_some_and(|max| head.target.len() > max) {
        return Err(Refusal::new(414, RejectReason::UriTooLong, "request target too long"));
    }
    let policy = RoutePolicy {
        max_streams: shared.config.limits.streams_per_connection,
        over_limit: shared.config.url_over_limit,
        invalid_time_unit: shared.config.invalid_time_unit,
    };
    let target = route::route(&head.target, policy).map_err(|e| {
        let reason = if e.status() == 404 { RejectReason::NotFound } else { RejectReason::BadRequest };
        Refusal::new(e.status(), reason, e.to_string())
    })?;
    if let Target::WebSocket(route) = &target {
        upgrade_refusal(head).map_or(Ok(()), Err)?;
        if route.canary {
            return Ok(target);
        }
        let now = Instant::now();
        let admitted = match shared.chaos.admit_connect(peer.ip(), now) {
            Some(verdict) => verdict,
            None => shared.budget.lock().unwrap_or_else(|p| p.into_inner()).admit(peer.ip(), now),
        };
        if !admitted {
            return Err(Refusal::new(429, RejectReason::TooManyRequests, "Too many connection attempts"));
        }
    }
    Ok(target)
}

fn upgrade_refusal(head: &RequestHead) -> Option<Refusal> {
    let problem = handshake::accept_key(head).err()?;
    let mut refusal = match problem {
        UpgradeProblem::UnsupportedVersion => Refusal::new(426, RejectReason::UpgradeRequired, problem.message()),
        _ => Refusal::new(400, RejectReason::BadRequest, problem.message()),
    };
    if problem == UpgradeProblem::UnsupportedVersion {
        refusal.headers.push(("Sec-WebSocket-Version", "13".to_owned()));
    }
    Some(refusal)
}

/// The refusal for a head that could not be read, or `None` when the client is already gone.
fn head_refusal(shared: &Shared, peer: SocketAddr, error: HeadError) -> Option<Refusal> {
    let message = error.to_string();
    match error {
        HeadError::Timeout => shared.stats.upgrade_rejected(peer.ip(), RejectReason::HandshakeTimeout),
        HeadError::Closed | HeadError::Io(_) => {
            shared.stats.upgrade_rejected(peer.ip(), RejectReason::HandshakeAborted)
        }
        HeadError::LineTooLong => return Some(Refusal::new(414, RejectReason::UriTooLong, message)),
        HeadError::TooLarge => return Some(Refusal::new(431, RejectReason::HeadersTooLarge, message)),
        HeadError::Malformed(_) => return Some(Refusal::new(400, RejectReason::BadRequest, message)),
    }
    None
}

async fn refuse(stream: &mut TcpStream, peer: SocketAddr, shared: &Shared, refusal: Refusal) {
    shared.stats.upgrade_rejected(peer.ip(), refusal.reason);
    let body = handshake::error_body(&refusal.message);
    let response = handshake::http_response(refusal.status, "application/json", &body, &refusal.headers);
    handshake::respond_and_close(stream, &response, shared.config.handshake_timeout).await;
}

/// Sends the 101 and counts the accepted upgrade.
async fn switch_protocols(
    mut stream: TcpStream,
    (peer, accepted): (SocketAddr, Instant),
    shared: &Shared,
    head: RequestHead,
    route: WsRoute,
) -> Option<Upgraded> {
    let accept = handshake::accept_key(&head).ok()?;
    let response = handshake::switching_protocols(&accept);
    let write = tokio::io::AsyncWriteExt::write_all(&mut stream, response.as_bytes());
    if !matches!(tokio::time::timeout(shared.config.handshake_timeout, write).await, Ok(Ok(()))) {
        shared.stats.upgrade_rejected(peer.ip(), RejectReason::HandshakeAborted);
        return None;
    }
    if route.canary {
        // The rig's instrument, not a market connection: counted apart, so the mock's counts reconcile
        // with the clients'.
        shared.stats.canary_connected();
    } else {
        shared.stats.upgrade_accepted(peer.ip(), accepted.elapsed());
    }
    Some(Upgraded { stream, leftover: head.leftover, route })
}

async fn serve_rest(stream: &mut TcpStream, shared: &Shared, rest: RestRoute) {
    shared.stats.rest_request();
    let (status, body) = match rest {
        RestRoute::Ping => (200, "{}".to_owned()),
        RestRoute::Time => (200, format!("{{\"serverTime\":{}}}", now_micros() / 1000)),
        RestRoute::Depth { symbol, limit } => depth_snapshot(shared, &symbol, limit),
        RestRoute::ExchangeInfo { exchange, symbols } => exchange_info(shared, exchange, &symbols),
    };
    let response = handshake::http_response(status, "application/json", &body, &[]);
    handshake::respond_and_close(stream, &response, shared.config.handshake_timeout).await;
}

fn exchange_info(shared: &Shared, exchange: Exchange, asked: &[String]) -> (u16, String) {
    let feed = &shared.config.feed.symbols;
    let listed: Vec<&SymbolSpec> = if asked.is_empty() {
        feed.iter().collect()
    } else {
        let found: Vec<&SymbolSpec> =
            asked.iter().filter_map(|name| feed.iter().find(|s| s.name.eq_ignore_ascii_case(name))).collect();
        if found.len() < asked.len() {
            return (400, "{\"code\":-1121,\"msg\":\"Invalid symbol.\"}".to_owned());
        }
        found
    };
    (200, crate::mock::exchange_info::render(exchange, &listed, now_micros() / 1000))
}

fn depth_snapshot(shared: &Shared, symbol: &str, limit: usize) -> (u16, String) {
    let market = shared.market.lock().unwrap_or_else(|p| p.into_inner());
    let Some(id) = market.symbol_id(&symbol.to_ascii_lowercase()) else {
        return (400, "{\"code\":-1121,\"msg\":\"Invalid symbol.\"}".to_owned());
    };
    let mut body = Vec::new();
    market.rest_depth(id, limit).render(crate::mock::time::TimeUnit::Millisecond, &mut body);
    (200, String::from_utf8_lossy(&body).into_owned())
}
