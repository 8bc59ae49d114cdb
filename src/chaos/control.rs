//! The HTTP control API of a running mock, in the spirit of Toxiproxy's: list, add (the same shape as a
//! planned fault, as JSON), remove and reset faults; `GET /metrics` (Prometheus) and `GET /stats` (JSON).
//!
//! | request | answer |
//! |---|---|
//! | `GET /faults` | `{"records":[…]}`: every fault that fired, active ones with `ended_ms: null` |
//! | `POST /faults` | body: a fault (`{"kind":"disconnect","code":1012}`); 201 `{"id":N}`, or 400 with every problem |
//! | `DELETE /faults/N` | 204, or 404 |
//! | `POST /reset` | ends every fault; 200 `{"ended":N}` |
//! | `GET /metrics` | Prometheus text |
//! | `GET /stats` | the mock's snapshot as JSON |
//! | `POST /stats/reset` | every counter starts afresh; 200 `{"counters_since_ms":N,"counter_resets":N}` |
//! | `GET /health` | `{"connections_open":N}`: cheap enough to poll every second |
//! | `GET /publications?from=N` | a page of what the feed published (with `--record-publications`) |
//!
//! It listens on loopback unless a token is configured; with a token, every request must carry
//! `Authorization: Bearer <token>` or is refused with 401. The HTTP itself (framing, chunked bodies,
//! keep-alive, the 64 KiB body limit, malformed requests) is hyper's, through axum.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::chaos::barrier::{Arrival, Barrier};
use crate::chaos::fault::{Fault, RawFault};
use crate::chaos::metrics;
use crate::chaos::step_board::{Posting, StepBoard};
use crate::mock::MockServer;
use crate::mock::faults::FaultOrder;
use crate::vocab::seed::derive;

/// How long `POST /steps` holds its answer for the other shards' figures.
const STEP_HOLD: std::time::Duration = std::time::Duration::from_secs(5);

/// Largest request body accepted (413 past it): a rehearsal step's figures (three histograms and a pair of
/// counts per second of the step) are the largest bodies.
const MAX_BODY: usize = 1024 * 1024;

/// How long requests still open when the mock stops may take to finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Why the control API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A non-loopback address without a token.
    #[error("--control {0} is not a loopback address; set a token (--control-token) to expose the control API")]
    NeedsToken(SocketAddr),
    /// The address could not be bound.
    #[error("could not listen on {addr} for the control API: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A running control API.
#[derive(Debug)]
pub struct ControlServer {
    addr: SocketAddr,
}

