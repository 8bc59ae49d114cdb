//! A sharded rehearsal's steps, judged on the whole population. Each shard's controller measures only its own
//! clients, so at every step it contributes its figures and who of its clients is on the new manager to a
//! pool every shard reads ([`StepPool`]: the shared mock's control API carries it), adds every shard's
//! contribution and judges the sum. Every shard so takes the same decision from the same data, with no leader
//! to wait for or lose. The merge judges each step again from the shards' contributions
//! ([`crate::rollout::merged`]).

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::record::steps::StepFigures;
use crate::rollout::evaluate::Exposure;

/// What one shard measured of a step: the new cohort's figures and its clients on the new manager.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Contribution {
    /// The new cohort's figures in the step.
    pub figures: StepFigures,
    /// Who was on the new manager.
    pub exposure: Exposure,
}

impl Contribution {
    /// Every shard's contributions added: the whole population's step.
    pub fn pooled(all: &[Contribution]) -> Contribution {
        let mut sum = Contribution::default();
        for one in all {
            sum.figures.absorb(&one.figures);
            sum.exposure.absorb(one.exposure);
        }
        sum
    }
}

/// The answer of a pool: every shard's contribution in shard order, or why they were not all in.
pub type Pooling<'a> = Pin<Box<dyn Future<Output = Result<Vec<Contribution>, String>> + Send + 'a>>;

/// Where the shards of a rehearsal pool each step's figures.
pub trait StepPool: Send + Sync {
    /// Contributes `own` to step `step` (0-based) and answers every shard's contribution, `own` included, once
    /// all are in; why not, when they are not in time.
    fn pool<'a>(&'a self, step: usize, own: &'a Contribution) -> Pooling<'a>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::steps::StepCounts;

    fn contribution(attempts: u64, connected: u64, latencies_ms: &[u64]) -> Contribution {
        let mut counts = StepCounts { attempts, connected, ..Default::default() };
        counts.failed_by_second = vec![(attempts, attempts - connected)];
        for ms in latencies_ms {
            counts.latency.record(ms * 1000).unwrap();
        }
        let figures = StepFigures { counts, ..Default::default() };
        Contribution { figures, exposure: Exposure { clients: 5, subscriptions: 50 } }
    }

    #[test]
    fn pooled_figures_are_the_sums_and_the_histograms_added() {
        let all = [contribution(10, 10, &[1, 2, 3]), contribution(30, 27, &[4])];
        let pooled = Contribution::pooled(&all);
        let c = &pooled.figures.counts;
        assert_eq!((c.attempts, c.connected, c.latency.len()), (40, 37, 4));
        assert_eq!(c.failed_by_second, [(40, 3)]);
        assert_eq!(pooled.exposure, Exposure { clients: 10, subscriptions: 100 });
    }
}
