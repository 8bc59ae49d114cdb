//! The start barrier of a sharded run whose shards cannot be started together by one parent (pods of a
//! Kubernetes Job, processes on several machines): each shard arrives at the shared mock's control API
//! (`POST /barrier`) with its index and the shard count; once every shard has arrived, the mock names one
//! start instant a lead time ahead, the same in every answer from then on. Pure: arrivals and the clock in,
//! the barrier's state out.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// An arrival: `POST /barrier`'s body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    /// The shard arriving, `0..parties`.
    pub party: u32,
    /// The shards of the run.
    pub parties: u32,
    /// How far ahead of the last arrival the start is (ms): time for every shard to hear of it.
    pub lead_ms: u64,
}

/// What the barrier answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BarrierState {
    /// The shards of the run (0 before the first arrival).
    pub parties: u32,
    /// Shards arrived.
    pub arrived: u32,
    /// The start, Unix ms, once every shard has arrived.
    pub start_unix_ms: Option<u64>,
}

/// The barrier.
#[derive(Debug, Default)]
pub struct Barrier {
    parties: u32,
    arrived: BTreeSet<u32>,
    start_unix_ms: Option<u64>,
}

impl Barrier {
    /// Records an arrival at `now_unix_ms`; an arrival of another run (another shard count) or of no shard
    /// of it is refused with why. Arriving again is harmless (a restarted pod).
    pub fn arrive(&mut self, arrival: Arrival, now_unix_ms: u64) -> Result<BarrierState, String> {
        if arrival.parties == 0 || arrival.party >= arrival.parties {
            return Err(format!("party {} of {} is no shard: 0 <= party < parties", arrival.party, arrival.parties));
        }
        if self.parties != 0 && self.parties != arrival.parties {
            return Err(format!(
                "this barrier is for {} shards, not {}: DELETE /barrier to start another run",
                self.parties, arrival.parties
            ));
        }
        self.parties = arrival.parties;
        self.arrived.insert(arrival.party);
        if self.start_unix_ms.is_none() && self.arrived.len() as u32 == self.parties {
            self.start_unix_ms = Some(now_unix_ms + arrival.lead_ms);
        }
        Ok(self.state())
    }

    /// Where the barrier stands.
    pub fn state(&self) -> BarrierState {
        BarrierState { parties: self.parties, arrived: self.arrived.len() as u32, start_unix_ms: self.start_unix_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(party: u32) -> Arrival {
        Arrival { party, parties: 3, lead_ms: 2_000 }
    }

    #[test]
    fn the_start_is_named_once_every_shard_has_arrived() {
        let mut b = Barrier::default();
        assert_eq!(b.arrive(arrival(2), 1_000).unwrap().start_unix_ms, None);
        assert_eq!(b.arrive(arrival(2), 1_100).unwrap().arrived, 1, "arriving again counts once");
        assert_eq!(b.arrive(arrival(0), 1_200).unwrap().start_unix_ms, None);
        let all = b.arrive(arrival(1), 1_300).unwrap();
        assert_eq!((all.arrived, all.start_unix_ms), (3, Some(3_300)));
        assert_eq!(b.arrive(arrival(0), 9_000).unwrap().start_unix_ms, Some(3_300), "the start does not move");
    }

    #[test]
    fn arrivals_of_another_run_or_no_shard_are_refused() {
        let mut b = Barrier::default();
        b.arrive(arrival(0), 0).unwrap();
        let other = b.arrive(Arrival { party: 0, parties: 4, lead_ms: 0 }, 0).unwrap_err();
        assert!(other.contains("for 3 shards, not 4"), "{other}");
        assert!(b.arrive(Arrival { party: 3, parties: 3, lead_ms: 0 }, 0).unwrap_err().contains("no shard"));
    }
}
