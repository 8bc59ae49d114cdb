//! The live figures of a run and how they read. Pure: two progress snapshots, the scheduler lag and the
//! fault plan in; per-second rates, the faults in force, a status block (TTY), a plain line (CI logs) and a
//! `{"type":"progress"}` JSON object out. Nothing here prints or waits.

use std::time::Duration;

use serde::Serialize;

use crate::chaos::fault::Fault;
use crate::chaos::plan::FaultPlan;
use crate::record::progress::{CohortProgress, Progress};

/// How long an instant fault (a disconnect without stagger, a corrupt burst) stays on the display.
pub(super) const INSTANT_SHOWN_FOR: Duration = Duration::from_secs(1);

/// Rates are computed over at least this long.
pub(super) const MIN_RATE_INTERVAL: Duration = Duration::from_millis(500);

/// A plain progress line is printed at least this often when stderr is not a terminal.
pub(super) const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// One occurrence of the scenario's fault plan, as the display names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct PlannedFault {
    /// The fault's kind (`disconnect`, `outage`, …).
    pub kind: &'static str,
    /// The fault's `name` in the scenario, if it has one.
    pub name: Option<String>,
    /// When it starts (seconds into the run).
    #[serde(rename = "start_s", serialize_with = "seconds")]
    pub start: Duration,
    /// When its window ends (equal to the start for instant faults).
    #[serde(rename = "end_s", serialize_with = "seconds")]
    pub end: Duration,
}

impl PlannedFault {
    /// Every occurrence of `plan`, in start order.
    pub fn all(faults: &[Fault], plan: &FaultPlan) -> Vec<PlannedFault> {
        plan.occurrences
            .iter()
            .filter_map(|o| {
                let fault = faults.get(o.fault)?;
                Some(PlannedFault {
                    kind: fault.kind.name().as_str(),
                    name: fault.name.clone(),
                    start: o.start,
                    end: o.end,
                })
            })
            .collect()
    }

    /// In force at `t`: inside its window, or within [`INSTANT_SHOWN_FOR`] of its start.
    fn active_at(&self, t: Duration) -> bool {
        self.start <= t && t < self.end.max(self.start + INSTANT_SHOWN_FOR)
    }

    /// `disconnect "drop-half"`, or the kind alone.
    fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {name:?}", self.kind),
            None => self.kind.to_owned(),
        }
    }
}

/// What stays fixed for the whole run.
#[derive(Debug, Clone)]
pub(super) struct LiveSetup {
    /// Cohort names, in cohort order.
    pub cohorts: Vec<String>,
    /// The run's planned length.
    pub duration: Duration,
    /// The fault plan (empty when the upstream does not apply faults).
    pub faults: Vec<PlannedFault>,
    /// Scheduler-lag p99 above which the harness is too busy to measure (µs).
    pub lag_threshold_us: u64,
}

/// Whether the clients are still running or being stopped after the run's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum Phase {
    /// Before the run's length.
    Running,
    /// After it, while the clients close.
    Stopping,
}

/// One cohort's figures for the last snapshot interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct CohortFigures {
    /// Client-side connections open now.
    pub open: i64,
    /// Messages delivered to subscribers per second.
    pub delivered_per_s: f64,
    /// Connection attempts per second (first connects and reconnects).
    pub attempts_per_s: f64,
    /// Reconnect attempts per second.
    pub reconnects_per_s: f64,
    /// Messages delivered so far.
    pub delivered: u64,
    /// Attempts so far.
    pub attempts: u64,
    /// Reconnect attempts so far.
    pub reconnects: u64,
    /// Sequence ids missing so far.
    pub gaps: u64,
}

