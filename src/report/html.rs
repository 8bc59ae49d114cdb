//! `report.html`: one self-contained page (inline CSS, the charts as inline SVG, no script, nothing
//! fetched) rendered from the run directory's contents. The page's frame is the template file
//! `templates/report.html`; every value put into it is markup built here, in which every string that
//! comes from the scenario or the run (names, descriptions, notes, sources) is HTML-escaped. Pure:
//! summary and drawn charts in, text out.

mod markup;
mod rehearsal;
mod sections;

use crate::criteria::verdict::any_failed;
use crate::summary::RunSummary;
use crate::summary::verdict::{Status, Verdict};

pub use markup::escape;
use markup::{table, td};

/// The page's frame, with `{{name}}` placeholders.
const TEMPLATE: &str = include_str!("../../templates/report.html");

/// A chart drawn for the page.
#[derive(Debug, Clone, PartialEq)]
pub struct InlineChart {
    /// Its file name under `charts/`, without extension.
    pub file_stem: String,
    /// Its title.
    pub title: String,
    /// The SVG document (plotters escapes the text it draws).
    pub svg: String,
}

/// The template and the values given for it do not match: a defect of this module, never of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{{` without its `}}`.
    #[error("the report template has an unclosed placeholder after byte {0}")]
    Unclosed(usize),
    /// A placeholder no value was given for.
    #[error("the report template's placeholder '{0}' has no value")]
    Unknown(String),
    /// A value no placeholder asks for.
    #[error("the report template has no placeholder '{0}'")]
    Unused(String),
}

/// Replaces every `{{name}}` of `template` with its markup, once: inserted markup is never scanned for
/// placeholders. Every placeholder needs a value and every value a placeholder.
pub fn fill(template: &str, values: &[(&str, String)]) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut used = vec![false; values.len()];
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed(template.len() - rest.len() + start))?;
        let name = &after[..end];
        let index =
            values.iter().position(|(key, _)| *key == name).ok_or_else(|| TemplateError::Unknown(name.to_owned()))?;
        out.push_str(&values[index].1);
        used[index] = true;
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    match used.iter().position(|u| !u) {
        Some(index) => Err(TemplateError::Unused(values[index].0.to_owned())),
        None => Ok(out),
    }
}

/// The CSS class and the words of a verdict status.
fn status_words(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Pass => ("status-pass", "pass"),
        Status::Fail => ("status-fail", "FAIL"),
        Status::NotMeasurable => ("status-not-measurable", "not measurable"),
        Status::NotApplicable => ("status-not-applicable", "n/a"),
        Status::Disabled => ("status-disabled", "disabled"),
    }
}

/// Which status a criterion row shows when its cohorts differ: the worst.
fn severity(status: Status) -> u8 {
    match status {
        Status::Fail => 4,
        Status::NotMeasurable => 3,
        Status::Pass => 2,
        Status::Disabled => 1,
        Status::NotApplicable => 0,
    }
}

/// A cohort's value cell, coloured by its own verdict (a failing reference in the neutral style).
fn value_cell(verdict: Option<&&Verdict>) -> String {
    let Some(v) = verdict else { return "<td class=\"num\">–</td>".to_owned() };
    let (class, _) = if is_failing_reference(v) { (REFERENCE, "") } else { status_words(v.status) };
    let value = v.measured.map_or_else(|| "–".to_owned(), |m| m.to_string());
    format!("<td class=\"num {class}\">{}</td>", escape(&value))
}

/// The style of a failing verdict that does not gate (the legacy cohort's, the reference): neutral.
const REFERENCE: &str = "status-reference";

/// A failing verdict that does not decide the exit code.
fn is_failing_reference(v: &Verdict) -> bool {
    !v.gates && v.status == Status::Fail
}

