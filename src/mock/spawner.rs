//! Every task a mock spawns is tracked and counted, so shutdown can wait for all of them and tests can
//! wait for a count (every connection gone) instead of sleeping.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// Spawns tracked, counted tasks.
#[derive(Debug, Clone)]
pub struct Spawner {
    tracker: TaskTracker,
    count: Arc<watch::Sender<usize>>,
}

/// Decrements the count when its task ends, however it ends.
struct CountGuard(Arc<watch::Sender<usize>>);

impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Default for Spawner {
    fn default() -> Self {
        Spawner { tracker: TaskTracker::new(), count: Arc::new(watch::Sender::new(0)) }
    }
}

impl Spawner {
    /// Spawns `task`, counted until it ends.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.count.send_modify(|n| *n += 1);
        let guard = CountGuard(self.count.clone());
        self.tracker.spawn(async move {
            let _guard = guard;
            task.await;
        });
    }

    /// Tasks alive now.
    pub fn alive(&self) -> usize {
        *self.count.borrow()
    }

    /// Resolves once the number of live tasks satisfies `done`.
    pub async fn wait_for(&self, done: impl Fn(usize) -> bool) {
        let mut rx = self.count.subscribe();
        if rx.wait_for(|n| done(*n)).await.is_err() {
            tracing::debug!("task counter dropped while waiting");
        }
    }

    /// Stops accepting new tasks and waits for every tracked task to end.
    pub async fn close_and_wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}
