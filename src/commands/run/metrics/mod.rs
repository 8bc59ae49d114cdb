//! `wschaos run --metrics ADDR`: the run's live figures for Prometheus while it runs, `GET /metrics` in the
//! OpenMetrics text format ([`exposition`] renders them). Every scrape reads the recorder's latest running
//! totals (published once a second), the rig's self-checks and, in a rehearsal, where its target stands; it
//! takes no lock the clients take.
//!
//! The address is bound before anything of the run starts (a refusal is a usage error, exit 2); it listens
//! on loopback unless a token is set, and with a token every request must carry `Authorization: Bearer`.
//! It serves until the run's figures are final.

pub(super) mod exposition;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::commands::process::UsageError;
use crate::commands::run::planned_faults::PlannedFault;
use crate::load::placement::Pinned;
use crate::load::population::CohortPlan;
use crate::record::event::HandoverPhase;
use crate::record::progress::{Progress, RigReceivers};
use crate::rollout::controller::Target;
use crate::scenario::Scenario;
use exposition::{CONTENT_TYPE, Exposed, RehearsalNow, RunSetup};

/// The bound address of `--metrics`, not yet serving.
pub(super) struct MetricsListener {
    listener: TcpListener,
    token: Option<String>,
}

impl MetricsListener {
    /// Binds `addr`; off loopback only with a token.
    pub(super) async fn bind(addr: SocketAddr, token: Option<String>) -> Result<MetricsListener, UsageError> {
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(UsageError(format!(
                "--metrics {addr} is not a loopback address; set a token (--metrics-token or \
                 WSCHAOS_METRICS_TOKEN) to serve the run's metrics beyond this machine"
            )));
        }
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            UsageError(format!("--metrics {addr}: could not listen there: {e}; pick a free port (0 for any)"))
        })?;
        Ok(MetricsListener { listener, token })
    }

    /// The bound address.
    pub(super) fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves `sources` until `stop` is cancelled.
    pub(super) fn serve(self, sources: Sources, stop: CancellationToken) -> JoinHandle<()> {
        let MetricsListener { listener, token } = self;
        let state = Arc::new(Served { sources, token });
        tokio::spawn(async move {
            let app = Router::new()
                .route("/metrics", get(scrape))
                .fallback(|| async { (StatusCode::NOT_FOUND, "the run's metrics are at /metrics\n") })
                .layer(middleware::from_fn_with_state(state.clone(), authorize))
                .with_state(state);
            let served = axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
            // A scrape that never finishes must not hold the run's end.
            tokio::select! {
                served = served => if let Err(e) = served {
                    tracing::warn!("the run's metrics endpoint stopped: {e}");
                },
                () = async { stop.cancelled().await; tokio::time::sleep(std::time::Duration::from_secs(1)).await } => {}
            }
        })
    }
}

/// `--metrics` for one run: the bound listener and the shard it serves (`I/N`, empty for a whole run).
pub(super) struct LiveMetrics {
    /// The bound address.
    pub listener: MetricsListener,
    /// The shard's `I/N`, or empty.
    pub shard: String,
}

impl LiveMetrics {
    /// What stays fixed for the run of `scenario` with cohorts `plans`, applying `faults`.
    pub(super) fn setup(&self, scenario: &Scenario, plans: &[CohortPlan], faults: Vec<PlannedFault>) -> RunSetup {
        RunSetup {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            shard: self.shard.clone(),
            duration: scenario.duration,
            cohorts: plans.to_vec(),
            faults,
            lag_threshold_us: scenario.harness.saturation_lag.as_micros() as u64,
            rig_threshold_us: scenario.harness.rig_delay.as_micros() as u64,
            steps: scenario.rollout.plan.as_ref().map(|p| p.steps.len()),
        }
    }

