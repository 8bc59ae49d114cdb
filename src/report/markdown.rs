//! `report.md`: what a person reads before a rollout phase, rendered from the run summary alone: the
//! scenario and run, the criteria table, the rollout rehearsal when there was one, then storm, recovery,
//! delivery and connection sections, the fault timeline and the harness's health. Every scenario-supplied
//! string is escaped for Markdown tables.

mod rehearsal;
mod text;

use crate::criteria::verdict::any_failed;
use crate::summary::verdict::{Status, Verdict};
use crate::summary::{CohortSummary, Percentiles, RunSummary};

pub use text::cell;
use text::ms;

fn status(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "**FAIL**",
        Status::NotMeasurable => "not measurable",
        Status::NotApplicable => "n/a",
        Status::Disabled => "disabled",
    }
}

/// The criteria table: criterion, threshold, the value per cohort, verdict, source.
fn criteria(summary: &RunSummary, out: &mut String) {
    let cohorts: Vec<&str> = summary.cohorts.iter().map(|c| c.name.as_str()).collect();
    out.push_str("## Criteria\n\n| criterion | threshold |");
    for name in &cohorts {
        out.push_str(&format!(" {} |", cell(name)));
    }
    out.push_str(" verdict | source |\n|---|---|");
    out.push_str(&"---|".repeat(cohorts.len()));
    out.push_str("---|---|\n");
    let mut ids: Vec<&str> = Vec::new();
    for v in &summary.verdicts {
        if !ids.contains(&v.criterion.as_str()) {
            ids.push(&v.criterion);
        }
    }
    for id in ids {
        let rows: Vec<_> = summary.verdicts.iter().filter(|v| v.criterion == id).collect();
        let Some(first) = rows.first() else { continue };
        out.push_str(&format!("| `{id}` | {} {} {} |", first.comparison.symbol(), first.threshold, cell(&first.unit)));
        for name in &cohorts {
            let row = rows.iter().find(|v| v.cohort.as_deref() == Some(name));
            let value = row.and_then(|v| v.measured).map_or_else(|| "–".to_owned(), |m| m.to_string());
            let interval = row.and_then(|v| v.interval).map(|[low, high]| format!(" (95 %: {low} … {high})"));
            out.push_str(&format!(" {value}{} |", interval.unwrap_or_default()));
        }
        out.push_str(&format!(" {} | {} |\n", verdict_cell(&rows), cell(&first.source)));
    }
    out.push('\n');
}

/// The verdict of one criterion across cohorts: the worst gating status, and a failing reference (the
/// legacy cohort beside a new one) named after it.
fn verdict_cell(rows: &[&Verdict]) -> String {
    let gating: Vec<Status> = rows.iter().filter(|v| v.gates).map(|v| v.status).collect();
    let worst = gating
        .iter()
        .copied()
        .find(|s| *s == Status::Fail)
        .or_else(|| gating.iter().copied().find(|s| *s == Status::NotMeasurable))
        .or_else(|| gating.iter().copied().find(|s| *s == Status::Pass))
        .or_else(|| gating.first().copied());
    let references: Vec<String> = rows
        .iter()
        .filter(|v| !v.gates && v.status == Status::Fail)
        .map(|v| format!("{}: fails, reference", cell(v.cohort.as_deref().unwrap_or("harness"))))
        .collect();
    let main = worst.map_or("reference only", status);
    if references.is_empty() { main.to_owned() } else { format!("{main} ({})", references.join(", ")) }
}

fn percentiles_row(name: &str, p: &Percentiles) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} |\n",
        cell(name),
        p.count,
        ms(p.p50),
        ms(p.p95),
        ms(p.p99),
        ms(p.p999),
        ms(p.max)
    )
}

