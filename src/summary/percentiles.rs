//! The unit every latency-like figure of the summary is given in: a histogram's percentiles.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Percentiles of a histogram, in its unit (µs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// The median (50th percentile); 0 when nothing was recorded.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// The largest value recorded; 0 when nothing was.
    pub max: u64,
    /// The mean, rounded to one decimal; 0 when nothing was recorded.
    pub mean: f64,
}

impl Percentiles {
    /// The percentiles of `h` (all zero when empty).
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }
}
