//! A connection's bounded queue of outgoing messages: many senders (the hub's fan-out), one receiver (the
//! connection's writer). It allocates nothing until a message is queued and gives a burst's memory back once
//! drained, so an idle connection holds no slots (tokio's bounded channel allocates a block of 32 slots when
//! it is created: 2.3 KB per connection for the mock's messages, a fifth of an idle connection's cost).

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

/// Slots a drained queue may keep; a larger one (left by a burst) is given back.
const KEEP_SLOTS: usize = 64;

/// Why a message was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused<T> {
    /// The queue holds its capacity already.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// A bounded queue.
#[derive(Debug)]
pub struct Queue<T> {
    state: Mutex<State<T>>,
    ready: Notify,
    capacity: usize,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

impl<T> Queue<T> {
    /// An empty queue of at most `capacity` messages (at least 1).
    pub fn new(capacity: usize) -> Self {
        Queue {
            state: Mutex::new(State { items: VecDeque::new(), closed: false }),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `item` without waiting.
    pub fn try_send(&self, item: T) -> Result<(), Refused<T>> {
        {
            let mut state = self.lock();
            if state.closed {
                return Err(Refused::Closed(item));
            }
            if state.items.len() >= self.capacity {
                return Err(Refused::Full(item));
            }
            state.items.push_back(item);
        }
        self.ready.notify_one();
        Ok(())
    }

    /// Takes the oldest message, if any.
    pub fn try_recv(&self) -> Option<T> {
        let mut state = self.lock();
        let item = state.items.pop_front();
        if state.items.is_empty() && state.items.capacity() > KEEP_SLOTS {
            state.items = VecDeque::new();
        }
        item
    }

    /// Waits for the oldest message; `None` once the queue is closed and empty. Cancel-safe: a message is
    /// only taken when this returns it.
    pub async fn recv(&self) -> Option<T> {
        loop {
            // Created before the check: a message queued after it leaves a permit this wait consumes.
            let notified = self.ready.notified();
            if let Some(item) = self.try_recv() {
                return Some(item);
            }
            if self.lock().closed {
                return None;
            }
            notified.await;
        }
    }

    /// Refuses further messages (those queued can still be taken).
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots held now (what the queue costs in memory).
    fn slots<T>(queue: &Queue<T>) -> usize {
        queue.lock().items.capacity()
    }

    #[test]
    fn holds_no_slots_until_used_and_gives_a_burst_back() {
        let queue = Queue::new(1024);
        assert_eq!(slots(&queue), 0, "an idle connection's queue costs nothing");
        for n in 0..500 {
            queue.try_send(n).unwrap();
        }
        assert!(slots(&queue) >= 500);
        let taken: Vec<_> = std::iter::from_fn(|| queue.try_recv()).collect();
        assert_eq!(taken, (0..500).collect::<Vec<_>>(), "in order");
        assert_eq!(slots(&queue), 0, "a drained burst is given back");
        queue.try_send(1).unwrap();
        assert_eq!(queue.try_recv(), Some(1));
        assert!(slots(&queue) <= KEEP_SLOTS, "a small queue keeps its few slots");
    }

    #[test]
    fn refuses_past_capacity_and_after_close() {
        let queue = Queue::new(2);
        queue.try_send(1).unwrap();
        queue.try_send(2).unwrap();
        assert_eq!(queue.try_send(3), Err(Refused::Full(3)));
        queue.close();
        assert_eq!(queue.try_send(4), Err(Refused::Closed(4)));
        assert_eq!(queue.lock().items.len(), 2, "what was queued stays");
        assert_eq!(queue.try_recv(), Some(1));
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send_and_ends_at_close() {
        let queue = std::sync::Arc::new(Queue::new(8));
        let receiver = tokio::spawn({
            let queue = queue.clone();
            async move {
                let mut got = Vec::new();
                while let Some(n) = queue.recv().await {
                    got.push(n);
                }
                got
            }
        });
        for n in 0..5 {
            queue.try_send(n).unwrap();
            tokio::task::yield_now().await;
        }
        queue.close();
        assert_eq!(receiver.await.unwrap(), [0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn a_receive_abandoned_in_a_select_loses_nothing() {
        let queue = Queue::new(8);
        for round in 0..100u32 {
            // Polled once while empty (it waits), then dropped, as a select! drops a branch that lost.
            assert_eq!(futures_util::FutureExt::now_or_never(queue.recv()), None);
            queue.try_send(round).unwrap();
            assert_eq!(queue.recv().await, Some(round));
        }
    }
}
