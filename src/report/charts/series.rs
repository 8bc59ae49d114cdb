//! What each chart shows, computed from the run directory's contents: pure functions from the summary,
//! the time series and the latency distributions to a [`Chart`]. No drawing and no I/O here.
//!
//! Conventions: counts per second are plotted at the middle of their second; levels (open connections)
//! at the end of the second they were read at, except the mock's own count, sampled at the start of each
//! second. A cohort keeps its colour on every chart: legacy orange, WSManager blue, unified green.

use crate::report::charts::model::{Band, Chart, Colour, Line, Marker, MarkerKind, Panel, Point, Stroke, XAxis};
use crate::report::rehearsal::{rollback_moment_ms, share_percent, started_steps};
use crate::run_dir::CohortLatency;
use crate::run_dir::hgrm::PercentilePoint;
use crate::run_dir::timeseries_csv::TimeseriesRow;
use crate::scenario::ManagerKind;
use crate::summary::RunSummary;

/// The legacy cohort's colour.
pub const LEGACY: Colour = Colour { r: 0xd9, g: 0x48, b: 0x0f };
/// The WSManager cohort's colour.
pub const WSMANAGER: Colour = Colour { r: 0x1c, g: 0x7e, b: 0xd6 };
/// The unified cohort's colour.
pub const UNIFIED: Colour = Colour { r: 0x2b, g: 0x8a, b: 0x3e };
/// The mock's own figures, and anything that is no cohort's.
pub const NEUTRAL: Colour = Colour { r: 0x70, g: 0x70, b: 0x70 };

/// The colour of a cohort, by its manager: the same on every chart and in every run.
pub fn cohort_colour(summary: &RunSummary, cohort: &str) -> Colour {
    match summary.cohort(cohort).map(|c| c.manager) {
        Some(ManagerKind::Legacy) => LEGACY,
        Some(ManagerKind::Wsmanager) => WSMANAGER,
        Some(ManagerKind::Unified) => UNIFIED,
        None => NEUTRAL,
    }
}

/// The horizontal position of a quantile on the HdrHistogram scale: log10(1/(1-q)); `None` for q = 1.
pub fn percentile_x(quantile: f64) -> Option<f64> {
    (quantile < 1.0).then(|| (1.0 / (1.0 - quantile)).log10())
}

fn percentile_points(points: &[PercentilePoint]) -> Vec<Point> {
    points.iter().filter_map(|p| percentile_x(p.quantile).map(|x| Point { x, y: p.value_ms })).collect()
}

/// Delivery latency (solid) and staleness (dashed) by percentile per cohort, from the `.hgrm` files.
pub fn latency_series(summary: &RunSummary, latency: &[CohortLatency]) -> Chart {
    let mut lines = Vec::new();
    for cohort in latency {
        let colour = cohort_colour(summary, &cohort.cohort);
        for (suffix, stroke, points) in
            [("latency", Stroke::Solid, &cohort.raw), ("staleness", Stroke::Dashed, &cohort.staleness)]
        {
            let label = format!("{} {suffix}", cohort.cohort);
            lines.push(Line { label, colour, stroke, points: percentile_points(points) });
        }
    }
    let widest = lines.iter().flat_map(|l| l.points.iter().map(|p| p.x)).fold(0.0, f64::max);
    Chart {
        file_stem: "latency",
        title: "Delivery latency (solid) and staleness (dashed) by percentile".to_owned(),
        panels: vec![Panel {
            caption: String::new(),
            x: XAxis::Percentile { max: widest.ceil().max(2.0) },
            x_label: "percentile (log scale of 1/(1-p))".to_owned(),
            y_label: "latency (ms)".to_owned(),
            lines,
            bands: Vec::new(),
            markers: Vec::new(),
        }],
    }
}

/// The run's length in seconds (at least one): the time axis of every time chart.
fn run_seconds(summary: &RunSummary) -> f64 {
    (summary.run.elapsed_ms as f64 / 1000.0).max(1.0)
}

/// The fault windows as bands: labelled with the fault's name (or kind), open windows to the run's end.
pub fn fault_bands(summary: &RunSummary) -> Vec<Band> {
    let end = summary.run.elapsed_ms;
    summary
        .faults
        .iter()
        .map(|f| Band {
            label: f.name.clone().unwrap_or_else(|| f.kind.clone()),
            from: f.start_ms as f64 / 1000.0,
            to: f.end_ms.unwrap_or(end).max(f.start_ms) as f64 / 1000.0,
        })
        .collect()
}

