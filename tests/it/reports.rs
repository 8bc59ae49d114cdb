//! Every report format rendered from fixed run directories (`tests/fixtures/run-smoke`, a real smoke
//! run's recordings, and `tests/fixtures/run-rehearsal`, a real three-step rollout rehearsal's): snapshots
//! of `report.md`, `junit.xml`, `report.html` and a chart's SVG; a rehearsal whose step fired, rolled back;
//! `wschaos report DIR` rendering all of them from the directory alone; and hostile scenario strings
//! (trigger texts included) escaped in every format. Snapshots are insta's (`tests/it/snapshots/`); after
//! an intended change, regenerate them with `INSTA_UPDATE=always cargo test --test it reports::` and review
//! the diff. The fixtures are the recordings (`summary.json`, `timeseries.csv`, `events.csv`, the `.hgrm`
//! files) of release runs of `scenarios/smoke.toml` and `tests/fixtures/run-rehearsal.toml`; after a change
//! of the run directory's format, run those again and copy the recordings over.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wschaos::report::files::write_reports;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/run-smoke");
const REHEARSAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/run-rehearsal");

/// A fresh copy of the smoke fixture's files (recordings only) in a scratch directory.
fn fixture_copy(name: &str) -> PathBuf {
    copy_of(FIXTURE, name)
}

/// A fresh copy of a fixture directory's files in a scratch directory.
fn copy_of(fixture: &str, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("reports-{name}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixture).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    dir
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The fixture rendered once per test binary run.
fn rendered() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = fixture_copy("snapshots");
        write_reports(&dir).unwrap();
        dir
    })
}

/// The rehearsal fixture rendered once per test binary run.
fn rendered_rehearsal() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = copy_of(REHEARSAL, "rehearsal-snapshots");
        write_reports(&dir).unwrap();
        dir
    })
}

#[test]
fn report_md_snapshot() {
    insta::assert_snapshot!("report_md", read(rendered(), "report.md"));
}

#[test]
fn junit_xml_snapshot() {
    insta::assert_snapshot!("junit_xml", read(rendered(), "junit.xml"));
}

#[test]
fn report_html_snapshot() {
    insta::assert_snapshot!("report_html", read(rendered(), "report.html"));
}

#[test]
fn open_connections_chart_svg_snapshot() {
    insta::assert_snapshot!("open_connections_svg", read(rendered(), "charts/open-connections.svg"));
}

#[test]
fn rehearsal_report_md_snapshot() {
    insta::assert_snapshot!("rehearsal_report_md", read(rendered_rehearsal(), "report.md"));
}

#[test]
fn rehearsal_report_html_snapshot() {
    insta::assert_snapshot!("rehearsal_report_html", read(rendered_rehearsal(), "report.html"));
}

#[test]
fn rehearsal_open_connections_chart_svg_snapshot() {
    insta::assert_snapshot!(
        "rehearsal_open_connections_svg",
        read(rendered_rehearsal(), "charts/open-connections.svg")
    );
}

#[test]
fn a_completed_rehearsal_shows_its_steps_in_every_format_and_chart() {
    let dir = rendered_rehearsal();
    let markdown = read(dir, "report.md");
    assert!(markdown.contains("## Rollout rehearsal\n"));
    assert!(
        markdown.contains("Completed: every step was reached and no trigger fired. Expected to complete: as expected.")
    );
    assert_eq!(markdown.matches("| completed |\n").count(), 3, "{markdown}");
    let html = read(dir, "report.html");
    assert!(html.contains("<section id=\"rollout\">") && !html.contains("<tr class=\"rollback\">"));
    for chart in ["open-connections", "connect-attempts", "delivery"] {
        let svg = read(dir, &format!("charts/{chart}.svg"));
        for label in ["25 %", "50 %", "100 %", "rollout step"] {
            assert!(svg.contains(label), "{chart}.svg has no {label}");
        }
        assert!(!svg.contains("\nrollback\n"), "{chart}.svg: nothing was rolled back");
    }
    let junit = read(dir, "junit.xml");
    for case in ["rollout-step-1 [wsmanager]", "rollout-step-3 [wsmanager]", "rollout-outcome [wsmanager]"] {
        assert!(junit.contains(&format!("name=\"{case}\"")), "{case}");
    }
}

