//! Comparing two runs: every criterion verdict of run A beside run B's (by criterion and cohort), with the
//! difference and whether the verdict regressed (pass → fail) or improved (fail → pass), then the key
//! figures of each cohort side by side. Pure: two summaries in, a [`RunComparison`] out; rendering it as
//! Markdown is [`markdown`]'s work, reading the run directories the command's.

use serde::Serialize;

use crate::summary::verdict::{Comparison, Status, Verdict};
use crate::summary::{CohortSummary, RunSummary};

/// Version of the `wschaos compare --json` format; raised on any incompatible change.
pub const COMPARE_SCHEMA_VERSION: u32 = 2;

/// One run as the comparison names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunLabel {
    /// The run directory, as given.
    pub dir: String,
    /// The scenario's name.
    pub scenario: String,
    /// Unix time the run started (ms).
    pub started_unix_ms: u64,
    /// Length (ms).
    pub elapsed_ms: u64,
    /// Stopped by Ctrl-C before its end.
    pub interrupted: bool,
    /// The harness was saturated (latency not measurable).
    pub saturated: bool,
}

/// How a criterion's verdict moved from run A to run B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Passed in A, fails in B: the gate.
    Regressed,
    /// Failed in A, passes in B.
    Improved,
    /// The same verdict in both runs.
    Same,
    /// Another change: judged in one run only, or measurable in one and not the other.
    Changed,
}

/// One criterion for one cohort in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionRow {
    /// Criterion id.
    pub criterion: String,
    /// The cohort judged (`None` for the harness).
    pub cohort: Option<String>,
    /// How the measured value is compared with the threshold.
    pub comparison: Comparison,
    /// Unit of the threshold and the values.
    pub unit: String,
    /// Threshold in run A (`None` when A did not judge it).
    pub threshold_a: Option<f64>,
    /// Threshold in run B.
    pub threshold_b: Option<f64>,
    /// What A measured.
    pub a: Option<f64>,
    /// What B measured.
    pub b: Option<f64>,
    /// B − A, and relative to A.
    pub difference: Difference,
    /// A's verdict.
    pub status_a: Option<Status>,
    /// B's verdict.
    pub status_b: Option<Status>,
    /// How the verdict moved: a latency criterion's pass → fail is a regression only when B's latency is
    /// worse than A's beyond the 95 % interval of the per-second figures (`interval`).
    pub change: Change,
    /// For latency criteria: how much worse B's per-second latency is than A's, in percent, as a 95 %
    /// interval (low, high).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
}

/// B − A: absolute, and in percent of A (`None` when a value is missing, or A is 0 for the percentage).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Difference {
    /// B − A.
    pub absolute: Option<f64>,
    /// (B − A) / |A| × 100.
    pub percent: Option<f64>,
}

impl Difference {
    /// The difference between two optional values.
    pub fn of(a: Option<f64>, b: Option<f64>) -> Difference {
        let (Some(a), Some(b)) = (a, b) else { return Difference::default() };
        let percent = (a != 0.0).then(|| round(100.0 * (b - a) / a.abs(), 1));
        Difference { absolute: Some(round(b - a, 6)), percent }
    }
}

/// One key figure of one cohort in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FigureRow {
    /// Cohort name.
    pub cohort: String,
    /// Figure id (`latency-p95-ms`).
    pub figure: &'static str,
    /// Run A's value (`None` when A had no such cohort).
    pub a: Option<f64>,
    /// Run B's value.
    pub b: Option<f64>,
    /// B − A, and relative to A.
    pub difference: Difference,
    /// For latency figures: how much worse B is than A in percent, as a 95 % interval (low, high) from a
    /// bootstrap of each run's per-second figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
}