fn sections(cohorts: &[CohortSummary], out: &mut String) {
    out.push_str("## Reconnect storm\n\n| cohort | attempts | reconnects | peak reconnects /s | peak /100 ms | lockstep index | retry delay p50 / p99 ms | most attempts per IP in 5 min |\n|---|---|---|---|---|---|---|---|\n");
    for c in cohorts {
        let a = &c.attempts;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} / {} | {} |\n",
            cell(&c.name),
            a.total,
            a.retries,
            a.peak_retries_per_second,
            a.peak_retries_per_100ms,
            a.lockstep_index,
            ms(c.retry_delay_us.p50),
            ms(c.retry_delay_us.p99),
            a.max_per_ip_5m
        ));
    }
    out.push_str("\n## Latency (ms, event time to subscriber)\n\n| cohort | count | p50 | p95 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|\n");
    for c in cohorts {
        out.push_str(&percentiles_row(&c.name, &c.latency_us));
        if c.latency_split.split > 0 {
            out.push_str(&percentiles_row(&format!("{}: upstream's share", c.name), &c.latency_split.upstream_us));
            out.push_str(&percentiles_row(&format!("{}: delivery share", c.name), &c.latency_split.delivery_us));
        }
    }
    if cohorts.iter().any(|c| c.latency_split.split > 0) {
        out.push_str(
            "\nThe upstream's share runs from the event time to the upstream's write on the socket (the kernel's \
             receive time; injected delay included), the delivery share from there to the subscriber (socket \
             buffer, harness scheduler, manager). The shares of one delivery add up to its latency; their \
             percentiles do not.\n",
        );
    }
    out.push_str("\n## Staleness (ms behind the upstream, sampled at fixed instants; what latency cannot see)\n\n| cohort | samples | p50 | p95 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|\n");
    for c in cohorts {
        out.push_str(&percentiles_row(&c.name, &c.staleness_us));
        out.push_str(&percentiles_row(
            &format!("{} (longest time without data, per subscription)", c.name),
            &c.without_data_us,
        ));
    }
    out.push_str("\n## Recovery (ms)\n\n| cohort | from the drop: count | p50 | p95 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|\n");
    for c in cohorts {
        out.push_str(&percentiles_row(&c.name, &c.recovery_us));
    }
    out.push_str("\n## Delivery and connections\n\nSubscriber-deliveries (a shared socket's event counts once per subscriber it serves): published = delivered + lost.\n\n| cohort | published | delivered | lost | late | repeated | received (socket messages) | connections (high water) | subscriptions dropped / recovered | give-ups | silent sockets detected |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for c in cohorts {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} |\n",
            cell(&c.name),
            c.delivery.published,
            c.delivery.delivered,
            c.delivery.lost,
            c.delivery.late,
            c.delivery.duplicates,
            c.delivery.received,
            c.connections.high_water,
            c.connections.subscriptions_dropped,
            c.connections.subscriptions_recovered,
            c.attempts.give_ups,
            c.detection_us.count
        ));
    }
    out.push('\n');
}

/// The rollout phase, the gate and the baseline, when the scenario names them.
fn rollout(summary: &RunSummary, out: &mut String) {
    let rollout = &summary.scenario["rollout"];
    if let Some(preset) = rollout["preset"].as_str() {
        out.push_str(&format!("Rollout preset `{}`. ", cell(preset)));
    }
    match rollout["gate"].as_str() {
        Some("all") => out.push_str("The gate judges every cohort.\n\n"),
        _ => out.push_str("The gate judges the new manager; the legacy cohort's figures are the reference.\n\n"),
    }
    if let Some(b) = &summary.baseline {
        out.push_str(&format!(
            "Compared with the baseline `{}` (scenario {}, seed {}).\n\n",
            cell(&b.path),
            cell(&b.scenario),
            b.seed
        ));
    }
}

/// The Markdown report of a run.
pub fn render(summary: &RunSummary) -> String {
    let name = summary.scenario["name"].as_str().unwrap_or("scenario");
    let failed = summary.verdicts.iter().filter(|v| v.gates && v.status == Status::Fail).count();
    let mut out = format!("# wschaos run: {}\n\n", cell(name));
    if let Some(description) = summary.scenario["description"].as_str().filter(|d| !d.is_empty()) {
        out.push_str(&format!("{}\n\n", cell(description)));
    }
    let gate = match (any_failed(&summary.verdicts), summary.not_measurable_cause()) {
        (true, Some(cause)) => {
            format!("**{failed} criteria failed** (and {}: latency and storm verdicts not measurable)", cell(&cause))
        }
        (true, None) => format!("**{failed} criteria failed**"),
        (false, Some(cause)) => format!("**not measurable: {}**", cell(&cause)),
        (false, None) => "every criterion passed".to_owned(),
    };
    out.push_str(&format!(
        "Seed {}, {:.1} s against {}{}, wschaos {}: {gate}.\n\n",
        summary.scenario["seed"],
        summary.run.elapsed_ms as f64 / 1000.0,
        cell(&summary.run.upstream),
        if summary.run.interrupted { " (interrupted)" } else { "" },
        summary.wschaos_version
    ));
    rollout(summary, &mut out);
    criteria(summary, &mut out);
    rehearsal::section(summary, &mut out);
    sections(&summary.cohorts, &mut out);
    out.push_str(
        "## Faults\n\n| start (s) | end (s) | kind | name | connections | handshakes |\n|---|---|---|---|---|---|\n",
    );
    for f in &summary.faults {
        let end = f.end_ms.map_or_else(|| "–".to_owned(), |e| format!("{:.1}", e as f64 / 1000.0));
        let label = cell(f.name.as_deref().unwrap_or(""));
        out.push_str(&format!(
            "| {:.1} | {end} | {} | {label} | {} | {} |\n",
            f.start_ms as f64 / 1000.0,
            f.kind,
            f.touched,
            f.handshakes
        ));
    }
    let h = &summary.harness;
    out.push_str(&format!(
        "\n## Harness health\n\nScheduler lag p50 {} ms, p99 {} ms (saturated above {} ms: {}), max {} ms; {} CPU-s; {:.0} MiB peak ({} bytes per open connection).\n",
        ms(h.lag_p50_us), ms(h.lag_p99_us), ms(h.saturation_threshold_us), if h.saturated { "yes" } else { "no" }, ms(h.lag_max_us),
        h.cpu_seconds, h.max_rss_kib as f64 / 1024.0, h.rss_per_connection_bytes
    ));
    rig(summary, &mut out);
    external(summary, &mut out);
    assumptions(summary, &mut out);
    out
}

