//! Shipped files stay true: the annotated mock configuration equals the defaults, every scenario in
//! `scenarios/` validates and tells what it is, and the short ones are run through the binary and still
//! tell their story: judged by the exit code and the figures in `summary.json` that carry it.
//!
//! The runs are debug builds sharing a loaded machine with the other tests. No verdict here depends on the
//! machine's speed: each run's rig self-check says whether the rig's own delay is in its figures. When it
//! is, the latency and storm verdicts must read `not-measurable` (exit 3, nothing measured failing) and
//! the storm's shape is not asserted; counts, close codes, detections and recovery always are. The test
//! copies only widen the latency noise floor. Some are shortened with `--duration` to the part of their
//! story the assertions need.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use wschaos::criteria::verdict::{Status, Verdict};
use wschaos::mock::MockConfig;
use wschaos::scenario::RawScenario;
use wschaos::summary::{CohortSummary, RunSummary};

use crate::support::{repo_path, scratch_path, wait_bounded};

/// Every scenario the README lists, and whether a test below runs it.
const SHIPPED: [(&str, bool); 18] = [
    ("smoke", false),
    ("reconnect-storm", false),
    ("scale-10k", false),
    ("phase-0", true),
    ("phase-1", true),
    ("phase-2", false),
    ("phase-3", false),
    ("blue-green", false),
    ("gradual", false),
    ("outage-restart", true),
    ("burst", true),
    ("half-open", true),
    ("slow-consumer", true),
    ("daily-expiry", true),
    ("connect-limit-ban", true),
    ("soak", false),
    ("external", true),
    ("external-rehearsal", true),
];

#[test]
fn the_annotated_mock_configuration_is_the_default() {
    let text = std::fs::read_to_string(repo_path("scenarios/mock/binance-spot.toml")).unwrap();
    assert_eq!(crate::support::config(&text), MockConfig::default());
}

#[test]
fn every_shipped_scenario_validates() {
    for (name, _) in SHIPPED {
        let path = repo_path(&format!("scenarios/{name}.toml"));
        assert!(path.exists(), "{} is shipped", path.display());
        let raw: RawScenario = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(raw.name.as_deref(), Some(name), "{} names itself", path.display());
        assert!(raw.description.as_deref().is_some_and(|d| !d.is_empty()), "{} has a description", path.display());
        assert!(
            std::fs::read_to_string(&path).unwrap().starts_with("# "),
            "{} opens with a comment that tells its story",
            path.display()
        );
    }
    let mut checked = 0;
    for entry in std::fs::read_dir(repo_path("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let scenario = wschaos::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!scenario.description.is_empty(), "{} tells its story", path.display());
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(SHIPPED.iter().any(|(name, _)| *name == stem), "{stem} is listed in SHIPPED and the README");
            checked += 1;
        }
    }
    assert_eq!(checked, SHIPPED.len());
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    for (name, _) in SHIPPED {
        assert!(readme.contains(&format!("`{name}.toml`")), "the README lists {name}.toml");
    }
}

#[test]
fn every_benchmark_scenario_validates_and_is_in_the_readme() {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(repo_path("benches/scenarios")).unwrap() {
        let path = entry.unwrap().path();
        let scenario = wschaos::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(scenario.name, stem, "{} names itself", path.display());
        assert!(std::fs::read_to_string(&path).unwrap().starts_with("# "), "{} tells its story", path.display());
        assert!(readme.contains(&format!("benches/scenarios/{stem}.toml")), "the README shows {stem}'s figures");
        checked += 1;
    }
    assert!(checked >= 3, "hot-feed, idle-connections and storm-5k");
}

fn scratch(name: &str) -> PathBuf {
    scratch_path(&format!("shipped-{name}"))
}

