//! The new WSManager (003): one socket per distinct stream per manager instance, shared by every
//! subscriber of that stream and reference counted (the last unsubscribe closes it); exponential backoff
//! with full jitter (base 1 s, cap 30 s, 10 attempts, then the error reaches the subscribers and the stream
//! is dropped); streams without traffic for the idle timeout are closed by a periodic sweep.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::manager::audience::{Audience, RunContext};
use crate::manager::backoff::Backoff;
use crate::manager::client::{ClientSpec, Command};
use crate::manager::connection::{self, Exit, Retry, UpstreamSpec};
use crate::manager::settings::{ManagerSettings, WsManagerSettings};
use crate::record::event::Event;

/// One shared stream.
struct Shared {
    subscribers: Vec<u32>,
    audience: Arc<Audience>,
    stop: CancellationToken,
    generation: u64,
}

/// One WSManager instance.
struct WsManager {
    ctx: Arc<RunContext>,
    spec: ClientSpec,
    settings: WsManagerSettings,
    streams: HashMap<String, Shared>,
    tasks: JoinSet<(String, u64, Exit)>,
    generation: u64,
}

impl WsManager {
    fn subscribe(&mut self, subscriber: u32, stream: String) -> bool {
        if let Some(shared) = self.streams.get_mut(&stream) {
            if !shared.subscribers.contains(&subscriber) {
                shared.subscribers.push(subscriber);
                shared.audience.set(&stream, shared.subscribers.len() as u32);
            }
            return false;
        }
        self.generation += 1;
        let audience = Arc::new(Audience::new(&self.ctx, self.spec.cohort));
        audience.set(&stream, 1);
        let stop = self.ctx.cancel.child_token();
        let retry = Retry {
            backoff: Backoff::FullJitter { base: self.settings.base_delay, cap: self.settings.max_delay },
            max_attempts: Some(self.settings.max_attempts),
            reset: self.settings.retry_reset,
            connect_timeout: self.settings.connect_timeout,
            liveness: self.settings.liveness,
        };
        let spec = UpstreamSpec::raw(&self.spec, &stream, retry, self.spec.seed ^ self.generation);
        let (ctx, name, generation) = (self.ctx.clone(), stream.clone(), self.generation);
        let task_stop = stop.clone();
        let task_audience = audience.clone();
        self.tasks
            .spawn(async move { (name, generation, connection::run(ctx, spec, task_audience, None, task_stop).await) });
        self.streams.insert(stream, Shared { subscribers: vec![subscriber], audience, stop, generation });
        true
    }

    /// Reference counting: the last subscriber's unsubscribe closes the stream.
    fn unsubscribe(&mut self, subscriber: u32, stream: &str) -> bool {
        let Some(shared) = self.streams.get_mut(stream) else { return false };
        shared.subscribers.retain(|s| *s != subscriber);
        shared.audience.set(stream, shared.subscribers.len() as u32);
        if !shared.subscribers.is_empty() {
            return false;
        }
        if let Some(shared) = self.streams.remove(stream) {
            shared.stop.cancel();
        }
        true
    }

    /// Closes streams whose audience saw no traffic for the idle timeout; returns how many.
    fn sweep_idle(&mut self) -> usize {
        let idle_for = self.settings.idle_timeout;
        let idle: Vec<String> =
            self.streams.iter().filter(|(_, s)| s.audience.silent_for() >= idle_for).map(|(n, _)| n.clone()).collect();
        for name in &idle {
            if let Some(shared) = self.streams.remove(name) {
                shared.stop.cancel();
            }
        }
        idle.len()
    }

    /// A stream whose socket gave up is dropped (its subscribers got the error).
    fn on_exit(&mut self, name: String, generation: u64, exit: Exit) -> bool {
        let current = self.streams.get(&name).is_some_and(|s| s.generation == generation);
        if exit == Exit::GaveUp && current {
            self.streams.remove(&name);
            return true;
        }
        false
    }
}

/// Runs a WSManager client.
pub async fn run(
    ctx: Arc<RunContext>,
    settings: Arc<ManagerSettings>,
    spec: ClientSpec,
    mut commands: mpsc::Receiver<Command>,
) {
    let cancel = ctx.cancel.clone();
    let sweep_every = settings.wsmanager.sweep_interval;
    let mut manager = WsManager {
        ctx: ctx.clone(),
        spec,
        settings: settings.wsmanager.clone(),
        streams: HashMap::new(),
        tasks: JoinSet::new(),
        generation: 0,
    };
    let cohort = manager.spec.cohort;
    let mut sweep = tokio::time::interval_at(Instant::now() + sweep_every, sweep_every);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            command = commands.recv() => match command {
                Some(Command::Subscribe { subscriber, stream }) => {
                    if manager.subscribe(subscriber, stream) {
                        ctx.report(Event::Stream { cohort, created: true, idle: false }).await;
                    }
                }
                Some(Command::Unsubscribe { subscriber, stream }) => {
                    if manager.unsubscribe(subscriber, &stream) {
                        ctx.report(Event::Stream { cohort, created: false, idle: false }).await;
                    }
                }
                None => break,
            },
            _ = sweep.tick() => {
                for _ in 0..manager.sweep_idle() {
                    ctx.report(Event::Stream { cohort, created: false, idle: true }).await;
                }
            }
            Some(Ok((name, generation, exit))) = manager.tasks.join_next() => {
                if manager.on_exit(name, generation, exit) {
                    ctx.report(Event::Error { cohort, kind: "stream-gave-up" }).await;
                    ctx.report(Event::Stream { cohort, created: false, idle: false }).await;
                }
            }
        }
    }
    for shared in manager.streams.values() {
        shared.stop.cancel();
    }
    while manager.tasks.join_next().await.is_some() {}
}
