//! The mock Binance spot market-stream upstream: a WebSocket server faithful enough that unmodified
//! Binance client libraries work against it, fast enough to feed thousands of subscribers from one core.
//!
//! The public face is [`MockServer`] (start, counters, connections, server-side closes, faults carried
//! out as [`faults::FaultOrder`]s) and the vocabulary its callers need: [`config`], [`faults`] (the fault
//! effects and what they apply to), [`stats`] (server-side truth), [`publications`] (what the feed sent),
//! [`canary`] (the rig's own delay), [`close`], [`stream_name`], [`market`], [`exchange_info`], [`process`] (a
//! mock in its own process) and [`time`].
//!
//! Inside: `route` (URL grammar), `protocol` (live requests), `handshake` (HTTP), `limits` (rate limits),
//! `feed` (when events happen), `hub` (fan-out) with `outgoing` (the units it passes), `queue` (a
//! connection's bounded queue), `connection` (one socket), `dispatch` (from accepted socket to session),
//! `shared` (the state every task shares), `server` (the handle), `spawner` (the tracked tasks) and
//! `write_lag` (how late writes run).

pub mod canary;
pub mod close;
pub mod config;
mod connection;
mod dispatch;
pub mod exchange_info;
pub mod faults;
mod feed;
pub(crate) mod handshake;
mod hub;
mod limits;
pub mod market;
pub mod outcome;
mod outgoing;
pub mod peer_log;
pub mod process;
pub(crate) mod protocol;
pub mod publications;
mod queue;
pub(crate) mod route;
mod server;
mod shared;
mod spawner;
pub mod stats;
pub mod stream_name;
pub mod time;
mod write_lag;

pub use close::CloseHow;
pub use config::{MockConfig, RawMockConfig};
pub use hub::{FeedKey, StreamStats};
pub use server::{MockError, MockServer};
pub use stats::MockSnapshot;
