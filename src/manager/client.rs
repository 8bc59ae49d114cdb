//! A simulated client as the load driver sees it: who it is ([`ClientSpec`]) and what it is asked to do
//! ([`Command`]).

use std::net::IpAddr;
use std::sync::Arc;

use crate::manager::settings::ManagerKind;
use crate::manager::tap;
use crate::record::event::CohortId;

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