/// The verdict cell of a criterion: the worst gating status, each failing reference named beside it
/// ("legacy fails: reference"), then the notes.
fn verdict_cell(rows: &[&Verdict], note: &str) -> String {
    let worst = rows.iter().filter(|v| v.gates).map(|v| v.status).max_by_key(|s| severity(*s));
    let (class, words) = worst.map_or((REFERENCE, "reference only"), status_words);
    let references: String = rows
        .iter()
        .filter(|v| is_failing_reference(v))
        .map(|v| {
            let cohort = escape(v.cohort.as_deref().unwrap_or("harness"));
            format!("<span class=\"reference\">{cohort} fails: reference</span>")
        })
        .collect();
    format!("<td class=\"{class}\">{words}{references}{note}</td>")
}

/// One criterion's row: threshold, the value per cohort, the worst gating verdict with the references and
/// the notes, the source.
fn criterion_row(id: &str, rows: &[&Verdict], cohorts: &[&str]) -> Option<String> {
    let first = rows.first()?;
    let mut cells = format!("<td><code>{}</code></td>", escape(id));
    cells.push_str(&td(&format!("{} {} {}", first.comparison.symbol(), first.threshold, first.unit)));
    for cohort in cohorts {
        cells.push_str(&value_cell(rows.iter().find(|v| v.cohort.as_deref() == Some(cohort))));
    }
    let mut notes: Vec<&str> = Vec::new();
    for note in rows.iter().map(|v| v.note.as_str()).filter(|n| !n.is_empty()) {
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    let note = if notes.is_empty() {
        String::new()
    } else {
        format!("<span class=\"note\">{}</span>", escape(&notes.join("; ")))
    };
    cells.push_str(&verdict_cell(rows, &note));
    cells.push_str(&td(&first.source));
    Some(cells)
}

/// The criteria table: criterion, threshold, value per cohort, verdict, source.
fn criteria(summary: &RunSummary) -> String {
    if summary.verdicts.is_empty() {
        return "<p>No criterion was judged.</p>\n".to_owned();
    }
    let cohorts: Vec<&str> = summary.cohorts.iter().map(|c| c.name.as_str()).collect();
    let mut ids: Vec<&str> = Vec::new();
    for v in &summary.verdicts {
        if !ids.contains(&v.criterion.as_str()) {
            ids.push(&v.criterion);
        }
    }
    let rows: Vec<String> = ids
        .iter()
        .filter_map(|id| {
            let rows: Vec<&Verdict> = summary.verdicts.iter().filter(|v| v.criterion == *id).collect();
            criterion_row(id, &rows, &cohorts)
        })
        .collect();
    let mut headers = vec!["criterion", "threshold"];
    headers.extend(&cohorts);
    headers.extend(["verdict", "source"]);
    table("criteria", &headers, &rows)
}

/// The gate in one line, coloured: only verdicts that gate count (a failing reference does not).
fn banner(summary: &RunSummary) -> String {
    let failed = summary.verdicts.iter().filter(|v| v.gates && v.status == Status::Fail).count();
    let (class, words) = match (any_failed(&summary.verdicts), summary.not_measurable_cause()) {
        (true, Some(cause)) => {
            ("fail", format!("{failed} criteria failed (and {cause}: latency and storm verdicts not measurable)"))
        }
        (true, None) => ("fail", format!("{failed} criteria failed")),
        (false, Some(cause)) => ("not-measurable", format!("Not measurable: {cause}")),
        (false, None) => ("pass", "Every criterion passed".to_owned()),
    };
    format!("<p class=\"banner {class}\">{}</p>", escape(&words))
}

/// The charts, inline, each with links to its files.
fn charts(charts: &[InlineChart]) -> String {
    charts
        .iter()
        .map(|c| {
            let stem = escape(&c.file_stem);
            format!(
                "<figure id=\"chart-{stem}\">\n{}\n<figcaption>{} (<a href=\"charts/{stem}.svg\">SVG</a>, \
                 <a href=\"charts/{stem}.png\">PNG</a>)</figcaption>\n</figure>\n",
                c.svg.trim(),
                escape(&c.title)
            )
        })
        .collect()
}

fn scenario_text<'a>(summary: &'a RunSummary, key: &str) -> Option<&'a str> {
    summary.scenario[key].as_str()
}

