//! Running a rollout rehearsal's clients: every client placed on legacy first, the cohorts' sizes, who is on
//! the new manager at each step, and starting the clients (each follows the controller's target share,
//! handed over between managers by [`handover`]) with the controller that moves them.

use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::deadline::sleep_until;
use crate::load::driver::{Cohort, DriveContext, Placement, churn_once};
use crate::load::placement::Pinned;
use crate::load::population::{ClientPlan, CohortPlan, planned};
use crate::manager::external::ManagerRef;
use crate::manager::settings::ManagerKind;
use crate::record::event::{CohortId, HandoverPhase};
use crate::record::steps::StepQuery;
use crate::rollout::controller::{self, Controls, RehearsalRecord, Target};
use crate::rollout::evaluate::Exposure;
use crate::rollout::handover::{self, Switch};
use crate::rollout::plan::{HandoverOrder, RolloutPlan};

/// The two cohorts of a rehearsal, and every client placed (each starts on legacy, but a listed one).
pub fn place(plan: &RolloutPlan, people: &[ClientPlan]) -> (Vec<Cohort>, Vec<Placement>) {
    let cohorts = vec![
        Cohort::of(0, &ManagerRef::model(ManagerKind::Legacy)),
        Cohort::of(1, &ManagerRef::model(plan.new_manager)),
    ];
    let placements = people
        .iter()
        .map(|plan| Placement { cohort: cohorts[0].clone(), plan: plan.clone(), global: plan.id })
        .collect();
    (cohorts, placements)
}

/// Each cohort as planned: legacy serves every client (before the first step), the new manager the clients
/// of the largest share.
pub fn cohort_sizes(plan: &RolloutPlan, people: &[ClientPlan]) -> Vec<CohortPlan> {
    let top = plan.steps.iter().map(|s| s.share).fold(0.0, f64::max);
    let moved = people.iter().filter(|p| plan.pinned.on_new(p.id, top));
    let legacy = Cohort::of(0, &ManagerRef::model(ManagerKind::Legacy));
    let new = Cohort::of(1, &ManagerRef::model(plan.new_manager));
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
                subscriptions: e.subscriptions + p.subscribers.iter().map(|s| s.streams.len() as u64).sum::<u64>(),
            })
        })
        .collect()
}

/// Starts the clients on legacy and the controller that moves them; the controller's record comes from the
/// returned handle once the run is cancelled.
pub fn start(
    drive: &DriveContext,
    placements: Vec<Placement>,
    plan: &RolloutPlan,
    exposures: Vec<Exposure>,
    (queries, start, cancel): (mpsc::Sender<StepQuery>, Instant, CancellationToken),
) -> (JoinSet<()>, JoinHandle<RehearsalRecord>) {
    let (targets, following) = watch::channel(Target { share: 0.0, phase: None });
    let rehearsal = Rehearsal {
        targets: following,
        cohorts: [(ManagerKind::Legacy, 0), (plan.new_manager, 1)],
        order: plan.handover,
        deadline: plan.handover_deadline,
        pinned: plan.pinned.clone(),
    };
    let clients = start_rehearsal(drive, placements, &rehearsal);
    let controls = Controls { targets, queries, new_cohort: 1, exposures, start, cancel };
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
pub fn start_rehearsal(ctx: &DriveContext, placements: Vec<Placement>, rehearsal: &Rehearsal) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for placement in placements {
        set.spawn(drive_rehearsal_client(ctx.clone(), placement, rehearsal.clone()));
    }
    set
}

async fn drive_rehearsal_client(ctx: DriveContext, placement: Placement, mut rehearsal: Rehearsal) {
    let cancel = ctx.run.cancel.clone();
    let offset = ctx.workload.ramp_up.mul_f64(f64::from(placement.plan.id) / f64::from(ctx.clients.max(1)));
    tokio::select! {
        _ = cancel.cancelled() => return,
        _ = tokio::time::sleep_until(ctx.run.start + offset) => {}
    }
    let mut subscribers = placement.plan.subscribers.clone();
    let mut on_new = rehearsal.targets.borrow_and_update().on_new(&rehearsal.pinned, placement.plan.id);
    let mut running = handover::start(&ctx, &placement, rehearsal.cohorts[usize::from(on_new)], &subscribers).await;
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
                    let to = rehearsal.cohorts[usize::from(wanted)];
                    running = handover::hand_over(&ctx, &placement, running, to, &subscribers, switch).await.0;
                    on_new = wanted;
                }
            }
            _ = sleep_until(next_churn) => {
                churn_once(&ctx, &placement, running.commands(), &mut subscribers, (round, &mut next_id)).await;
                round += 1;
            }
        }
    }
    handover::stop(running).await;
}
