//! The mock Binance spot market-stream upstream: a WebSocket server faithful enough that unmodified
//! Binance client libraries work against it, fast enough to feed thousands of subscribers from one core.
//!
//! Layout: [`route`] (URL grammar), [`stream_name`] (stream grammar), [`protocol`] (live requests),
//! [`limits`] (rate limits), [`market`] (the simulated market and exact payloads), [`feed`] (when events
//! happen), [`hub`] (fan-out), [`handshake`] (HTTP), [`exchange_info`] (the REST trading rules), [`connection`] (one socket), [`server`] (the
//! library handle), [`stats`] (server-side truth), [`write_lag`] and [`canary`] (the rig's own delay) and [`config`].

pub mod canary;
pub mod chaos_state;
pub mod close;
pub mod config;
pub mod conn_chaos;
pub mod connection;
pub mod dispatch;
pub mod exchange_info;
pub mod feed;
pub mod handshake;
pub mod hub;
pub mod limits;
pub mod market;
pub mod process;
pub mod protocol;
pub mod publications;
pub mod queue;
pub mod route;
pub mod server;
pub mod stats;
pub mod stream_name;
pub mod tasks;
pub mod time;
pub mod write_lag;

pub use close::CloseHow;
pub use config::{MockConfig, RawMockConfig};
pub use server::{MockError, MockServer};
pub use stats::MockSnapshot;
