//! Running a rollout rehearsal's clients: every client placed on legacy first, the cohorts' sizes, who is on
//! the new manager at each step, and starting the clients (each follows the controller's target share,
//! handed over between managers by [`handover`]) with the controller that moves them.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::deadline::sleep_until;
use crate::load::driver::{Cohort, DriveContext, Host, Hosts, Move, Placement, churn_once, source_address, subscribe};
use crate::load::placement::Pinned;
use crate::load::population::{ClientPlan, CohortPlan, SubscriberPlan, planned};
use crate::manager::external::ManagerRef;
use crate::manager::settings::ManagerKind;
use crate::manager::{ClientSpec, Command};
use crate::record::event::{CohortId, HandoverPhase};
use crate::record::steps::StepQuery;
use crate::rollout::controller::{self, Controls, RehearsalRecord, Target};
use crate::rollout::evaluate::Exposure;
use crate::rollout::handover::{self, Running, Switch};
use crate::rollout::plan::{HandoverOrder, RolloutPlan};
use crate::rollout::pool::StepPool;

/// The two cohorts of a rehearsal: legacy and the new manager, the models' or the two sides of an external
/// migration layer (`<name>-legacy`, then `<name>`).
pub fn cohorts(plan: &RolloutPlan) -> [Cohort; 2] {
    match &plan.external {
        Some(layer) => {
            let legacy = ManagerRef { name: legacy_side_name(&layer.name), kind: ManagerKind::Legacy, ..layer.clone() };
            [Cohort::of(0, &legacy), Cohort::of(1, layer)]
        }
        None => [
            Cohort::of(0, &ManagerRef::model(ManagerKind::Legacy)),
            Cohort::of(1, &ManagerRef::model(plan.new_manager)),
        ],
    }
}

/// The cohort name of an external migration layer's legacy side.
pub fn legacy_side_name(layer: &str) -> String {
    format!("{layer}-legacy")
}

/// The two cohorts of a rehearsal, and every client placed: a model's client starts on legacy (a listed
/// one on the new manager) and is handed over by the harness; an external one is placed in its migration
/// layer's cohort, whose processes run it on either side.
pub fn place(plan: &RolloutPlan, people: &[ClientPlan]) -> (Vec<Cohort>, Vec<Placement>) {
    let cohorts = cohorts(plan);
    let home = &cohorts[usize::from(plan.external.is_some())];
    let placements =
        people.iter().map(|plan| Placement { cohort: home.clone(), plan: plan.clone(), global: plan.id }).collect();
    (cohorts.to_vec(), placements)
}

/// Each cohort as planned: legacy serves every client (before the first step), the new manager the clients
/// of the largest share.
pub fn cohort_sizes(plan: &RolloutPlan, people: &[ClientPlan]) -> Vec<CohortPlan> {
    let top = plan.steps.iter().map(|s| s.share).fold(0.0, f64::max);
    let moved = people.iter().filter(|p| plan.pinned.on_new(p.id, top));
    let [legacy, new] = cohorts(plan);
    vec![planned(&legacy, people.iter()), planned(&new, moved)]
}

/// Who is on the new manager at each step.
pub fn exposures(plan: &RolloutPlan, people: &[ClientPlan]) -> Vec<Exposure> {
    plan.steps
        .iter()
        .map(|step| {
            let moved = people.iter().filter(|p| plan.pinned.on_new(p.id, step.share));
            moved.fold(Exposure { clients: 0, subscriptions: 0 }, |e, p| Exposure {
                clients: e.clients + 1,
                subscriptions: e.subscriptions + p.subscriptions(),
            })
        })
        .collect()
}

/// Starts the clients on legacy and the controller that moves them (a client in `hosts` through its
/// host's migration layer), judging each step on `exposures` and the recorder's figures (with every other
/// shard's, through `pool`, in a sharded run), moving `targets` (which starts where the clients are to
/// start: see [`Target::BEFORE`]); the controller's record comes from the returned handle once the run is
/// cancelled.
pub fn start(
    drive: &DriveContext,
    (placements, hosts): (Vec<Placement>, &Hosts),
    plan: &RolloutPlan,
    (exposures, pool, targets): (Vec<Exposure>, Option<Arc<dyn StepPool>>, watch::Sender<Target>),
    (queries, start, cancel): (mpsc::Sender<StepQuery>, Instant, CancellationToken),
) -> (JoinSet<()>, JoinHandle<RehearsalRecord>) {
    let following = targets.subscribe();
    let rehearsal = Rehearsal {
        targets: following,
        cohorts: [(ManagerKind::Legacy, 0), (plan.new_manager, 1)],
        order: plan.handover,
        deadline: plan.handover_deadline,
        pinned: plan.pinned.clone(),
    };
    let clients = start_rehearsal(drive, placements, hosts, &rehearsal);
    let controls = Controls { targets, queries, new_cohort: 1, exposures, start, cancel, pool };
    let plan = plan.clone();
    let controller = tokio::spawn(async move { controller::run(&plan, controls).await });
    (clients, controller)
}

/// What a rehearsal client follows.
#[derive(Debug, Clone)]
pub struct Rehearsal {
    /// The controller's target share.
    pub targets: watch::Receiver<Target>,
    /// The legacy cohort and the new one.
    pub cohorts: [(ManagerKind, CohortId); 2],
    /// Handover order.
    pub order: HandoverOrder,
    /// Time the moved subscriptions have to receive.
    pub deadline: std::time::Duration,
    /// Clients the share does not decide.
    pub pinned: Pinned,
}

