//! The units the hub and a connection pass between them: connection and stream ids, the key the feed
//! publishes under, and one message waiting to be written.

use serde::Serialize;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::mock::market::SymbolId;
use crate::mock::stream_name::StreamKind;

/// Identifies one connection for the lifetime of a server.
pub type ConnId = u64;

/// Index of a stream name in the hub.
pub type StreamId = u32;

/// What the feed publishes under: a symbol (none for all-market streams) and a kind. Several names can
/// share a key (`btcusdt@depth` and `btcusdt@depth@1000ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct FeedKey {
    /// The symbol, or `None` for `!…@arr` streams.
    pub symbol: Option<SymbolId>,
    /// The kind.
    pub kind: StreamKind,
}

/// One message waiting in a connection's outbound queue.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The stream it belongs to.
    pub stream: StreamId,
    /// The text frame, shared with every other subscriber.
    pub text: Utf8Bytes,
    /// When it was published (latency faults count from here).
    pub at: Instant,
}
