//! The run directory's formats on real recordings (`tests/fixtures/run-smoke` and `run-rehearsal`, release
//! runs of `scenarios/smoke.toml` and `tests/fixtures/run-rehearsal.toml`): each file parses, renders back
//! to what parses the same, and a run directory reads back whole.

use std::path::Path;

use wschaos::run_dir::{RunDirectory, events_csv, hgrm, summary_json, timeseries_csv};

const FIXTURES: [&str; 2] = [
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/run-smoke"),
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/run-rehearsal"),
];

fn bytes(dir: &str, file: &str) -> Vec<u8> {
    std::fs::read(Path::new(dir).join(file)).unwrap_or_else(|e| panic!("{dir}/{file}: {e}"))
}

#[test]
fn every_recorded_file_round_trips_through_its_format() {
    for dir in FIXTURES {
        let summary = summary_json::parse(&bytes(dir, summary_json::FILE)).unwrap();
        assert_eq!(summary_json::parse(&summary_json::render(&summary).unwrap()).unwrap(), summary, "{dir}");

        let rows = timeseries_csv::parse(&bytes(dir, timeseries_csv::FILE)).unwrap();
        assert!(!rows.is_empty(), "{dir}");
        assert_eq!(timeseries_csv::parse(&timeseries_csv::render(&rows).unwrap()).unwrap(), rows, "{dir}");

        let events = events_csv::parse(&bytes(dir, events_csv::FILE)).unwrap();
        assert_eq!(events.first().map(|e| e.event.as_str()), Some("run-start"), "{dir}");
        assert_eq!(events_csv::parse(&events_csv::render(&events).unwrap()).unwrap(), events, "{dir}");
        assert_eq!(events_csv::rows(&summary), events, "{dir}: events.csv is what the summary says");

        for cohort in &summary.cohorts {
            let text = String::from_utf8(bytes(dir, &format!("latency-{}.hgrm", cohort.name))).unwrap();
            let points = hgrm::parse(&text).unwrap();
            assert!(points.windows(2).all(|w| w[0].quantile <= w[1].quantile), "{dir} {}", cohort.name);
        }

        let run = RunDirectory::read(Path::new(dir)).unwrap();
        assert_eq!(run.latency.len(), summary.cohorts.len(), "{dir}");
        assert_eq!((run.summary, run.timeseries), (summary, rows), "{dir}");
    }
}