/// What the managers assumed beyond their documents, and what the scenario changed.
/// The external managers' processes, and what went wrong with them.
fn external(summary: &RunSummary, out: &mut String) {
    use crate::report::external::{EXTERNAL_HEADERS, external_cohorts, external_problems, external_row};
    let cohorts = external_cohorts(&summary.cohorts);
    if cohorts.is_empty() {
        return;
    }
    out.push_str("\n## External managers\n\n");
    out.push_str(&format!("| {} |\n|{}\n", EXTERNAL_HEADERS.join(" | "), "---|".repeat(EXTERNAL_HEADERS.len())));
    for (c, e) in &cohorts {
        let cells: Vec<String> = external_row(c, e).iter().map(|t| cell(t)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    let problems: Vec<String> = cohorts.iter().flat_map(|(c, e)| external_problems(c, e)).collect();
    if !problems.is_empty() {
        out.push('\n');
    }
    for problem in problems {
        out.push_str(&format!("- {}\n", cell(&problem)));
    }
}

fn assumptions(summary: &RunSummary, out: &mut String) {
    if summary.assumptions.is_empty() {
        return;
    }
    out.push_str(
        "
## Assumptions

What the manager models assumed where their documents say nothing, and the settings ",
    );
    out.push_str(
        "this scenario changed; the figures above rest on them.

",
    );
    out.push_str("| manager | setting | value | why | the document says |\n|---|---|---|---|---|\n");
    for a in &summary.assumptions {
        let why = a.basis.words();
        let document = a.document.as_deref().map_or_else(|| "–".to_owned(), cell);
        out.push_str(&format!(
            "| {} | `{}` | {} | {why} | {document} |\n",
            a.manager.as_str(),
            a.setting,
            cell(&a.value)
        ));
    }
}

/// The rig's self-check: the delay the rig itself adds, part by part.
fn rig(summary: &RunSummary, out: &mut String) {
    let rig = &summary.rig;
    if rig.parts.is_empty() {
        return;
    }
    let verdict = if rig.lagged {
        format!("**{}**: latency and storm verdicts are not measurable.", cell(&rig.cause()))
    } else {
        "Every part kept within its threshold.".to_owned()
    };
    out.push_str(&format!("\n## The rig's own delay\n\n{verdict}\n\n"));
    out.push_str("| part | what it measures | p50 ms | p99 ms | max ms | samples | lags above p99 ms | state |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for p in &rig.parts {
        let state = match (p.measured, p.lagged, p.dropped) {
            (false, ..) => format!("not measured: {}", cell(&p.note)),
            (true, true, Some(n)) => format!("**{n} dropped** ({})", cell(&p.note)),
            (true, false, Some(_)) => format!("none dropped ({})", cell(&p.note)),
            (true, true, None) => "**lagged**".to_owned(),
            (true, false, None) => "ok".to_owned(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {state} |\n",
            p.part,
            cell(&p.what),
            ms(p.p50_us),
            ms(p.p99_us),
            ms(p.max_us),
            p.samples,
            ms(p.threshold_us)
        ));
    }
    if let Some(second) = rig.canary_worst_second {
        out.push_str(&format!(
            "\nThe canaries' worst second: {second} s, p99 {} ms.",
            ms(rig.canary_worst_second_p99_us)
        ));
    }
    match rig.mock_cpu_seconds {
        Some(mock) => {
            out.push_str(&format!(" CPU: harness {} s, mock (its own process) {mock} s.\n", rig.harness_cpu_seconds))
        }
        None => out.push_str(&format!(" CPU: {} s (harness and embedded mock).\n", rig.harness_cpu_seconds)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assumptions_are_listed_with_why_and_what_the_document_says() {
        use crate::manager::assumptions::{Assumption, Basis};
        use crate::manager::settings::ManagerKind;
        let mut summary = crate::summary::sample::two_cohorts(false, "");
        assert!(!render(&summary).contains("## Assumptions"), "nothing to list, no section");
        summary.assumptions = vec![
            Assumption {
                manager: ManagerKind::Wsmanager,
                setting: "liveness".into(),
                value: "off".into(),
                basis: Basis::Assumed,
                document: None,
            },
            Assumption {
                manager: ManagerKind::Wsmanager,
                setting: "max-attempts".into(),
                value: "3".into(),
                basis: Basis::Scenario,
                document: Some("10 (003)".into()),
            },
        ];
        let text = render(&summary);
        assert!(text.contains("| wsmanager | `liveness` | off | assumed: the documents leave it open | – |"), "{text}");
        assert!(text.contains("| wsmanager | `max-attempts` | 3 | set by the scenario | 10 (003) |"), "{text}");
    }

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc<script>"), "a\\|b c&lt;script&gt;");
    }
}
