//! A handover tap: for one manager instance, the first and last message it delivered on each stream (its
//! sequence position and when), so a handover can tell what the subscribers lost, received twice or waited
//! for between the old manager's last message and the new one's first. Only rehearsal clients carry one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::manager::sequence::Sequence;

/// A message's place: its sequence position (consecutive ids only) and its arrival on the run's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// Where the message starts in its stream's sequence (`t`, `a`, or a diff depth's `U`).
    pub first_id: Option<u64>,
    /// Where it ends (`t`, `a`, or a diff depth's `u`).
    pub last_id: Option<u64>,
    /// When it arrived.
    pub at: Duration,
}

impl Mark {
    /// A mark for a message of `sequence` that arrived at `at`.
    pub fn new(sequence: Sequence, at: Duration) -> Mark {
        let (first_id, last_id) = match sequence {
            Sequence::Trade(id) | Sequence::AggTrade(id) => (Some(id), Some(id)),
            Sequence::Depth { first, last } => (Some(first), Some(last)),
            Sequence::UpdateId(_) | Sequence::Snapshot(_) | Sequence::None => (None, None),
        };
        Mark { first_id, last_id, at }
    }
}

/// The first and last message delivered on one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamMarks {
    /// The first.
    pub first: Mark,
    /// The latest.
    pub last: Mark,
}

/// One manager instance's tap.
#[derive(Debug, Default)]
pub struct Tap {
    streams: Mutex<HashMap<String, StreamMarks>>,
    first_seen: Notify,
}

impl Tap {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, StreamMarks>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a message delivered on `stream`.
    pub fn note(&self, stream: &str, mark: Mark) {
        let mut streams = self.lock();
        match streams.get_mut(stream) {
            Some(marks) => marks.last = mark,
            None => {
                streams.insert(stream.to_owned(), StreamMarks { first: mark, last: mark });
                drop(streams);
                self.first_seen.notify_waiters();
            }
        }
    }

    /// Every stream's marks so far.
    pub fn marks(&self) -> HashMap<String, StreamMarks> {
        self.lock().clone()
    }

    fn covers(&self, streams: &[String]) -> bool {
        let seen = self.lock();
        streams.iter().all(|s| seen.contains_key(s))
    }

    /// Waits until every one of `streams` delivered a message, or `deadline`; whether they all did.
    pub async fn wait_for(&self, streams: &[String], deadline: Instant) -> bool {
        loop {
            let notified = self.first_seen.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.covers(streams) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.covers(streams);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_every_stream_or_the_deadline() {
        let tap = std::sync::Arc::new(Tap::default());
        let streams = vec!["a@trade".to_owned(), "b@trade".to_owned()];
        let writer = tap.clone();
        let notes = tokio::spawn(async move {
            writer.note("a@trade", Mark::new(Sequence::Trade(1), Duration::from_millis(1)));
            tokio::task::yield_now().await;
            writer.note("b@trade", Mark::new(Sequence::Trade(7), Duration::from_millis(2)));
            writer.note("b@trade", Mark::new(Sequence::Trade(8), Duration::from_millis(3)));
        });
        assert!(tap.wait_for(&streams, Instant::now() + Duration::from_secs(5)).await);
        notes.await.unwrap();
        let marks = tap.marks();
        assert_eq!((marks["b@trade"].first.first_id, marks["b@trade"].last.last_id), (Some(7), Some(8)));
        let missing = vec!["c@trade".to_owned()];
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(!tap.wait_for(&missing, deadline).await, "gives up at the deadline");
    }
}
