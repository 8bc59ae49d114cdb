//! The whole rig's self-check: the delay the rig itself adds (the mock's feed and writers, the harness's
//! scheduler and readers, the kernel and the machine), measured apart from the managers and from injected
//! faults, and judged against the scenario's thresholds. A run whose rig lagged has latency and storm
//! figures that measure the rig: those verdicts are `not-measurable`.
//!
//! Pure: what the self-checks recorded in, [`RigSummary`] out.

use serde::{Deserialize, Serialize};

use crate::mock::MockSnapshot;
use crate::record::canary::CanaryRecord;
use crate::record::selfcheck::Health;

/// One part of the rig and what it measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RigPart {
    /// `canary`, `mock-writes`, `mock-feed` or `scheduler`.
    pub part: String,
    /// What it measures.
    pub what: String,
    /// Median (µs).
    pub p50_us: u64,
    /// 99th percentile (µs), the figure judged.
    pub p99_us: u64,
    /// Largest (µs).
    pub max_us: u64,
    /// Samples behind the figures.
    pub samples: u64,
    /// The p99 above which this part lagged (µs).
    pub threshold_us: u64,
    /// False when the run could not measure this part (say why in `note`).
    pub measured: bool,
    /// Its p99 was above its threshold.
    pub lagged: bool,
    /// For the kernel's listen queue: connection attempts it dropped (each waited on a SYN retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    /// Why it was not measured, or anything else a reader needs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// The rig's self-check in `summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RigSummary {
    /// Some part of the rig lagged: latency and storm verdicts are `not-measurable`.
    pub lagged: bool,
    /// The parts that lagged.
    pub lagging: Vec<String>,
    /// Every part.
    pub parts: Vec<RigPart>,
    /// The canaries' worst one-second p99 (µs; 0 without canaries).
    pub canary_worst_second_p99_us: u64,
    /// The second it happened in.
    pub canary_worst_second: Option<usize>,
    /// CPU seconds of the harness's process.
    pub harness_cpu_seconds: f64,
    /// CPU seconds of the mock's own process (`None` when the mock is embedded, so its CPU is the
    /// harness's, or external).
    pub mock_cpu_seconds: Option<f64>,
    /// Largest resident memory of the mock's own process (KiB).
    pub mock_peak_rss_kib: Option<u64>,
}

impl RigSummary {
    /// The sentence that says which part of the rig lagged, for reports and verdicts.
    pub fn cause(&self) -> String {
        let named: Vec<String> = self
            .parts
            .iter()
            .filter(|p| p.lagged)
            .map(|p| match p.dropped {
                Some(n) => format!("{} dropped {n} connection attempts (each waited on a SYN retry)", p.part),
                // A part judged on more than its p99 (the shards of a merged run) says why in its note.
                None if p.p99_us <= p.threshold_us && !p.note.is_empty() => format!("{}: {}", p.part, p.note),
                None => format!("{} p99 {:.1} ms > {:.1} ms", p.part, ms(p.p99_us), ms(p.threshold_us)),
            })
            .collect();
        if named.is_empty() { "the rig kept up".to_owned() } else { format!("the rig lagged: {}", named.join(", ")) }
    }