/// A test copy of a shipped scenario with `[harness]` keys set (everything else as shipped).
fn test_copy(name: &str, harness: &[(&str, &str)]) -> PathBuf {
    let text = std::fs::read_to_string(repo_path(&format!("scenarios/{name}.toml"))).unwrap();
    let mut table: toml::Table = toml::from_str(&text).unwrap();
    let section = table.entry("harness").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    for (key, value) in harness {
        section.as_table_mut().unwrap().insert((*key).to_owned(), toml::Value::String((*value).to_owned()));
    }
    let path = scratch(name).with_extension("toml");
    std::fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
    path
}

/// A finished run: its exit code and summary.
struct Run {
    code: Option<i32>,
    summary: RunSummary,
}

impl Run {
    fn cohort(&self, name: &str) -> &CohortSummary {
        self.summary.cohort(name).unwrap_or_else(|| panic!("a {name} cohort"))
    }

    fn verdict(&self, criterion: &str, cohort: &str) -> &Verdict {
        self.summary
            .verdicts
            .iter()
            .find(|v| v.criterion == criterion && v.cohort.as_deref() == Some(cohort))
            .unwrap_or_else(|| panic!("no verdict {criterion} for {cohort}"))
    }

    fn status(&self, criterion: &str, cohort: &str) -> Status {
        self.verdict(criterion, cohort).status
    }

    /// The rig's own delay was in the figures: latency and storm verdicts are not measurable.
    fn rig_lagged(&self) -> bool {
        self.summary.rig_lagged()
    }

    /// The gate passed, or the rig lagged and nothing measured failed (exit 3 with the timed verdicts
    /// `not-measurable`).
    fn passed(&self) -> bool {
        match self.code {
            Some(0) => !self.rig_lagged() && self.failures().is_empty(),
            Some(3) => self.rig_lagged() && self.failures().is_empty(),
            _ => false,
        }
    }

    /// Asserts the gate passed (exit 0), or that the rig or an external process lagged and nothing measured
    /// failed (exit 3); whether one lagged.
    fn passed_or_lagged_externally(&self) -> bool {
        let lagged = self.rig_lagged() || self.summary.external_lag_cause().is_some();
        assert!(
            (self.code == Some(0) && !lagged || self.code == Some(3) && lagged) && self.failures().is_empty(),
            "{}",
            self.explain()
        );
        lagged
    }

    /// A verdict passed, or is `not-measurable` because the rig lagged.
    fn passed_unless_rig_bound(&self, criterion: &str, cohort: &str) -> bool {
        let status = self.status(criterion, cohort);
        status == Status::Pass || (self.rig_lagged() && status == Status::NotMeasurable)
    }

    /// Why the run is not a pass, for assertion messages.
    fn explain(&self) -> String {
        format!("exit {:?}, failed {:?}, rig {}", self.code, self.failures(), self.summary.rig_cause())
    }

    /// The gating verdicts that did not pass, for assertion messages.
    fn failures(&self) -> Vec<String> {
        let failed = self.summary.verdicts.iter().filter(|v| v.gates && v.status == Status::Fail);
        failed.map(|v| format!("{} [{:?}] measured {:?}", v.criterion, v.cohort, v.measured)).collect()
    }
}

