//! Shards: a deterministic slice of a run's population, so that several processes (or machines) together
//! run one scenario against one upstream. A client belongs to shard `hash(id) mod count`, a stable hash of
//! its index alone: shard I/N holds the same clients whatever the seed, the host or the order the shards
//! start in, and every client keeps its index (hence its source address, its seeded randomness and its
//! place in the ramp-up), so the shards of a run together behave as the unsharded run does.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::vocab::seed::splitmix64;

/// Keeps shard membership apart from every other use of a client's index.
const SALT: u64 = 0x5348_4152_445f_5753;

/// Most shards of one run.
pub const MAX_SHARDS: u32 = 4096;

/// Shard `index` of `count` (0-based, as Kubernetes' `JOB_COMPLETION_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// Which shard, `0..count`.
    pub index: u32,
    /// How many shards the run has.
    pub count: u32,
}

impl Shard {
    /// Whether client `id` is this shard's.
    pub fn owns(&self, id: u32) -> bool {
        self.count <= 1 || splitmix64(u64::from(id) ^ SALT) % u64::from(self.count) == u64::from(self.index)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = || format!("'{text}' is not a shard; write I/N with 0 <= I < N <= {MAX_SHARDS}, e.g. 0/4");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let index: u32 = index.trim().parse().map_err(|_| usage())?;
        let count: u32 = count.trim().parse().map_err(|_| usage())?;
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_is_in_exactly_one_shard_and_the_shards_are_even() {
        let count = 4;
        let shards: Vec<Shard> = (0..count).map(|index| Shard { index, count }).collect();
        let mut sizes = vec![0u32; count as usize];
        for id in 0..20_000 {
            let owners: Vec<&Shard> = shards.iter().filter(|s| s.owns(id)).collect();
            assert_eq!(owners.len(), 1, "client {id}");
            sizes[owners[0].index as usize] += 1;
        }
        assert!(sizes.iter().all(|s| (4_700..5_300).contains(s)), "{sizes:?}");
        assert!((0..1000).all(|id| Shard { index: 0, count: 1 }.owns(id)));
    }

    #[test]
    fn membership_is_a_fixed_function_of_the_index() {
        // Pinned: shard I/N must hold the same clients in every release, on every host (the values computed
        // independently, by SplitMix64 written out in Python).
        let of = |id| (0..4).find(|index| Shard { index: *index, count: 4 }.owns(id)).unwrap();
        let first: Vec<u32> = (0..12).map(of).collect();
        assert_eq!(first, (0..12).map(of).collect::<Vec<_>>());
        assert_eq!(first, PINNED.to_vec());
    }

    const PINNED: [u32; 12] = [1, 2, 0, 2, 0, 0, 0, 1, 2, 3, 3, 0];

    #[test]
    fn shards_parse_as_index_over_count() {
        assert_eq!("2/5".parse::<Shard>(), Ok(Shard { index: 2, count: 5 }));
        assert_eq!(Shard { index: 2, count: 5 }.to_string(), "2/5");
        for bad in ["5/5", "1/0", "x/2", "3", "-1/2", "0/5000"] {
            let error = bad.parse::<Shard>().unwrap_err();
            assert!(error.contains(bad) && error.contains("I/N"), "{error}");
        }
    }
}
