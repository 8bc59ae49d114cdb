//! Every report format rendered from a fixed run directory (`tests/fixtures/run-smoke`, a real smoke
//! run's recordings): snapshots of `report.md`, `junit.xml`, `report.html` and a chart's SVG; `wschaos
//! report DIR` rendering all of them from the directory alone; and hostile scenario strings escaped in
//! every format. Snapshots are insta's (`tests/it/snapshots/`); after an intended change, regenerate
//! them with `INSTA_UPDATE=always cargo test --test it reports::` and review the diff.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wschaos::report::files::write_reports;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/run-smoke");

/// A fresh copy of the fixture's files (recordings only) in a scratch directory.
fn fixture_copy(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("reports-{name}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(FIXTURE).unwrap() {
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
fn wschaos_report_renders_every_format_from_the_run_directory_alone() {
    let dir = fixture_copy("cli");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wschaos")).arg("report").arg(&dir).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    for file in ["report.md", "junit.xml", "report.html"] {
        assert_eq!(read(&dir, file), read(rendered(), file), "{file} as the library renders it");
    }
    for stem in ["latency", "open-connections", "connect-attempts", "delivery"] {
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
    std::fs::remove_file(dir.join("latency-wsmanager-corrected.hgrm")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wschaos")).arg("report").arg(&dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("latency-wsmanager-corrected.hgrm"), "{stderr}");
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
    assert_eq!(html.matches("<svg").count(), 4, "every chart inline");
}

const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=\"alert(2)\"> & 'q' | \"dq\"\nline two";
const HOSTILE_COHORT: &str = "ws<b>&\"m\"|";

/// The fixture with every scenario-supplied string replaced by markup, quotes, ampersands and pipes,
/// and the `wsmanager` cohort renamed to one that is markup too.
fn hostile_copy() -> PathBuf {
    let dir = fixture_copy("hostile");
    let mut summary: Value = serde_json::from_str(&read(&dir, "summary.json")).unwrap();
    summary["scenario"]["name"] = HOSTILE.into();
    summary["scenario"]["description"] = HOSTILE.into();
    summary["faults"][0]["name"] = HOSTILE.into();
    summary["cohorts"][1]["name"] = HOSTILE_COHORT.into();
    for verdict in summary["verdicts"].as_array_mut().unwrap() {
        if verdict["cohort"] == "wsmanager" {
            verdict["cohort"] = HOSTILE_COHORT.into();
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
    for suffix in ["", "-corrected"] {
        let from = dir.join(format!("latency-wsmanager{suffix}.hgrm"));
        std::fs::rename(from, dir.join(format!("latency-{HOSTILE_COHORT}{suffix}.hgrm"))).unwrap();
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
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt; &amp; &#39;q&#39;"
    ));
    assert!(html.contains("ws&lt;b&gt;&amp;&quot;m&quot;|"), "the cohort's name, escaped");
    for chart in ["open-connections", "connect-attempts", "delivery", "latency"] {
        let svg = read(&dir, &format!("charts/{chart}.svg"));
        assert!(!svg.contains("<script") && !svg.contains("<b>"), "{chart}.svg");
    }
    assert!(read(&dir, "charts/open-connections.svg").contains("&lt;script&gt;alert(1)"), "the fault label, escaped");
    assert_markdown_tables_are_well_formed(&read(&dir, "report.md"));
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
    assert!(markdown.starts_with("# wschaos run: &lt;script&gt;"), "{markdown}");
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
