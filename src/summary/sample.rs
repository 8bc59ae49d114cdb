//! A small run summary built in code for the library's unit tests: legacy (20 sockets, 2 ms) and
//! WSManager (1 socket, 0.5 ms) side by side, judged against the default criteria with every cohort
//! gating. (The recorded runs under `tests/fixtures/` are the integration tests'.)

use std::collections::BTreeMap;
use std::time::Duration;

use crate::criteria::verdict::{Judging, judge};
use crate::criteria::{GateScope, RawOverride};
use crate::manager::settings::ManagerKind;
use crate::record::recorder::CohortRecord;
use crate::summary::build::cohort_summary;
use crate::summary::{CohortPlan, CohortSummary, RunSummary};

/// A cohort holding `high_water` connections for 20 subscriptions, delivering at `latency_us`.
#[allow(clippy::field_reassign_with_default)] // two of the record's fields are private to the recorder
pub fn cohort(manager: ManagerKind, high_water: i64, latency_us: u64) -> CohortSummary {
    let mut record = CohortRecord::default();
    record.open_high_water = high_water;
    record.delivered = 5_000;
    record.attempts.insert("connected".into(), high_water as u64);
    record.latency.record(latency_us).unwrap();
    let plan = CohortPlan {
        name: manager.as_str().to_owned(),
        manager,
        external: false,
        clients: 2,
        subscriptions: 20,
        distinct_streams: 20,
    };
    cohort_summary(&record, plan, &[], Duration::from_secs(60))
}

/// Legacy and WSManager, judged with `overrides` (criteria TOML); `saturated` marks the harness saturated.
pub fn two_cohorts(saturated: bool, overrides: &str) -> RunSummary {
    judged(vec![cohort(ManagerKind::Legacy, 20, 2_000), cohort(ManagerKind::Wsmanager, 1, 500)], saturated, overrides)
}

/// A 12.3 s run of scenario `t` with `cohorts`, judged as [`two_cohorts`] is.
pub fn judged(cohorts: Vec<CohortSummary>, saturated: bool, overrides: &str) -> RunSummary {
    let json = serde_json::json!({
        "schema_version": 1, "wschaos_version": "test", "scenario": {"name": "t"}, "mock_config": {},
        "run": {"started_unix_ms": 0, "elapsed_ms": 12_345, "interrupted": false, "upstream": "embedded",
                "events_recorded": 10},
        "cohorts": cohorts,
        "server": null, "faults": [],
        "harness": {"lag_p50_us": 500, "lag_p99_us": 40_000, "lag_max_us": 50_000,
                    "saturation_threshold_us": 25_000, "saturated": saturated, "cpu_seconds": 1.5,
                    "max_rss_kib": 20_480, "rss_per_connection_bytes": 1_000},
    });
    let mut summary: RunSummary = serde_json::from_value(json).unwrap();
    let overrides: BTreeMap<String, RawOverride> = toml::from_str(overrides).unwrap();
    let every_cohort_gates = Judging { overrides: &overrides, gate: GateScope::All, ..Judging::defaults() };
    summary.verdicts = judge(&summary, &every_cohort_gates);
    summary
}
