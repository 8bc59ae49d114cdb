//! The write path: queued events go out in batches with one flush per batch. While a stall is in force
//! they are discarded (a stalled connection receives nothing); while latency is in force each waits for
//! its due time; message faults and corruption shape the frames.

use futures_util::SinkExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;

use super::{Connection, Socket};
use crate::mock::faults::connection::ConnChaos;
use crate::mock::hub::{OutboxReceiver, Outgoing};
use crate::mock::stats::{CloseCause, MockStats};

/// Most queued messages written before one flush.
const MAX_BATCH: usize = 256;

impl Connection {
    /// Writes `first` and whatever else is queued (up to a batch), then flushes once. A control or a
    /// shutdown interrupts a write that a stalled client or a latency fault is holding up; the message not
    /// yet written is kept through that: it waits again, or goes out at once if the control ended the fault.
    pub(super) async fn write_queued(
        &mut self,
        first: Outgoing,
        rx: &mut OutboxReceiver,
        cancel: &CancellationToken,
    ) -> Option<CloseCause> {
        let mut pending = Some(first);
        loop {
            if self.stall().is_some() {
                discard_queued(rx);
                return None;
            }
            let written = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Some(CloseCause::Shutdown),
                _ = self.outbox.control_ready() => {
                    if let Some(ended) = self.apply_controls().await {
                        return Some(ended);
                    }
                    if pending.is_some() {
                        continue;
                    }
                    return None;
                }
                result = write_batch(&mut self.ws, &mut pending, rx, self.chaos.as_deref_mut(), &self.shared.stats) => result,
            };
            return match written {
                Ok(n) => {
                    self.shared.stats.frames_written(n);
                    None
                }
                Err(e) => Some(self.on_error(e).await),
            };
        }
    }

    /// Writes one message outside a batch (a reordered message released when its fault ends).
    pub(super) async fn write_now(&mut self, message: Outgoing) -> Option<CloseCause> {
        match self.ws.send(Message::Text(message.text)).await {
            Ok(()) => None,
            Err(e) => Some(self.on_error(e).await),
        }
    }
}

/// Drops everything queued: a stalled connection is sent nothing.
fn discard_queued(rx: &mut OutboxReceiver) {
    while rx.try_recv().is_some() {}
}

/// Feeds `pending` and up to a batch of further queued messages, then flushes; returns how many frames.
/// A message stays in `pending` until it is turned into frames, so a caller that stops this future (a
/// control arrived) still has it. Each message's write lag goes to `stats`: from its publication, or from
/// the due time of the delay a fault put on it, to the moment the writer takes it to write (not to the end
/// of the flush, which waits on the client's reading when its receive window is full).
async fn write_batch(
    ws: &mut Socket,
    pending: &mut Option<Outgoing>,
    rx: &mut OutboxReceiver,
    mut chaos: Option<&mut ConnChaos>,
    stats: &MockStats,
) -> Result<u64, WsError> {
    let mut frames = Vec::new();
    let mut written = 0;
    let mut taken = 0;
    while let Some(message) = pending.as_ref() {
        taken += 1;
        let due = chaos.as_deref_mut().and_then(|c| c.due(message));
        if let Some(due) = due.filter(|due| *due > Instant::now()) {
            ws.flush().await?;
            crate::deadline::sleep_until_precise(due).await;
        }
        // A delayed message is late only past its due time, even when that time had passed already.
        let from = due.map_or(message.at, |due| due.max(message.at));
        stats.write_lag(Instant::now().saturating_duration_since(from).as_micros() as u64, 1);
        let Some(message) = pending.take() else { break };
        match chaos.as_deref_mut() {
            None => frames.push(Message::Text(message.text)),
            Some(chaos) => chaos.frames(message, &mut frames),
        }
        for frame in frames.drain(..) {
            ws.feed(frame).await?;
            written += 1;
        }
        *pending = if taken < MAX_BATCH { rx.try_recv() } else { None };
    }
    ws.flush().await?;
    Ok(written)
}