/// Everything the live display shows at one moment; serialized, it is the `progress` JSON object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "progress")]
pub(super) struct LiveFigures<'a> {
    /// Time since the start of the run (`elapsed_s`).
    #[serde(rename = "elapsed_s", serialize_with = "seconds")]
    pub elapsed: Duration,
    /// The run's planned length (`duration_s`).
    #[serde(rename = "duration_s", serialize_with = "seconds")]
    pub duration: Duration,
    /// Running or stopping.
    pub phase: Phase,
    /// Per cohort, in cohort order (a JSON object keyed by cohort name).
    #[serde(serialize_with = "super::as_map")]
    pub cohorts: Vec<(&'a str, CohortFigures)>,
    /// Faults of the plan in force now.
    pub faults: Vec<&'a PlannedFault>,
    /// The next fault of the plan to start.
    pub next_fault: Option<&'a PlannedFault>,
    /// Scheduler-lag p99 of the last second (ms); `None` before the first second is measured.
    pub harness_lag_p99_ms: Option<f64>,
    /// That lag is above the scenario's saturation threshold: latency figures measure the harness.
    pub harness_lagging: bool,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_millis() as f64 / 1000.0)
}

fn per_second(now: u64, before: u64, interval: f64) -> f64 {
    if interval > 0.0 { (now.saturating_sub(before) as f64 / interval * 100.0).round() / 100.0 } else { 0.0 }
}

fn cohort_figures(now: &CohortProgress, before: &CohortProgress, interval: f64) -> CohortFigures {
    CohortFigures {
        open: now.open,
        delivered_per_s: per_second(now.delivered, before.delivered, interval),
        attempts_per_s: per_second(now.attempts, before.attempts, interval),
        reconnects_per_s: per_second(now.reconnects, before.reconnects, interval),
        delivered: now.delivered,
        attempts: now.attempts,
        reconnects: now.reconnects,
        gaps: now.gaps,
    }
}

/// Whether `now` is far enough from `before` for its rates to mean something (the recorder's last
/// snapshot can come a moment after its last tick).
pub(super) fn worth_showing(before: &Progress, now: &Progress) -> bool {
    now.at.saturating_sub(before.at) >= MIN_RATE_INTERVAL
}

/// The figures at `now`, with rates over the interval since `before`, and the last second's lag (µs; 0
/// before it is measured: a measured lag is at least 1 µs).
pub(super) fn figures<'a>(setup: &'a LiveSetup, before: &Progress, now: &Progress, lag_us: u64) -> LiveFigures<'a> {
    let interval = now.at.saturating_sub(before.at).as_secs_f64();
    let idle = CohortProgress::default();
    let cohorts = setup
        .cohorts
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let current = now.cohorts.get(i).unwrap_or(&idle);
            (name.as_str(), cohort_figures(current, before.cohorts.get(i).unwrap_or(&idle), interval))
        })
        .collect();
    let t = now.at;
    LiveFigures {
        elapsed: t,
        duration: setup.duration,
        phase: if t < setup.duration { Phase::Running } else { Phase::Stopping },
        cohorts,
        faults: setup.faults.iter().take_while(|f| f.start <= t).filter(|f| f.active_at(t)).collect(),
        next_fault: setup.faults.iter().find(|f| f.start > t),
        harness_lag_p99_ms: (lag_us > 0).then(|| lag_us as f64 / 1000.0),
        harness_lagging: lag_us > setup.lag_threshold_us,
    }
}

/// `m:ss`, or `h:mm:ss` from an hour on.
pub(super) fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A rate in few characters: `0.5`, `12`, `31.2k`, `1.25M`.
pub(super) fn compact(value: f64) -> String {
    match value {
        v if v < 10.0 => format!("{v:.1}"),
        v if v < 1e3 => format!("{v:.0}"),
        v if v < 1e6 => format!("{:.1}k", v / 1e3),
        v => format!("{:.2}M", v / 1e6),
    }
}

fn fault_text(f: &LiveFigures<'_>) -> String {
    let now = if f.faults.is_empty() {
        "none".to_owned()
    } else {
        f.faults.iter().map(|p| p.label()).collect::<Vec<_>>().join(", ")
    };
    match f.next_fault {
        Some(next) => format!("fault: {now} (next: {} at {})", next.label(), clock(next.start)),
        None => format!("fault: {now}"),
    }
}

fn lag_text(f: &LiveFigures<'_>, threshold_us: u64) -> String {
    match f.harness_lag_p99_ms {
        None => "harness lag p99 –".to_owned(),
        Some(lag) if f.harness_lagging => format!(
            "HARNESS LAG: scheduler lag p99 {lag:.1} ms > {:.1} ms, latency figures measure the harness",
            threshold_us as f64 / 1000.0
        ),
        Some(lag) => format!("harness lag p99 {lag:.1} ms"),
    }
}

