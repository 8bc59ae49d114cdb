//! `report.html` in a real browser: the smoke fixture's report opened in headless Chromium (Debian's
//! `chromium`, driven by playwright-core from `tests/browser/`), with no console error, nothing fetched,
//! every chart visible, and a full-page screenshot compared loosely with the kept reference
//! (`tests/browser/reference/report-smoke.jpg`: sizes and which regions are drawn). Ignored by a plain
//! `cargo test` (it needs Chromium and the npm package): `.ci/run` installs both and runs it with
//! `cargo test --locked --test it -- --ignored browser`. After an intended change of the page's layout, run
//! it with `WSCHAOS_UPDATE_REFERENCE=1` and look at the new reference before committing it.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{repo_path, scratch_dir};

/// The charts the smoke report holds (the latency percentiles, latency over time, open connections, the
/// storm, delivery).
const SMOKE_CHARTS: usize = 5;

#[test]
#[ignore = "needs Chromium and tests/browser's npm package: .ci/run installs them"]
fn browser_the_smoke_report_renders_in_chromium_with_every_chart_visible_and_matches_its_reference() {
    let dir = scratch_dir("browser-smoke");
    for file in std::fs::read_dir(repo_path("tests/fixtures/run-smoke")).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), dir.join(file.file_name())).unwrap();
    }
    let rendered = crate::support::wschaos_binary().arg("report").arg(&dir).output().unwrap();
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(!page.contains("<script") && !page.contains(" src=\"http"), "one self-contained page, no script");
    let reference = repo_path("tests/browser/reference/report-smoke.jpg");
    let screenshot: PathBuf = dir.join("screenshot.jpg");
    let mut check = Command::new("node");
    check
        .arg(repo_path("tests/browser/check-report.mjs"))
        .arg(dir.join("report.html"))
        .arg(&screenshot)
        .arg(&reference)
        .arg(SMOKE_CHARTS.to_string());
    if std::env::var_os("WSCHAOS_UPDATE_REFERENCE").is_some() {
        check.arg("--update");
    }
    let output = check.output().expect("node runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "report.html in Chromium:\n{stderr}\n{stdout}\nscreenshot: {}",
        screenshot.display()
    );
    println!("{stdout}");
}
