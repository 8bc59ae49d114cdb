//! How the live figures read: a status block redrawn in place on a terminal, a plain line for logs that are
//! not one, the terminal bytes that redraw and erase the block, and when a plain line is due. Pure: figures
//! in, text out.

use std::time::Duration;

use super::live::{CohortFigures, LiveFigures, Phase};
use crate::commands::run::planned_faults::PlannedFault;

/// A plain progress line is printed at least this often when stderr is not a terminal.
pub(super) const PLAIN_EVERY: Duration = Duration::from_secs(5);

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
    let lag = match f.harness_lag_p99_ms {
        None => "harness lag p99 –".to_owned(),
        Some(lag) if f.harness_lagging => format!(
            "HARNESS LAG: scheduler lag p99 {lag:.1} ms > {:.1} ms, latency figures measure the harness",
            threshold_us as f64 / 1000.0
        ),
        Some(lag) => format!("harness lag p99 {lag:.1} ms"),
    };
    match f.canary_p99_ms {
        None => lag,
        Some(canary) if f.rig_lagging => {
            format!("{lag}, RIG LAG: canary p99 {canary:.1} ms, latency figures measure the rig")
        }
        Some(canary) => format!("{lag}, rig (canary) p99 {canary:.1} ms"),
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
    use crate::commands::run::console::live::tests::{progress, setup, totals};
    use crate::commands::run::console::live::{RigNow, figures};

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn lag(lag_us: u64) -> RigNow {
        RigNow { lag_us, canary_us: 0 }
    }

    #[test]
    fn a_lag_above_the_threshold_is_a_warning() {
        let setup = setup();
        let (before, now) = (progress(S(1), totals(0, 0, 0, 0)), progress(S(2), totals(0, 0, 0, 0)));
        let f = figures(&setup, &before, &now, lag(30_000));
        assert!(f.harness_lagging);
        assert!(
            plain_line(&f, 25_000)
                .ends_with("HARNESS LAG: scheduler lag p99 30.0 ms > 25.0 ms, latency figures measure the harness")
        );
        assert!(!figures(&setup, &before, &now, lag(25_000)).harness_lagging, "at the threshold is not above it");
        let rig = figures(&setup, &before, &now, RigNow { lag_us: 1_000, canary_us: 9_000 });
        assert!(
            plain_line(&rig, 25_000)
                .ends_with("harness lag p99 1.0 ms, RIG LAG: canary p99 9.0 ms, latency figures measure the rig"),
            "{}",
            plain_line(&rig, 25_000)
        );
        let calm = figures(&setup, &before, &now, RigNow { lag_us: 1_000, canary_us: 400 });
        assert!(plain_line(&calm, 25_000).ends_with("harness lag p99 1.0 ms, rig (canary) p99 0.4 ms"));
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
        let f = figures(&setup, &before, &now, lag(1_700));
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
                    lag(1),
                ))
            })
            .collect();
        assert_eq!(printed, [1, 5, 10, 11, 15, 20], "10: the disconnect starts and 11: it is over; 20: latency");
    }
}
