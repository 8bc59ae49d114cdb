//! `wschaos run --metrics ADDR`: the run's live figures for Prometheus while it runs, `GET /metrics` in the
//! OpenMetrics text format ([`exposition`] renders them). Every scrape reads the recorder's latest running
//! totals (published once a second), the rig's self-checks and, in a rehearsal, where its target stands; it
//! takes no lock the clients take.
//!
//! The address is bound before anything of the run starts (a refusal is a usage error, exit 2); it listens
//! on loopback unless a token is set, and with a token every request must carry `Authorization: Bearer`.
//! It serves until the run has written its directory, then for `--metrics-linger` (Ctrl-C ends it).

pub(super) mod exposition;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

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

use crate::commands::process::{StopSignals, UsageError};
use crate::commands::run::planned_faults::PlannedFault;
use crate::load::placement::Pinned;
use crate::load::population::CohortPlan;
use crate::record::event::HandoverPhase;
use crate::record::progress::{Progress, RigReceivers};
use crate::rollout::controller::Target;
use crate::scenario::Scenario;
use exposition::{CONTENT_TYPE, Exposed, RehearsalNow, RunSetup};

/// `--metrics` for one run: served from the moment it is bound (503 until the run has started), fed the
/// run's sources once they exist, stopped after the run (and its linger).
pub(super) struct LiveMetrics {
    served: Arc<Served>,
    addr: SocketAddr,
    shard: String,
    stop: CancellationToken,
    task: JoinHandle<()>,
    follower: Mutex<Option<JoinHandle<()>>>,
}

/// What a scrape reads: nothing before the run starts, its sources after.
struct Served {
    sources: OnceLock<Sources>,
    token: Option<String>,
}

/// The run's sources.
struct Sources {
    setup: RunSetup,
    progress: watch::Receiver<Progress>,
    rig: RigReceivers,
    rehearsal: Option<Arc<Mutex<RehearsalNow>>>,
}

impl LiveMetrics {
    /// Binds `addr` (off loopback only with a non-empty token) and serves it at once, for shard `shard`
    /// (`I/N`, empty for a whole run).
    pub(super) async fn start(
        addr: SocketAddr,
        token: Option<String>,
        shard: String,
    ) -> Result<LiveMetrics, UsageError> {
        check_address(addr, token.as_deref())?;
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            UsageError(format!("--metrics {addr}: could not listen there: {e}; pick a free port (0 for any)"))
        })?;
        let bound = listener.local_addr().unwrap_or(addr);
        let served = Arc::new(Served { sources: OnceLock::new(), token });
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, served.clone(), stop.clone()));
        Ok(LiveMetrics { served, addr: bound, shard, stop, task, follower: Mutex::new(None) })
    }

    /// The bound address.
    pub(super) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

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

    /// From now on scrapes read the run: `setup`, the recorder's totals, the rig's self-checks and, in a
    /// rehearsal, where its target stands (followed with the run's clients and the pinned ones).
    pub(super) fn feed(
        &self,
        setup: RunSetup,
        (progress, rig): (watch::Receiver<Progress>, RigReceivers),
        following: Option<Following>,
    ) {
        let (rehearsal, follower) = following.map(follow_rehearsal).unzip();
        if self.served.sources.set(Sources { setup, progress, rig, rehearsal }).is_err() {
            tracing::warn!("the run's metrics were fed twice: the first sources stay");
        }
        *self.follower.lock().unwrap_or_else(|p| p.into_inner()) = follower;
    }

    /// Ends the endpoint once the run is over: after `linger` (so that a last scrape reads the final
    /// figures), or at once on Ctrl-C / SIGTERM.
    pub(super) async fn finish(self, linger: std::time::Duration, stop: &mut StopSignals) {
        if !linger.is_zero() {
            eprintln!("wschaos run: serving the final metrics for {linger:?} more (Ctrl-C ends it)");
            tokio::select! {
                () = tokio::time::sleep(linger) => {}
                () = stop.recv() => {}
            }
        }
        self.stop.cancel();
        if let Some(follower) = self.follower.lock().unwrap_or_else(|p| p.into_inner()).take() {
            follower.abort();
        }
        if let Err(e) = self.task.await {
            tracing::warn!("the run's metrics endpoint failed: {e}");
        }
    }
}

/// Whether `--metrics addr` may serve with `token`: off loopback only with one, and never an empty one.
pub(super) fn check_address(addr: SocketAddr, token: Option<&str>) -> Result<(), UsageError> {
    if token == Some("") {
        return Err(UsageError("--metrics-token is empty: give a token, or leave it out on loopback".into()));
    }
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(UsageError(format!(
            "--metrics {addr} is not a loopback address; set a token (--metrics-token or \
             WSCHAOS_METRICS_TOKEN) to serve the run's metrics beyond this machine"
        )));
    }
    Ok(())
}

/// The `--metrics` address of shard `index` of a run of `--processes`: the port after `addr`'s by the
/// shard's index (each shard serves its own part), or any free port when `addr`'s is 0.
pub(super) fn shard_address(addr: SocketAddr, index: u32) -> Result<SocketAddr, UsageError> {
    if addr.port() == 0 {
        return Ok(addr);
    }
    let port = u16::try_from(u32::from(addr.port()) + index).map_err(|_| {
        UsageError(format!(
            "--metrics {addr} with --processes: shard {index} would serve port {}, past 65535; pick a lower port \
             (shard I serves the given port + I)",
            u32::from(addr.port()) + index
        ))
    })?;
    Ok(SocketAddr::new(addr.ip(), port))
}

/// Serves `/metrics` on `listener` until `stop`; a scrape that never finishes does not hold the run's end
/// for more than a second.
async fn serve(listener: TcpListener, served: Arc<Served>, stop: CancellationToken) {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { (StatusCode::NOT_FOUND, "the run's metrics are at /metrics\n") })
        .layer(middleware::from_fn_with_state(served.clone(), authorize))
        .with_state(served);
    let serving = axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
    tokio::select! {
        served = serving => if let Err(e) = served {
            tracing::warn!("the run's metrics endpoint stopped: {e}");
        },
        () = async { stop.cancelled().await; tokio::time::sleep(std::time::Duration::from_secs(1)).await } => {}
    }
}

async fn scrape(State(served): State<Arc<Served>>) -> Response {
    let Some(s) = served.sources.get() else {
        let wait = "the run has not started yet: its metrics appear when its clients start\n";
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], wait).into_response();
    };
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
    if crate::vocab::token::carries(&headers, token) {
        return next.run(request).await;
    }
    let refused = (StatusCode::UNAUTHORIZED, "missing or wrong token: send Authorization: Bearer <token>\n");
    crate::vocab::token::challenged(refused.into_response())
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
