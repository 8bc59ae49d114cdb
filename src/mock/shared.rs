//! The state every task of one mock server shares: its configuration, fan-out hub, counters, market,
//! fault switches, task spawner and stop token. Built once at start-up; private to the mock.

use std::sync::{Arc, Mutex};

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

use crate::mock::config::{MockConfig, UnknownSymbols};
use crate::mock::faults::state::ChaosState;
use crate::mock::hub::Hub;
use crate::mock::limits::ConnectBudget;
use crate::mock::market::Market;
use crate::mock::protocol::SessionRules;
use crate::mock::publications::Publications;
use crate::mock::spawner::Spawner;
use crate::mock::stats::{MockSnapshot, MockStats};
use crate::mock::time::now_micros;

/// State shared by every task of one server.
#[derive(Debug)]
pub struct Shared {
    /// The validated configuration.
    pub config: MockConfig,
    /// Fan-out and connection registry.
    pub hub: Hub,
    /// The server's counters, read by `snapshot` for `/stats` and the run reports.
    pub stats: MockStats,
    /// Connection-attempt budgets per source IP.
    pub budget: Mutex<ConnectBudget>,
    /// The simulated market (the feed writes it; REST snapshots read it).
    pub market: Mutex<Market>,
    /// Rules every session enforces.
    pub session_rules: SessionRules,
    /// Active faults' server-wide switches and the record of what fired.
    pub chaos: ChaosState,
    /// Spawns the server's tracked tasks.
    pub spawner: Spawner,
    /// Stops everything.
    pub cancel: CancellationToken,
    /// The WebSocket settings of accepted connections.
    pub ws_config: WebSocketConfig,
    /// The run seed (faults derive per-connection seeds from it).
    pub seed: u64,
    /// What the feed published, per feed key (the harness measures loss and staleness against it).
    pub publications: Arc<Publications>,
}

/// A copy of every counter, per-stream figure and fault record of a server.
pub fn snapshot(shared: &Shared) -> MockSnapshot {
    shared.stats.snapshot(shared.hub.stream_stats(), shared.chaos.records())
}

pub fn shared_state(config: MockConfig, seed: u64, cancel: CancellationToken) -> Shared {
    let names: Vec<String> = config.feed.symbols.iter().map(|s| s.name.clone()).collect();
    let market = Market::new(&config.feed.symbols, config.feed.market.clone(), seed, now_micros());
    let known = (config.unknown_symbols == UnknownSymbols::Reject).then(|| Arc::new(config.symbol_names()));
    let session_rules = SessionRules { max_streams: config.limits.streams_per_connection, known_symbols: known };
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
        chaos: ChaosState::default(),
        spawner: Spawner::default(),
        cancel,
        ws_config,
        seed,
        publications: Arc::new(Publications::default()),
        config,
    }
}
