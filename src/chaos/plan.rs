//! The fault plan: a pure, seeded expansion of a list of faults into the occurrences of one run.
//!
//! Each fault fires at `at`, again every `every` while the run lasts, and each occurrence's window ends at
//! its duration (or stagger), clamped to the end of the run; nothing is ever scheduled outside the run.
//! Every occurrence carries its own seed derived from the run seed, the fault's index and the occurrence
//! number, so the same seed selects the same connections and draws the same probabilities.

use std::time::Duration;

use serde::Serialize;

use crate::chaos::fault::Fault;

/// One firing of one fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Occurrence {
    /// Index of the fault in the list.
    pub fault: usize,
    /// 0 for the first firing, then 1, 2, … for repetitions.
    pub number: u32,
    /// Offset from the start of the run.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub start: Duration,
    /// End of its window (equal to `start` for instant faults); never after the run.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub end: Duration,
    /// The seed its selections and probabilities are drawn from.
    pub seed: u64,
}

/// Every occurrence of a run, in start order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultPlan {
    /// Length of the run the plan covers.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub run: Duration,
    /// The occurrences, sorted by start (then fault index).
    pub occurrences: Vec<Occurrence>,
}

/// Upper bound on occurrences per fault, so a tiny `every` cannot make a plan unbounded.
pub const MAX_OCCURRENCES_PER_FAULT: u32 = 100_000;

impl FaultPlan {
    /// Expands `faults` over a run of length `run` with `seed`.
    pub fn build(faults: &[Fault], seed: u64, run: Duration) -> FaultPlan {
        let mut occurrences: Vec<Occurrence> =
            faults.iter().enumerate().flat_map(|(index, fault)| occurrences_of(fault, index, seed, run)).collect();
        occurrences.sort_by_key(|o| (o.start, o.fault, o.number));
        FaultPlan { run, occurrences }
    }

    /// The windows that get latency and staleness figures of their own: the occurrences with a length,
    /// the first [`WINDOWS_JUDGED`] of them.
    pub fn judged_windows(&self) -> impl Iterator<Item = &Occurrence> {
        self.occurrences.iter().filter(|o| o.end > o.start).take(WINDOWS_JUDGED)
    }
}

/// Fault windows with figures of their own, at most.
pub const WINDOWS_JUDGED: usize = 64;

fn occurrences_of(fault: &Fault, index: usize, seed: u64, run: Duration) -> Vec<Occurrence> {
    let mut out = Vec::new();
    let mut start = fault.timing.at;
    let mut number = 0;
    while start < run && number < MAX_OCCURRENCES_PER_FAULT {
        let end = match fault.window() {
            Some(window) => (start + window).min(run),
            None => run,
        };
        out.push(Occurrence {
            fault: index,
            number,
            start,
            end,
            seed: crate::vocab::seed::derive(seed, index, number),
        });
        let Some(every) = fault.timing.every.filter(|e| !e.is_zero()) else { break };
        start += every;
        number += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::fault::{RawFault, validate_all};
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn faults(text: &str) -> Vec<Fault> {
        #[derive(serde::Deserialize)]
        struct File {
            faults: Vec<RawFault>,
        }
        let file: File = toml::from_str(text).unwrap();
        validate_all(&file.faults, "faults").unwrap()
    }

    const PLAN: &str = r#"
        [[faults]]
        kind = "disconnect"
        at = "10s"
        every = "30s"
        stagger = "5s"
        share = 0.5
        [[faults]]
        kind = "stall"
        at = "45s"
        duration = "20s"
        [[faults]]
        kind = "burst"
        factor = 4.0
        at = "5m"
    "#;

    #[test]
    fn the_same_seed_gives_the_same_plan() {
        let f = faults(PLAN);
        let a = FaultPlan::build(&f, 7, Duration::from_secs(60));
        assert_eq!(a, FaultPlan::build(&f, 7, Duration::from_secs(60)));
        assert_ne!(a, FaultPlan::build(&f, 8, Duration::from_secs(60)), "seeds differ");
        let starts: Vec<(usize, u64, u64)> =
            a.occurrences.iter().map(|o| (o.fault, o.start.as_secs(), o.end.as_secs())).collect();
        assert_eq!(starts, [(0, 10, 15), (0, 40, 45), (1, 45, 60)], "stall clamped to the run; burst after it dropped");
    }

    #[test]
    fn judged_windows_are_the_first_occurrences_with_a_length() {
        let text = "[[faults]]\nkind = \"disconnect\"\nevery = \"1s\"\n\
                    [[faults]]\nkind = \"stall\"\nduration = \"500ms\"\nevery = \"1s\"\n";
        let plan = FaultPlan::build(&faults(text), 1, Duration::from_secs(100));
        assert_eq!(plan.occurrences.len(), 200, "an instant disconnect and a stall every second");
        let judged: Vec<&Occurrence> = plan.judged_windows().collect();
        assert_eq!(judged.len(), WINDOWS_JUDGED);
        assert!(judged.iter().all(|o| o.fault == 1), "instant occurrences have no window");
        assert_eq!(judged.last().unwrap().start, Duration::from_secs(WINDOWS_JUDGED as u64 - 1));
    }

    #[test]
    fn nothing_is_ever_scheduled_outside_the_run() {
        let mut rng = StdRng::seed_from_u64(1);
        for case in 0..500 {
            let run = Duration::from_millis(rng.random_range(1..600_000));
            let text = format!(
                "[[faults]]\nkind = \"latency\"\ndelay = \"10ms\"\nat = \"{}ms\"\nduration = \"{}ms\"\nevery = \"{}ms\"\n",
                rng.random_range(0..700_000),
                rng.random_range(1..50_000),
                rng.random_range(50_001..200_000),
            );
            let plan = FaultPlan::build(&faults(&text), case, run);
            for o in &plan.occurrences {
                assert!(o.start < run && o.end <= run && o.start <= o.end, "case {case}: {o:?} in {run:?}");
            }
        }
    }

    #[test]
    fn repetitions_are_bounded() {
        let f = faults("[[faults]]\nkind = \"disconnect\"\nevery = \"1ms\"\n");
        let plan = FaultPlan::build(&f, 1, Duration::from_secs(3600));
        assert_eq!(plan.occurrences.len(), MAX_OCCURRENCES_PER_FAULT as usize);
    }
}
