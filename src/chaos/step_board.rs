//! The board where the shards of a sharded rehearsal pool each step's figures (`POST /steps` of the shared
//! mock's control API): each shard posts its contribution to a step; once every shard of the run has posted
//! to it, every answer carries all of them, in shard order, so that every shard judges the same sum (the
//! control API holds a posting's answer until then, a few seconds at most, so that the shards hear at once). The
//! contributions are opaque here (the rehearsal reads them). Pure: postings in, the board's state out.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Runs the board keeps: a new one past these forgets the oldest.
const RUNS_KEPT: usize = 4;

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
}

/// One run's steps: per step, each shard's contribution.
#[derive(Debug)]
struct Run {
    parties: u32,
    steps: BTreeMap<usize, BTreeMap<u32, serde_json::Value>>,
}

/// The board.
#[derive(Debug, Default)]
pub struct StepBoard {
    runs: VecDeque<(String, Run)>,
}

impl StepBoard {
    /// Records a posting; a posting of no shard of its run, or of a shard count other than its run's, is
    /// refused with why. Posting again is harmless: the first contribution stays (a shard asking whether
    /// the others are in yet posts again).
    pub fn post(&mut self, posting: Posting) -> Result<StepState, String> {
        if posting.parties == 0 || posting.party >= posting.parties {
            return Err(format!("party {} of {} is no shard: 0 <= party < parties", posting.party, posting.parties));
        }
        let run = self.run(&posting.run, posting.parties);
        if run.parties != posting.parties {
            return Err(format!(
                "run '{}' has {} shards, not {}: its shards must be started alike",
                posting.run, run.parties, posting.parties
            ));
        }
        let step = run.steps.entry(posting.step).or_default();
        step.entry(posting.party).or_insert(posting.contribution);
        Ok(state(run.parties, step))
    }

    /// Where step `step` of the run named `run` stands (nothing posted to it, if the board does not know it).
    pub fn state(&self, run: &str, step: usize) -> StepState {
        match self.runs.iter().find(|(n, _)| n == run) {
            Some((_, r)) => r
                .steps
                .get(&step)
                .map_or(StepState { parties: r.parties, posted: 0, all: None }, |s| state(r.parties, s)),
            None => StepState { parties: 0, posted: 0, all: None },
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

fn state(parties: u32, step: &BTreeMap<u32, serde_json::Value>) -> StepState {
    let all = (step.len() as u32 == parties).then(|| step.values().cloned().collect());
    StepState { parties, posted: step.len() as u32, all }
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
        assert_eq!(board.post(posting("r", 0, 1, 11)).unwrap().all, None);
        assert_eq!(board.post(posting("r", 0, 1, 99)).unwrap().posted, 1, "posting again counts once");
        assert_eq!(board.post(posting("r", 1, 0, 20)).unwrap().all, None, "another step is another pool");
        let all = board.post(posting("r", 0, 0, 10)).unwrap();
        assert_eq!(all.all, Some(vec![json!(10), json!(11)]), "the first contribution stays");
        assert_eq!(board.post(posting("other", 0, 0, 5)).unwrap().posted, 1, "another run pools apart");
        assert_eq!(board.state("r", 0).all.map(|a| a.len()), Some(2));
        assert_eq!((board.state("r", 1).posted, board.state("r", 7).posted, board.state("none", 0).parties), (1, 0, 0));
    }

    #[test]
    fn postings_of_no_shard_or_another_count_are_refused_and_old_runs_forgotten() {
        let mut board = StepBoard::default();
        board.post(posting("r", 0, 0, 1)).unwrap();
        let other = Posting { parties: 3, ..posting("r", 0, 2, 1) };
        assert!(board.post(other).unwrap_err().contains("has 2 shards, not 3"));
        assert!(board.post(Posting { party: 2, ..posting("r", 0, 0, 1) }).unwrap_err().contains("no shard"));
        for k in 0..RUNS_KEPT {
            board.post(posting(&format!("n{k}"), 0, 0, 1)).unwrap();
        }
        assert_eq!(board.post(posting("r", 0, 1, 2)).unwrap().posted, 1, "run r was forgotten");
    }
}
