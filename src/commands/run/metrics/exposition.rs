//! The run's live figures in the OpenMetrics text format, written by prometheus-client (the Prometheus
//! project's Rust client): a registry built from one [`Exposed`] view at every scrape, each counter, gauge
//! and histogram holding the view's figure.
//!
//! Per cohort (labels `cohort` and `manager`): the seeds' five `ws_manager_*` metrics (003's monitoring
//! table) as the harness measures them for every cohort's manager, then the `wschaos_*` figures the reports
//! are built from: connection attempts by outcome, deliveries, gaps, give-ups, the error rate's parts,
//! and delivery latency and staleness as histograms. For the run: the rig's own delay against its
//! thresholds, the scenario's faults (1 while one of their planned windows is in force), and a rehearsal's step and share.
//!
//! Pure: renders a view.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

use crate::commands::run::planned_faults::PlannedFault;
use crate::load::population::CohortPlan;
use crate::record::progress::{BUCKET_BOUNDS_US, Buckets, CohortProgress, Progress};

/// The `Content-Type` of the rendering.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What stays fixed for the whole run.
#[derive(Debug, Clone)]
pub struct RunSetup {
    /// The scenario's name.
    pub scenario: String,
    /// The run's seed.
    pub seed: u64,
    /// `I/N` for a shard, empty otherwise.
    pub shard: String,
    /// The run's planned length.
    pub duration: Duration,
    /// Each cohort as planned, in cohort order.
    pub cohorts: Vec<CohortPlan>,
    /// The fault plan (empty when the upstream does not apply faults).
    pub faults: Vec<PlannedFault>,
    /// Scheduler-lag p99 above which the harness is too busy to measure (µs).
    pub lag_threshold_us: u64,
    /// Canary latency p99 above which the rig is too loaded to measure (µs).
    pub rig_threshold_us: u64,
    /// A rehearsal's step count (`None` outside a rehearsal).
    pub steps: Option<usize>,
}

/// One moment of the run.
#[derive(Debug, Clone, Copy)]
pub struct Exposed<'a> {
    /// What stays fixed.
    pub setup: &'a RunSetup,
    /// The recorder's running totals.
    pub progress: &'a Progress,
    /// The harness's scheduler-lag p99 and the canaries' latency p99 of the last second (µs; 0 before one).
    pub rig_us: (u64, u64),
    /// Where a rehearsal stands (`None` outside one).
    pub rehearsal: Option<RehearsalNow>,
}

/// Where a rehearsal stands.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RehearsalNow {
    /// The latest step entered (1-based; 0 before the first), kept through a rollback.
    pub step: usize,
    /// The target share of clients on the new manager.
    pub share: f64,
    /// Whether it rolled back.
    pub rolled_back: bool,
    /// The clients the target places on each cohort (legacy, new).
    pub clients: [u32; 2],
    /// Their subscriptions.
    pub subscriptions: [u64; 2],
}

/// Renders one moment as OpenMetrics text.
pub fn render(view: &Exposed<'_>) -> String {
    let mut registry = Registry::default();
    run(&mut registry, view);
    manager_metrics(&mut registry, view);
    harness_counts(&mut registry, view);
    distributions(&mut registry, view);
    rig(&mut registry, view);
    faults(&mut registry, view);
    if let Some(rehearsal) = view.rehearsal {
        rehearsal_metrics(&mut registry, view.setup, rehearsal);
    }
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &registry) {
        // Writing to a String fails only on a formatting error of the library's own.
        tracing::warn!("the run's metrics could not be encoded: {e}");
    }
    out
}

/// Label pairs.
type Labels = Vec<(String, String)>;

/// A family of series told apart by their labels.
type Labelled<M> = Family<Labels, M>;

/// A float gauge.
type FloatGauge = Gauge<f64, AtomicU64>;

/// One cohort's labels.
fn cohort_labels(plan: &CohortPlan) -> Labels {
    vec![("cohort".to_owned(), plan.name.clone()), ("manager".to_owned(), plan.manager.as_str().to_owned())]
}

/// Each cohort's plan with its running totals (idle before the recorder's first publication).
fn cohorts<'a>(view: &'a Exposed<'_>) -> impl Iterator<Item = (&'a CohortPlan, CohortProgress)> + 'a {
    view.setup
        .cohorts
        .iter()
        .enumerate()
        .map(|(i, plan)| (plan, view.progress.cohorts.get(i).copied().unwrap_or_default()))
}