/// Starts every placement of a rehearsal: every client starts on legacy (a listed one on the new manager)
/// and follows the target share.
pub fn start_rehearsal(
    ctx: &DriveContext,
    placements: Vec<Placement>,
    hosts: &Hosts,
    rehearsal: &Rehearsal,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for placement in placements {
        let host = hosts.get(&placement.global).cloned();
        set.spawn(drive_rehearsal_client(ctx.clone(), placement, host, rehearsal.clone()));
    }
    set
}

/// Where a rehearsal client runs: a model the harness hands over, or a host whose migration layer moves it.
enum Serving {
    Model(Running),
    Hosted { host: Arc<dyn Host>, commands: mpsc::Sender<Command>, task: JoinHandle<()> },
}

impl Serving {
    /// Starts the client on `side` (its manager and cohort) and subscribes every subscriber.
    async fn start(
        ctx: &DriveContext,
        placement: &Placement,
        host: Option<Arc<dyn Host>>,
        side: (ManagerKind, CohortId),
        subscribers: &[SubscriberPlan],
    ) -> Serving {
        let Some(host) = host else {
            return Serving::Model(handover::start(ctx, placement, side, subscribers).await);
        };
        let (commands, receiver) = mpsc::channel(1024);
        let spec = ClientSpec {
            cohort: side.1,
            kind: side.0,
            client: placement.global,
            source: source_address(placement.global),
            seed: crate::vocab::seed::derive(ctx.seed, placement.global as usize, u32::MAX),
            tap: None,
        };
        let task = tokio::spawn(host.run(spec, receiver));
        for subscriber in subscribers {
            subscribe(&commands, subscriber).await;
        }
        Serving::Hosted { host, commands, task }
    }

    fn commands(&self) -> &mpsc::Sender<Command> {
        match self {
            Serving::Model(running) => running.commands(),
            Serving::Hosted { commands, .. } => commands,
        }
    }

    /// Moves the client from `from` to `to`: a model is handed over by the harness, a hosted client told to
    /// flip its flag (its process measures the handover); waits until it is done or the run ends. Whether
    /// it moved (a host without a switch leaves it where it is).
    async fn move_to(
        self,
        (ctx, placement, subscribers): (&DriveContext, &Placement, &[SubscriberPlan]),
        (from, to): ((ManagerKind, CohortId), (ManagerKind, CohortId)),
        switch: Switch,
    ) -> (Serving, bool) {
        match self {
            Serving::Model(running) => {
                (Serving::Model(handover::hand_over(ctx, placement, running, to, subscribers, switch).await.0), true)
            }
            Serving::Hosted { host, commands, task } => {
                let (phase, order, deadline) = (switch.phase, switch.order, switch.deadline);
                let moving = Move { cohorts: (to.1, from.1), phase, order, deadline };
                let moved = match host.migrate(placement.global, moving) {
                    Some(done) => {
                        tokio::select! {
                            _ = done => {}
                            _ = ctx.run.cancel.cancelled() => {}
                        }
                        true
                    }
                    None => {
                        tracing::warn!("client {}: its host cannot move it", placement.global);
                        false
                    }
                };
                (Serving::Hosted { host, commands, task }, moved)
            }
        }
    }

    async fn stop(self) {
        match self {
            Serving::Model(running) => {
                handover::stop(running).await;
            }
            Serving::Hosted { commands, task, .. } => {
                drop(commands);
                if task.await.is_err() {
                    tracing::warn!("a hosted rehearsal client stopped with a panic");
                }
            }
        }
    }
}

async fn drive_rehearsal_client(
    ctx: DriveContext,
    placement: Placement,
    host: Option<Arc<dyn Host>>,
    mut rehearsal: Rehearsal,
) {
    let cancel = ctx.run.cancel.clone();
    let offset = ctx.workload.ramp_up.mul_f64(f64::from(placement.plan.id) / f64::from(ctx.clients.max(1)));
    tokio::select! {
        _ = cancel.cancelled() => return,
        _ = tokio::time::sleep_until(ctx.run.start + offset) => {}
    }
    let mut subscribers = placement.plan.subscribers.clone();
    let mut on_new = rehearsal.targets.borrow_and_update().on_new(&rehearsal.pinned, placement.plan.id);
    let side = rehearsal.cohorts[usize::from(on_new)];
    let mut running = Serving::start(&ctx, &placement, host, side, &subscribers).await;
    let every = ctx.workload.churn.map(|c| c.every);
    let (mut round, mut next_id) = (1u32, ctx.workload.subscribers_per_client);
    let mut following = true;
    loop {
        let next_churn = every.map(|e| ctx.run.start + offset + e * round);
        tokio::select! {
            _ = cancel.cancelled() => break,
            changed = rehearsal.targets.changed(), if following => {
                following = changed.is_ok();
                let target = *rehearsal.targets.borrow_and_update();
                let wanted = target.on_new(&rehearsal.pinned, placement.plan.id);
                if following && wanted != on_new {
                    let switch = Switch {
                        phase: target.phase.unwrap_or(HandoverPhase::Rollback),
                        order: rehearsal.order,
                        deadline: rehearsal.deadline,
                    };
                    let sides = (rehearsal.cohorts[usize::from(on_new)], rehearsal.cohorts[usize::from(wanted)]);
                    let moved;
                    (running, moved) = running.move_to((&ctx, &placement, &subscribers), sides, switch).await;
                    if moved {
                        on_new = wanted;
                    }
                }
            }
            _ = sleep_until(next_churn) => {
                churn_once(&ctx, &placement, running.commands(), &mut subscribers, (round, &mut next_id)).await;
                round += 1;
            }
        }
    }
    running.stop().await;
}
