//! Waiting: on a deadline that may not be set (the one helper the mock's connections, the managers' sockets
//! and the load driver share for `select!` branches that are armed only sometimes), and on a deadline that
//! must be met to well under a millisecond (an injected delay).
//!
//! Tokio's timer wheel has a resolution of one millisecond and rounds every deadline up to its next tick,
//! so a message held for 50 ms would arrive 0.5 to 1.5 ms late: the rig, not the fault. [`sleep_until_precise`]
//! hands the deadline to one timer thread that sleeps on a condition variable (a futex with the kernel's
//! high-resolution timers, about 50 µs of slack) and wakes the waiting task at the deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock};

use tokio::sync::oneshot;
use tokio::time::Instant;

/// Resolves at `deadline`, or never when there is none.
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Resolves at `deadline` to within the kernel's timer slack rather than tokio's millisecond.
pub async fn sleep_until_precise(deadline: Instant) {
    let deadline = deadline.into_std();
    if deadline <= std::time::Instant::now() {
        return;
    }
    let (wake, woken) = oneshot::channel();
    timer().add(deadline, wake);
    if woken.await.is_err() {
        // The timer thread is gone (it never exits while the process runs): fall back to tokio's timer.
        tokio::time::sleep_until(Instant::from_std(deadline)).await;
    }
}

/// Deadlines waiting for the timer thread, earliest first.
#[derive(Default)]
struct Waiting {
    heap: BinaryHeap<Reverse<(std::time::Instant, u64)>>,
    wakers: std::collections::HashMap<u64, oneshot::Sender<()>>,
    next_id: u64,
}

struct Timer {
    waiting: Mutex<Waiting>,
    changed: Condvar,
    running: std::sync::atomic::AtomicBool,
}

impl Timer {
    /// Wakes `wake` at `deadline`; without a timer thread, drops it at once (its waiter falls back).
    fn add(&self, deadline: std::time::Instant, wake: oneshot::Sender<()>) {
        if !self.running.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let earliest = waiting.heap.peek().is_none_or(|Reverse((first, _))| deadline < *first);
        waiting.next_id += 1;
        let id = waiting.next_id;
        waiting.heap.push(Reverse((deadline, id)));
        waiting.wakers.insert(id, wake);
        drop(waiting);
        if earliest {
            self.changed.notify_one();
        }
    }

    /// The timer thread: wakes every task whose deadline has come, then sleeps until the next one.
    fn run(&self) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let now = std::time::Instant::now();
            while let Some(Reverse((deadline, id))) = waiting.heap.peek().copied() {
                if deadline > now {
                    break;
                }
                waiting.heap.pop();
                if let Some(wake) = waiting.wakers.remove(&id) {
                    // A task that stopped waiting dropped its receiver: nothing to wake.
                    let _gone = wake.send(());
                }
            }
            waiting = match waiting.heap.peek().map(|Reverse((deadline, _))| *deadline) {
                Some(deadline) => {
                    let timeout = deadline.saturating_duration_since(std::time::Instant::now());
                    self.changed.wait_timeout(waiting, timeout).unwrap_or_else(|p| p.into_inner()).0
                }
                None => self.changed.wait(waiting).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            waiting: Mutex::new(Waiting::default()),
            changed: Condvar::new(),
            running: std::sync::atomic::AtomicBool::new(true),
        }));
        let spawned = std::thread::Builder::new().name("wschaos-precise-timer".into()).spawn(move || timer.run());
        if let Err(e) = spawned {
            timer.running.store(false, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!("could not start the precise timer thread ({e}); injected delays wake on tokio's timer");
        }
        timer
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_at_the_deadline_never_before_and_in_deadline_order() {
        let start = Instant::now();
        let (late, early) = (start + Duration::from_millis(30), start + Duration::from_millis(10));
        let (a, b) = tokio::join!(
            async {
                sleep_until_precise(late).await;
                Instant::now()
            },
            async {
                sleep_until_precise(early).await;
                Instant::now()
            }
        );
        assert!(a >= late && b >= early, "never before its deadline");
        assert!(b < a, "the earlier deadline wakes first");
        sleep_until_precise(start).await;
    }
}