/// A rollout rehearsal's moments: each step that started, labelled with its share (`25 %`), and the
/// rollback when one was performed; none without a rehearsal.
pub fn rollout_markers(summary: &RunSummary) -> Vec<Marker> {
    let Some(rollout) = &summary.rollout else { return Vec::new() };
    let run_ms = summary.run.elapsed_ms;
    let mut markers: Vec<Marker> = started_steps(rollout, run_ms)
        .map(|s| Marker {
            label: format!("{} %", share_percent(s.share)),
            at: s.start_ms as f64 / 1000.0,
            kind: MarkerKind::Step,
        })
        .collect();
    if let Some(at) = rollback_moment_ms(rollout).filter(|at| *at <= run_ms) {
        markers.push(Marker { label: "rollback".to_owned(), at: at as f64 / 1000.0, kind: MarkerKind::Rollback });
    }
    markers
}

/// Where a row's value is plotted.
#[derive(Debug, Clone, Copy, PartialEq)]
enum At {
    /// A count over the second: its middle.
    Middle,
    /// A level read at the end of the second.
    End,
}

fn line_of(label: String, colour: Colour, stroke: Stroke, points: Vec<Point>) -> Line {
    Line { label, colour, stroke, points }
}

/// One value per second of one cohort, as points, clamped to the run's end.
fn per_second(rows: &[TimeseriesRow], cohort: &str, at: At, end: f64, value: fn(&TimeseriesRow) -> f64) -> Vec<Point> {
    let offset = match at {
        At::Middle => 0.5,
        At::End => 1.0,
    };
    rows.iter()
        .filter(|r| r.cohort == cohort)
        .map(|r| Point { x: (r.second as f64 + offset).min(end), y: value(r) })
        .collect()
}

/// A panel over the run's time, with its fault windows shaded and the rollout's moments marked.
fn time_panel(summary: &RunSummary, y_label: &str, lines: Vec<Line>) -> Panel {
    Panel {
        caption: String::new(),
        x: XAxis::Seconds { end: run_seconds(summary) },
        x_label: "time since the start of the run (s)".to_owned(),
        y_label: y_label.to_owned(),
        lines,
        bands: fault_bands(summary),
        markers: rollout_markers(summary),
    }
}

/// The mock's own count of open connections (all cohorts, sampled at the start of each second), when the
/// time series has it.
fn mock_open_line(rows: &[TimeseriesRow], end: f64) -> Option<Line> {
    let first = rows.first()?.cohort.as_str();
    let points: Vec<Point> = rows
        .iter()
        .filter(|r| r.cohort == first)
        .filter_map(|r| r.server_open.map(|open| Point { x: (r.second as f64).min(end), y: open as f64 }))
        .collect();
    (!points.is_empty()).then(|| line_of("mock (all cohorts)".to_owned(), NEUTRAL, Stroke::Dashed, points))
}

/// Open connections over time per cohort (client side), the mock's own count, fault windows shaded, rollout
/// steps marked.
pub fn open_connections_series(summary: &RunSummary, rows: &[TimeseriesRow]) -> Chart {
    let end = run_seconds(summary);
    let mut lines: Vec<Line> = summary
        .cohorts
        .iter()
        .map(|c| {
            let mut points = vec![Point { x: 0.0, y: 0.0 }];
            points.extend(per_second(rows, &c.name, At::End, end, |r| r.open as f64));
            line_of(c.name.clone(), cohort_colour(summary, &c.name), Stroke::Solid, points)
        })
        .collect();
    lines.extend(mock_open_line(rows, end));
    Chart {
        file_stem: "open-connections",
        title: "Open connections per cohort".to_owned(),
        panels: vec![time_panel(summary, "open connections", lines)],
    }
}

/// Connection attempts per second per cohort (solid) and the reconnects among them (dashed): the
/// reconnect storm, fault windows shaded, rollout steps marked.
pub fn attempts_series(summary: &RunSummary, rows: &[TimeseriesRow]) -> Chart {
    let end = run_seconds(summary);
    let mut lines = Vec::new();
    for c in &summary.cohorts {
        let colour = cohort_colour(summary, &c.name);
        let attempts = per_second(rows, &c.name, At::Middle, end, |r| r.attempts as f64);
        lines.push(line_of(format!("{} attempts", c.name), colour, Stroke::Solid, attempts));
        let retries = per_second(rows, &c.name, At::Middle, end, |r| r.retries as f64);
        lines.push(line_of(format!("{} reconnects", c.name), colour, Stroke::Dashed, retries));
    }
    Chart {
        file_stem: "connect-attempts",
        title: "Connection attempts per second (the reconnect storm)".to_owned(),
        panels: vec![time_panel(summary, "attempts per second", lines)],
    }
}

/// One optional value per second of one cohort (seconds without one are left out), in milliseconds.
fn per_second_ms(
    rows: &[TimeseriesRow],
    cohort: &str,
    end: f64,
    value: fn(&TimeseriesRow) -> Option<u64>,
) -> Vec<Point> {
    rows.iter()
        .filter(|r| r.cohort == cohort)
        .filter_map(|r| Some(Point { x: (r.second as f64 + 0.5).min(end), y: value(r)? as f64 / 1000.0 }))
        .collect()
}

