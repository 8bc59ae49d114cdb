//! The connection managers under test, modelled faithfully (`../shared/seeds/003…`, the success-criteria
//! table): [`legacy`] (one socket per `subscribe()`, fixed delay), [`wsmanager`] (one socket per distinct
//! stream, reference counted, full-jitter backoff, idle sweep) and [`unified`] (one `/stream` socket per
//! client with live SUBSCRIBE, a second one past 1024 streams, optional fallback to legacy).
//!
//! A simulated client is one manager instance: an actor that takes subscribe and unsubscribe commands
//! ([`client`]) from the load driver and owns its upstream sockets ([`connection`]), which share the run's
//! context and their subscribers with the reading side ([`audience`]). The managers' vocabulary, which
//! manager and each one's parameters, is in [`settings`].

pub mod assumptions;
pub mod audience;
pub mod backoff;
pub mod client;
pub mod connection;
pub mod external;
pub mod kind;
pub mod legacy;
mod reading;
pub mod sequence;
pub mod settings;
pub mod stamped;
pub mod tap;
pub mod track;
pub mod unified;
pub mod wsmanager;

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::manager::audience::RunContext;
pub use crate::manager::client::{ClientSpec, Command};
use crate::manager::settings::{ManagerKind, ManagerSettings};

/// Runs a client until its command channel closes or the run stops.
pub async fn run_client(
    ctx: Arc<RunContext>,
    settings: Arc<ManagerSettings>,
    spec: ClientSpec,
    commands: mpsc::Receiver<Command>,
) {
    match spec.kind {
        ManagerKind::Legacy => legacy::run(ctx, settings, spec, commands).await,
        ManagerKind::Wsmanager => wsmanager::run(ctx, settings, spec, commands).await,
        ManagerKind::Unified => unified::run(ctx, settings, spec, commands).await,
    }
}