fn time_text(f: &LiveFigures<'_>) -> String {
    match f.phase {
        Phase::Running => format!("{} / {}", clock(f.elapsed), clock(f.duration)),
        Phase::Stopping => format!("{} / {} stopping the clients", clock(f.elapsed), clock(f.duration)),
    }
}

fn cohort_text(c: &CohortFigures) -> String {
    format!(
        "{} open, {} msg/s, {} attempts/s ({} reconnects/s)",
        c.open,
        compact(c.delivered_per_s),
        compact(c.attempts_per_s),
        compact(c.reconnects_per_s)
    )
}

/// The status block redrawn in place on a terminal: time and faults, a line per cohort, the harness.
pub(super) fn status_block(f: &LiveFigures<'_>, threshold_us: u64) -> Vec<String> {
    let width = f.cohorts.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut lines = vec![format!("wschaos run {}   {}", time_text(f), fault_text(f))];
    lines.extend(f.cohorts.iter().map(|(name, c)| format!("  {name:<width$}  {}", cohort_text(c))));
    lines.push(format!("  {}", lag_text(f, threshold_us)));
    lines
}

/// One self-contained line for logs that are not a terminal.
pub(super) fn plain_line(f: &LiveFigures<'_>, threshold_us: u64) -> String {
    let cohorts: Vec<String> = f.cohorts.iter().map(|(name, c)| format!("{name}: {}", cohort_text(c))).collect();
    format!(
        "wschaos run {} | {} | {} | {}",
        time_text(f),
        cohorts.join(" | "),
        fault_text(f),
        lag_text(f, threshold_us)
    )
}

/// Terminal bytes that replace a block of `drawn` lines (0: nothing drawn yet) with `block`.
pub(super) fn redraw(drawn: usize, block: &[String]) -> String {
    let mut out = if drawn > 0 { format!("\x1b[{drawn}F") } else { String::new() };
    for line in block {
        out.push_str("\x1b[2K");
        out.push_str(line);
        out.push('\n');
    }
    if block.len() < drawn {
        out.push_str("\x1b[J");
    }
    out
}

/// Terminal bytes that erase a block of `drawn` lines and leave the cursor where it began.
pub(super) fn erase(drawn: usize) -> String {
    if drawn == 0 { String::new() } else { format!("\x1b[{drawn}F\x1b[J") }
}

/// When a plain line is due: the first snapshot, every [`PLAIN_EVERY`], and whenever the faults in force
/// or the phase change.
#[derive(Debug, Default)]
pub(super) struct PlainSchedule {
    last: Option<(u64, Vec<PlannedFault>, Phase)>,
}