/// Latency where it happened: delivery latency p50 (solid) and p99 (dashed) per second per cohort, and
/// staleness p99 per second, in two panels, fault windows shaded, rollout steps marked.
pub fn latency_over_time_series(summary: &RunSummary, rows: &[TimeseriesRow]) -> Chart {
    let end = run_seconds(summary);
    let (mut latency, mut staleness) = (Vec::new(), Vec::new());
    for c in &summary.cohorts {
        let colour = cohort_colour(summary, &c.name);
        let p50 = per_second_ms(rows, &c.name, end, |r| r.latency_p50_us);
        latency.push(line_of(format!("{} p50", c.name), colour, Stroke::Solid, p50));
        let p99 = per_second_ms(rows, &c.name, end, |r| r.latency_p99_us);
        latency.push(line_of(format!("{} p99", c.name), colour, Stroke::Dashed, p99));
        let stale = per_second_ms(rows, &c.name, end, |r| r.staleness_p99_us);
        staleness.push(line_of(format!("{} p99", c.name), colour, Stroke::Solid, stale));
    }
    let mut latency = time_panel(summary, "ms", latency);
    latency.caption = "Delivery latency per second".to_owned();
    let mut staleness = time_panel(summary, "ms", staleness);
    staleness.caption = "Staleness per second (behind the upstream)".to_owned();
    Chart {
        file_stem: "latency-over-time",
        title: "Latency and staleness over the run".to_owned(),
        panels: vec![latency, staleness],
    }
}