    /// A part by name.
    pub fn part(&self, name: &str) -> Option<&RigPart> {
        self.parts.iter().find(|p| p.part == name)
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// What the self-checks recorded, and the thresholds to judge them by.
#[derive(Debug, Clone, Copy)]
pub struct RigInputs<'a> {
    /// The harness's scheduler lag and CPU.
    pub health: &'a Health,
    /// The canaries (`None` when the run had none).
    pub canary: Option<&'a CanaryRecord>,
    /// The mock's counters (`None` for an external upstream, or a mock that died).
    pub mock: Option<&'a MockSnapshot>,
    /// True when the mock ran in its own process.
    pub mock_in_own_process: bool,
    /// The threshold on the scheduler lag p99 (µs).
    pub scheduler_threshold_us: u64,
    /// The threshold on the canary, write-lag and feed-lag p99 (µs).
    pub rig_threshold_us: u64,
    /// Connection attempts the kernel's listen queues dropped during the run (`None`: not readable).
    pub listen_drops: Option<u64>,
    /// The kernel's cap on a listen backlog.
    pub somaxconn: Option<u64>,
}

/// Judges the rig.
pub fn rig_summary(inputs: RigInputs<'_>) -> RigSummary {
    let parts = vec![
        canary_part(inputs.canary, inputs.rig_threshold_us),
        mock_writes_part(inputs.mock, inputs.rig_threshold_us),
        mock_feed_part(inputs.mock, inputs.rig_threshold_us),
        scheduler_part(inputs.health, inputs.scheduler_threshold_us),
        listen_part(inputs.listen_drops, inputs.somaxconn),
    ];
    let lagging: Vec<String> = parts.iter().filter(|p| p.lagged).map(|p| p.part.clone()).collect();
    let worst = inputs.canary.and_then(|c| {
        c.p99_per_second.iter().copied().enumerate().max_by_key(|(second, p99)| (*p99, usize::MAX - second))
    });
    let own = inputs.mock.filter(|_| inputs.mock_in_own_process);
    RigSummary {
        lagged: !lagging.is_empty(),
        lagging,
        parts,
        canary_worst_second_p99_us: worst.map_or(0, |(_, p99)| p99),
        canary_worst_second: worst.map(|(second, _)| second),
        harness_cpu_seconds: round2(inputs.health.cpu_seconds),
        mock_cpu_seconds: own.map(|m| round2(m.process_cpu_seconds)),
        mock_peak_rss_kib: own.map(|m| m.process_peak_rss_kib),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn judged(mut part: RigPart) -> RigPart {
    part.lagged = part.measured && part.p99_us > part.threshold_us;
    part
}

fn canary_part(canary: Option<&CanaryRecord>, threshold_us: u64) -> RigPart {
    let mut part = RigPart {
        part: "canary".into(),
        what: "canary event time to the harness's reader, on a quiet stream no manager or fault touches".into(),
        threshold_us,
        ..RigPart::default()
    };
    match canary {
        None => part.note = "no canaries (an external upstream, or `canaries = 0`)".into(),
        Some(c) if c.latency.is_empty() => part.note = "the canaries received nothing".into(),
        Some(c) => {
            part.measured = true;
            part.p50_us = c.latency.value_at_quantile(0.5);
            part.p99_us = c.latency.value_at_quantile(0.99);
            part.max_us = c.latency.max();
            part.samples = c.latency.len();
            if c.missed > 0 {
                part.note = format!("{} canary events did not arrive on an open connection", c.missed);
            }
        }
    }
    judged(part)
}

/// Figures of one part of the mock: p50, p99, max (µs) and samples.
type MockFigures = [u64; 4];

/// A part of the mock's own counters: its figures (`None` without a snapshot; `Some(None)` when it had no
/// samples, noted as `idle`).
fn mock_part(
    (part, what): (&str, &str),
    figures: Option<Option<MockFigures>>,
    threshold_us: u64,
    idle: &str,
) -> RigPart {
    let mut part = RigPart { part: part.into(), what: what.into(), threshold_us, ..RigPart::default() };
    match figures {
        Some(Some([p50, p99, max, samples])) => {
            (part.p50_us, part.p99_us, part.max_us, part.samples) = (p50, p99, max, samples);
            part.measured = true;
        }
        Some(None) => part.note = idle.into(),
        None => part.note = "not known: the upstream's counters were not read".into(),
    }
    judged(part)
}

fn mock_writes_part(mock: Option<&MockSnapshot>, threshold_us: u64) -> RigPart {
    let what = "publication to the connection's writer taking it, without injected delay";
    let figures = mock.map(|m| {
        let w = m.write_lag;
        (w.messages > 0).then_some([w.p50_us, w.p99_us, w.max_us, w.messages])
    });
    mock_part(("mock-writes", what), figures, threshold_us, "the mock wrote nothing")
}

fn mock_feed_part(mock: Option<&MockSnapshot>, threshold_us: u64) -> RigPart {
    let what = "the mock's feed timer lateness (events are stamped when generated; this is how late)";
    let figures = mock.map(|m| {
        let f = m.feed_lag;
        (f.jobs > 0).then_some([f.p50_us, f.p99_us, f.max_us, f.jobs])
    });
    mock_part(("mock-feed", what), figures, threshold_us, "the feed ran no job")
}

fn listen_part(drops: Option<u64>, somaxconn: Option<u64>) -> RigPart {
    let mut part = RigPart {
        part: "kernel-listen".into(),
        what: "connection attempts the kernel's listen queues dropped (a full accept queue): each waits a second for \
               its SYN retry, a storm tail that is the rig's"
            .into(),
        measured: drops.is_some(),
        lagged: drops.is_some_and(|n| n > 0),
        samples: drops.unwrap_or(0),
        dropped: drops,
        ..RigPart::default()
    };
    part.note = match (drops, somaxconn) {
        (None, _) => "not known: /proc/net/netstat is not readable".into(),
        (Some(_), Some(cap)) => format!("machine-wide count; listen backlogs are capped at net.core.somaxconn = {cap}"),
        (Some(_), None) => "machine-wide count".into(),
    };
    part
}

fn scheduler_part(health: &Health, threshold_us: u64) -> RigPart {
    let summary = health.summary();
    judged(RigPart {
        part: "scheduler".into(),
        what: "the harness's timer lateness (its runtime too busy to run a task)".into(),
        p50_us: summary.lag_p50_us,
        p99_us: summary.lag_p99_us,
        max_us: summary.lag_max_us,
        samples: health.lag.len(),
        threshold_us,
        measured: !health.lag.is_empty(),
        ..RigPart::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_judged_on_more_than_its_p99_says_why() {
        let part = |name: &str, p99_us, threshold_us, note: &str| RigPart {
            part: name.into(),
            p99_us,
            threshold_us,
            measured: true,
            lagged: true,
            note: note.into(),
            ..RigPart::default()
        };
        let rig = RigSummary {
            lagged: true,
            parts: vec![part("canary", 9_000, 5_000, ""), part("shards", 2_000, 25_000, "shard(s) 3 lagged")],
            ..RigSummary::default()
        };
        assert_eq!(rig.cause(), "the rig lagged: canary p99 9.0 ms > 5.0 ms, shards: shard(s) 3 lagged");
    }
}
