//! The mock server as a library component: binds, accepts, routes each request (WebSocket upgrade,
//! REST helper or error status), and hands upgraded sockets to their connection tasks.
//!
//! [`MockServer::start`] binds (port 0 in tests), starts the feed and the accept loop under one
//! cancellation token, and returns a handle that reports the bound address, the counters and the open
//! connections, and carries out server-side actions (closes, `serverShutdown`) on a selection of them.
//! Every task it spawns is tracked, so [`MockServer::shutdown`] returns only when all have ended.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::mock::close::CloseHow;
use crate::mock::config::{MockConfig, Rate, UnknownSymbols};
use crate::mock::connection;
use crate::mock::feed;
use crate::mock::handshake::{self, HeadError, RequestHead, UpgradeProblem};
use crate::mock::hub::{ConnectionInfo, Control, Hub};
use crate::mock::limits::ConnectBudget;
use crate::mock::market::Market;
use crate::mock::protocol::SessionRules;
use crate::mock::route::{self, RestRoute, RoutePolicy, Target, WsRoute};
use crate::mock::stats::{MockSnapshot, MockStats, RejectReason};
use crate::mock::time::now_micros;

/// Why the mock could not start.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// The listen address could not be bound.
    #[error("could not listen on {addr}: {source}; choose a free port (or port 0) on a loopback address")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// State shared by every task of one server.
#[derive(Debug)]
pub struct Shared {
    /// The validated configuration.
    pub config: MockConfig,
    /// Fan-out and connection registry.
    pub hub: Hub,
    /// Counters.
    pub stats: MockStats,
    /// Connection-attempt budgets per source IP.
    pub budget: Mutex<ConnectBudget>,
    /// The simulated market (the feed writes it; REST snapshots read it).
    pub market: Mutex<Market>,
    /// Rules every session enforces.
    pub session_rules: SessionRules,
    ws_config: WebSocketConfig,
}

/// A running mock upstream.
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    tasks: Arc<TaskCount>,
    cancel: CancellationToken,
}

/// Counts live tasks and lets callers wait for a count (tests use it instead of sleeping).
#[derive(Debug)]
struct TaskCount(watch::Sender<usize>);

/// Decrements the count when the task it belongs to ends, however it ends.
struct TaskGuard(Arc<TaskCount>);

