//! The legacy `binanceConnectionManager`: every `subscribe()` call opens its own socket on
//! `/ws/<stream>` (two subscribers of one stream hold two sockets); a dropped socket reconnects after a
//! fixed delay without jitter (linear or exponential selectable); there is no idle cleanup; unsubscribing
//! closes that subscriber's socket.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::manager::audience::{Audience, RunContext};
use crate::manager::backoff::Backoff;
use crate::manager::client::{ClientSpec, Command};
use crate::manager::connection::{self, Retry, UpstreamSpec};
use crate::manager::settings::{LegacyReconnect, LegacySettings, ManagerSettings};

/// The legacy policy as a backoff.
pub fn backoff(settings: &LegacySettings) -> Backoff {
    match settings.reconnect {
        LegacyReconnect::Fixed => Backoff::Fixed { delay: settings.delay },
        LegacyReconnect::Linear => Backoff::Linear { delay: settings.delay, max: settings.max_delay },
        LegacyReconnect::Exponential => Backoff::Exponential { delay: settings.delay, max: settings.max_delay },
    }
}

/// The sockets of one legacy client, keyed by (subscriber, stream).
pub struct Legacy {
    ctx: Arc<RunContext>,
    spec: ClientSpec,
    settings: LegacySettings,
    sockets: HashMap<(u32, String), CancellationToken>,
    tasks: JoinSet<connection::Exit>,
    opened: u64,
}

impl Legacy {
    /// A legacy manager for `spec`.
    pub fn new(ctx: Arc<RunContext>, settings: &ManagerSettings, spec: ClientSpec) -> Self {
        Legacy {
            ctx,
            spec,
            settings: settings.legacy.clone(),
            sockets: HashMap::new(),
            tasks: JoinSet::new(),
            opened: 0,
        }
    }

    /// `subscribe()`: a new socket for this subscriber and stream.
    pub fn subscribe(&mut self, subscriber: u32, stream: String) {
        if self.sockets.contains_key(&(subscriber, stream.clone())) {
            return;
        }
        self.opened += 1;
        let audience = Arc::new(Audience::new(&self.ctx, self.spec.cohort));
        audience.set(&stream, 1);
        let stop = self.ctx.cancel.child_token();
        let retry = Retry {
            backoff: backoff(&self.settings),
            max_attempts: self.settings.max_attempts,
            reset: self.settings.retry_reset,
            connect_timeout: self.settings.connect_timeout,
            liveness: self.settings.liveness,
        };
        let spec = UpstreamSpec::raw(&self.spec, &stream, retry, self.spec.seed ^ self.opened);
        self.tasks.spawn(connection::run(self.ctx.clone(), spec, audience, None, stop.clone()));
        self.sockets.insert((subscriber, stream), stop);
    }

    /// The subscriber's unsubscribe closes its socket.
    pub fn unsubscribe(&mut self, subscriber: u32, stream: &str) {
        if let Some(stop) = self.sockets.remove(&(subscriber, stream.to_owned())) {
            stop.cancel();
        }
    }

    /// Every (subscriber, stream) held, for a fallback or handover.
    pub fn subscriptions(&self) -> Vec<(u32, String)> {
        self.sockets.keys().cloned().collect()
    }

    /// Stops every socket and waits for them.
    pub async fn stop(mut self) {
        for stop in self.sockets.values() {
            stop.cancel();
        }
        while self.tasks.join_next().await.is_some() {}
    }

    /// Takes commands until the channel closes or the run stops, then closes every socket.
    pub async fn serve(mut self, mut commands: mpsc::Receiver<Command>) {
        let cancel = self.ctx.cancel.clone();
        loop {
            let command = tokio::select! {
                _ = cancel.cancelled() => None,
                command = commands.recv() => command,
            };
            match command {
                Some(Command::Subscribe { subscriber, stream }) => self.subscribe(subscriber, stream),
                Some(Command::Unsubscribe { subscriber, stream }) => self.unsubscribe(subscriber, &stream),
                None => break,
            }
            self.reap();
        }
        self.stop().await;
    }

    /// Reaps finished sockets (given up); their subscriptions are gone.
    pub fn reap(&mut self) {
        while let Some(result) = self.tasks.try_join_next() {
            if result.is_err() {
                tracing::debug!("a legacy socket task failed");
            }
        }
    }
}

/// Runs a legacy client.
pub async fn run(
    ctx: Arc<RunContext>,
    settings: Arc<ManagerSettings>,
    spec: ClientSpec,
    commands: mpsc::Receiver<Command>,
) {
    Legacy::new(ctx, &settings, spec).serve(commands).await;
}