impl ControlServer {
    /// Binds `addr` and serves the control API of `mock` until the mock stops.
    pub async fn start(
        addr: SocketAddr,
        token: Option<String>,
        mock: MockServer,
    ) -> Result<ControlServer, ControlError> {
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(ControlError::NeedsToken(addr));
        }
        let listener = TcpListener::bind(addr).await.map_err(|source| ControlError::Bind { addr, source })?;
        let bound = listener.local_addr().map_err(|source| ControlError::Bind { addr, source })?;
        let cancel = mock.cancel_token();
        let api = Arc::new(Api {
            mock: mock.clone(),
            token,
            injected: AtomicU32::new(0),
            barrier: Default::default(),
            steps: Default::default(),
            steps_pooled: tokio::sync::Notify::new(),
        });
        mock.spawn(async move {
            let served = axum::serve(listener, router(api)).with_graceful_shutdown(cancel.clone().cancelled_owned());
            // A client that never finishes its request must not hold the mock's shutdown.
            let drained = async {
                cancel.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            };
            tokio::select! {
                served = served => if let Err(e) = served {
                    tracing::warn!("the control API stopped: {e}");
                },
                () = drained => tracing::debug!("control API requests still open {SHUTDOWN_GRACE:?} after the stop: dropped"),
            }
        });
        Ok(ControlServer { addr: bound })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

struct Api {
    mock: MockServer,
    token: Option<String>,
    injected: AtomicU32,
    barrier: std::sync::Mutex<Barrier>,
    steps: std::sync::Mutex<StepBoard>,
    /// Told whenever a step of the board has every shard's figures.
    steps_pooled: tokio::sync::Notify,
}

impl Api {
    /// The start barrier (a panic elsewhere while it was held leaves it as it was: still usable).
    fn barrier(&self) -> std::sync::MutexGuard<'_, Barrier> {
        self.barrier.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The rehearsal steps' board (usable after a panic elsewhere, as the barrier).
    fn steps(&self) -> std::sync::MutexGuard<'_, StepBoard> {
        self.steps.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The routes, behind the token check and the body limit; HTTP framing (chunked bodies, keep-alive,
/// limits, malformed requests) is hyper's.
fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/faults", get(list_faults).post(add_fault))
        .route("/faults/{id}", delete(remove_fault))
        .route("/fault-orders", post(add_order))
        .route("/reset", post(reset_faults))
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .route("/health", get(health))
        .route("/publications", get(publications))
        .route("/metrics", get(prometheus))
        .route("/barrier", get(barrier_state).post(arrive).delete(reset_barrier))
        .route("/steps", post(post_step))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(api.clone(), authorize))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

/// A response: status, content type, body.
struct Reply(u16, &'static str, String);

impl Reply {
    fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply(status, "application/json", value.to_string())
    }

    fn error(status: u16, message: &str) -> Reply {
        Reply::json(status, &serde_json::json!({ "error": message }))
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let Reply(status, content_type, body) = self;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
    }
}

/// With a token, every request must carry `Authorization: Bearer <token>` (401 otherwise).
async fn authorize(State(api): State<Arc<Api>>, headers: HeaderMap, request: Request, next: Next) -> Response {
    let Some(token) = &api.token else {
        return next.run(request).await;
    };
    if crate::vocab::token::carries(&headers, token) {
        return next.run(request).await;
    }
    let refused = Reply::error(401, "missing or wrong token: send Authorization: Bearer <token>").into_response();
    crate::vocab::token::challenged(refused)
}

async fn not_found() -> Reply {
    Reply::error(
        404,
        "no such endpoint; see GET /faults, POST /faults, DELETE /faults/N, POST /reset, GET /metrics, GET /stats, \
         POST /stats/reset, GET /health, GET /publications, GET|POST|DELETE /barrier, POST /steps",
    )
}

async fn method_not_allowed() -> Reply {
    Reply::error(405, "method not allowed here")
}

async fn list_faults(State(api): State<Arc<Api>>) -> Reply {
    Reply::json(200, &serde_json::json!({ "records": api.mock.fault_records() }))
}

async fn reset_faults(State(api): State<Arc<Api>>) -> Reply {
    let active = api.mock.active_faults().len();
    api.mock.end_all_faults();
    Reply::json(200, &serde_json::json!({ "ended": active }))
}

/// Milliseconds since the Unix epoch: the barrier's and the board's clock.
fn unix_now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `POST /barrier`: a shard of a run arrives at its start barrier; the answer names the start once every
/// shard has arrived.
async fn arrive(State(api): State<Arc<Api>>, body: Result<Bytes, BytesRejection>) -> Reply {
    let arrival: Arrival = match json_body(body, "an arrival ({party, parties, lead_ms})") {
        Ok(arrival) => arrival,
        Err(reply) => return reply,
    };
    match api.barrier().arrive(arrival, unix_now_ms()) {
        Ok(state) => Reply::json(200, &serde_json::json!(state)),
        Err(why) => Reply::error(409, &why),
    }
}

/// `POST /steps`: a shard of a sharded rehearsal posts its figures of a step; the answer carries every
/// shard's once all have posted, and waits for them up to [`STEP_HOLD`] (the shard then posts again), so
/// that every shard hears as soon as the last one posted; a step the board closed says so.
async fn post_step(State(api): State<Arc<Api>>, body: Result<Bytes, BytesRejection>) -> Reply {
    let posting: Posting = match json_body(body, "a posting ({run, step, party, parties, contribution})") {
        Ok(posting) => posting,
        Err(reply) => return reply,
    };
    let (run, step) = (posting.run.clone(), posting.step);
    let started = tokio::time::Instant::now();
    // Listening before posting: the last shard's posting cannot be missed in between.
    let mut pooled = std::pin::pin!(api.steps_pooled.notified());
    pooled.as_mut().enable();
    let mut state = match api.steps().post(posting, unix_now_ms()) {
        Ok(state) => state,
        Err(why) => return Reply::error(409, &why),
    };
    if state.all.is_some() {
        api.steps_pooled.notify_waiters();
    }
    // Held until every shard is in, the hold is over, or the step closes (then it answers that at once).
    let closes = state.closes_in_ms.map_or(STEP_HOLD, |ms| std::time::Duration::from_millis(ms + 1));
    let held = started + STEP_HOLD.min(closes);
    while state.all.is_none() && !state.closed {
        let woken = tokio::time::timeout_at(held, pooled.as_mut()).await.is_ok();
        pooled.set(api.steps_pooled.notified());
        pooled.as_mut().enable();
        state = api.steps().state(&run, step, unix_now_ms());
        if !woken {
            break;
        }
    }
    Reply::json(200, &serde_json::json!(state))
}

async fn barrier_state(State(api): State<Arc<Api>>) -> Reply {
    Reply::json(200, &serde_json::json!(api.barrier().state()))
}

async fn reset_barrier(State(api): State<Arc<Api>>) -> Reply {
    *api.barrier() = Barrier::default();
    Reply(204, "application/json", String::new())
}

/// A request's JSON body as a `T`; the answer to send instead when it is none (`what` names a `T`).
fn json_body<T: serde::de::DeserializeOwned>(body: Result<Bytes, BytesRejection>, what: &str) -> Result<T, Reply> {
    let body = body.map_err(|rejection| Reply::error(rejection.status().as_u16(), &rejection.body_text()))?;
    serde_json::from_slice(&body).map_err(|e| Reply::error(400, &format!("the body is not {what}: {e}")))
}

async fn health(State(api): State<Arc<Api>>) -> Reply {
    Reply::json(200, &serde_json::json!({ "connections_open": api.mock.open_connections() }))
}

async fn prometheus(State(api): State<Arc<Api>>) -> Reply {
    Reply(200, metrics::CONTENT_TYPE, metrics::render(&api.mock.snapshot()))
}

async fn stats(State(api): State<Arc<Api>>) -> Reply {
    match serde_json::to_string(&api.mock.snapshot()) {
        Ok(body) => Reply(200, "application/json", body),
        Err(e) => Reply::error(500, &e.to_string()),
    }
}

/// `POST /stats/reset`: every counter starts afresh (what is open now stays counted as open); `/stats`
/// then says since when (`counters_since_ms`) and how many resets there were (`counter_resets`).
async fn reset_stats(State(api): State<Arc<Api>>) -> Reply {
    let (since_ms, resets) = api.mock.reset_counters();
    Reply::json(200, &serde_json::json!({ "counters_since_ms": since_ms, "counter_resets": resets }))
}

/// `GET /publications?from=N`: the events the feed published from position N on (a page of them), for a
/// harness measuring against this mock's record from another process. Empty unless the mock was started
/// with `--record-publications`.
async fn publications(State(api): State<Arc<Api>>, uri: Uri) -> Reply {
    let from = query_number(uri.query(), "from").unwrap_or(0);
    let (next, events) = api.mock.publications().since(from, crate::mock::publications::PAGE);
    Reply::json(200, &serde_json::json!({ "next": next, "events": events }))
}

/// A number in the request target's query (`?seed=N` on `POST /faults`: the occurrence's seed, so that a
/// harness driving this mock makes the same selections and draws as its embedded mock would; `?from=N` on
/// `GET /publications`).
fn query_number(query: Option<&str>, name: &str) -> Option<u64> {
    query?.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

async fn add_fault(State(api): State<Arc<Api>>, uri: Uri, body: Result<Bytes, BytesRejection>) -> Reply {
    let seed = query_number(uri.query(), "seed");
    let raw: RawFault = match json_body(body, "a fault") {
        Ok(raw) => raw,
        Err(reply) => return reply,
    };
    let fault = match Fault::from_raw(&raw, "fault") {
        Ok(fault) => fault,
        Err(issues) => {
            let problems: Vec<serde_json::Value> =
                issues.iter().map(|i| serde_json::json!({ "key": i.key, "message": i.message })).collect();
            return Reply::json(400, &serde_json::json!({ "error": "invalid fault", "problems": problems }));
        }
    };
    let number = api.injected.fetch_add(1, Ordering::Relaxed);
    let seed = seed.unwrap_or_else(|| derive(api.mock.seed(), usize::MAX, number));
    let order = fault.order(seed, fault.window());
    if fault.timing.at.is_zero() {
        let id = api.mock.start_fault(&order);
        return Reply::json(201, &serde_json::json!({ "id": id, "fault": fault }));
    }
    let delay = fault.timing.at;
    api.mock.schedule_fault(order, Instant::now() + delay);
    Reply::json(202, &serde_json::json!({ "scheduled_in_ms": delay.as_millis() as u64, "fault": fault }))
}

/// `POST /fault-orders`: a fault exactly as a harness's plan decided it (kind, selection, seed, window),
/// carried out now. What a run in another process posts; people post [`RawFault`]s to `/faults`.
async fn add_order(State(api): State<Arc<Api>>, body: Result<Bytes, BytesRejection>) -> Reply {
    let order: FaultOrder = match json_body(body, "a fault order") {
        Ok(order) => order,
        Err(reply) => return reply,
    };
    let problems = order.problems();
    if !problems.is_empty() {
        return Reply::json(400, &serde_json::json!({ "error": "invalid fault order", "problems": problems }));
    }
    let id = api.mock.start_fault(&order);
    Reply::json(201, &serde_json::json!({ "id": id }))
}

async fn remove_fault(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Reply {
    let Ok(id) = id.parse::<u64>() else {
        return Reply::error(400, "fault ids are numbers; see GET /faults");
    };
    if !api.mock.active_faults().contains(&id) {
        return Reply::error(404, "no active fault with that id");
    }
    api.mock.remove_fault(id);
    Reply(204, "application/json", String::new())
}