impl TaskCount {
    fn enter(self: &Arc<Self>) -> TaskGuard {
        self.0.send_modify(|n| *n += 1);
        TaskGuard(self.clone())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Spawns `task` on `tracker`, counted in `tasks`.
fn spawn_counted(
    tracker: &TaskTracker,
    tasks: &Arc<TaskCount>,
    task: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let guard = tasks.enter();
    tracker.spawn(async move {
        let _guard = guard;
        task.await;
    });
}

impl MockServer {
    /// Binds `listen`, starts the feed (seeded with `seed`) and the accept loop; both stop when `cancel`
    /// is cancelled or [`MockServer::shutdown`] is called.
    pub async fn start(
        config: MockConfig,
        listen: SocketAddr,
        seed: u64,
        cancel: CancellationToken,
    ) -> Result<MockServer, MockError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| MockError::Bind { addr: listen, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| MockError::Bind { addr: listen, source })?;
        let shared = Arc::new(shared_state(config, seed));
        let tracker = TaskTracker::new();
        let tasks = Arc::new(TaskCount(watch::Sender::new(0)));
        spawn_counted(&tracker, &tasks, feed::run(shared.clone(), seed, cancel.clone()));
        let acceptor = Acceptor {
            shared: shared.clone(),
            tracker: tracker.clone(),
            tasks: tasks.clone(),
            cancel: cancel.clone(),
        };
        spawn_counted(&tracker, &tasks, acceptor.run(listener));
        Ok(MockServer {
            addr,
            shared,
            tracker,
            tasks,
            cancel,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to point a client at (`ws://127.0.0.1:9443`).
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The configuration in force.
    pub fn config(&self) -> &MockConfig {
        &self.shared.config
    }

    /// A copy of every counter and per-stream figure.
    pub fn snapshot(&self) -> MockSnapshot {
        self.shared.stats.snapshot(self.shared.hub.stream_stats())
    }

    /// The connections open now.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.shared.hub.connections()
    }

    /// Closes the selected connections the given way; returns how many were asked.
    pub fn close_connections(&self, select: impl Fn(&ConnectionInfo) -> bool, how: CloseHow) -> usize {
        self.control(select, Control::Close(how))
    }

    /// Sends the `serverShutdown` event to the selected connections; returns how many.
    pub fn send_server_shutdown(&self, select: impl Fn(&ConnectionInfo) -> bool) -> usize {
        self.control(select, Control::ServerShutdown)
    }

    fn control(&self, select: impl Fn(&ConnectionInfo) -> bool, control: Control) -> usize {
        let chosen: Vec<ConnectionInfo> = self.connections().into_iter().filter(|c| select(c)).collect();
        for connection in &chosen {
            connection.outbox.control(control.clone());
        }
        chosen.len()
    }

    /// Changes the per-IP connection-attempt budget while running (`None`: unlimited).
    pub fn set_connect_limit(&self, limit: Option<Rate>) {
        self.shared
            .budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_limit(limit);
    }

    /// Tasks still alive (accept loop, feed, handshakes and connections).
    pub fn tasks_alive(&self) -> usize {
        *self.tasks.0.borrow()
    }

    /// Resolves once the number of live tasks satisfies `done` (e.g. back to the two background tasks
    /// after every client left). Callers bound it with a timeout.
    pub async fn wait_for_tasks(&self, done: impl Fn(usize) -> bool) {
        let mut rx = self.tasks.0.subscribe();
        if rx.wait_for(|n| done(*n)).await.is_err() {
            tracing::debug!("task counter dropped while waiting");
        }
    }

    /// The number of background tasks (accept loop and feed) a running server always has.
    pub const BACKGROUND_TASKS: usize = 2;

    /// The token that stops this server.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops accepting, closes every connection with 1001 and waits for every task to end.
    pub async fn shutdown(self) -> MockSnapshot {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        self.snapshot()
    }
}

fn shared_state(config: MockConfig, seed: u64) -> Shared {
    let names: Vec<String> = config.feed.symbols.iter().map(|s| s.name.clone()).collect();
    let market = Market::new(&config.feed.symbols, config.feed.market.clone(), seed, now_micros());
    let known = (config.unknown_symbols == UnknownSymbols::Reject).then(|| Arc::new(config.symbol_names()));
    let session_rules = SessionRules {
        max_streams: config.limits.streams_per_connection,
        known_symbols: known,
    };
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(config.read_buffer)
        .write_buffer_size(32 * 1024)
        .max_write_buffer_size(usize::MAX)
        .max_message_size(config.limits.max_message_size)
        .max_frame_size(config.limits.max_message_size);
    Shared {
        hub: Hub::new(&names),
        stats: MockStats::new(),
        budget: Mutex::new(ConnectBudget::new(config.limits.connect_attempts)),
        market: Mutex::new(market),
        session_rules,
        ws_config,
        config,
    }
}

/// The accept loop and what it needs to spawn connection tasks.
struct Acceptor {
    shared: Arc<Shared>,
    tracker: TaskTracker,
    tasks: Arc<TaskCount>,
    cancel: CancellationToken,
}

impl Acceptor {
    async fn run(self, listener: TcpListener) {
        loop {
            let accepted = tokio::select! {
                _ = self.cancel.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            self.dispatch(accepted).await;
        }
    }

    async fn dispatch(&self, accepted: std::io::Result<(TcpStream, SocketAddr)>) {
        match accepted {
            Ok((stream, peer)) => {
                let task = handle_socket(stream, peer, self.shared.clone(), self.cancel.child_token());
                spawn_counted(&self.tracker, &self.tasks, task);
            }
            Err(e) => {
                // Out of file descriptors or a transient error: back off briefly instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Serves one TCP connection: the HTTP handshake, then (for an accepted upgrade) the WebSocket session.
/// Nothing from the handshake but the route outlives it, so an idle connection costs only its session.
async fn handle_socket(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, cancel: CancellationToken) {
    let upgraded = tokio::select! {
        _ = cancel.cancelled() => return,
        upgraded = handshake_phase(stream, peer, &shared) => upgraded,
    };
    if let Some(Upgraded {
        stream,
        leftover,
        route,
    }) = upgraded
    {
        let ws = WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(shared.ws_config)).await;
        connection::serve(ws, shared, peer, route, cancel).await;
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
        Refusal {
            status,
            reason,
            message: message.into(),
            headers: Vec::new(),
        }
    }
}

/// Reads the request and answers it: a REST helper, a refusal, or a 101 (returned for the session).
async fn handshake_phase(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) -> Option<Upgraded> {
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
        Ok(Target::WebSocket(route)) => return switch_protocols(stream, peer, shared, head, route).await,
        Err(refusal) => refuse(&mut stream, peer, shared, refusal).await,
    }
    None
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
    if shared
        .config
        .limits
        .max_url_length
        .is_some_and(|max| head.target.len() > max)
    {
        return Err(Refusal::new(414, RejectReason::UriTooLong, "request target too long"));
    }
    let policy = RoutePolicy {
        max_streams: shared.config.limits.streams_per_connection,
        over_limit: shared.config.url_over_limit,
        invalid_time_unit: shared.config.invalid_time_unit,
    };
    let target = route::route(&head.target, policy).map_err(|e| {
        let reason = if e.status() == 404 {
            RejectReason::NotFound
        } else {
            RejectReason::BadRequest
        };
        Refusal::new(e.status(), reason, e.to_string())
    })?;
    if let Target::WebSocket(_) = target {
        upgrade_refusal(head).map_or(Ok(()), Err)?;
        let admitted = shared
            .budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(peer.ip(), Instant::now());
        if !admitted {
            return Err(Refusal::new(
                429,
                RejectReason::TooManyRequests,
                "Too many connection attempts",
            ));
        }
    }
    Ok(target)
}

fn upgrade_refusal(head: &RequestHead) -> Option<Refusal> {
    match handshake::accept_key(head) {
        Ok(_) => None,
        Err(UpgradeProblem::NotAnUpgrade) => {
            Some(Refusal::new(400, RejectReason::BadRequest, "not a WebSocket upgrade"))
        }
        Err(UpgradeProblem::UnsupportedVersion) => {
            let mut refusal = Refusal::new(426, RejectReason::UpgradeRequired, "use WebSocket version 13");
            refusal.headers.push(("Sec-WebSocket-Version", "13".to_owned()));
            Some(refusal)
        }
    }
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
    peer: SocketAddr,
    shared: &Shared,
    head: RequestHead,
    route: WsRoute,
) -> Option<Upgraded> {
    let accept = handshake::accept_key(&head).ok()?;
    let response = handshake::switching_protocols(&accept);
    let write = tokio::io::AsyncWriteExt::write_all(&mut stream, response.as_bytes());
    if !matches!(
        tokio::time::timeout(shared.config.handshake_timeout, write).await,
        Ok(Ok(()))
    ) {
        shared.stats.upgrade_rejected(peer.ip(), RejectReason::HandshakeAborted);
        return None;
    }
    shared.stats.upgrade_accepted(peer.ip());
    Some(Upgraded {
        stream,
        leftover: head.leftover,
        route,
    })
}

async fn serve_rest(stream: &mut TcpStream, shared: &Shared, rest: RestRoute) {
    shared.stats.rest_request();
    let (status, body) = match rest {
        RestRoute::Ping => (200, "{}".to_owned()),
        RestRoute::Time => (200, format!("{{\"serverTime\":{}}}", now_micros() / 1000)),
        RestRoute::Depth { symbol, limit } => depth_snapshot(shared, &symbol, limit),
    };
    let response = handshake::http_response(status, "application/json", &body, &[]);
    handshake::respond_and_close(stream, &response, shared.config.handshake_timeout).await;
}

fn depth_snapshot(shared: &Shared, symbol: &str, limit: usize) -> (u16, String) {
    let market = shared.market.lock().unwrap_or_else(|p| p.into_inner());
    let Some(id) = market.symbol_id(&symbol.to_ascii_lowercase()) else {
        return (400, "{\"code\":-1121,\"msg\":\"Invalid symbol.\"}".to_owned());
    };
    let mut body = Vec::new();
    market
        .rest_depth(id, limit)
        .render(crate::mock::time::TimeUnit::Millisecond, &mut body);
    (200, String::from_utf8_lossy(&body).into_owned())
}