impl PlainSchedule {
    /// True when `f` should be printed; remembers it if so.
    pub fn due(&mut self, f: &LiveFigures<'_>) -> bool {
        let period = f.elapsed.as_millis() as u64 / PLAIN_EVERY.as_millis() as u64;
        let faults: Vec<PlannedFault> = f.faults.iter().map(|p| (*p).clone()).collect();
        let now = (period, faults, f.phase);
        if self.last.as_ref() == Some(&now) {
            return false;
        }
        self.last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::fault::{RawFault, validate_all};

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn planned(kind: &'static str, name: Option<&str>, start: u64, end: u64) -> PlannedFault {
        PlannedFault { kind, name: name.map(str::to_owned), start: S(start), end: S(end) }
    }

    fn setup() -> LiveSetup {
        LiveSetup {
            cohorts: vec!["legacy".into(), "wsmanager".into()],
            duration: S(60),
            faults: vec![planned("disconnect", Some("drop-half"), 10, 10), planned("latency", None, 20, 30)],
            lag_threshold_us: 25_000,
        }
    }

    fn progress(at: Duration, legacy: CohortProgress) -> Progress {
        Progress { at, cohorts: vec![legacy] }
    }

    fn totals(open: i64, attempts: u64, reconnects: u64, delivered: u64) -> CohortProgress {
        CohortProgress { open, attempts, reconnects, delivered, gaps: 2 }
    }

    #[test]
    fn rates_are_the_growth_of_the_totals_over_the_interval() {
        let setup = setup();
        let before = progress(S(1), totals(4, 5, 1, 100));
        let now = progress(S(3), totals(6, 9, 3, 700));
        let f = figures(&setup, &before, &now, 1_500);
        let expected = CohortFigures {
            open: 6,
            delivered_per_s: 300.0,
            attempts_per_s: 2.0,
            reconnects_per_s: 1.0,
            delivered: 700,
            attempts: 9,
            reconnects: 3,
            gaps: 2,
        };
        assert_eq!(f.cohorts[0], ("legacy", expected));
        assert_eq!(f.cohorts[1].1.delivered_per_s, 0.0, "a cohort without totals yet reads as idle");
        assert_eq!((f.phase, f.harness_lag_p99_ms, f.harness_lagging), (Phase::Running, Some(1.5), false));
        let late = figures(&setup, &before, &progress(S(61), totals(0, 9, 3, 700)), 0);
        assert_eq!((late.phase, late.harness_lag_p99_ms), (Phase::Stopping, None));
    }

    #[test]
    fn a_snapshot_right_after_the_last_is_not_worth_a_rate() {
        let before = progress(S(4), totals(0, 0, 0, 0));
        assert!(!worth_showing(&before, &progress(S(4) + Duration::from_millis(2), totals(0, 0, 0, 0))));
        assert!(worth_showing(&before, &progress(S(5), totals(0, 0, 0, 0))));
    }

    #[test]
    fn faults_in_force_follow_the_plan_and_an_instant_one_shows_for_a_second() {
        let setup = setup();
        let at = |t: Duration| {
            let f = figures(&setup, &progress(Duration::ZERO, totals(0, 0, 0, 0)), &progress(t, totals(0, 0, 0, 0)), 1);
            let now: Vec<&str> = f.faults.iter().map(|p| p.kind).collect();
            (now, f.next_fault.map(|p| p.kind))
        };
        assert_eq!(at(S(9)), (vec![], Some("disconnect")));
        assert_eq!(at(Duration::from_millis(10_500)), (vec!["disconnect"], Some("latency")));
        assert_eq!(at(S(11)), (vec![], Some("latency")));
        assert_eq!(at(S(25)), (vec!["latency"], None));
        assert_eq!(at(S(30)), (vec![], None));
    }

    #[test]
    fn the_planned_faults_carry_the_kind_and_name_of_each_occurrence() {
        #[derive(serde::Deserialize)]
        struct File {
            faults: Vec<RawFault>,
        }
        let text = "[[faults]]\nkind = \"disconnect\"\nname = \"drop\"\nat = \"5s\"\nevery = \"20s\"\n\
                    [[faults]]\nkind = \"stall\"\nat = \"8s\"\nduration = \"4s\"\n";
        let file: File = toml::from_str(text).unwrap();
        let faults = validate_all(&file.faults, "faults").unwrap();
        let plan = FaultPlan::build(&faults, 1, S(30));
        let all = PlannedFault::all(&faults, &plan);
        assert_eq!(
            all,
            [
                planned("disconnect", Some("drop"), 5, 5),
                planned("stall", None, 8, 12),
                planned("disconnect", Some("drop"), 25, 25)
            ]
        );
    }

    #[test]
    fn a_lag_above_the_threshold_is_a_warning() {
        let setup = setup();
        let (before, now) = (progress(S(1), totals(0, 0, 0, 0)), progress(S(2), totals(0, 0, 0, 0)));
        let f = figures(&setup, &before, &now, 30_000);
        assert!(f.harness_lagging);
        assert!(
            plain_line(&f, 25_000)
                .ends_with("HARNESS LAG: scheduler lag p99 30.0 ms > 25.0 ms, latency figures measure the harness")
        );
        assert!(!figures(&setup, &before, &now, 25_000).harness_lagging, "at the threshold is not above it");
    }

    #[test]
    fn times_and_rates_read_in_few_characters() {
        assert_eq!((clock(S(5)), clock(S(65)), clock(S(3_725))), ("0:05".into(), "1:05".into(), "1:02:05".into()));
        let rates: Vec<String> = [0.0, 2.46, 12.4, 999.4, 31_240.0, 1_254_000.0].into_iter().map(compact).collect();
        assert_eq!(rates, ["0.0", "2.5", "12", "999", "31.2k", "1.25M"]);
    }

    #[test]
    fn the_status_block_and_the_plain_line_show_the_same_figures() {
        let setup = setup();
        let before = progress(S(9), totals(6, 6, 0, 1_000));
        let now = progress(Duration::from_millis(10_200), totals(3, 9, 3, 1_240));
        let f = figures(&setup, &before, &now, 1_700);
        assert_eq!(
            status_block(&f, 25_000),
            [
                "wschaos run 0:10 / 1:00   fault: disconnect \"drop-half\" (next: latency at 0:20)",
                "  legacy     3 open, 200 msg/s, 2.5 attempts/s (2.5 reconnects/s)",
                "  wsmanager  0 open, 0.0 msg/s, 0.0 attempts/s (0.0 reconnects/s)",
                "  harness lag p99 1.7 ms",
            ]
        );
        assert_eq!(
            plain_line(&f, 25_000),
            "wschaos run 0:10 / 1:00 | legacy: 3 open, 200 msg/s, 2.5 attempts/s (2.5 reconnects/s) | \
             wsmanager: 0 open, 0.0 msg/s, 0.0 attempts/s (0.0 reconnects/s) | \
             fault: disconnect \"drop-half\" (next: latency at 0:20) | harness lag p99 1.7 ms"
        );
    }

    #[test]
    fn a_redraw_goes_back_over_the_previous_block_and_erase_clears_it() {
        let block = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(redraw(0, &block), "\x1b[2Ka\n\x1b[2Kb\n");
        assert_eq!(redraw(2, &block), "\x1b[2F\x1b[2Ka\n\x1b[2Kb\n");
        assert_eq!(redraw(3, &block), "\x1b[3F\x1b[2Ka\n\x1b[2Kb\n\x1b[J", "a shorter block clears the rest");
        assert_eq!((erase(0), erase(4)), (String::new(), "\x1b[4F\x1b[J".to_owned()));
    }

    #[test]
    fn plain_lines_are_due_at_the_first_snapshot_every_five_seconds_and_at_fault_changes() {
        let setup = setup();
        let mut schedule = PlainSchedule::default();
        let zero = progress(Duration::ZERO, totals(0, 0, 0, 0));
        let printed: Vec<u64> = (1..=22)
            .filter(|s| {
                schedule.due(&figures(
                    &setup,
                    &zero,
                    &progress(S(*s) + Duration::from_millis(3), totals(0, 0, 0, 0)),
                    1,
                ))
            })
            .collect();
        assert_eq!(printed, [1, 5, 10, 11, 15, 20], "10: the disconnect starts and 11: it is over; 20: latency");
    }

    #[test]
    fn the_progress_object_has_the_documented_fields() {
        let setup = setup();
        let f = figures(&setup, &progress(S(24), totals(1, 2, 0, 10)), &progress(S(25), totals(2, 4, 1, 30)), 2_000);
        let json: serde_json::Value = serde_json::to_value(&f).unwrap();
        assert_eq!(json["type"], "progress");
        assert_eq!((json["elapsed_s"].as_f64(), json["duration_s"].as_f64()), (Some(25.0), Some(60.0)));
        assert_eq!(json["phase"], "running");
        let legacy = &json["cohorts"]["legacy"];
        assert_eq!((legacy["open"].as_i64(), legacy["delivered_per_s"].as_f64()), (Some(2), Some(20.0)));
        assert_eq!((legacy["attempts_per_s"].as_f64(), legacy["reconnects_per_s"].as_f64()), (Some(2.0), Some(1.0)));
        assert_eq!((legacy["delivered"].as_u64(), legacy["attempts"].as_u64()), (Some(30), Some(4)));
        assert_eq!((legacy["reconnects"].as_u64(), legacy["gaps"].as_u64()), (Some(1), Some(2)));
        assert_eq!(
            json["faults"],
            serde_json::json!([{"kind": "latency", "name": null, "start_s": 20.0, "end_s": 30.0}])
        );
        assert_eq!(json["next_fault"], serde_json::Value::Null);
        assert_eq!((json["harness_lag_p99_ms"].as_f64(), json["harness_lagging"].as_bool()), (Some(2.0), Some(false)));
    }
}
