//! A sharded rehearsal's step pool on a mock's board (`POST /steps` of its control API, which holds its
//! answer a few seconds for the other shards' figures): the shard posts its contribution, and again until
//! every shard's is in or the board closed the step (a shard that died or never started leaves the
//! others' step unjudged, and their rehearsal stops there: the board decides, so every shard hears the
//! same). A mock not answering is asked again after [`RETRY_AFTER`], at most [`POOL_WITHIN`].

use std::time::Duration;

use crate::chaos::step_board::Posting;
use crate::load::shard::Shard;
use crate::mock::process::{ControlApi, Refused, post_step};
use crate::rollout::pool::{Contribution, Pooling, StepPool};

/// How long a shard waits before asking a mock that did not answer again.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// How long a shard asks a board that does not answer: past the board's own closing of a step
/// ([`crate::chaos::step_board::CLOSE_AFTER_MS`]), so that only an unreachable mock ends it.
const POOL_WITHIN: Duration = Duration::from_secs(30);

/// The board of the mock behind `control`, for shard `shard` of the run named `run`.
pub(super) struct MockBoard {
    /// The control API holding the board.
    pub(super) control: ControlApi,
    /// The run's name on the board: every shard of it names it alike.
    pub(super) run: String,
    /// This shard.
    pub(super) shard: Shard,
}

impl StepPool for MockBoard {
    fn pool<'a>(&'a self, step: usize, own: &'a Contribution) -> Pooling<'a> {
        Box::pin(self.pooled(step, own))
    }
}

impl MockBoard {
    async fn pooled(&self, step: usize, own: &Contribution) -> Result<Vec<Contribution>, String> {
        let contribution = serde_json::to_value(own).map_err(|e| format!("the step's figures: {e}"))?;
        let (party, parties) = (self.shard.index, self.shard.count);
        let posting = Posting { run: self.run.clone(), step, party, parties, contribution };
        let mut waiting = String::from("no answer yet");
        let until = tokio::time::Instant::now() + POOL_WITHIN;
        // Bounded: every pass takes a held answer (seconds) or a retry's pause.
        while tokio::time::Instant::now() < until {
            match post_step(&self.control, &posting).await {
                Ok(state) => match state.all {
                    Some(all) => return all.into_iter().map(read_contribution).collect(),
                    None if state.closed => {
                        let (posted, parties) = (state.posted, state.parties);
                        return Err(format!(
                            "{posted} of {parties} shards' figures in when the board at {} closed the step",
                            self.control.addr
                        ));
                    }
                    None => waiting = format!("{} of {} shards' figures in", state.posted, state.parties),
                },
                Err(e) if e.is::<Refused>() => return Err(format!("{} refused them: {e:#}", self.control.addr)),
                Err(e) => {
                    waiting = format!("{e:#}");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
        Err(format!("not every shard's figures within {} s at {}: {waiting}", POOL_WITHIN.as_secs(), self.control.addr))
    }
}

fn read_contribution(value: serde_json::Value) -> Result<Contribution, String> {
    serde_json::from_value(value).map_err(|e| format!("a shard's figures are unreadable: {e}"))
}
