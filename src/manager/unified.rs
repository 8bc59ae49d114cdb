//! The unified single-connection manager (002): one `/stream` socket per client, streams added and removed
//! with live SUBSCRIBE/UNSUBSCRIBE at no more than the upstream's message rate, a second socket once one
//! holds 1024 streams, everything resubscribed after a reconnect, and an optional fallback to the legacy
//! manager after a number of consecutive failed connection attempts (counted).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::manager::audience::{Audience, RunContext};
use crate::manager::backoff::Backoff;
use crate::manager::client::{ClientSpec, Command};
use crate::manager::connection::{self, Endpoint, Exit, SubscriptionChange, UpstreamSpec};
use crate::manager::legacy::Legacy;
use crate::manager::settings::ManagerSettings;
use crate::record::event::Event;

/// One `/stream` socket and what it carries.
struct Socket {
    audience: Arc<Audience>,
    commands: mpsc::Sender<SubscriptionChange>,
    stop: CancellationToken,
    streams: usize,
}

/// One unified client.
struct Unified {
    ctx: Arc<RunContext>,
    settings: Arc<ManagerSettings>,
    spec: ClientSpec,
    sockets: Vec<Socket>,
    /// Stream → (socket index, subscribers).
    streams: HashMap<String, (usize, Vec<u32>)>,
    tasks: JoinSet<(usize, Exit)>,
}

impl Unified {
    fn open_socket(&mut self) -> usize {
        let index = self.sockets.len();
        let socket = self.spawn_socket(index);
        self.sockets.push(socket);
        index
    }

    /// Starts the upstream task of socket `index`.
    fn spawn_socket(&mut self, index: usize) -> Socket {
        let u = &self.settings.unified;
        let spec = UpstreamSpec {
            cohort: self.spec.cohort,
            client: self.spec.client,
            source: self.spec.source,
            endpoint: Endpoint::Combined,
            backoff: Backoff::FullJitter { base: u.base_delay, cap: u.max_delay },
            max_attempts: Some(u.fallback_after.unwrap_or(u.max_attempts)),
            retry_reset: u.retry_reset,
            connect_timeout: u.connect_timeout,
            liveness: u.liveness,
            messages_per_second: u.messages_per_second,
            seed: self.spec.seed ^ (index as u64 + 1) ^ (self.tasks.len() as u64) << 32,
            tap: self.spec.tap.clone(),
        };
        let audience = Arc::new(Audience::new(&self.ctx, self.spec.cohort));
        let (commands, receiver) = mpsc::channel(1024);
        let stop = self.ctx.cancel.child_token();
        let (ctx, task_audience, task_stop) = (self.ctx.clone(), audience.clone(), stop.clone());
        self.tasks
            .spawn(async move { (index, connection::run(ctx, spec, task_audience, Some(receiver), task_stop).await) });
        Socket { audience, commands, stop, streams: 0 }
    }

    /// Replaces socket `index`, which gave up, with a fresh one carrying the same streams.
    async fn restart(&mut self, index: usize) {
        let streams = self.sockets[index].audience.streams();
        let fresh = self.spawn_socket(index);
        for stream in &streams {
            fresh.audience.set(stream, self.sockets[index].audience.get(stream));
        }
        let old = std::mem::replace(&mut self.sockets[index], Socket { streams: streams.len(), ..fresh });
        old.stop.cancel();
        if self.sockets[index].commands.send(SubscriptionChange::Subscribe(streams)).await.is_err() {
            tracing::debug!("restarted unified socket {index} is gone");
        }
    }

    /// The socket with room for one more stream, opening one when every socket is full.
    fn socket_with_room(&mut self) -> usize {
        let max = self.settings.unified.max_streams as usize;
        match self.sockets.iter().position(|s| s.streams < max) {
            Some(index) => index,
            None => self.open_socket(),
        }
    }

    async fn subscribe(&mut self, subscriber: u32, stream: String) {
        if let Some((index, subscribers)) = self.streams.get_mut(&stream) {
            if !subscribers.contains(&subscriber) {
                subscribers.push(subscriber);
                self.sockets[*index].audience.set(&stream, subscribers.len() as u32);
            }
            return;
        }
        let index = self.socket_with_room();
        let socket = &mut self.sockets[index];
        socket.streams += 1;
        socket.audience.set(&stream, 1);
        if socket.commands.send(SubscriptionChange::Subscribe(vec![stream.clone()])).await.is_err() {
            tracing::debug!("unified socket {index} is gone");
        }
        self.streams.insert(stream, (index, vec![subscriber]));
    }

    async fn unsubscribe(&mut self, subscriber: u32, stream: &str) {
        let Some((index, subscribers)) = self.streams.get_mut(stream) else { return };
        subscribers.retain(|s| *s != subscriber);
        let (index, left) = (*index, subscribers.len() as u32);
        self.sockets[index].audience.set(stream, left);
        if left > 0 {
            return;
        }
        self.streams.remove(stream);
        let socket = &mut self.sockets[index];
        socket.streams -= 1;
        if socket.commands.send(SubscriptionChange::Unsubscribe(vec![stream.to_owned()])).await.is_err() {
            tracing::debug!("unified socket {index} is gone");
        }
    }

    /// Every (subscriber, stream) held.
    fn subscriptions(&self) -> Vec<(u32, String)> {
        self.streams.iter().flat_map(|(stream, (_, subs))| subs.iter().map(move |s| (*s, stream.clone()))).collect()
    }

    async fn stop(mut self) {
        for socket in &self.sockets {
            socket.stop.cancel();
        }
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Runs a unified client (falling back to a legacy manager when configured and needed).
pub async fn run(
    ctx: Arc<RunContext>,
    settings: Arc<ManagerSettings>,
    spec: ClientSpec,
    mut commands: mpsc::Receiver<Command>,
) {
    let cancel = ctx.cancel.clone();
    let cohort = spec.cohort;
    let mut unified = Unified {
        ctx: ctx.clone(),
        settings: settings.clone(),
        spec: spec.clone(),
        sockets: Vec::new(),
        streams: HashMap::new(),
        tasks: JoinSet::new(),
    };
    unified.open_socket();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return unified.stop().await,
            command = commands.recv() => match command {
                Some(Command::Subscribe { subscriber, stream }) => unified.subscribe(subscriber, stream).await,
                Some(Command::Unsubscribe { subscriber, stream }) => unified.unsubscribe(subscriber, &stream).await,
                None => return unified.stop().await,
            },
            Some(Ok((index, Exit::GaveUp))) = unified.tasks.join_next() => {
                if settings.unified.fallback_after.is_some() {
                    ctx.report(Event::Fallback { cohort, at: ctx.now() }).await;
                    let held = unified.subscriptions();
                    unified.stop().await;
                    return fall_back(ctx, &settings, spec, held, commands).await;
                }
                unified.restart(index).await;
            }
        }
    }
}

/// Continues as a legacy client with the subscriptions the unified one held.
async fn fall_back(
    ctx: Arc<RunContext>,
    settings: &ManagerSettings,
    spec: ClientSpec,
    held: Vec<(u32, String)>,
    commands: mpsc::Receiver<Command>,
) {
    let mut legacy = Legacy::new(ctx, settings, spec);
    for (subscriber, stream) in held {
        legacy.subscribe(subscriber, stream);
    }
    legacy.serve(commands).await;
}