/// How much worse run B's latency quantile `q` (`p50`, `p95`, `p99`) of `cohort` is than run A's: a 95 %
/// interval in percent from a bootstrap of their per-second figures.
fn latency_interval(a: &RunSummary, b: &RunSummary, cohort: Option<&str>, q: &str) -> Option<[f64; 2]> {
    let path = ["latency_us".to_owned(), q.to_owned()];
    let (ca, cb) = (a.cohort(cohort?)?, b.cohort(cohort?)?);
    let (sa, sb) = (ca.latency_per_second.of_metric(&path)?, cb.latency_per_second.of_metric(&path)?);
    let e = crate::criteria::interval::unpaired(sb, sa, 0)?;
    Some([round(e.low, 1), round(e.high, 1)])
}

/// The latency quantile a criterion or figure judges, if any.
fn latency_quantile(id: &str) -> Option<&'static str> {
    match id {
        "latency-p50" | "latency-p50-ms" => Some("p50"),
        "latency-p95" | "latency-p95-ms" => Some("p95"),
        "latency-p99-ms" => Some("p99"),
        _ => None,
    }
}

/// Two runs compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunComparison {
    /// [`COMPARE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The baseline.
    pub run_a: RunLabel,
    /// The run judged against it.
    pub run_b: RunLabel,
    /// What makes the comparison less than like for like (different scenarios, an interrupted run).
    pub notes: Vec<String>,
    /// Criteria that passed in A and fail in B.
    pub regressions: usize,
    /// Criteria that failed in A and pass in B.
    pub improvements: usize,
    /// Every criterion of either run, A's order first.
    pub criteria: Vec<CriterionRow>,
    /// The key figures of every cohort of either run.
    pub figures: Vec<FigureRow>,
}

/// A run directory and its summary.
#[derive(Debug, Clone, Copy)]
pub struct NamedRun<'a> {
    /// The directory, as the user named it.
    pub dir: &'a str,
    /// Its `summary.json`.
    pub summary: &'a RunSummary,
}

/// Compares run B with run A.
pub fn compare(a: NamedRun<'_>, b: NamedRun<'_>) -> RunComparison {
    let mut criteria = criteria_rows(&a.summary.verdicts, &b.summary.verdicts);
    for row in &mut criteria {
        let Some(q) = latency_quantile(&row.criterion) else { continue };
        row.interval = latency_interval(a.summary, b.summary, row.cohort.as_deref(), q);
        if row.change == Change::Regressed && row.interval.is_some_and(|[low, _]| low <= 0.0) {
            // B failed its threshold, but its latency is not worse than A's beyond the noise.
            row.change = Change::Changed;
        }
    }
    let count = |change: Change| criteria.iter().filter(|row| row.change == change).count();
    RunComparison {
        schema_version: COMPARE_SCHEMA_VERSION,
        run_a: label(a),
        run_b: label(b),
        notes: notes(a, b),
        regressions: count(Change::Regressed),
        improvements: count(Change::Improved),
        figures: figure_rows(a.summary, b.summary),
        criteria,
    }
}

fn label(run: NamedRun<'_>) -> RunLabel {
    RunLabel {
        dir: run.dir.to_owned(),
        scenario: scenario_name(run.summary),
        started_unix_ms: run.summary.run.started_unix_ms,
        elapsed_ms: run.summary.run.elapsed_ms,
        interrupted: run.summary.run.interrupted,
        saturated: run.summary.harness.saturated,
    }
}

fn scenario_name(summary: &RunSummary) -> String {
    summary.scenario.get("name").and_then(|n| n.as_str()).unwrap_or("?").to_owned()
}

fn notes(a: NamedRun<'_>, b: NamedRun<'_>) -> Vec<String> {
    let mut notes = Vec::new();
    let (name_a, name_b) = (scenario_name(a.summary), scenario_name(b.summary));
    if name_a != name_b {
        notes.push(format!("the runs are of different scenarios ({name_a} and {name_b})"));
    }
    for (side, run) in [("A", a), ("B", b)] {
        if run.summary.run.interrupted {
            notes.push(format!("run {side} was interrupted after {:.1} s", run.summary.run.elapsed_ms as f64 / 1000.0));
        }
        if run.summary.harness.saturated {
            notes.push(format!("run {side}'s harness was saturated: its latency is not measurable"));
        }
    }
    notes
}

