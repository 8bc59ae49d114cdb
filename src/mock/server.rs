//! The mock server as a library component: binds, accepts, and hands each socket to [`dispatch`].
//!
//! [`MockServer::start`] binds (port 0 in tests), starts the feed and the accept loop under one
//! cancellation token, and returns a handle that reports the bound address, the counters and the open
//! connections, carries out server-side actions (closes, `serverShutdown`) on a selection of them, and
//! injects faults. Every task it spawns is tracked, so [`MockServer::shutdown`] returns only when all
//! have ended.
//!
//! [`dispatch`]: crate::mock::dispatch

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::mock::close::CloseHow;
use crate::mock::config::{MockConfig, Rate};
use crate::mock::dispatch;
use crate::mock::faults::apply::{self, FaultOrder};
use crate::mock::faults::state::{FaultId, FaultRecord};
use crate::mock::feed;
use crate::mock::hub::{ConnectionInfo, Control};
use crate::mock::publications::Publications;
use crate::mock::shared::{Shared, shared_state, snapshot};
use crate::mock::stats::MockSnapshot;

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

/// A running mock upstream.
#[derive(Debug, Clone)]
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
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
        let listener = bind_listener(listen).map_err(|source| MockError::Bind { addr: listen, source })?;
        let addr = listener.local_addr().map_err(|source| MockError::Bind { addr: listen, source })?;
        let shared = Arc::new(shared_state(config, seed, cancel));
        shared.spawner.spawn(feed::run(shared.clone(), seed, shared.cancel.clone()));
        shared.spawner.spawn(accept_loop(listener, addr, shared.clone()));
        Ok(MockServer { addr, shared })
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

    /// The seed the server was started with (the feed's, and the faults' when a request names none).
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// Connections open now, as the server counts them.
    pub fn open_connections(&self) -> u64 {
        self.shared.stats.open_connections()
    }

    /// Starts every counter afresh (what is open stays counted as open); returns since when, in ms after
    /// the start, and how many resets there have been.
    pub fn reset_counters(&self) -> (u64, u64) {
        self.shared.stats.reset();
        self.shared.hub.reset_stream_stats();
        self.shared.stats.counters_since()
    }

    /// Runs `task` as one of the server's tracked tasks: [`MockServer::shutdown`] waits for it.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.shared.spawner.spawn(task);
    }

    /// Starts the time-stamped record of upgrades and connection ends by source address (what a harness
    /// judges an external manager's connections by).
    pub fn enable_peer_log(&self) {
        self.shared.stats.peer_log.enable();
    }

    /// Every entry of the peer record since the last drain, and how many did not fit in it so far.
    pub fn drain_peer_log(&self) -> (Vec<crate::mock::peer_log::PeerEvent>, u64) {
        (self.shared.stats.peer_log.drain(), self.shared.stats.peer_log.overflowed())
    }

    /// The feed's record of what it published.
    pub fn publications(&self) -> Arc<Publications> {
        self.shared.publications.clone()
    }

    /// A copy of every counter, per-stream figure and fault record.
    pub fn snapshot(&self) -> MockSnapshot {
        snapshot(&self.shared)
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
        self.shared.budget.lock().unwrap_or_else(|p| p.into_inner()).set_limit(limit);
    }

    /// Carries a fault out now; it lasts its window, or until removed when it has none. Returns its id.
    pub fn start_fault(&self, order: &FaultOrder) -> FaultId {
        apply::start(&self.shared, order)
    }

    /// Carries a fault out at `at`; stops with the server.
    pub fn schedule_fault(&self, order: FaultOrder, at: Instant) {
        apply::schedule(&self.shared, order, at);
    }

    /// Ends a fault and reverts what it changed.
    pub fn remove_fault(&self, id: FaultId) {
        apply::end(&self.shared, id);
    }

    /// Ends every active fault.
    pub fn end_all_faults(&self) {
        apply::end_all(&self.shared);
    }

    /// The faults active now.
    pub fn active_faults(&self) -> Vec<FaultId> {
        self.shared.chaos.active()
    }

    /// Every fault that fired, with its window and the connections it touched.
    pub fn fault_records(&self) -> Vec<FaultRecord> {
        self.shared.chaos.records()
    }

    /// Waits until the fault records satisfy `done` (e.g. a fault has ended). Callers bound it.
    pub async fn wait_for_faults(&self, done: impl Fn(&[FaultRecord]) -> bool) {
        self.shared.chaos.wait_for_records(done).await;
    }

    /// Tasks still alive (accept loop, feed, handshakes, connections and fault timers).
    pub fn tasks_alive(&self) -> usize {
        self.shared.spawner.alive()
    }

    /// Resolves once the number of live tasks satisfies `done` (e.g. back to the two background tasks
    /// after every client left). Callers bound it with a timeout.
    pub async fn wait_for_tasks(&self, done: impl Fn(usize) -> bool) {
        self.shared.spawner.wait_for(done).await;
    }

    /// The number of background tasks (accept loop and feed) a running server always has.
    pub const BACKGROUND_TASKS: usize = 2;

    /// The token that stops this server.
    pub fn cancel_token(&self) -> CancellationToken {
        self.shared.cancel.clone()
    }

    /// Stops accepting, closes every connection with 1001 and waits for every task to end.
    pub async fn shutdown(self) -> MockSnapshot {
        self.shared.cancel.cancel();
        self.shared.spawner.close_and_wait().await;
        self.snapshot()
    }
}

/// Accepts connections until cancelled. While an outage closes the listener, new connections are refused
/// by the OS; the same address is bound again when it reopens.
async fn accept_loop(listener: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    let mut closed = shared.chaos.listener_closed();
    let mut listener = Some(listener);
    loop {
        let Some(open) = listener.as_ref() else {
            tokio::select! {
                _ = shared.cancel.cancelled() => return,
                reopened = async { closed.wait_for(|c| !*c).await.is_ok() } => if !reopened { return },
            }
            listener = rebind(addr).await;
            continue;
        };
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            closing = async { closed.wait_for(|c| *c).await.is_ok() } => {
                if !closing { return }
                listener = None;
            }
            accepted = open.accept() => accept(accepted, &shared).await,
        }
    }
}

/// Pending connections the kernel queues before `accept`: a reconnect storm of thousands of sockets must not
/// overflow it, or the overflow waits a second for the client's SYN retry (a tail that is the rig's, not the
/// manager's). The kernel caps it at `net.core.somaxconn` (4096 by default).
const LISTEN_BACKLOG: u32 = 65_535;

/// Binds a listener on `addr` with address reuse (a restarted mock rebinds its port at once) and a deep
/// accept queue.
fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() }?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..50 {
        match bind_listener(addr) {
            Ok(listener) => return Some(listener),
            Err(e) => {
                tracing::warn!("could not rebind {addr} after an outage: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tracing::error!("gave up rebinding {addr}; the mock no longer accepts connections");
    None
}

async fn accept(accepted: std::io::Result<(TcpStream, SocketAddr)>, shared: &Arc<Shared>) {
    match accepted {
        Ok((stream, peer)) => {
            let task = dispatch::handle_socket(stream, peer, shared.clone(), shared.cancel.child_token());
            shared.spawner.spawn(task);
        }
        Err(e) => {
            // Out of file descriptors or a transient error: back off briefly instead of spinning.
            tracing::warn!("accept failed: {e}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
