//! Confidence intervals for comparative figures: on a shared machine two identical runs differ, so a
//! regression verdict on a point estimate flips on noise. A figure that compares two cohorts (or a cohort
//! with a stored baseline) carries a 95 % bootstrap interval over the run's seconds, as criterion does
//! over its samples: the seconds are resampled with replacement and the figure recomputed each time.
//!
//! Two cohorts of one run shared every second of the rig, so their seconds are resampled in pairs (the
//! shared noise cancels); a baseline's seconds are independent of the run's and are resampled apart.
//! Pure and seeded: the same series give the same interval.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Resamples per interval.
pub const RESAMPLES: usize = 2000;

/// Seconds needed on each side before an interval means anything.
pub const MIN_SECONDS: usize = 5;

/// A point estimate with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The figure from the series as they are.
    pub value: f64,
    /// 2.5th percentile of the resampled figure.
    pub low: f64,
    /// 97.5th percentile of the resampled figure.
    pub high: f64,
    /// Seconds the interval was drawn from.
    pub seconds: usize,
}

/// How much worse `new` is than `reference`, in percent, from per-second values (0 means no sample that
/// second): `100 × (Σ new / Σ reference − 1)`.
fn percent_worse(new: impl Iterator<Item = f64>, reference: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, r): (f64, f64) = (new.sum(), reference.sum());
    (r > 0.0).then(|| 100.0 * (n / r - 1.0))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn interval(value: f64, mut resampled: Vec<f64>, seconds: usize) -> Option<Estimate> {
    resampled.retain(|v| v.is_finite());
    if resampled.is_empty() {
        return None;
    }
    resampled.sort_by(f64::total_cmp);
    Some(Estimate { value, low: percentile(&resampled, 0.025), high: percentile(&resampled, 0.975), seconds })
}

/// `new` against `reference` second by second (the same run): the seconds where both have a value,
/// resampled in pairs.
pub fn paired(new: &[u64], reference: &[u64], seed: u64) -> Option<Estimate> {
    let pairs: Vec<(f64, f64)> =
        new.iter().zip(reference).filter(|(n, r)| **n > 0 && **r > 0).map(|(n, r)| (*n as f64, *r as f64)).collect();
    if pairs.len() < MIN_SECONDS {
        return None;
    }
    let value = percent_worse(pairs.iter().map(|p| p.0), pairs.iter().map(|p| p.1))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let resampled = (0..RESAMPLES)
        .filter_map(|_| {
            let picks: Vec<usize> = (0..pairs.len()).map(|_| rng.random_range(0..pairs.len())).collect();
            percent_worse(picks.iter().map(|i| pairs[*i].0), picks.iter().map(|i| pairs[*i].1))
        })
        .collect();
    interval(value, resampled, pairs.len())
}

/// `new` against `reference` from two different runs: each side's seconds resampled on their own.
pub fn unpaired(new: &[u64], reference: &[u64], seed: u64) -> Option<Estimate> {
    let (a, b): (Vec<f64>, Vec<f64>) = (
        new.iter().filter(|v| **v > 0).map(|v| *v as f64).collect(),
        reference.iter().filter(|v| **v > 0).map(|v| *v as f64).collect(),
    );
    if a.len() < MIN_SECONDS || b.len() < MIN_SECONDS {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let worse = |n: f64, r: f64| (r > 0.0).then(|| 100.0 * (n / r - 1.0));
    let value = worse(mean(&a), mean(&b))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut draw = |v: &[f64]| (0..v.len()).map(|_| v[rng.random_range(0..v.len())]).sum::<f64>() / v.len() as f64;
    let resampled = (0..RESAMPLES).filter_map(|_| worse(draw(&a), draw(&b))).collect();
    interval(value, resampled, a.len().min(b.len()))
}

/// One cohort's error rate as per-second parts: failed operations and attempts per second, and the
/// operations outside them (its subscriptions), which every resample keeps.
#[derive(Debug, Clone, Copy)]
pub struct Operations<'a> {
    /// Failed operations per second.
    pub failed: &'a [u64],
    /// Attempts per second.
    pub attempts: &'a [u64],
    /// Operations not in any second (subscriptions).
    pub fixed: u64,
}

