//! The board where the shards of a sharded rehearsal pool each step's figures (`POST /steps` of the shared
//! mock's control API): each shard posts its contribution to a step; once every shard of the run has posted
//! to it, every answer carries all of them, in shard order, so that every shard judges the same sum (the
//! control API holds a posting's answer until then, a few seconds at a time, so that the shards hear at
//! once). The board alone decides whether a step was pooled: a step not complete [`CLOSE_AFTER_MS`] after
//! its first posting is closed, and every answer about it from then on says so, so no shard judges a step
//! another gave up on. The contributions are opaque here (the rehearsal reads them). Pure: postings and the
//! clock in, the board's state out.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Runs the board keeps: a new one past these forgets the oldest.
const RUNS_KEPT: usize = 4;

/// How long after a step's first posting the others' may come (ms): the shards started together and judge
/// the step at one instant, so a shard later than this has died or fallen far behind.
pub const CLOSE_AFTER_MS: u64 = 10_000;

/// A posting: `POST /steps`'s body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Posting {
    /// The run it belongs to (its shards name it alike: scenario, seed and planned start).
    pub run: String,
    /// The step, 0-based.
    pub step: usize,
    /// The shard posting, `0..parties`.
    pub party: u32,
    /// The shards of the run.
    pub parties: u32,
    /// What it measured of the step.
    pub contribution: serde_json::Value,
}

/// What the board answers about one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    /// The shards of the run.
    pub parties: u32,
    /// Shards posted to the step.
    pub posted: u32,
    /// Every shard's contribution in shard order, once every shard has posted.
    pub all: Option<Vec<serde_json::Value>>,
    /// The step closed before every shard had posted: it is decided on nothing.
    #[serde(default)]
    pub closed: bool,
    /// Until the step closes, if it is still waiting for some shard (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_in_ms: Option<u64>,
}

/// One step: when it was first posted to, and each shard's contribution.
#[derive(Debug, Default)]
struct Step {
    first_ms: u64,
    contributions: BTreeMap<u32, serde_json::Value>,
}

/// One run's steps.
#[derive(Debug)]
struct Run {
    parties: u32,
    steps: BTreeMap<usize, Step>,
}

/// The board.
#[derive(Debug, Default)]
pub struct StepBoard {
    runs: VecDeque<(String, Run)>,
}

impl StepBoard {
    /// Records a posting at `now_ms`; a posting of no shard of its run, of a shard count other than its
    /// run's, or of other figures than the shard already posted to the step (another run under the same
    /// name) is refused with why. Posting again is harmless (a shard asking whether the others are in yet
    /// posts again); posting to a closed step only hears that it closed.
    pub fn post(&mut self, posting: Posting, now_ms: u64) -> Result<StepState, String> {
        if posting.parties == 0 || posting.party >= posting.parties {
            return Err(format!("party {} of {} is no shard: 0 <= party < parties", posting.party, posting.parties));
        }
        let name = posting.run.clone();
        let run = self.run(&name, posting.parties);
        if run.parties != posting.parties {
            return Err(format!(
                "run '{name}' has {} shards, not {}: its shards must be started alike",
                run.parties, posting.parties
            ));
        }
        let parties = run.parties;
        let step = run.steps.entry(posting.step).or_insert_with(|| Step { first_ms: now_ms, ..Step::default() });
        if let Some(earlier) = step.contributions.get(&posting.party) {
            if *earlier != posting.contribution {
                return Err(format!(
                    "run '{name}' already holds other figures of shard {} for step {}: another run with the same \
                     scenario, seed and start? Start it at another --start-at",
                    posting.party,
                    posting.step + 1
                ));
            }
        } else if !closed(parties, step, now_ms) {
            step.contributions.insert(posting.party, posting.contribution);
        }
        Ok(state(parties, step, now_ms))
    }

    /// Where step `step` of the run named `run` stands at `now_ms` (nothing posted to it, if the board does
    /// not know it).
    pub fn state(&self, run: &str, step: usize, now_ms: u64) -> StepState {
        let empty = |parties| StepState { parties, posted: 0, all: None, closed: false, closes_in_ms: None };
        match self.runs.iter().find(|(n, _)| n == run) {
            Some((_, r)) => r.steps.get(&step).map_or(empty(r.parties), |s| state(r.parties, s, now_ms)),
            None => empty(0),
        }
    }

