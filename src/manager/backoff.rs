//! Reconnect delays: the legacy manager's fixed, linear or exponential delay without jitter, and the new
//! managers' exponential backoff with full jitter (`random(0, min(cap, base × 2^attempt))`). Pure.

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

/// A delay policy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
pub enum Backoff {
    /// The same delay every time.
    Fixed {
        /// The wait before every reconnect attempt.
        #[serde(with = "crate::vocab::serialize::millis")]
        delay: Duration,
    },
    /// delay × (attempt + 1), capped.
    Linear {
        /// The first delay, and what each further attempt adds.
        #[serde(with = "crate::vocab::serialize::millis")]
        delay: Duration,
        /// The longest delay; later attempts all wait this long.
        #[serde(with = "crate::vocab::serialize::millis")]
        max: Duration,
    },
    /// delay × 2^attempt, capped, no jitter.
    Exponential {
        /// First delay.
        #[serde(with = "crate::vocab::serialize::millis")]
        delay: Duration,
        /// The longest delay; the doubling stops there.
        #[serde(with = "crate::vocab::serialize::millis")]
        max: Duration,
    },
    /// random(0, min(cap, base × 2^attempt)).
    FullJitter {
        /// The upper bound of the first retry's draw, doubled for each further attempt.
        #[serde(with = "crate::vocab::serialize::millis")]
        base: Duration,
        /// The largest upper bound a draw can have, however many attempts came before.
        #[serde(with = "crate::vocab::serialize::millis")]
        cap: Duration,
    },
}

impl Backoff {
    /// The delay before reconnect attempt number `attempt` (0 for the first retry).
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let doubled = |d: Duration, cap: Duration| d.saturating_mul(2u32.saturating_pow(attempt.min(31))).min(cap);
        match *self {
            Backoff::Fixed { delay } => delay,
            Backoff::Linear { delay, max } => delay.saturating_mul(attempt.saturating_add(1)).min(max),
            Backoff::Exponential { delay, max } => doubled(delay, max),
            Backoff::FullJitter { base, cap } => doubled(base, cap).mul_f64(rng.random::<f64>()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn policies_follow_their_formulas() {
        let mut rng = StdRng::seed_from_u64(1);
        let s = Duration::from_secs;
        assert_eq!(Backoff::Fixed { delay: s(1) }.delay(7, &mut rng), s(1));
        assert_eq!(Backoff::Linear { delay: s(1), max: s(5) }.delay(2, &mut rng), s(3));
        assert_eq!(Backoff::Linear { delay: s(1), max: s(5) }.delay(9, &mut rng), s(5));
        assert_eq!(Backoff::Exponential { delay: s(1), max: s(30) }.delay(3, &mut rng), s(8));
        assert_eq!(Backoff::Exponential { delay: s(1), max: s(30) }.delay(40, &mut rng), s(30));
        let jitter = Backoff::FullJitter { base: s(1), cap: s(30) };
        let draws: Vec<Duration> = (0..1000).map(|_| jitter.delay(4, &mut rng)).collect();
        assert!(draws.iter().all(|d| *d <= s(16)));
        let mean = draws.iter().map(Duration::as_secs_f64).sum::<f64>() / 1000.0;
        assert!((7.0..9.0).contains(&mean), "uniform on [0, 16 s]: mean {mean}");
        assert!(draws.iter().any(|d| *d < s(1)) && draws.iter().any(|d| *d > s(15)), "spread");
    }
}