/// Messages delivered per second per cohort, and sequence gaps (lost messages) per second, in two
/// panels, fault windows shaded, rollout steps marked.
pub fn delivery_series(summary: &RunSummary, rows: &[TimeseriesRow]) -> Chart {
    let end = run_seconds(summary);
    let cohort_lines = |value: fn(&TimeseriesRow) -> f64| -> Vec<Line> {
        summary
            .cohorts
            .iter()
            .map(|c| {
                let points = per_second(rows, &c.name, At::Middle, end, value);
                line_of(c.name.clone(), cohort_colour(summary, &c.name), Stroke::Solid, points)
            })
            .collect()
    };
    let mut delivered = time_panel(summary, "messages per second", cohort_lines(|r| r.delivered as f64));
    delivered.caption = "Delivered to subscribers".to_owned();
    let mut gaps = time_panel(summary, "gaps per second", cohort_lines(|r| r.gaps as f64));
    gaps.caption = "Lost (gaps, in subscriber-deliveries)".to_owned();
    Chart {
        file_stem: "delivery",
        title: "Messages delivered and lost per second".to_owned(),
        panels: vec![delivered, gaps],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::FaultWindow;

    fn summary() -> RunSummary {
        crate::summary::sample::two_cohorts(false, "")
    }

    fn row(second: usize, cohort: &str, attempts: u64, open: i64, server_open: Option<u64>) -> TimeseriesRow {
        TimeseriesRow {
            second,
            cohort: cohort.to_owned(),
            attempts,
            connected: attempts,
            failed: 0,
            retries: attempts / 2,
            ended: 0,
            open,
            delivered: 10 * second as u64,
            gaps: 1,
            detections: 0,
            latency_p50_us: None,
            latency_p99_us: None,
            staleness_p50_us: None,
            staleness_p99_us: None,
            server_open,
            harness_lag_p99_us: None,
            canary_p99_us: None,
        }
    }

    #[test]
    fn percentiles_sit_on_the_hdrhistogram_scale() {
        let at = |q: f64| percentile_x(q).unwrap();
        assert!((at(0.5) - 2f64.log10()).abs() < 1e-12);
        assert!((at(0.9) - 1.0).abs() < 1e-12 && (at(0.99) - 2.0).abs() < 1e-9 && (at(0.999) - 3.0).abs() < 1e-9);
        assert_eq!(percentile_x(1.0), None);
    }

    #[test]
    fn latency_has_a_latency_and_a_staleness_line_per_cohort_in_the_cohort_colour() {
        let s = summary();
        let point = |quantile, value_ms| PercentilePoint { quantile, value_ms };
        let latency = vec![CohortLatency {
            cohort: "wsmanager".into(),
            raw: vec![point(0.0, 1.0), point(0.99, 5.0), point(1.0, 9.0)],
            staleness: vec![point(0.0, 1.0), point(0.999, 20.0)],
        }];
        let chart = latency_series(&s, &latency);
        let lines = &chart.panels[0].lines;
        let labels: Vec<&str> = lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["wsmanager latency", "wsmanager staleness"]);
        assert_eq!((lines[0].colour, lines[0].stroke, lines[1].stroke), (WSMANAGER, Stroke::Solid, Stroke::Dashed));
        assert_eq!(lines[0].points.len(), 2, "the 100 % line has no place on a log scale");
        assert_eq!(chart.panels[0].x, XAxis::Percentile { max: 3.0 });
    }

    #[test]
    fn time_series_are_per_cohort_in_order_and_clamped_to_the_run() {
        let mut s = summary();
        s.run.elapsed_ms = 1500;
        let rows =
            vec![row(0, "legacy", 4, 4, Some(0)), row(1, "legacy", 2, 6, Some(4)), row(0, "wsmanager", 1, 1, Some(0))];
        let chart = attempts_series(&s, &rows);
        let lines = &chart.panels[0].lines;
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].points, [Point { x: 0.5, y: 4.0 }, Point { x: 1.5, y: 2.0 }]);
        assert_eq!(lines[1].points, [Point { x: 0.5, y: 2.0 }, Point { x: 1.5, y: 1.0 }]);
        assert_eq!((lines[0].colour, lines[2].colour), (LEGACY, WSMANAGER));
        let open = open_connections_series(&s, &rows);
        let legacy = &open.panels[0].lines[0];
        assert_eq!(legacy.points, [Point { x: 0.0, y: 0.0 }, Point { x: 1.0, y: 4.0 }, Point { x: 1.5, y: 6.0 }]);
        let mock = open.panels[0].lines.last().unwrap();
        assert_eq!((mock.label.as_str(), mock.points.len()), ("mock (all cohorts)", 2));
        assert_eq!(delivery_series(&s, &rows).panels.len(), 2);
    }

    #[test]
    fn rollout_steps_and_a_performed_rollback_are_marked_on_every_time_panel() {
        let mut s = summary();
        assert!(rollout_markers(&s).is_empty(), "no rehearsal, no marker");
        s.run.elapsed_ms = 24_000;
        s.rollout = Some(crate::report::rehearsal::tests::rolled_back("error-rate"));
        let markers = rollout_markers(&s);
        let marker = |label: &str, at, kind| Marker { label: label.into(), at, kind };
        assert_eq!(
            markers,
            [
                marker("25 %", 4.0, MarkerKind::Step),
                marker("50 %", 9.0, MarkerKind::Step),
                marker("rollback", 14.0, MarkerKind::Rollback)
            ],
            "the step after a performed rollback never started"
        );
        let panels = [open_connections_series(&s, &[]), attempts_series(&s, &[]), delivery_series(&s, &[])]
            .into_iter()
            .flat_map(|c| c.panels);
        assert!(panels.into_iter().all(|p| p.markers == markers));
        assert!(latency_series(&s, &[]).panels[0].markers.is_empty(), "not on the percentile axis");
        s.run.elapsed_ms = 12_000;
        assert_eq!(rollout_markers(&s).len(), 2, "a rollback after the run's end is not drawn");
    }

    #[test]
    fn latency_over_time_leaves_out_the_seconds_without_a_sample() {
        let summary = summary();
        let mut rows = vec![row(0, "legacy", 1, 1, None), row(1, "legacy", 1, 1, None)];
        (rows[1].latency_p50_us, rows[1].latency_p99_us, rows[1].staleness_p99_us) =
            (Some(2_000), Some(9_000), Some(500));
        let chart = latency_over_time_series(&summary, &rows);
        assert_eq!(chart.panels.len(), 2);
        let p99 = chart.panels[0].lines.iter().find(|l| l.label == "legacy p99").unwrap();
        assert_eq!(p99.points, [Point { x: 1.5, y: 9.0 }], "second 0 had no sample");
        assert_eq!(chart.panels[1].lines[0].points, [Point { x: 1.5, y: 0.5 }]);
    }

    #[test]
    fn fault_windows_are_labelled_and_open_ones_last_to_the_end() {
        let mut s = summary();
        s.run.elapsed_ms = 30_000;
        let window = |name: Option<&str>, start_ms, end_ms| FaultWindow {
            kind: "stall".into(),
            name: name.map(str::to_owned),
            start_ms,
            end_ms,
            touched: 1,
            handshakes: 0,
            sources: Vec::new(),
            streams: Default::default(),
        };
        s.faults = vec![window(Some("half-open"), 5_000, Some(8_000)), window(None, 20_000, None)];
        let bands = fault_bands(&s);
        assert_eq!(bands[0], Band { label: "half-open".into(), from: 5.0, to: 8.0 });
        assert_eq!(bands[1], Band { label: "stall".into(), from: 20.0, to: 30.0 });
        assert_eq!(open_connections_series(&s, &[]).panels[0].bands, bands);
    }
}