impl Operations<'_> {
    /// The error rate (%) of the seconds `picks`, or of every second.
    fn rate(&self, picks: Option<&[usize]>) -> Option<f64> {
        let (failed, attempts): (u64, u64) = match picks {
            Some(p) => p.iter().fold((0, 0), |(f, a), i| (f + at(self.failed, *i), a + at(self.attempts, *i))),
            None => (self.failed.iter().sum(), self.attempts.iter().sum()),
        };
        let operations = attempts + self.fixed;
        (operations > 0).then(|| 100.0 * failed as f64 / operations as f64)
    }

    fn seconds(&self) -> usize {
        self.failed.len().max(self.attempts.len())
    }
}

fn at(series: &[u64], i: usize) -> u64 {
    series.get(i).copied().unwrap_or(0)
}

/// How many points `new`'s error rate is above `reference`'s, resampling seconds in pairs (the same run,
/// `paired`) or apart (a baseline).
pub fn error_points(new: Operations<'_>, reference: Operations<'_>, paired: bool, seed: u64) -> Option<Estimate> {
    let (n, r) = (new.seconds(), reference.seconds());
    if n < MIN_SECONDS || r < MIN_SECONDS {
        return None;
    }
    let value = new.rate(None)? - reference.rate(None)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut draw = |len: usize| -> Vec<usize> { (0..len).map(|_| rng.random_range(0..len)).collect() };
    let resampled = (0..RESAMPLES)
        .filter_map(|_| {
            let a = draw(n);
            let b = if paired && n == r { a.clone() } else { draw(r) };
            Some(new.rate(Some(&a))? - reference.rate(Some(&b))?)
        })
        .collect();
    interval(value, resampled, n.min(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A noisy per-second series around `level` µs (±20 %), seeded.
    fn noisy(level: f64, seconds: usize, seed: u64) -> Vec<u64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..seconds).map(|_| (level * rng.random_range(0.8..1.2)) as u64).collect()
    }

    #[test]
    fn the_same_level_twice_is_within_the_interval_ten_times_out_of_ten() {
        for seed in 0..10 {
            let (a, b) = (noisy(10_000.0, 30, seed), noisy(10_000.0, 30, seed + 100));
            let e = unpaired(&a, &b, seed).unwrap();
            assert!(e.low <= 5.0, "no regression beyond 5 %: {e:?}");
            assert!(e.low < e.value && e.value < e.high, "{e:?}");
        }
    }

    #[test]
    fn an_error_rate_difference_carries_its_interval() {
        let burst: Vec<u64> = (0..30).map(|s| if s == 10 { 40 } else { 0 }).collect();
        let calm = vec![0; 30];
        let attempts = vec![10; 30];
        let new = Operations { failed: &burst, attempts: &attempts, fixed: 100 };
        let reference = Operations { failed: &calm, attempts: &attempts, fixed: 100 };
        let e = error_points(new, reference, true, 1).unwrap();
        assert!((e.value - 10.0).abs() < 0.01, "40 failures in 400 operations: {e:?}");
        assert!(e.low <= 0.0 && e.high > 10.0, "one bad second: the interval reaches zero: {e:?}");
        let steady: Vec<u64> = vec![2; 30];
        let e = error_points(Operations { failed: &steady, ..new }, reference, true, 1).unwrap();
        assert!(e.low > 10.0, "a failure rate in every second is beyond the noise: {e:?}");
    }

    #[test]
    fn a_real_shift_is_beyond_the_interval_and_pairing_cancels_shared_noise() {
        let reference = noisy(10_000.0, 30, 1);
        let shifted: Vec<u64> = reference.iter().map(|v| v * 13 / 10).collect();
        let e = paired(&shifted, &reference, 3).unwrap();
        assert!((e.value - 30.0).abs() < 0.5 && e.low > 29.0, "the shared noise cancels: {e:?}");
        let apart = unpaired(&noisy(13_000.0, 30, 2), &reference, 3).unwrap();
        assert!(apart.low > 5.0 && apart.high > apart.low, "{apart:?}");
        assert_eq!(paired(&shifted, &reference, 3), Some(e), "seeded");
        assert_eq!(paired(&shifted[..3], &reference[..3], 3), None, "too few seconds");
    }
}