/// A gauge family of one value per cohort.
fn cohort_gauge(
    registry: &mut Registry,
    (name, help): (&str, &str),
    view: &Exposed<'_>,
    f: fn(&CohortProgress) -> i64,
) {
    let family = Labelled::<Gauge>::default();
    for (plan, totals) in cohorts(view) {
        family.get_or_create(&cohort_labels(plan)).set(f(&totals));
    }
    registry.register(name, help, family);
}

/// A counter family of one value per cohort.
fn cohort_counter(
    registry: &mut Registry,
    (name, help): (&str, &str),
    view: &Exposed<'_>,
    f: fn(&CohortProgress) -> u64,
) {
    let family = Labelled::<Counter>::default();
    for (plan, totals) in cohorts(view) {
        family.get_or_create(&cohort_labels(plan)).inc_by(f(&totals));
    }
    registry.register(name, help, family);
}

fn seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

fn float_gauge(registry: &mut Registry, (name, help): (&str, &str), unit: Option<Unit>, value: f64) {
    let gauge = FloatGauge::default();
    gauge.set(value);
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, gauge),
        None => registry.register(name, help, gauge),
    }
}

fn run(registry: &mut Registry, view: &Exposed<'_>) {
    let s = view.setup;
    let labels = vec![
        ("scenario".to_owned(), s.scenario.clone()),
        ("seed".to_owned(), s.seed.to_string()),
        ("shard".to_owned(), s.shard.clone()),
        ("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
    ];
    registry.register("wschaos_run", "The run: its scenario, seed, shard and wschaos version", Info::new(labels));
    let elapsed = view.progress.at.as_secs_f64();
    float_gauge(registry, ("wschaos_run_elapsed", "Time since the run started"), Some(Unit::Seconds), elapsed);
    let planned = s.duration.as_secs_f64();
    float_gauge(registry, ("wschaos_run_planned", "The run's planned length"), Some(Unit::Seconds), planned);
}

/// The seeds' five metrics (003, "Key Metrics"), for every cohort's manager.
fn manager_metrics(registry: &mut Registry, view: &Exposed<'_>) {
    let open = ("ws_manager_active_connections", "Current active connections: the cohort's open upstream sockets");
    cohort_gauge(registry, open, view, |c| c.open);
    let retries = ("ws_manager_retry_count", "Total retry attempts: the cohort's reconnect attempts");
    cohort_counter(registry, retries, view, |c| c.reconnects);
    let created = ("ws_manager_stream_creations", "Total streams created (WSManager's shared streams; 0 for others)");
    cohort_counter(registry, created, view, |c| c.streams.0);
    let cleaned = ("ws_manager_stream_cleanups", "Total streams cleaned, by reference count or idle (WSManager)");
    cohort_counter(registry, cleaned, view, |c| c.streams.1);
    let hwm = ("ws_manager_active_connections_hwm", "High water mark: the most connections the cohort held at once");
    cohort_gauge(registry, hwm, view, |c| c.open_high_water);
}

fn harness_counts(registry: &mut Registry, view: &Exposed<'_>) {
    let busiest =
        ("wschaos_instance_connections_max", "The most connections one manager instance of the cohort holds now");
    cohort_gauge(registry, busiest, view, |c| i64::from(c.busiest_client_open));
    cohort_gauge(registry, ("wschaos_active_streams", "WSManager streams active now"), view, |c| c.active_streams);
    placement(registry, view);
    let attempts = Labelled::<Counter>::default();
    for (plan, c) in cohorts(view) {
        for (outcome, n) in [("connected", c.connected), ("failed", c.attempts.saturating_sub(c.connected))] {
            let mut labels = cohort_labels(plan);
            labels.push(("outcome".to_owned(), outcome.to_owned()));
            attempts.get_or_create(&labels).inc_by(n);
        }
    }
    registry.register("wschaos_connection_attempts", "Connection attempts (first connects and reconnects)", attempts);
    let delivered = ("wschaos_deliveries", "Messages delivered to subscribers (subscriber-deliveries)");
    cohort_counter(registry, delivered, view, |c| c.delivered);
    let gaps = ("wschaos_gaps", "Subscriber-deliveries missing: sequence ids skipped, or owed and never received");
    cohort_counter(registry, gaps, view, |c| c.gaps);
    cohort_counter(registry, ("wschaos_give_ups", "Managers that stopped retrying"), view, |c| c.gave_up.0);
    let told = ("wschaos_give_up_subscribers", "Subscribers that got a give-up error");
    cohort_counter(registry, told, view, |c| c.gave_up.1);
    let errors = ("wschaos_errors", "Protocol and unrecoverable stream errors");
    cohort_counter(registry, errors, view, |c| c.errors);
    operations(registry, view);
}

/// Manager instances and their subscriptions per cohort: as planned, or in a rehearsal where its target
/// places them now.
fn placement(registry: &mut Registry, view: &Exposed<'_>) {
    let (clients, subscriptions) = (Labelled::<Gauge>::default(), Labelled::<Gauge>::default());
    for (i, plan) in view.setup.cohorts.iter().enumerate() {
        let (placed, made) = match view.rehearsal {
            Some(now) => (now.clients.get(i).copied().unwrap_or(0), now.subscriptions.get(i).copied().unwrap_or(0)),
            None => (plan.clients, plan.subscriptions),
        };
        clients.get_or_create(&cohort_labels(plan)).set(i64::from(placed));
        subscriptions.get_or_create(&cohort_labels(plan)).set(i64::try_from(made).unwrap_or(i64::MAX));
    }
    registry.register("wschaos_clients", "Manager instances (simulated clients) the cohort runs", clients);
    let help = "Subscriptions the cohort's subscribers make at start (in a rehearsal, where its target places them)";
    registry.register("wschaos_subscriptions", help, subscriptions);
}

/// The error rate's parts, as the `error-rate` criterion counts them: failed operations (attempts that did
/// not connect, subscribers told of a give-up, errors) of all operations (attempts and the subscriptions
/// the cohort was planned to carry: a counter never goes back, so a rehearsal's moves do not change it).
fn operations(registry: &mut Registry, view: &Exposed<'_>) {
    let (all, failed) = (Labelled::<Counter>::default(), Labelled::<Counter>::default());
    for (plan, c) in cohorts(view) {
        all.get_or_create(&cohort_labels(plan)).inc_by(c.attempts + plan.subscriptions);
        failed
            .get_or_create(&cohort_labels(plan))
            .inc_by(c.attempts.saturating_sub(c.connected) + c.gave_up.1 + c.errors);
    }
    registry.register("wschaos_operations", "Operations: connection attempts and subscriptions", all);
    registry.register(
        "wschaos_failed_operations",
        "Failed operations, as the error-rate criterion counts them",
        failed,
    );
}

/// A histogram already bucketed: the recorder's distribution reduced to [`BUCKET_BOUNDS_US`].
#[derive(Debug, Default)]
struct Bucketed(Mutex<Buckets>);

impl TypedMetric for Bucketed {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Bucketed {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let b = *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // The encoder adds the buckets up itself: each gets the values above the bound before it.
        let mut below = 0;
        let mut buckets: Vec<(f64, u64)> = BUCKET_BOUNDS_US
            .iter()
            .zip(b.at_or_under)
            .map(|(&bound, under)| {
                let own = under - below;
                below = under;
                (seconds(bound), own)
            })
            .collect();
        buckets.push((f64::INFINITY, b.count - below));
        encoder.encode_histogram::<NoLabelSet>(seconds(b.sum_us), b.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

fn distributions(registry: &mut Registry, view: &Exposed<'_>) {
    let (latency, staleness) = (Labelled::<Bucketed>::default(), Labelled::<Bucketed>::default());
    for (plan, c) in cohorts(view) {
        *latency.get_or_create(&cohort_labels(plan)).0.lock().unwrap_or_else(|p| p.into_inner()) = c.latency;
        *staleness.get_or_create(&cohort_labels(plan)).0.lock().unwrap_or_else(|p| p.into_inner()) = c.staleness;
    }
    let help = "Delivery latency: event time to the subscriber's callback, one value per subscriber-delivery";
    registry.register_with_unit("wschaos_delivery_latency", help, Unit::Seconds, latency);
    let help = "Staleness: age of each live subscription's newest data, sampled at fixed instants";
    registry.register_with_unit("wschaos_staleness", help, Unit::Seconds, staleness);
}

/// The rig's own delay: when either figure is over its threshold the run's latencies are not measurable.
fn rig(registry: &mut Registry, view: &Exposed<'_>) {
    let (delay, threshold) = (Labelled::<FloatGauge>::default(), Labelled::<FloatGauge>::default());
    let (lag_us, canary_us) = view.rig_us;
    let figures = [
        ("scheduler-lag", lag_us, view.setup.lag_threshold_us),
        ("canary-latency", canary_us, view.setup.rig_threshold_us),
    ];
    for (figure, now_us, over_us) in figures {
        let labels = vec![("figure".to_owned(), figure.to_owned())];
        delay.get_or_create(&labels).set(seconds(now_us));
        threshold.get_or_create(&labels).set(seconds(over_us));
    }
    let help = "The rig's own delay, p99 of the last second: the harness's scheduler lag, the canaries' latency";
    registry.register_with_unit("wschaos_rig_delay_p99", help, Unit::Seconds, delay);
    let help = "The rig's delay above which the run's latencies are not measurable";
    registry.register_with_unit("wschaos_rig_delay_threshold", help, Unit::Seconds, threshold);
}

/// The scenario's faults as the plan applies them: each in force now (1, while one of its occurrences is)
/// or not (0), one series per `[[faults]]` entry however often it occurs; and the occurrences started so
/// far, by kind. The plan's, as the mock applies it on its schedule.
fn faults(registry: &mut Registry, view: &Exposed<'_>) {
    let t = view.progress.at;
    let (windows, started) = (Labelled::<Gauge>::default(), Labelled::<Counter>::default());
    for occurrence in &view.setup.faults {
        let labels = vec![
            ("fault".to_owned(), occurrence.fault.to_string()),
            ("kind".to_owned(), occurrence.kind.to_owned()),
            ("name".to_owned(), occurrence.name.clone().unwrap_or_default()),
        ];
        let in_force = windows.get_or_create(&labels);
        if occurrence.active_at(t) {
            in_force.set(1);
        }
        let kind = started.get_or_create(&vec![("kind".to_owned(), occurrence.kind.to_owned())]);
        kind.inc_by(u64::from(occurrence.start <= t));
    }
    let help = "Each fault of the scenario: 1 while one of its planned windows is in force (an instant fault for \
                a second), 0 otherwise";
    registry.register("wschaos_fault_active", help, windows);
    registry.register("wschaos_faults_started", "Planned fault occurrences started so far, by kind", started);
}

/// A rehearsal's step, its target share and whether it rolled back.
fn rehearsal_metrics(registry: &mut Registry, setup: &RunSetup, now: RehearsalNow) {
    let gauge = |registry: &mut Registry, (name, help): (&str, &str), value: usize| {
        let g = Gauge::<i64>::default();
        g.set(i64::try_from(value).unwrap_or(i64::MAX));
        registry.register(name, help, g);
    };
    let step = ("wschaos_rehearsal_step", "The rehearsal's latest step (1-based; 0 before the first)");
    gauge(registry, step, now.step);
    gauge(registry, ("wschaos_rehearsal_steps", "The rehearsal plan's steps"), setup.steps.unwrap_or(0));
    let rolled_back = ("wschaos_rehearsal_rolled_back", "1 once the rehearsal rolled back");
    gauge(registry, rolled_back, usize::from(now.rolled_back));
    let help = "The share of clients the rehearsal's target places on the new manager";
    float_gauge(registry, ("wschaos_rehearsal_share_ratio", help), None, now.share);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::settings::ManagerKind;

    fn plan(name: &str, manager: ManagerKind) -> CohortPlan {
        CohortPlan { name: name.into(), manager, external: false, clients: 4, subscriptions: 20, distinct_streams: 8 }
    }

    fn setup() -> RunSetup {
        RunSetup {
            scenario: "smoke".into(),
            seed: 7,
            shard: String::new(),
            duration: Duration::from_secs(60),
            cohorts: vec![plan("legacy", ManagerKind::Legacy), plan("wsmanager", ManagerKind::Wsmanager)],
            faults: vec![PlannedFault {
                fault: 0,
                kind: "outage",
                name: Some("cut".into()),
                start: Duration::from_secs(10),
                end: Duration::from_secs(20),
            }],
            lag_threshold_us: 25_000,
            rig_threshold_us: 5_000,
            steps: None,
        }
    }

    fn series<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn a_histogram_is_written_cumulative_in_seconds_with_its_sum_count_and_inf_bucket() {
        // 3 values at or under 1 ms, 2 more under 50 ms, 1 over 10 s: 6 in all, summing to 12.5 s.
        let mut at_or_under = [5; BUCKET_BOUNDS_US.len()];
        at_or_under[0] = 3;
        at_or_under[1..5].fill(3);
        let latency = Buckets { at_or_under, count: 6, sum_us: 12_500_000 };
        let wsmanager =
            CohortProgress { latency, open: 3, busiest_client_open: 2, reconnects: 2, ..CohortProgress::default() };
        let progress = Progress { at: Duration::from_secs(15), cohorts: vec![CohortProgress::default(), wsmanager] };
        let setup = setup();
        let text = render(&Exposed { setup: &setup, progress: &progress, rig_us: (1_500, 0), rehearsal: None });
        let ws = |prefix: &str| -> Vec<String> {
            series(&text, prefix)
                .into_iter()
                .filter(|l| l.contains("cohort=\"wsmanager\""))
                .map(str::to_owned)
                .collect()
        };
        let buckets = ws("wschaos_delivery_latency_seconds_bucket");
        assert_eq!(buckets.len(), BUCKET_BOUNDS_US.len() + 1);
        assert!(
            buckets[0].starts_with("wschaos_delivery_latency_seconds_bucket{le=\"0.001\",")
                && buckets[0].ends_with(" 3")
        );
        assert!(buckets[5].contains("le=\"0.05\"") && buckets[5].ends_with(" 5"), "{buckets:?}");
        assert!(buckets[13].contains("le=\"+Inf\"") && buckets[13].ends_with(" 6"), "{buckets:?}");
        assert_eq!(ws("wschaos_delivery_latency_seconds_sum")[0].rsplit(' ').next(), Some("12.5"));
        assert_eq!(ws("wschaos_delivery_latency_seconds_count")[0].rsplit(' ').next(), Some("6"));
        assert_eq!(
            ws("ws_manager_active_connections{"),
            ["ws_manager_active_connections{cohort=\"wsmanager\",manager=\"wsmanager\"} 3"]
        );
        let busiest = "wschaos_instance_connections_max{cohort=\"wsmanager\",manager=\"wsmanager\"} 2";
        assert_eq!(ws("wschaos_instance_connections_max"), [busiest]);
        assert_eq!(
            ws("ws_manager_retry_count_total"),
            ["ws_manager_retry_count_total{cohort=\"wsmanager\",manager=\"wsmanager\"} 2"]
        );
        assert!(text.contains(
            "# TYPE wschaos_delivery_latency_seconds histogram\n# UNIT wschaos_delivery_latency_seconds seconds"
        ));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn a_fault_window_reads_1_only_while_in_force_and_a_plain_run_has_no_rehearsal_series() {
        let setup = setup();
        let at = |s: u64| {
            let progress = Progress { at: Duration::from_secs(s), cohorts: Vec::new() };
            render(&Exposed { setup: &setup, progress: &progress, rig_us: (0, 0), rehearsal: None })
        };
        let window = "wschaos_fault_active{fault=\"0\",kind=\"outage\",name=\"cut\"}";
        assert!(
            at(9).contains(&format!("{window} 0\n"))
                && at(9).contains("wschaos_faults_started_total{kind=\"outage\"} 0")
        );
        assert!(at(10).contains(&format!("{window} 1\n")));
        assert!(
            at(20).contains(&format!("{window} 0\n"))
                && at(20).contains("wschaos_faults_started_total{kind=\"outage\"} 1")
        );
        assert!(!at(15).contains("wschaos_rehearsal_"), "no rehearsal, no rehearsal series");
        // A fault that occurs again and again is one series, in force in any of its windows.
        let again =
            PlannedFault { start: Duration::from_secs(30), end: Duration::from_secs(31), ..setup.faults[0].clone() };
        let setup = RunSetup { faults: vec![setup.faults[0].clone(), again], ..setup.clone() };
        let progress = Progress { at: Duration::from_secs(30), cohorts: Vec::new() };
        let text = render(&Exposed { setup: &setup, progress: &progress, rig_us: (0, 0), rehearsal: None });
        assert_eq!(series(&text, "wschaos_fault_active"), [format!("{window} 1").as_str()]);
        assert!(text.contains("wschaos_faults_started_total{kind=\"outage\"} 2"));
        assert!(at(15).contains("wschaos_rig_delay_threshold_seconds{figure=\"canary-latency\"} 0.005"));
    }

    #[test]
    fn a_rehearsal_places_its_clients_as_its_target_does() {
        let setup = RunSetup { steps: Some(3), ..setup() };
        let progress = Progress::start(2);
        let now = RehearsalNow { step: 2, share: 0.25, rolled_back: false, clients: [3, 1], subscriptions: [15, 5] };
        let text = render(&Exposed { setup: &setup, progress: &progress, rig_us: (0, 0), rehearsal: Some(now) });
        for line in [
            "wschaos_rehearsal_step 2",
            "wschaos_rehearsal_steps 3",
            "wschaos_rehearsal_share_ratio 0.25",
            "wschaos_rehearsal_rolled_back 0",
            "wschaos_clients{cohort=\"wsmanager\",manager=\"wsmanager\"} 1",
            "wschaos_subscriptions{cohort=\"legacy\",manager=\"legacy\"} 15",
            // The error rate's operations keep the planned subscriptions: a counter never goes back.
            "wschaos_operations_total{cohort=\"wsmanager\",manager=\"wsmanager\"} 20",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