/// Runs shipped scenario `name` through the binary for `seconds`, from a test copy with latency differences
/// within 100 ms taken as a debug build's noise on a shared machine (not a regression), and `harness` keys;
/// with `args`; killed if it does not finish in time.
fn run(name: &str, seconds: u64, harness: &[(&str, &str)], args: &[&str]) -> Run {
    let mut keys = vec![("latency-floor", "100ms")];
    keys.extend_from_slice(harness);
    let file = test_copy(name, &keys);
    let out = scratch(name);
    let child = Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .args(["--quiet", "--duration", &format!("{seconds}s")])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_bounded(child, Duration::from_secs(seconds + 60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = std::fs::read(out.join("summary.json")).unwrap_or_else(|e| panic!("{name}: {e}\n{stderr}"));
    Run { code: output.status.code(), summary: serde_json::from_slice(&summary).unwrap() }
}

/// Legacy waited exactly its fixed second before every retry and reconnected in lockstep; WSManager's
/// delays are spread by full jitter over (0, 1 s) and its reconnects less bunched. The delays are the
/// managers' own choice; the storm's shape is judged only when the rig kept up (a lagging rig smears it).
fn fixed_delay_against_full_jitter(run: &Run, legacy: &CohortSummary, ws: &CohortSummary) {
    let (fixed, jittered) = (&legacy.retry_delay_us, &ws.retry_delay_us);
    assert!((995_000..=1_005_000).contains(&fixed.p50) && fixed.p99 <= 1_005_000, "{fixed:?}");
    assert!(jittered.p99 > jittered.p50 + 200_000, "{jittered:?}");
    if run.rig_lagged() {
        return;
    }
    assert!(
        legacy.attempts.lockstep_index > ws.attempts.lockstep_index + 0.2,
        "{:?} {:?}",
        legacy.attempts,
        ws.attempts
    );
}

fn outcome(cohort: &CohortSummary, outcome: &str) -> u64 {
    cohort.attempts.by_outcome.get(outcome).copied().unwrap_or(0)
}

fn ends(cohort: &CohortSummary, how: &str) -> u64 {
    cohort.connections.ends.get(how).copied().unwrap_or(0)
}

#[test]
fn phase_0_writes_the_baseline_and_phase_1_passes_its_gates_against_it() {
    let phase0 = run("phase-0", 5, &[], &[]);
    assert!(phase0.passed(), "{}", phase0.explain());
    assert_eq!(phase0.summary.cohorts.len(), 1, "legacy only");
    // Every subscription opened a socket of its own: 1,280 first connects at least (churn adds a few more
    // subscriptions, each with its own socket). On a slow machine the ramp may not have them all open at the
    // same moment, so the count is of first connects, not of the high-water mark.
    let legacy = phase0.cohort("legacy");
    let first_connects = legacy.attempts.total - legacy.attempts.retries;
    assert!(first_connects >= 40 * 32, "a socket per subscription: {:?}", legacy.attempts);
    assert!(legacy.connections.high_water <= first_connects as i64, "{:?}", legacy.connections);
    let baseline = scratch("phase-0").join("baseline.json");
    assert!(baseline.exists(), "phase 0 writes the baseline");

    let phase1 = run("phase-1", 5, &[], &["--baseline", scratch("phase-0").to_str().unwrap()]);
    assert!(phase1.passed(), "every phase-1 gate passes: {}", phase1.explain());
    assert_eq!(phase1.summary.baseline.as_ref().unwrap().scenario, "phase-0");
    let (legacy, ws) = (phase1.cohort("legacy"), phase1.cohort("wsmanager"));
    assert_eq!(legacy.clients + ws.clients, 40);
    assert!((1..=8).contains(&ws.clients), "about 10 % on WSManager: {}", ws.clients);
    for gate in ["connection-leaks", "error-rate-regression", "connection-reduction"] {
        assert_eq!(phase1.status(gate, "wsmanager"), Status::Pass, "{gate}: {:?}", phase1.verdict(gate, "wsmanager"));
    }
    for timed in ["latency-regression", "baseline:latency_us.p50"] {
        assert!(
            phase1.passed_unless_rig_bound(timed, "wsmanager"),
            "{timed}: {:?}",
            phase1.verdict(timed, "wsmanager")
        );
    }
    assert_eq!(ws.connections.high_water as u64, ws.distinct_streams, "one socket per distinct stream per client");
}

#[test]
fn half_open_sockets_are_detected_by_wsmanager_and_never_by_legacy() {
    // The silent stall (3 s to 11 s), its detection, and legacy's sockets talking again after it (their
    // loss shows as a gap once data resumes); the stale act starts later.
    let run = run("half-open", 12, &[], &[]);
    assert!(run.passed(), "{}", run.explain());
    let (legacy, ws) = (run.cohort("legacy"), run.cohort("wsmanager"));
    assert!(ws.detection_us.count > 0 && ends(ws, "silent") == ws.detection_us.count, "{:?}", ws.connections);
    assert!(ws.detection_us.p50 >= 3_000_000, "found after the 3 s liveness: {:?}", ws.detection_us);
    assert_eq!(legacy.detection_us.count, 0, "legacy has no liveness check");
    assert_eq!(ends(legacy, "silent"), 0);
    assert_eq!(run.status("reconnection-success", "wsmanager"), Status::Pass);
    let found = run.verdict("custom:silent sockets detected", "legacy");
    assert_eq!((found.status, found.gates), (Status::Fail, false), "legacy's reference row shows the finding");
    assert!(
        legacy.delivery.gaps > ws.delivery.gaps,
        "legacy lost the whole stall: {} vs {}",
        legacy.delivery.gaps,
        ws.delivery.gaps
    );
}

#[test]
fn an_upstream_restart_meets_legacy_in_lockstep_and_wsmanager_spread_by_jitter() {
    // The announced restart (3 s to 7 s, 503 with Retry-After) and the recovery after it.
    let run = run("outage-restart", 10, &[], &[]);
    assert!(run.passed(), "{}", run.explain());
    let (legacy, ws) = (run.cohort("legacy"), run.cohort("wsmanager"));
    assert_eq!(ends(legacy, "close-1012") as i64, legacy.connections.high_water, "every socket got 1012");
    fixed_delay_against_full_jitter(&run, legacy, ws);
    assert!(outcome(legacy, "http-503") > 2 * outcome(ws, "http-503"), "{:?} {:?}", legacy.attempts, ws.attempts);
    for criterion in ["reconnection-success", "subscription-preservation", "recovery-time"] {
        assert_eq!(run.status(criterion, "wsmanager"), Status::Pass, "{:?}", run.verdict(criterion, "wsmanager"));
    }
}

#[test]
fn a_market_burst_costs_legacy_a_read_per_subscription_and_loses_nothing() {
    // The burst and its added delay (5 s to 11 s), and the calm after.
    let run = run("burst", 12, &[], &[]);
    assert!(run.passed(), "{}", run.explain());
    let (legacy, ws) = (run.cohort("legacy"), run.cohort("wsmanager"));
    assert!(legacy.delivery.received > 5 * ws.delivery.received, "{:?} {:?}", legacy.delivery, ws.delivery);
    // Nothing is lost in the burst or when its delay ends, while the rig keeps up. A rig that lags reads
    // late: the mock's queues for those sockets overflow (its slow-consumer policy) and what they shed is
    // the rig's loss, not the manager's, so it is judged only on a rig that kept up.
    let dropped = run.summary.server.as_ref().map_or(0, |s| s.messages_dropped);
    assert!(
        run.rig_lagged() || legacy.delivery.gaps + ws.delivery.gaps == 0,
        "{:?} {:?}, {dropped} dropped at full queues",
        legacy.delivery,
        ws.delivery
    );
    for cohort in [legacy, ws] {
        assert!(cohort.latency_us.p50 >= 10_000, "{}: the added delay reached subscribers", cohort.name);
    }
    assert_eq!(run.status("connection-reduction", "wsmanager"), Status::Pass);
}

#[test]
fn slow_consumers_are_closed_1008_and_their_subscribers_recover() {
    // The slow connections (from 4 s) and the burst that overflows their queues (6 s to 10 s).
    let run = run("slow-consumer", 11, &[], &[]);
    assert!(run.passed(), "{}", run.explain());
    let server = run.summary.server.as_ref().unwrap();
    assert!(server.closes.get("slow-consumer").copied().unwrap_or(0) > 0, "{:?}", server.closes);
    for cohort in ["legacy", "wsmanager"] {
        assert!(ends(run.cohort(cohort), "close-1008") > 0, "{cohort}: {:?}", run.cohort(cohort).connections);
        assert_eq!(run.status("reconnection-success", cohort), Status::Pass, "{cohort}");
    }
}

#[test]
fn the_daily_expiry_reconnects_every_socket_legacy_in_lockstep() {
    // The first expiry wave (5 s) and its reconnects.
    let run = run("daily-expiry", 10, &[], &[]);
    assert!(run.passed(), "{}", run.explain());
    let (legacy, ws) = (run.cohort("legacy"), run.cohort("wsmanager"));
    for cohort in [legacy, ws] {
        assert!(
            ends(cohort, "close-1001") as i64 >= cohort.connections.high_water,
            "{}: every socket expired",
            cohort.name
        );
        assert_eq!(run.status("reconnection-success", &cohort.name), Status::Pass, "{}", cohort.name);
    }
    fixed_delay_against_full_jitter(&run, legacy, ws);
}

#[test]
fn a_storm_under_per_ip_limits_bans_legacy_and_not_wsmanager() {
    // The drop at 3 s, the shedding until 11 s, and the first second after it.
    let run = run("connect-limit-ban", 12, &[], &[]);
    assert!(run.passed(), "{}", run.explain());
    let (legacy, ws) = (run.cohort("legacy"), run.cohort("wsmanager"));
    assert!(outcome(legacy, "http-418") > 100, "legacy's addresses are banned: {:?}", legacy.attempts);
    assert!(outcome(ws, "http-418") <= 10, "{:?}", ws.attempts);
    let budget = run.verdict("per-ip-connect-budget", "legacy");
    assert_eq!((budget.status, budget.gates), (Status::Fail, false), "over 300 attempts per address: {budget:?}");
    assert_eq!(run.status("per-ip-connect-budget", "wsmanager"), Status::Pass);
    assert_eq!(run.status("reconnection-success", "wsmanager"), Status::Pass);
}

/// The example JavaScript managers (adapters/node) as external cohorts beside the Rust models of the same
/// managers, on the same population and mass drop: the mock's record and the adapter's deliveries give the
/// external cohorts the same counts the models have, the same sockets per stream, the same recovery, and a
/// legacy reconnect a fixed second after the drop; every count reconciles with the mock's; the processes
/// are measured and the managers' own counts match the mock's. (Opt-in like the other real clients:
/// `tests/clients/setup.sh` installs the adapter's npm packages; CI runs it.)
#[test]
#[ignore = "needs Node 20 and adapters/node's npm packages: run tests/clients/setup.sh first"]
fn real_client_node_external_cohorts_match_the_models_and_the_mock() {
    let run = run("external", 20, &[], &[]);
    let lagged = run.passed_or_lagged_externally();
    let server = run.summary.server.as_ref().expect("the embedded mock's counters");
    let by_cohort: u64 = run.summary.cohorts.iter().filter_map(|c| c.server_attempts).sum();
    let refused: u64 = server.upgrades_rejected.values().sum();
    assert_eq!(by_cohort, server.upgrades_accepted + refused, "every upgrade the mock counted is a cohort's");
    for (model, js) in [("legacy", "js-legacy"), ("wsmanager", "js-wsmanager")] {
        let (model, js) = (run.cohort(model), run.cohort(js));
        for c in [model, js] {
            assert!(c.delivery.delivered > 1_000, "{}: {:?}", c.name, c.delivery);
        }
        let (m, j) = (model.delivery.published as f64, js.delivery.published as f64);
        assert!((m - j).abs() <= 0.02 * m, "the same subscriptions owe the same events: {m} and {j}");
        // Within what one churn step (10 % of the subscribers) may hold open twice while it swaps.
        let churn = model.subscriptions / 10;
        let apart = js.connections.high_water.abs_diff(model.connections.high_water);
        assert!(apart <= churn, "{:?} {:?}", js.connections, model.connections);
        let dropped = js.connections.subscriptions_dropped;
        assert!(dropped > 0 && js.connections.subscriptions_recovered == dropped, "{:?}", js.connections);
        assert_eq!(js.server_attempts, Some(js.attempts.total), "an external cohort's attempts are the mock's");
        let in_flight = model.server_attempts.unwrap().abs_diff(model.attempts.total);
        assert!(in_flight <= 10, "a model's own count is the mock's, but for attempts under way at the end");
        let e = js.external.as_ref().expect("an external cohort's processes");
        assert_eq!((e.processes, e.failed, e.garbage_lines, e.routing_errors), (1, 0, 0, 0), "{e:?}");
        assert!(e.rss_kib_per_instance > 20_000 && e.event_loop_lag_p99_us.is_some(), "{e:?}");
        if e.self_reported_settled {
            assert_eq!(e.self_reported_connections, e.mock_open_connections, "{e:?}");
        }
        assert_eq!(run.status("memory", &js.name), Status::Pass);
    }
    let ws = run.cohort("js-wsmanager");
    assert_eq!(ws.connections.high_water, 4, "one socket per stream: {:?}", ws.connections);
    let legacy = run.cohort("js-legacy");
    let delay = &legacy.retry_delay_us;
    assert!(delay.p50 >= 1_000_000, "a fixed second, from the mock's record: {delay:?}");
    if !lagged {
        assert!(delay.p50 <= 1_200_000, "and a connect: {delay:?}");
    }
}

/// The shipped rehearsal through the team's own switching code: every client is a Node process running the
/// example migration layer, moved by its flag flip. Step 1's make-before-break handovers preserve every
/// subscription and lose no trade; the 503 window at step 2 keeps the moving clients off WSManager, the
/// trigger fires, and the gradual rollback flips them back in two moves, every subscription received again
/// on legacy. The mock's record gives each side its connections: a socket per subscription on legacy, one
/// per stream on WSManager, every upgrade the mock counted one side's attempt; each side's deliveries
/// reconcile with what it owed. (Opt-in like the other real clients; CI runs it.)
#[test]
#[ignore = "needs Node 20 and adapters/node's npm packages: run tests/clients/setup.sh first"]
fn real_client_node_rehearsal_moves_clients_by_their_migration_layer_s_flag_flip() {
    let run = run("external-rehearsal", 24, &[], &[]);
    run.passed_or_lagged_externally();
    let rollout = run.summary.rollout.as_ref().expect("a rehearsal");
    let first = &rollout.steps[0];
    assert!(first.clients_on_new > 0 && first.handover.clients == u64::from(first.clients_on_new), "{first:?}");
    let h = &first.handover;
    assert_eq!((h.subscriptions_preserved, h.lost), (h.subscriptions, 0), "make-before-break: {h:?}");
    let second = &rollout.steps[1].handover;
    assert!(second.subscriptions_preserved < second.subscriptions, "the 503 window: {second:?}");
    let o = &rollout.outcome;
    assert_eq!((o.rollback_step, o.performed, o.rollback_unfinished), (Some(1), true, false), "{o:?}");
    let shares: Vec<f64> = o.rollback_moves.iter().map(|m| m.share).collect();
    assert_eq!(shares, [0.5, 0.0], "{o:?}");
    let back = &rollout.rollback_handover;
    assert_eq!((back.clients, back.subscriptions_preserved), (6, back.subscriptions), "{back:?}");
    let (legacy, new) = (run.cohort("js-migration-legacy"), run.cohort("js-migration"));
    assert_eq!(legacy.connections.high_water, 360, "a socket per subscription: {:?}", legacy.connections);
    assert!(new.connections.high_water <= 6 * 4, "a socket per stream: {:?}", new.connections);
    let server = run.summary.server.as_ref().expect("the embedded mock's counters");
    let refused: u64 = server.upgrades_rejected.values().sum();
    assert_eq!(legacy.attempts.total + new.attempts.total, server.upgrades_accepted + refused, "the mock's upgrades");
    for c in [legacy, new] {
        let d = &c.delivery;
        assert_eq!(d.delivered + d.lost, d.published, "{}: {d:?}", c.name);
        assert!(d.delivered > 1_000, "{}: {d:?}", c.name);
    }
    let e = new.external.as_ref().expect("the migration layer's processes");
    assert_eq!((e.processes, e.failed, e.garbage_lines, e.routing_errors), (6, 0, 0, 0), "{e:?}");
}
