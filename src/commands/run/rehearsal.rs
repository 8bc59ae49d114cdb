//! The run command's side of a rollout rehearsal: every client placed on legacy first, the cohorts' sizes,
//! who is on the new manager at each step, and starting the clients with the controller that moves them.

use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::load::driver::{self, Cohort, DriveContext, Placement, Rehearsal, Target};
use crate::load::population::{ClientPlan, on_new_manager};
use crate::record::steps::StepQuery;
use crate::report::summary::CohortPlan;
use crate::rollout::controller::{self, Controls, RehearsalRecord};
use crate::rollout::evaluate::Exposure;
use crate::rollout::plan::RolloutPlan;
use crate::scenario::ManagerKind;

/// The two cohorts of a rehearsal, and every client placed (each starts on legacy).
pub fn place(plan: &RolloutPlan, people: &[ClientPlan]) -> (Vec<Cohort>, Vec<Placement>) {
    let cohorts = vec![Cohort { id: 0, manager: ManagerKind::Legacy }, Cohort { id: 1, manager: plan.new_manager }];
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
    let moved = people.iter().filter(|p| on_new_manager(p.id, top));
    vec![super::planned(ManagerKind::Legacy, people.iter()), super::planned(plan.new_manager, moved)]
}

/// Who is on the new manager at each step.
pub fn exposures(plan: &RolloutPlan, people: &[ClientPlan]) -> Vec<Exposure> {
    plan.steps
        .iter()
        .map(|step| {
            let moved = people.iter().filter(|p| on_new_manager(p.id, step.share));
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
    };
    let clients = driver::start_rehearsal(drive, placements, &rehearsal);
    let controls = Controls { targets, queries, new_cohort: 1, exposures, start, cancel };
    let plan = plan.clone();
    let controller = tokio::spawn(async move { controller::run(&plan, controls).await });
    (clients, controller)
}