/// The HTML report of a run, with its charts inline.
pub fn render(summary: &RunSummary, drawn: &[InlineChart]) -> Result<String, TemplateError> {
    let name = escape(scenario_text(summary, "name").unwrap_or("scenario"));
    let description = scenario_text(summary, "description")
        .filter(|d| !d.is_empty())
        .map_or_else(String::new, |d| format!("<p class=\"description\">{}</p>", escape(d)));
    let values = [
        ("version", escape(&summary.wschaos_version)),
        ("schema_version", summary.schema_version.to_string()),
        ("scenario_name", name),
        ("description", description),
        ("banner", banner(summary)),
        ("run_facts", sections::run_facts(summary)),
        ("criteria", criteria(summary)),
        ("rollout", rehearsal::section(summary)),
        ("charts", charts(drawn)),
        ("storm", sections::storm(&summary.cohorts)),
        ("latency", sections::latency(&summary.cohorts)),
        ("recovery", sections::recovery(&summary.cohorts)),
        ("delivery", sections::delivery(summary)),
        ("connections", sections::connections(summary)),
        ("faults", sections::faults(summary)),
        (
            "harness",
            sections::harness(&summary.harness) + &sections::rig(&summary.rig) + &sections::external(&summary.cohorts),
        ),
        ("parameters", sections::parameters(summary)),
    ];
    fill(TEMPLATE, &values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_attributes() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn fill_inserts_once_and_never_expands_inserted_text() {
        let values = [("a", "{{b}}".to_owned()), ("b", "B".to_owned())];
        assert_eq!(fill("<{{a}}|{{b}}>", &values), Ok("<{{b}}|B>".to_owned()));
        assert_eq!(fill("{{a}}", &values), Err(TemplateError::Unused("b".into())));
        assert_eq!(fill("{{a}}{{b}}{{c}}", &values), Err(TemplateError::Unknown("c".into())));
        assert_eq!(fill("x{{a", &values), Err(TemplateError::Unclosed(1)));
    }

    #[test]
    fn the_template_has_a_placeholder_for_every_value() {
        let summary: RunSummary = crate::summary::sample::two_cohorts(false, "");
        let html = render(&summary, &[]).unwrap();
        assert!(!html.contains("{{"), "every placeholder filled");
        assert!(html.contains("<td class=\"status-pass\">pass</td>"));
    }

    #[test]
    fn a_failing_reference_is_named_neutrally_and_does_not_fail_the_banner() {
        let mut summary: RunSummary = crate::summary::sample::two_cohorts(false, "");
        for v in summary.verdicts.iter_mut().filter(|v| v.cohort.as_deref() == Some("legacy")) {
            v.gates = false;
            if v.criterion == "error-rate" {
                v.status = Status::Fail;
            }
        }
        let rows: Vec<&Verdict> = summary.verdicts.iter().filter(|v| v.criterion == "error-rate").collect();
        let cell = verdict_cell(&rows, "");
        assert_eq!(cell, "<td class=\"status-pass\">pass<span class=\"reference\">legacy fails: reference</span></td>");
        assert!(value_cell(rows.first()).starts_with("<td class=\"num status-reference\">"));
        assert_eq!(
            verdict_cell(&rows[..1], ""),
            "<td class=\"status-reference\">reference only<span class=\"reference\">legacy fails: reference</span></td>"
        );
        assert!(banner(&summary).contains("Every criterion passed"), "{}", banner(&summary));
        summary.verdicts[1].status = Status::Fail;
        assert!(banner(&summary).contains("1 criteria failed"), "{}", banner(&summary));
    }

    #[test]
    fn the_worst_cohort_decides_the_row() {
        let statuses = [Status::Pass, Status::NotApplicable, Status::Fail, Status::Disabled];
        assert_eq!(statuses.into_iter().max_by_key(|s| severity(*s)), Some(Status::Fail));
        let statuses = [Status::NotApplicable, Status::Pass];
        assert_eq!(statuses.into_iter().max_by_key(|s| severity(*s)), Some(Status::Pass));
    }
}
