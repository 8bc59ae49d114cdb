//! The mock's fault effects: what a fault does to connections, handshakes and the feed, and the
//! narrow API through which the `chaos` module asks for them.
//!
//! [`kind`] is the catalogue of effects (a closed enum), [`select`] which connections, streams, symbols and
//! source addresses one applies to, [`apply`] carries a fault out on a running mock and ends it, [`state`]
//! holds the server-wide switches and the record of what fired, [`connection`] the per-connection part
//! (stalls, latency, dropped or corrupted messages).

pub mod apply;
pub mod connection;
pub mod kind;
pub mod select;
pub mod state;

pub use apply::FaultOrder;
pub use kind::{CorruptVariant, FaultKind, FaultKindName, Refuse, StallMode};
pub use select::{Cidr, Pattern, Selection};
pub use state::{FaultId, FaultRecord};
