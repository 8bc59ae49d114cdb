//! The connection managers under test, modelled faithfully (`../shared/seeds/003…`, the success-criteria
//! table): [`legacy`] (one socket per `subscribe()`, fixed delay), [`wsmanager`] (one socket per distinct
//! stream, reference counted, full-jitter backoff, idle sweep) and [`unified`] (one `/stream` socket per
//! client with live SUBSCRIBE, a second one past 1024 streams, optional fallback to legacy).
//!
//! A simulated client is one manager instance: an actor that takes subscribe and unsubscribe commands
//! from the load driver and owns its upstream sockets ([`upstream`]).

pub mod backoff;
pub mod legacy;
mod reading;
pub mod stamped;
pub mod tap;
pub mod track;
pub mod unified;
pub mod upstream;
pub mod wire;
pub mod wsmanager;

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::manager::upstream::RunContext;
use crate::record::event::CohortId;
use crate::scenario::{ManagerKind, ManagerSettings};

/// What the load driver asks of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A subscriber subscribes to a stream.
    Subscribe {
        /// Subscriber id (unique in the client).
        subscriber: u32,
        /// Stream name.
        stream: String,
    },
    /// A subscriber leaves a stream.
    Unsubscribe {
        /// Subscriber id.
        subscriber: u32,
        /// Stream name.
        stream: String,
    },
}

/// Who a client is.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Its cohort.
    pub cohort: CohortId,
    /// Its manager.
    pub kind: ManagerKind,
    /// Its index among all clients of the run (its source address).
    pub client: u32,
    /// Its own loopback source address.
    pub source: IpAddr,
    /// Its own random stream.
    pub seed: u64,
    /// What it delivered first and last per stream, when a rehearsal hands it over.
    pub tap: Option<Arc<tap::Tap>>,
}

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