    /// Serves the run's figures until `stop`; a rehearsal's standing follows its targets (with the run's
    /// client ids and the pinned ones).
    pub(super) fn serve(
        self,
        setup: RunSetup,
        (progress, rig): (watch::Receiver<Progress>, RigReceivers),
        following: Option<Following>,
        stop: CancellationToken,
    ) -> JoinHandle<()> {
        let (rehearsal, follower) = following.map(follow_rehearsal).unzip();
        let served = self.listener.serve(Sources { setup, progress, rig, rehearsal }, stop);
        tokio::spawn(async move {
            if let Err(e) = served.await {
                tracing::warn!("the run's metrics endpoint failed: {e}");
            }
            if let Some(follower) = follower {
                follower.abort();
            }
        })
    }
}

/// What a scrape reads.
pub(super) struct Sources {
    /// What stays fixed.
    pub setup: RunSetup,
    /// The recorder's running totals.
    pub progress: watch::Receiver<Progress>,
    /// The rig's self-checks.
    pub rig: RigReceivers,
    /// A rehearsal's standing, kept by [`follow_rehearsal`].
    pub rehearsal: Option<Arc<Mutex<RehearsalNow>>>,
}

struct Served {
    sources: Sources,
    token: Option<String>,
}

async fn scrape(State(served): State<Arc<Served>>) -> Response {
    let s = &served.sources;
    let progress = s.progress.borrow().clone();
    let rig_us = (*s.rig.lag.borrow(), *s.rig.canary.borrow());
    let rehearsal = s.rehearsal.as_ref().map(|now| *now.lock().unwrap_or_else(|p| p.into_inner()));
    let body = exposition::render(&Exposed { setup: &s.setup, progress: &progress, rig_us, rehearsal });
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

/// With a token, every request must carry `Authorization: Bearer <token>` (401 otherwise).
async fn authorize(State(served): State<Arc<Served>>, headers: HeaderMap, request: Request, next: Next) -> Response {
    let Some(token) = &served.token else {
        return next.run(request).await;
    };
    let sent = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if sent == Some(token.as_str()) {
        return next.run(request).await;
    }
    let mut response =
        (StatusCode::UNAUTHORIZED, "missing or wrong token: send Authorization: Bearer <token>\n").into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    response
}

/// What a rehearsal's standing follows: the controller's targets, the run's clients (id, subscriptions)
/// and the ones the share does not decide.
pub(super) struct Following {
    /// The controller's targets.
    pub targets: watch::Receiver<Target>,
    /// Every client's id and subscriptions.
    pub clients: Vec<(u32, u64)>,
    /// The pinned clients.
    pub pinned: Pinned,
}

/// Keeps a rehearsal's standing from its target as the controller moves it: the latest step, the share,
/// a rollback, and the clients the target places on each side (of `clients`, the run's client ids with their
/// subscriptions). Ends when the controller does.
fn follow_rehearsal(
    Following { mut targets, clients, pinned }: Following,
) -> (Arc<Mutex<RehearsalNow>>, JoinHandle<()>) {
    let now = Arc::new(Mutex::new(RehearsalNow::default()));
    let kept = now.clone();
    let task = tokio::spawn(async move {
        loop {
            let target = *targets.borrow_and_update();
            let placed = placed(&clients, |id| target.on_new(&pinned, id));
            stand(&mut kept.lock().unwrap_or_else(|p| p.into_inner()), target, placed);
            if targets.changed().await.is_err() {
                break;
            }
        }
    });
    (now, task)
}

/// The clients and subscriptions of `clients` (id, subscriptions) on each side (legacy, new).
fn placed(clients: &[(u32, u64)], on_new: impl Fn(u32) -> bool) -> ([u32; 2], [u64; 2]) {
    let (mut count, mut subscriptions) = ([0u32; 2], [0u64; 2]);
    for &(id, made) in clients {
        let side = usize::from(on_new(id));
        count[side] += 1;
        subscriptions[side] += made;
    }
    (count, subscriptions)
}

/// Moves a rehearsal's standing to `target`, which places `clients` and `subscriptions` on each side.
fn stand(standing: &mut RehearsalNow, target: Target, (clients, subscriptions): ([u32; 2], [u64; 2])) {
    standing.share = target.share;
    match target.phase {
        Some(HandoverPhase::Step(index)) => standing.step = index + 1,
        Some(HandoverPhase::Rollback) => standing.rolled_back = true,
        None => {}
    }
    standing.clients = clients;
    standing.subscriptions = subscriptions;
}
