//! Server-side instructions to one connection: closes, `serverShutdown`, the slow-consumer close, and
//! the per-connection faults (stalls, latency, message faults, corruption, a shortened lifetime).

use futures_util::SinkExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::Connection;
use crate::mock::faults::connection::{ConnChaos, ConnFault};
use crate::mock::faults::kind::StallMode;
use crate::mock::faults::state::FaultId;
use crate::mock::hub::{Control, combined_frame};
use crate::mock::stats::CloseCause;
use crate::mock::time::now_micros;

impl Connection {
    /// Applies every queued control; returns the close cause when one ended the connection.
    pub(super) async fn apply_controls(&mut self) -> Option<CloseCause> {
        while let Some(control) = self.outbox.next_control() {
            let ended = match control {
                Control::Close(how) => Some(self.close(how).await),
                Control::ServerShutdown => self.send_server_shutdown().await,
                Control::SlowConsumer => Some(self.close_frame(1008, "Slow consumer", CloseCause::SlowConsumer).await),
                Control::Fault { fault, kind, until, seed } => {
                    self.start_fault(fault, kind, until, seed);
                    None
                }
                Control::EndFault(fault) => self.end_fault(fault).await,
                Control::Lifetime(age) => {
                    let expiry = self.opened_at + age;
                    self.expires_at = Some(self.expires_at.map_or(expiry, |e| e.min(expiry)));
                    None
                }
            };
            if ended.is_some() {
                return ended;
            }
        }
        None
    }

    fn start_fault(&mut self, fault: FaultId, kind: ConnFault, until: Option<Instant>, seed: u64) {
        if matches!(kind, ConnFault::Stall { mode: StallMode::Silent }) {
            // Nothing is read while silent, so no pong can be owed.
            self.heartbeat.owed_since = None;
        }
        let chaos = self.chaos.get_or_insert_with(|| Box::new(ConnChaos::new(seed)));
        chaos.start(fault, kind, until);
    }

    async fn end_fault(&mut self, fault: FaultId) -> Option<CloseCause> {
        let released = self.chaos.as_mut().and_then(|c| c.end(fault));
        self.after_fault_change(released).await
    }

    /// Ends fault windows that ran out.
    pub(super) async fn expire_faults(&mut self, now: Instant) -> Option<CloseCause> {
        let released = self.chaos.as_mut().and_then(|c| c.expire(now));
        self.after_fault_change(released).await
    }

    /// After a fault window ends, a message held back for reordering goes out (the heartbeat keeps its own
    /// schedule: pings skipped during a silent stall resume at the next tick).
    async fn after_fault_change(&mut self, released: Option<crate::mock::hub::Outgoing>) -> Option<CloseCause> {
        match released {
            Some(message) => self.write_now(message).await,
            None => None,
        }
    }

    async fn send_server_shutdown(&mut self) -> Option<CloseCause> {
        let unit = self.outbox.time_unit();
        let payload = format!("{{\"e\":\"serverShutdown\",\"E\":{}}}", unit.convert(now_micros()));
        let text = if self.outbox.combined() {
            String::from_utf8_lossy(&combined_frame("!serverShutdown", payload.as_bytes())).into_owned()
        } else {
            payload
        };
        match self.ws.send(Message::text(text)).await {
            Ok(()) => None,
            Err(e) => Some(self.on_error(e).await),
        }
    }
}
