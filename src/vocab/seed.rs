//! Seed derivation: how one scenario seed becomes the independent seeds of symbols, connections and
//! selections.

/// The golden-ratio increment of SplitMix64.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finaliser: spreads a key's bits before it seeds a generator.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One step of SplitMix64 from state `z`: the increment, then the finaliser.
pub fn splitmix64(z: u64) -> u64 {
    mix(z.wrapping_add(GOLDEN))
}

/// The seed of one numbered thing of one indexed kind, from a run's seed: the `number`-th occurrence of
/// fault `index`, the `number`-th churn round of client `index`, a client's own backoff generator. Every
/// stream of randomness of a run comes from here or from [`splitmix64`], so one seed gives one run.
pub fn derive(seed: u64, index: usize, number: u32) -> u64 {
    mix(seed ^ ((index as u64) << 32) ^ u64::from(number) ^ GOLDEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_its_reference_output() {
        // The first output of SplitMix64 seeded with 0 (Vigna's reference implementation).
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(mix(0), 0);
    }

    #[test]
    fn derived_seeds_differ_by_index_and_number() {
        let seeds = [derive(7, 0, 0), derive(7, 1, 0), derive(7, 0, 1), derive(8, 0, 0)];
        for (i, a) in seeds.iter().enumerate() {
            assert!(seeds[i + 1..].iter().all(|b| a != b), "{seeds:?}");
        }
        assert_eq!(derive(7, 3, 2), derive(7, 3, 2));
    }
}
