//! The rehearsal controller: at each step it sets the share of clients on the new manager (the clients
//! whose stable hash bucket falls under it move), waits for the step's hold, asks the recorder for the
//! step's figures and judges them against the triggers. When a trigger fires it either notes the rollback
//! that would have happened and goes on, or performs it: every client moves back to legacy and stepping
//! stops.

use std::time::Duration;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::load::placement::Pinned;
use crate::record::event::{CohortId, HandoverPhase};
use crate::record::steps::{StepFigures, StepQuery};
use crate::rollout::evaluate::{Exposure, StepJudgement, judge_step};
use crate::rollout::plan::{RollbackMode, RollbackSteps, RolloutPlan, Step};
use crate::rollout::pool::{Contribution, StepPool};

/// Where the traffic should be: the share of clients on the new manager, and the move it belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Share of clients on the new manager.
    pub share: f64,
    /// The step or rollback that set it (`None` before the first step).
    pub phase: Option<HandoverPhase>,
}

impl Target {
    /// Before the first step: every client on legacy but the listed ones.
    pub const BEFORE: Target = Target { share: 0.0, phase: None };

    /// Whether client `id` runs the new manager now: a forced-legacy client never does, a listed one does
    /// from the start (002's testing mode) until a rollback reaches 0 (the migration disabled: every client on
    /// legacy), and the others when their stable hash bucket falls under the share.
    pub fn on_new(&self, pinned: &Pinned, id: u32) -> bool {
        let disabled = self.phase == Some(HandoverPhase::Rollback) && self.share <= 0.0;
        !disabled && pinned.on_new(id, self.share)
    }
}

/// One judged step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JudgedStep {
    /// The step.
    pub step: Step,
    /// Who was on the new manager (every shard's, in a sharded run).
    pub clients_on_new: u32,
    /// What the triggers read, and what fired (on every shard's figures, in a sharded run).
    pub judgement: StepJudgement,
    /// What this process measured of the step: a shard's contribution to the pool.
    pub own: Contribution,
}

/// What a rehearsal did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RehearsalRecord {
    /// Steps judged, in order (fewer than planned when a rollback stopped it or the run was cut short).
    pub steps: Vec<JudgedStep>,
    /// The first step whose triggers fired.
    pub first_rollback: Option<usize>,
    /// When a performed rollback began moving the clients back (run clock).
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub rolled_back_at: Option<Duration>,
    /// Each share the performed rollback set, and when (run clock).
    pub rollback_moves: Vec<(Duration, f64)>,
    /// Whether the performed rollback reached 0 before the run ended.
    pub rolled_back: bool,
    /// The step whose figures the shards of a sharded rehearsal could not pool, and why: stepping stopped
    /// there, with nothing decided on it.
    #[serde(default)]
    pub unpooled: Option<(usize, String)>,
}

/// What the controller drives and reads.
pub struct Controls {
    /// The target every rehearsal client follows.
    pub targets: watch::Sender<Target>,
    /// Questions to the recorder.
    pub queries: mpsc::Sender<StepQuery>,
    /// The new manager's cohort.
    pub new_cohort: CohortId,
    /// Who is on the new manager at each step.
    pub exposures: Vec<Exposure>,
    /// When the run started.
    pub start: Instant,
    /// Stops the rehearsal early.
    pub cancel: CancellationToken,
    /// Where the shards of a sharded rehearsal pool each step's figures (`None` in one process).
    pub pool: Option<Arc<dyn StepPool>>,
}

async fn figures(controls: &Controls, step: usize) -> Option<StepFigures> {
    let (reply, answer) = oneshot::channel();
    let query = StepQuery { step, cohort: controls.new_cohort, reply };
    controls.queries.send(query).await.ok()?;
    answer.await.ok()
}

/// Sleeps until `at` on the run's clock; false when the run was cancelled first.
async fn until(controls: &Controls, at: Duration) -> bool {
    tokio::select! {
        _ = controls.cancel.cancelled() => false,
        _ = tokio::time::sleep_until(controls.start + at) => true,
    }
}

fn set_target(controls: &Controls, share: f64, phase: HandoverPhase) {
    if controls.targets.send(Target { share, phase: Some(phase) }).is_err() {
        tracing::debug!("no rehearsal client is following the target any more");
    }
}

/// Runs the plan's steps.
pub async fn run(plan: &RolloutPlan, controls: Controls) -> RehearsalRecord {
    let mut record = RehearsalRecord::default();
    for step in &plan.steps {
        if !until(&controls, step.start).await {
            break;
        }
        set_target(&controls, step.share, HandoverPhase::Step(step.index));
        if !until(&controls, step.judged_at).await {
            break;
        }
        let Some(figures) = figures(&controls, step.index).await else { break };
        let exposure = controls.exposures.get(step.index).copied().unwrap_or_default();
        let own = Contribution { figures, exposure };
        let whole = match pooled(&controls, step.index, &own).await {
            Some(Ok(whole)) => whole,
            Some(Err(why)) => {
                record.unpooled = Some((step.index, why));
                break;
            }
            None => break,
        };
        let judgement = judge_step(&plan.triggers, &whole.figures, whole.exposure);
        let fired = !judgement.fired.is_empty();
        record.steps.push(JudgedStep { step: *step, clients_on_new: whole.exposure.clients, judgement, own });
        if fired && record.first_rollback.is_none() {
            record.first_rollback = Some(step.index);
            if plan.rollback == RollbackMode::Perform {
                record.rolled_back_at = Some(controls.start.elapsed());
                roll_back(plan, &controls, step.share, &mut record).await;
                break;
            }
        }
    }
    record
}

/// The whole population's step: this process's own figures, or in a sharded rehearsal every shard's added;
/// why not when the shards' could not be pooled, `None` when the run was cancelled first.
async fn pooled(controls: &Controls, step: usize, own: &Contribution) -> Option<Result<Contribution, String>> {
    let Some(pool) = &controls.pool else { return Some(Ok(own.clone())) };
    tokio::select! {
        _ = controls.cancel.cancelled() => None,
        all = pool.pool(step, own) => Some(all.map(|all| Contribution::pooled(&all))),
    }
}

/// Moves the clients back from `share`: at once, or one rollback step every `every` until 0, unless the run
/// ends first.
async fn roll_back(plan: &RolloutPlan, controls: &Controls, share: f64, record: &mut RehearsalRecord) {
    let every = match plan.rollback_steps {
        RollbackSteps::Gradual { every, .. } => every,
        RollbackSteps::AllAtOnce => Duration::ZERO,
    };
    for (k, share) in plan.rollback_shares(share).into_iter().enumerate() {
        if k > 0 && !until(controls, controls.start.elapsed() + every).await {
            return;
        }
        record.rollback_moves.push((controls.start.elapsed(), share));
        set_target(controls, share, HandoverPhase::Rollback);
    }
    record.rolled_back = true;
}