/// The verdict's row key: criterion and cohort.
fn same_row(v: &Verdict, w: &Verdict) -> bool {
    v.criterion == w.criterion && v.cohort == w.cohort
}

fn criteria_rows(a: &[Verdict], b: &[Verdict]) -> Vec<CriterionRow> {
    let mut rows: Vec<CriterionRow> =
        a.iter().map(|va| row(va, Some(va), b.iter().find(|vb| same_row(va, vb)))).collect();
    rows.extend(b.iter().filter(|vb| !a.iter().any(|va| same_row(va, vb))).map(|vb| row(vb, None, Some(vb))));
    rows
}

/// A row from A's verdict, B's, or both; `either` is one of them (for the criterion's identity).
fn row(either: &Verdict, a: Option<&Verdict>, b: Option<&Verdict>) -> CriterionRow {
    let (measured_a, measured_b) = (a.and_then(|v| v.measured), b.and_then(|v| v.measured));
    let (status_a, status_b) = (a.map(|v| v.status), b.map(|v| v.status));
    CriterionRow {
        criterion: either.criterion.clone(),
        cohort: either.cohort.clone(),
        comparison: either.comparison,
        unit: either.unit.clone(),
        threshold_a: a.map(|v| v.threshold),
        threshold_b: b.map(|v| v.threshold),
        a: measured_a,
        b: measured_b,
        difference: Difference::of(measured_a, measured_b),
        status_a,
        status_b,
        change: change(status_a, status_b),
        interval: None,
    }
}

/// How a verdict moved from A to B.
pub fn change(a: Option<Status>, b: Option<Status>) -> Change {
    match (a, b) {
        (Some(Status::Pass), Some(Status::Fail)) => Change::Regressed,
        (Some(Status::Fail), Some(Status::Pass)) => Change::Improved,
        (a, b) if a == b => Change::Same,
        _ => Change::Changed,
    }
}

