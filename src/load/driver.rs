//! Drives the population through the managers: each client starts at its ramp-up offset as one manager
//! instance with its own loopback address and random stream, its subscribers subscribe, and every churn
//! period some leave and newcomers arrive (the same churn for every cohort, so cohorts do identical work).
//! A rollout rehearsal drives its clients with these pieces from [`crate::rollout::rehearsal`].

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

pub use crate::load::population::Cohort;
use crate::load::population::{ClientPlan, StreamDraw, SubscriberPlan, churn_round};
use crate::load::workload::Workload;
use crate::manager::audience::RunContext;
use crate::manager::settings::ManagerSettings;
use crate::manager::{ClientSpec, Command, run_client};
use crate::record::event::{CohortId, HandoverPhase, HandoverReport};
use crate::summary::rollout::HandoverOrder;

/// One client of one cohort, placed.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The cohort it runs in.
    pub cohort: Cohort,
    /// Its plan.
    pub plan: ClientPlan,
    /// Its index among every client of the run (its source address).
    pub global: u32,
}

/// The n-th client's source address: 127.<1 + n / 65025>.<n / 255 % 255>.<1 + n % 255> (never 127.0.0.x).
pub fn source_address(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, (1 + n / 65_025) as u8, ((n / 255) % 255) as u8, (1 + n % 255) as u8))
}

/// What every client driver needs.
#[derive(Debug, Clone)]
pub struct DriveContext {
    /// The shared run context.
    pub run: Arc<RunContext>,
    /// Manager parameters.
    pub settings: Arc<ManagerSettings>,
    /// The workload.
    pub workload: Arc<Workload>,
    /// Draws newcomers' streams.
    pub draw: Arc<StreamDraw>,
    /// Run seed.
    pub seed: u64,
    /// Clients per cohort (for the ramp-up offsets).
    pub clients: u32,
}

/// Where a client runs when it is not one of the harness's models (an external manager's process): the
/// seam an external cohort plugs into. The driver starts the client at its offset and sends its commands;
/// the host runs it until they end.
pub trait Host: Send + Sync {
    /// Runs client `spec` on `commands` until the channel closes.
    fn run(&self, spec: ClientSpec, commands: mpsc::Receiver<Command>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

    /// Moves `client` between the two managers its host switches itself (an external migration layer's
    /// flag flip), after every command already sent to it; the receiver answers with the handover once it
    /// is done. `None` when the host has no such switch.
    fn migrate(&self, client: u32, moving: Move) -> Option<oneshot::Receiver<HandoverReport>> {
        let _ = (client, moving);
        None
    }
}

/// One client's move between the two sides of a migration layer.
#[derive(Debug, Clone)]
pub struct Move {
    /// The cohort it moves to, and the one it leaves.
    pub cohorts: (CohortId, CohortId),
    /// The step or rollback it belongs to.
    pub phase: HandoverPhase,
    /// Close the old side after or before the new one receives.
    pub order: HandoverOrder,
    /// How long the moved subscriptions have to receive.
    pub deadline: std::time::Duration,
}

/// The host of each client that has one, by its index in the run.
pub type Hosts = HashMap<u32, Arc<dyn Host>>;

/// Starts every placement (a client in `hosts` on its host, any other on its model); the set ends when the
/// run is cancelled and every client has stopped.
pub fn start(ctx: &DriveContext, placements: Vec<Placement>, hosts: &Hosts) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for placement in placements {
        let host = hosts.get(&placement.global).cloned();
        set.spawn(drive_client(ctx.clone(), placement, host));
    }
    set
}

async fn drive_client(ctx: DriveContext, placement: Placement, host: Option<Arc<dyn Host>>) {
    let cancel = ctx.run.cancel.clone();
    let offset = ctx.workload.ramp_up.mul_f64(f64::from(placement.plan.id) / f64::from(ctx.clients.max(1)));
    tokio::select! {
        _ = cancel.cancelled() => return,
        _ = tokio::time::sleep_until(ctx.run.start + offset) => {}
    }
    let (tx, rx) = mpsc::channel(1024);
    let spec = ClientSpec {
        cohort: placement.cohort.id,
        kind: placement.cohort.manager,
        client: placement.global,
        source: source_address(placement.global),
        seed: crate::vocab::seed::derive(ctx.seed, placement.global as usize, u32::MAX),
        tap: None,
    };
    let manager = match host {
        Some(host) => tokio::spawn(host.run(spec, rx)),
        None => tokio::spawn(run_client(ctx.run.clone(), ctx.settings.clone(), spec, rx)),
    };
    let mut subscribers = placement.plan.subscribers.clone();
    for subscriber in &subscribers {
        subscribe(&tx, subscriber).await;
    }
    churn(&ctx, &placement, &tx, &mut subscribers, offset).await;
    drop(tx);
    if manager.await.is_err() {
        tracing::warn!("client {} stopped with a panic", placement.global);
    }
}

/// Subscribes every stream of one subscriber.
pub async fn subscribe(tx: &mpsc::Sender<Command>, subscriber: &SubscriberPlan) {
    for stream in &subscriber.streams {
        let command = Command::Subscribe { subscriber: subscriber.id, stream: stream.clone() };
        if tx.send(command).await.is_err() {
            return;
        }
    }
}

async fn unsubscribe(tx: &mpsc::Sender<Command>, subscriber: &SubscriberPlan) {
    for stream in &subscriber.streams {
        let command = Command::Unsubscribe { subscriber: subscriber.id, stream: stream.clone() };
        if tx.send(command).await.is_err() {
            return;
        }
    }
}

/// Runs churn rounds until the run is cancelled; a client's rounds keep its ramp-up offset, so churn is
/// spread like the arrivals rather than synchronised across clients.
async fn churn(
    ctx: &DriveContext,
    placement: &Placement,
    tx: &mpsc::Sender<Command>,
    subscribers: &mut Vec<SubscriberPlan>,
    offset: std::time::Duration,
) {
    let cancel = ctx.run.cancel.clone();
    let Some(every) = ctx.workload.churn.map(|c| c.every) else {
        cancel.cancelled().await;
        return;
    };
    let mut next_id = ctx.workload.subscribers_per_client;
    for round in 1u32.. {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(ctx.run.start + offset + every * round) => {}
        }
        churn_once(ctx, placement, tx, subscribers, (round, &mut next_id)).await;
    }
}

/// One churn round: some subscribers leave, newcomers arrive.
pub async fn churn_once(
    ctx: &DriveContext,
    placement: &Placement,
    tx: &mpsc::Sender<Command>,
    subscribers: &mut Vec<SubscriberPlan>,
    (round, next_id): (u32, &mut u32),
) {
    let change = churn_round(&ctx.workload, &ctx.draw, ctx.seed, placement.plan.id, round, subscribers.len(), *next_id);
    *next_id += change.arriving.len() as u32;
    for position in change.leaving.iter().rev() {
        let leaving = subscribers.remove(*position);
        unsubscribe(tx, &leaving).await;
    }
    for arriving in change.arriving {
        subscribe(tx, &arriving).await;
        subscribers.push(arriving);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_are_distinct_loopback_and_never_the_mock_s() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..200_000 {
            let ip = source_address(n);
            assert!(ip.is_loopback());
            assert!(seen.insert(ip), "{n}");
        }
        assert_eq!(source_address(0), IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1)));
    }
}
