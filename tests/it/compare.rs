//! `wschaos compare RUN_A RUN_B` as a user runs it, on run directories written from a fixture summary:
//! Markdown by default, JSON with `--json`; exit 0 without regression, 1 with one, 2 for a directory that
//! is not a run directory.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{scratch_dir, verdict_mut, wschaos_binary};

const FIXTURE: &str = include_str!("../fixtures/compare-summary.json");

/// A run directory holding the fixture summary, changed by `edit`.
fn run_dir(name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let dir = scratch_dir(name);
    let mut summary: Value = serde_json::from_str(FIXTURE).unwrap();
    edit(&mut summary);
    std::fs::write(dir.join("summary.json"), serde_json::to_vec_pretty(&summary).unwrap()).unwrap();
    dir
}

/// Run B: latency-p95 of wsmanager regressed to a fail, connection-reduction improved to a pass.
fn regressed(summary: &mut Value) {
    let p95 = verdict_mut(summary, "latency-p95", "wsmanager");
    p95["measured"] = 150.0.into();
    p95["status"] = "fail".into();
    let reduction = verdict_mut(summary, "connection-reduction", "wsmanager");
    reduction["measured"] = 91.5.into();
    reduction["status"] = "pass".into();
    summary["cohorts"][1]["latency_us"]["p95"] = 150_000.into();
    summary["cohorts"][1]["attempts"]["peak_retries_per_second"] = 40.into();
}

#[test]
fn a_regression_is_marked_and_exits_1() {
    let (a, b) = (run_dir("compare-a", |_| {}), run_dir("compare-b", regressed));
    let output = wschaos_binary().arg("compare").arg(&a).arg(&b).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("**1 regression (pass in A, fail in B)**; 1 improvement."), "{text}");
    assert!(text.contains(&format!("| A | `{}` | tiny |", a.display())), "{text}");
    assert!(
        text.contains(
            "| `latency-p95` | wsmanager | < 100 ms | 1.956 | 150 | +148.044 | +7568.7 % | pass | **FAIL** | **REGRESSION** |"
        ),
        "{text}"
    );
    assert!(text.contains("| `connection-reduction` | wsmanager | ≥ 90 % fewer | 33.333 | 91.5 |"), "{text}");
    assert!(text.contains("| **FAIL** | pass | improvement |"), "{text}");
    assert!(text.contains("| wsmanager | latency-p95-ms | 1.956 | 150 | +148.044 | +7568.7 % |"), "{text}");
    assert!(text.contains("| wsmanager | peak-reconnects-per-second | 4 | 40 | +36 | +900 % |"), "{text}");
}

#[test]
fn the_same_run_twice_exits_0_and_json_is_for_machines() {
    let a = run_dir("compare-same", |_| {});
    let output = wschaos_binary().arg("compare").arg(&a).arg(&a).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("No criterion regressed; 0 improvements."));
    let b = run_dir("compare-json-b", regressed);
    let output = wschaos_binary().args(["compare", "--json"]).arg(&a).arg(&b).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
    assert_eq!((json["schema_version"].as_u64(), json["regressions"].as_u64()), (Some(2), Some(1)));
    let rows = json["criteria"].as_array().unwrap();
    let p95 = rows.iter().find(|r| r["criterion"] == "latency-p95" && r["cohort"] == "wsmanager").unwrap();
    assert_eq!(p95["change"], "regressed");
    assert_eq!((p95["a"].as_f64(), p95["b"].as_f64()), (Some(1.956), Some(150.0)));
    assert_eq!(p95["difference"]["absolute"].as_f64(), Some(148.044));
    assert_eq!((p95["status_a"].as_str(), p95["status_b"].as_str()), (Some("pass"), Some("fail")));
    let figures = json["figures"].as_array().unwrap();
    assert!(figures.iter().any(|f| f["cohort"] == "legacy" && f["figure"] == "lockstep-index"));
}

#[test]
fn a_directory_that_is_not_a_run_directory_exits_2() {
    let a = run_dir("compare-real", |_| {});
    let empty = scratch_dir("compare-empty");
    let output = wschaos_binary().arg("compare").arg(&a).arg(&empty).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is it a run directory?"));
    let garbage = scratch_dir("compare-garbage");
    std::fs::write(garbage.join("summary.json"), "{\"schema_version\": 1}").unwrap();
    let output = wschaos_binary().arg("compare").arg(&garbage).arg(&a).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a wschaos run summary"));
}
