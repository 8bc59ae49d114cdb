//! The mock's write lag: from an event's publication to the moment one connection's writer takes it to
//! write, without the delay a latency fault added on purpose. Shared by every connection task
//! of a server, so it is a fixed array of atomic counters (no lock on the write path): log-linear buckets,
//! eight per power of two, good to 12.5 %.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Sub-buckets per power of two.
const SUB: u64 = 8;
/// Powers of two covered (values up to 2^40 µs, about 12 days).
const POWERS: usize = 40;
const BUCKETS: usize = POWERS * SUB as usize;

/// Write-lag counters.
#[derive(Debug)]
pub struct WriteLagMeter {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
}

/// What the meter read, for `/stats` and the run summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteLag {
    /// Median (µs).
    pub p50_us: u64,
    /// 99th percentile (µs).
    pub p99_us: u64,
    /// 99.9th percentile (µs).
    #[serde(default)]
    pub p999_us: u64,
    /// Largest (µs).
    pub max_us: u64,
    /// Messages measured.
    pub messages: u64,
}

impl Default for WriteLagMeter {
    fn default() -> Self {
        WriteLagMeter { buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(), max: AtomicU64::new(0) }
    }
}

impl WriteLagMeter {
    /// Records `count` messages that waited `us` microseconds.
    pub fn record_n(&self, us: u64, count: u64) {
        if count == 0 {
            return;
        }
        self.buckets[bucket(us)].fetch_add(count, Ordering::Relaxed);
        self.max.fetch_max(us, Ordering::Relaxed);
    }

    /// Starts counting afresh.
    pub fn reset(&self) {
        for bucket in self.buckets.iter() {
            bucket.store(0, Ordering::Relaxed);
        }
        self.max.store(0, Ordering::Relaxed);
    }

    /// The figures so far.
    pub fn read(&self) -> WriteLag {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let messages: u64 = counts.iter().sum();
        let max = self.max.load(Ordering::Relaxed);
        let at = |q: f64| quantile(&counts, messages, q).min(max);
        WriteLag { p50_us: at(0.5), p99_us: at(0.99), p999_us: at(0.999), max_us: max, messages }
    }
}

/// The bucket of a value: values below `SUB` have one each, then eight per power of two.
fn bucket(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    let power = 63 - u64::leading_zeros(us) as u64; // ≥ 3
    let sub = (us >> (power - 3)) & (SUB - 1);
    (((power - 2) * SUB + sub) as usize).min(BUCKETS - 1)
}

/// The largest value that falls in bucket `i`.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let power = i / SUB + 2;
    let sub = i % SUB;
    ((SUB + sub + 1) << (power - 3)) - 1
}

fn quantile(counts: &[u64], total: u64, q: f64) -> u64 {
    if total == 0 {
        return 0;
    }
    let rank = ((total as f64 * q).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return upper(i);
        }
    }
    upper(counts.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values_within_an_eighth() {
        for v in [0, 1, 7, 8, 9, 15, 16, 100, 1_000, 4_999, 65_536, 1_000_000_007] {
            let b = bucket(v);
            assert!(upper(b) >= v, "{v} above its bucket's bound {}", upper(b));
            assert!(b == 0 || upper(b - 1) < v, "{v} belongs in an earlier bucket");
            assert!(upper(b) as f64 <= v as f64 * 1.125 + 1.0, "{v}: bound {} too loose", upper(b));
        }
    }

    #[test]
    fn quantiles_of_a_hand_computed_case() {
        let meter = WriteLagMeter::default();
        meter.record_n(100, 98);
        meter.record_n(5_000, 1);
        meter.record_n(20_000, 1);
        let lag = meter.read();
        assert_eq!(lag.messages, 100);
        assert!((100..=112).contains(&lag.p50_us), "{lag:?}");
        assert!((5_000..=5_625).contains(&lag.p99_us), "the 99th of 100 is the 5 ms one: {lag:?}");
        assert_eq!(lag.p999_us, 20_000, "the 100th of 100");
        assert_eq!(lag.max_us, 20_000);
        assert_eq!(WriteLagMeter::default().read(), WriteLag::default());
    }
}