    /// The run named `name`, opened for `parties` shards if the board does not hold it yet.
    fn run(&mut self, name: &str, parties: u32) -> &mut Run {
        let at = match self.runs.iter().position(|(n, _)| n == name) {
            Some(at) => at,
            None => {
                if self.runs.len() == RUNS_KEPT {
                    self.runs.pop_front();
                }
                self.runs.push_back((name.to_owned(), Run { parties, steps: BTreeMap::new() }));
                self.runs.len() - 1
            }
        };
        &mut self.runs[at].1
    }
}

/// Whether the step closed without every shard: its time is up and some shard's figures are missing.
fn closed(parties: u32, step: &Step, now_ms: u64) -> bool {
    (step.contributions.len() as u32) < parties && now_ms >= step.first_ms + CLOSE_AFTER_MS
}

fn state(parties: u32, step: &Step, now_ms: u64) -> StepState {
    let complete = step.contributions.len() as u32 == parties;
    let all = complete.then(|| step.contributions.values().cloned().collect());
    let closed = closed(parties, step, now_ms);
    let closes_in_ms = (!complete && !closed).then(|| (step.first_ms + CLOSE_AFTER_MS).saturating_sub(now_ms));
    StepState { parties, posted: step.contributions.len() as u32, all, closed, closes_in_ms }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn posting(run: &str, step: usize, party: u32, value: u32) -> Posting {
        Posting { run: run.into(), step, party, parties: 2, contribution: json!(value) }
    }

    #[test]
    fn a_step_answers_every_contribution_in_shard_order_once_all_are_in() {
        let mut board = StepBoard::default();
        assert_eq!(board.post(posting("r", 0, 1, 11), 0).unwrap().all, None);
        assert_eq!(board.post(posting("r", 0, 1, 11), 5).unwrap().posted, 1, "posting again counts once");
        assert_eq!(board.post(posting("r", 1, 0, 20), 5).unwrap().all, None, "another step is another pool");
        let all = board.post(posting("r", 0, 0, 10), 9_999).unwrap();
        assert_eq!((all.all, all.closed), (Some(vec![json!(10), json!(11)]), false));
        assert!(board.state("r", 0, 99_999).all.is_some() && !board.state("r", 0, 99_999).closed, "complete stays");
        assert_eq!(board.post(posting("other", 0, 0, 5), 0).unwrap().posted, 1, "another run pools apart");
        assert_eq!(
            (board.state("r", 1, 5).posted, board.state("r", 7, 5).posted, board.state("none", 0, 5).parties),
            (1, 0, 0)
        );
    }

    #[test]
    fn a_step_late_shards_miss_is_closed_for_every_shard() {
        let mut board = StepBoard::default();
        board.post(posting("r", 0, 0, 10), 1_000).unwrap();
        assert_eq!(board.state("r", 0, 4_000).closes_in_ms, Some(CLOSE_AFTER_MS - 3_000));
        let late = board.post(posting("r", 0, 1, 11), 1_000 + CLOSE_AFTER_MS).unwrap();
        assert_eq!((late.all, late.closed, late.posted), (None, true, 1), "the late shard's figures are not taken");
        assert!(
            board.post(posting("r", 0, 0, 10), 1_000 + CLOSE_AFTER_MS + 1).unwrap().closed,
            "the early one hears it"
        );
    }

    #[test]
    fn postings_of_no_shard_another_count_or_another_run_s_figures_are_refused() {
        let mut board = StepBoard::default();
        board.post(posting("r", 0, 0, 1), 0).unwrap();
        let other = Posting { parties: 3, ..posting("r", 0, 2, 1) };
        assert!(board.post(other, 0).unwrap_err().contains("has 2 shards, not 3"));
        assert!(board.post(Posting { party: 2, ..posting("r", 0, 0, 1) }, 0).unwrap_err().contains("no shard"));
        assert!(board.post(posting("r", 0, 0, 2), 0).unwrap_err().contains("already holds other figures of shard 0"));
        for k in 0..RUNS_KEPT {
            board.post(posting(&format!("n{k}"), 0, 0, 1), 0).unwrap();
        }
        assert_eq!(board.post(posting("r", 0, 1, 2), 0).unwrap().posted, 1, "run r was forgotten");
    }
}