/// The key figures, by id, of one cohort.
fn figures(c: &CohortSummary) -> [(&'static str, f64); 10] {
    let ms = |us: u64| us as f64 / 1000.0;
    [
        ("latency-p50-ms", ms(c.latency_us.p50)),
        ("latency-p95-ms", ms(c.latency_us.p95)),
        ("latency-p99-ms", ms(c.latency_us.p99)),
        ("connections-high-water", c.connections.high_water as f64),
        ("peak-reconnects-per-second", c.attempts.peak_retries_per_second as f64),
        ("lockstep-index", c.attempts.lockstep_index),
        ("gaps", c.delivery.gaps as f64),
        ("delivered", c.delivery.delivered as f64),
        ("recovery-p99-s", c.recovery_from_fault_end_us.p99 as f64 / 1e6),
        ("give-ups", c.attempts.give_ups as f64),
    ]
}

fn figure_rows(a: &RunSummary, b: &RunSummary) -> Vec<FigureRow> {
    let mut names: Vec<&str> = a.cohorts.iter().map(|c| c.name.as_str()).collect();
    names.extend(b.cohorts.iter().map(|c| c.name.as_str()).filter(|n| a.cohort(n).is_none()));
    let mut rows = Vec::new();
    for name in names {
        let (fa, fb) = (a.cohort(name).map(figures), b.cohort(name).map(figures));
        let Some(ids) = fa.or(fb) else { continue };
        for (i, (figure, _)) in ids.iter().enumerate() {
            let (va, vb) = (fa.map(|f| f[i].1), fb.map(|f| f[i].1));
            let difference = Difference::of(va, vb);
            let interval = latency_quantile(figure).and_then(|q| latency_interval(a, b, Some(name), q));
            rows.push(FigureRow { cohort: name.to_owned(), figure, a: va, b: vb, difference, interval });
        }
    }
    rows
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// The comparison as Markdown (what `wschaos compare` prints).
pub mod markdown;

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3 s run of scenario `tiny` started 2026-11-22 07:29:42 UTC: legacy (20 sockets, 2.391 ms, 219 gaps)
    /// and WSManager (15 sockets, so its connection reduction of 25 % fails; 1.956 ms). Each cohort
    /// records one latency, so each of its quantiles reads that value.
    pub(super) fn fixture() -> RunSummary {
        use crate::manager::settings::ManagerKind;
        use crate::summary::sample::{cohort, judged};
        let mut legacy = cohort(ManagerKind::Legacy, 20, 2_391);
        legacy.delivery.gaps = 219;
        let cohorts = vec![legacy, cohort(ManagerKind::Wsmanager, 15, 1_956)];
        let mut summary = judged(cohorts, false, "");
        summary.scenario = serde_json::json!({ "name": "tiny" });
        summary.run.elapsed_ms = 3_000;
        summary.run.started_unix_ms = 1_795_332_582_864;
        summary
    }

    fn verdict_mut<'s>(s: &'s mut RunSummary, criterion: &str, cohort: &str) -> &'s mut Verdict {
        s.verdicts.iter_mut().find(|v| v.criterion == criterion && v.cohort.as_deref() == Some(cohort)).unwrap()
    }

    /// `summary` with wsmanager's per-second p95 a noisy series around `level_ms` (±20 %, seeded) and its
    /// latency-p95 verdict at that level against a 100 ms threshold.
    fn at_level(summary: &RunSummary, level_ms: f64, seed: u64) -> RunSummary {
        use rand::{Rng, SeedableRng};
        let mut s = summary.clone();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let series: Vec<u64> = (0..30).map(|_| (level_ms * 1000.0 * rng.random_range(0.8..1.2)) as u64).collect();
        let mean = series.iter().sum::<u64>() as f64 / 30_000.0;
        let c = s.cohorts.iter_mut().find(|c| c.name == "wsmanager").unwrap();
        c.latency_per_second.p95_us = series;
        let v = verdict_mut(&mut s, "latency-p95", "wsmanager");
        (v.threshold, v.measured) = (100.0, Some(mean));
        v.status = if mean < 100.0 { Status::Pass } else { Status::Fail };
        s
    }

    #[test]
    fn the_same_latency_twice_is_no_regression_ten_times_out_of_ten_and_a_real_shift_is() {
        let base = fixture();
        let mut flips = 0;
        for seed in 0..10 {
            // Both around the threshold: B's verdict may flip on noise alone.
            let (a, b) = (at_level(&base, 99.5, seed), at_level(&base, 99.5, seed + 50));
            let c = compare(named(&a), named(&b));
            let row =
                c.criteria.iter().find(|r| r.criterion == "latency-p95" && r.cohort.as_deref() == Some("wsmanager"));
            let row = row.unwrap();
            assert_ne!(row.change, Change::Regressed, "seed {seed}: {row:?}");
            assert!(row.interval.is_some(), "{row:?}");
            flips += usize::from(row.status_a != row.status_b);
        }
        assert!(flips > 0, "the verdict did flip on noise in some of the pairs");
        let (a, b) = (at_level(&base, 80.0, 1), at_level(&base, 130.0, 2));
        let c = compare(named(&a), named(&b));
        let row = c.criteria.iter().find(|r| r.criterion == "latency-p95" && r.cohort.as_deref() == Some("wsmanager"));
        assert_eq!(row.unwrap().change, Change::Regressed, "{row:?}");
        assert_eq!(c.regressions, 1);
    }

    fn named(summary: &RunSummary) -> NamedRun<'_> {
        NamedRun { dir: "run", summary }
    }

    #[test]
    fn identical_runs_have_no_regression_and_zero_differences() {
        let a = fixture();
        let c = compare(named(&a), named(&a));
        assert_eq!((c.regressions, c.improvements), (0, 0));
        assert_eq!(c.criteria.len(), a.verdicts.len());
        assert!(c.criteria.iter().all(|r| r.change == Change::Same));
        assert!(c.figures.iter().all(|f| f.difference.absolute.is_none_or(|d| d == 0.0)));
        assert!(c.notes.is_empty());
    }

    #[test]
    fn pass_to_fail_is_a_regression_and_fail_to_pass_an_improvement() {
        let a = fixture();
        let mut b = a.clone();
        let p95 = verdict_mut(&mut b, "latency-p95", "wsmanager");
        p95.measured = Some(150.0);
        p95.status = Status::Fail;
        let reduction = verdict_mut(&mut b, "connection-reduction", "wsmanager");
        reduction.measured = Some(92.5);
        reduction.status = Status::Pass;
        let c = compare(named(&a), named(&b));
        assert_eq!((c.regressions, c.improvements), (1, 1));
        let row = c.criteria.iter().find(|r| r.change == Change::Regressed).unwrap();
        assert_eq!((row.criterion.as_str(), row.cohort.as_deref()), ("latency-p95", Some("wsmanager")));
        assert_eq!((row.a, row.b), (Some(1.956), Some(150.0)));
        assert_eq!(row.difference.absolute, Some(148.044));
        assert_eq!(row.difference.percent, Some(7568.7));
        let improved = c.criteria.iter().find(|r| r.change == Change::Improved).unwrap();
        assert_eq!(improved.criterion, "connection-reduction");
    }

    #[test]
    fn verdict_changes_are_classified() {
        use Status::*;
        assert_eq!(change(Some(Pass), Some(Fail)), Change::Regressed);
        assert_eq!(change(Some(Fail), Some(Pass)), Change::Improved);
        assert_eq!(change(Some(Fail), Some(Fail)), Change::Same);
        assert_eq!(change(Some(Pass), Some(NotMeasurable)), Change::Changed);
        assert_eq!(change(None, Some(Fail)), Change::Changed, "a new failure is not a regression of a pass");
    }

    #[test]
    fn rows_of_one_run_only_are_kept_and_figures_follow_cohorts() {
        let a = fixture();
        let mut b = a.clone();
        b.verdicts.retain(|v| v.cohort.as_deref() != Some("legacy"));
        b.cohorts.retain(|c| c.name != "legacy");
        b.cohorts[0].latency_us.p99 = 7_332;
        assert_eq!(b.cohorts[0].name, "wsmanager");
        let c = compare(named(&a), named(&b));
        let legacy = c.criteria.iter().filter(|r| r.cohort.as_deref() == Some("legacy"));
        assert!(
            legacy.clone().count() > 0 && legacy.clone().all(|r| r.status_b.is_none() && r.change == Change::Changed)
        );
        let p99 = c.figures.iter().find(|f| f.cohort == "wsmanager" && f.figure == "latency-p99-ms").unwrap();
        assert_eq!((p99.a, p99.b, p99.difference.absolute), (Some(1.956), Some(7.332), Some(5.376)));
        let gone = c.figures.iter().find(|f| f.cohort == "legacy" && f.figure == "gaps").unwrap();
        assert_eq!((gone.a, gone.b), (Some(219.0), None));
    }

    #[test]
    fn differences_are_absolute_and_relative_to_a() {
        assert_eq!(Difference::of(Some(50.0), Some(75.0)).percent, Some(50.0));
        assert_eq!(Difference::of(Some(-4.0), Some(-2.0)).percent, Some(50.0));
        assert_eq!(Difference::of(Some(0.0), Some(3.0)), Difference { absolute: Some(3.0), percent: None });
        assert_eq!(Difference::of(None, Some(3.0)), Difference::default());
    }

    #[test]
    fn notes_say_what_is_not_like_for_like() {
        let a = fixture();
        let mut b = a.clone();
        b.scenario = serde_json::json!({ "name": "smoke" });
        b.run.interrupted = true;
        b.harness.saturated = true;
        let c = compare(named(&a), named(&b));
        assert_eq!(c.notes.len(), 3, "{:?}", c.notes);
        assert!(c.notes[0].contains("different scenarios (tiny and smoke)"));
        assert!(c.notes[1].starts_with("run B was interrupted after 3.0 s"));
    }
}