/// The rehearsal fixture with its second step's triggers fired (error rate and a floor, connection
/// success) and the rollback performed: every client back on legacy, the third step never started.
fn rolled_back_copy(name: &str, trigger: &str) -> PathBuf {
    let dir = copy_of(REHEARSAL, name);
    let mut summary: Value = serde_json::from_str(&read(&dir, "summary.json")).unwrap();
    let rollout = &mut summary["rollout"];
    rollout["rollback"] = "perform".into();
    rollout["steps"][1]["judgement"]["fired"] = serde_json::json!([
        {"trigger": trigger, "measured": 4.25, "threshold": 1.0, "unit": "%"},
        {"trigger": "connection-success", "measured": 97.5, "threshold": 99.0, "unit": "%"}
    ]);
    rollout["steps"][2]["reached"] = false.into();
    rollout["steps"][2]["judgement"] = Value::Null;
    rollout["rollback_handover"] = rollout["total"].clone();
    rollout["outcome"] = serde_json::json!({
        "completed": false,
        "rollback_step": 1,
        "triggers": [format!("{trigger} 4.25 % > 1"), "connection-success 97.5 % < 99"],
        "performed": true,
        "recovery_ms": 318,
        "expected": "complete",
        "as_expected": false
    });
    std::fs::write(dir.join("summary.json"), serde_json::to_vec_pretty(&summary).unwrap()).unwrap();
    write_reports(&dir).unwrap();
    dir
}

#[test]
fn a_fired_step_shows_as_a_rollback_in_every_format_and_chart() {
    let dir = rolled_back_copy("rolled-back", "error-rate");
    let markdown = read(&dir, "report.md");
    assert!(
        markdown.contains(
            "**Rolled back at step 2 of 3 (50 %): error-rate 4.25 % &gt; 1; connection-success 97.5 % &lt; \
             99; clients back on legacy in 318 ms**. **Expected to complete: NOT as expected**."
        ),
        "{markdown}"
    );
    assert!(
        markdown.contains("| **ROLLBACK**: error-rate 4.25 % &gt; 1; connection-success 97.5 % &lt; 99 |\n"),
        "{markdown}"
    );
    assert!(markdown.contains("| 3 | 100 | 14.0 | – |") && markdown.contains("| not reached |\n"), "{markdown}");
    assert!(markdown.contains("| the rollback, back to legacy | 20 |"), "{markdown}");
    assert_markdown_tables_are_well_formed(&markdown);
    let html = read(&dir, "report.html");
    assert_eq!(html.matches("<tr class=\"rollback\">").count(), 1);
    assert!(html.contains("<p class=\"outcome status-fail\">Rolled back at step 2 of 3 (50 %)"));
    for chart in ["open-connections", "connect-attempts", "delivery"] {
        let svg = read(&dir, &format!("charts/{chart}.svg"));
        assert!(svg.contains("\nrollback\n") && svg.contains("\n50 %\n"), "{chart}.svg marks the rollback");
        assert!(!svg.contains("100 %"), "{chart}.svg: the third step never started");
    }
}

#[test]
fn wschaos_report_renders_every_format_from_the_run_directory_alone() {
    let dir = fixture_copy("cli");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wschaos")).arg("report").arg(&dir).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    for file in ["report.md", "junit.xml", "report.html"] {
        assert_eq!(read(&dir, file), read(rendered(), file), "{file} as the library renders it");
    }
    for stem in ["latency", "latency-over-time", "open-connections", "connect-attempts", "delivery"] {
        assert_eq!(read(&dir, &format!("charts/{stem}.svg")), read(rendered(), &format!("charts/{stem}.svg")));
        let png = std::fs::read(dir.join(format!("charts/{stem}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "{stem}.png: {} bytes", png.len());
        let html = read(&dir, "report.html");
        assert!(html.contains(&format!("<figure id=\"chart-{stem}\">\n<svg")), "{stem} inline in the HTML");
    }
}

#[test]
fn a_directory_without_its_recordings_is_a_usage_error_naming_the_file() {
    let dir = fixture_copy("missing");
    std::fs::remove_file(dir.join("staleness-wsmanager.hgrm")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wschaos")).arg("report").arg(&dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("staleness-wsmanager.hgrm"), "{stderr}");
    assert!(!dir.join("report.html").exists());
}

#[test]
fn the_html_is_self_contained() {
    let html = read(rendered(), "report.html");
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for outside in ["http://", "https://", "<script", "<link", "@import", "src="] {
        let found: Vec<&str> = html.lines().filter(|l| l.contains(outside) && !l.contains("xmlns")).take(3).collect();
        assert!(found.is_empty(), "{outside}: {found:?}");
    }
    assert_eq!(html.matches("<svg").count(), 5, "every chart inline");
}

const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=\"alert(2)\"> & 'q' | \"dq\"\nline two";
const HOSTILE_COHORT: &str = "ws<b>&\"m\"|";

/// The rehearsal fixture's rollout with a step whose fired trigger's name and unit are markup.
fn hostile_rollout() -> Value {
    let rehearsal: Value = serde_json::from_str(&read(Path::new(REHEARSAL), "summary.json")).unwrap();
    let mut rollout = rehearsal["rollout"].clone();
    rollout["steps"][1]["judgement"]["fired"] =
        serde_json::json!([{"trigger": HOSTILE, "measured": 2.5, "threshold": 1.0, "unit": HOSTILE}]);
    rollout["outcome"]["rollback_step"] = 1.into();
    rollout["outcome"]["completed"] = false.into();
    rollout["outcome"]["triggers"] = serde_json::json!([HOSTILE]);
    rollout
}

/// The fixture with every scenario-supplied string replaced by markup, quotes, ampersands and pipes,
/// the `wsmanager` cohort renamed to one that is markup too, the legacy cohort's verdicts a reference,
/// and a rehearsal whose fired trigger is markup.
fn hostile_copy() -> PathBuf {
    let dir = fixture_copy("hostile");
    let mut summary: Value = serde_json::from_str(&read(&dir, "summary.json")).unwrap();
    summary["rollout"] = hostile_rollout();
    summary["scenario"]["rollout"] = serde_json::json!({"gate": "new", "preset": HOSTILE});
    summary["baseline"] = serde_json::json!({"path": HOSTILE, "scenario": HOSTILE, "seed": 1, "started_unix_ms": 0});
    summary["scenario"]["name"] = HOSTILE.into();
    summary["scenario"]["description"] = HOSTILE.into();
    summary["faults"][0]["name"] = HOSTILE.into();
    summary["cohorts"][1]["name"] = HOSTILE_COHORT.into();
    for verdict in summary["verdicts"].as_array_mut().unwrap() {
        if verdict["cohort"] == "wsmanager" {
            verdict["cohort"] = HOSTILE_COHORT.into();
        }
        if verdict["cohort"] == "legacy" {
            verdict["gates"] = false.into();
        }
        verdict["note"] = HOSTILE.into();
        verdict["source"] = HOSTILE.into();
        verdict["status"] = "fail".into();
    }
    std::fs::write(dir.join("summary.json"), serde_json::to_vec_pretty(&summary).unwrap()).unwrap();
    let quoted = format!("\"{}\"", HOSTILE_COHORT.replace('"', "\"\""));
    std::fs::write(
        dir.join("timeseries.csv"),
        read(&dir, "timeseries.csv").replace(",wsmanager,", &format!(",{quoted},")),
    )
    .unwrap();
    for prefix in ["latency", "staleness"] {
        let from = dir.join(format!("{prefix}-wsmanager.hgrm"));
        std::fs::rename(from, dir.join(format!("{prefix}-{HOSTILE_COHORT}.hgrm"))).unwrap();
    }
    dir
}

#[test]
fn hostile_scenario_strings_are_escaped_in_every_format() {
    let dir = hostile_copy();
    write_reports(&dir).unwrap();
    let html = read(&dir, "report.html");
    for raw in ["<script", "<img", "<b>", "onerror=\"", "{{"] {
        assert!(!html.to_lowercase().contains(raw), "the HTML contains {raw}");
    }
    assert!(html.contains(
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt; &amp; &#x27;q&#x27;"
    ));
    assert!(html.contains("ws&lt;b&gt;&amp;&quot;m&quot;|"), "the cohort's name, escaped");
    assert!(html.contains("<tr class=\"rollback\">") && html.contains("legacy fails: reference"));
    for chart in ["open-connections", "connect-attempts", "delivery", "latency"] {
        let svg = read(&dir, &format!("charts/{chart}.svg"));
        assert!(!svg.contains("<script") && !svg.contains("<b>"), "{chart}.svg");
    }
    assert!(read(&dir, "charts/open-connections.svg").contains("&lt;script&gt;alert(1)"), "the fault label, escaped");
    let markdown = read(&dir, "report.md");
    assert_markdown_tables_are_well_formed(&markdown);
    assert!(markdown.starts_with("# wschaos run: &lt;script&gt;"), "{markdown}");
    assert!(markdown.contains("| **ROLLBACK**: &lt;script&gt;alert(1)"), "the trigger, escaped");
    assert_well_formed_xml(&read(&dir, "junit.xml"));
}

/// Pipes that separate cells: those not escaped with a backslash.
fn cell_separators(line: &str) -> usize {
    let mut count = 0;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => count += 1,
            _ => escaped = false,
        }
    }
    count
}

/// Every table row has as many cells as its header, and no raw markup reached the text.
fn assert_markdown_tables_are_well_formed(markdown: &str) {
    assert!(!markdown.contains("<script") && !markdown.contains("<img"), "{markdown}");
    let mut header_cells = None;
    for line in markdown.lines() {
        match (line.starts_with('|'), header_cells) {
            (true, None) => header_cells = Some(cell_separators(line)),
            (true, Some(cells)) => assert_eq!(cell_separators(line), cells, "row: {line}"),
            (false, _) => header_cells = None,
        }
    }
}

/// A small well-formedness check: balanced elements, quoted attributes, and no `<` or bare `&` in text
/// or attribute values.
fn assert_well_formed_xml(xml: &str) {
    let body = xml.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n").expect("XML declaration");
    let mut open: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        assert_text(&rest[..start]);
        let end = rest[start..].find('>').expect("tag closed") + start;
        let tag = &rest[start + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop().as_deref(), Some(name), "closing tag");
        } else {
            let (name, attributes) =
                tag.trim_end_matches('/').split_once(' ').unwrap_or((tag.trim_end_matches('/'), ""));
            assert_attributes(attributes);
            if !tag.ends_with('/') {
                open.push(name.to_owned());
            }
        }
        rest = &rest[end + 1..];
    }
    assert_text(rest);
    assert!(open.is_empty(), "unclosed: {open:?}");
}

fn assert_text(text: &str) {
    for (index, _) in text.match_indices('&') {
        let entity = &text[index..text[index..].find(';').map_or(text.len(), |e| index + e + 1)];
        assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity), "bare & in {text:?}");
    }
}

fn assert_attributes(attributes: &str) {
    let mut rest = attributes.trim();
    while !rest.is_empty() {
        let (_, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("unquoted attribute in {attributes:?}"));
        let close = after.find('"').expect("attribute value closed");
        assert_text(&after[..close]);
        assert!(!after[..close].contains('<'));
        rest = after[close + 1..].trim_start();
    }
}
