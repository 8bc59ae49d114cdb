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
//! | `GET /health` | `{"connections_open":N}`: cheap enough to poll every second |
//!
//! It listens on loopback unless a token is configured; with a token, every request must carry
//! `Authorization: Bearer <token>` or is refused with 401.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use crate::chaos::fault::{Fault, RawFault};
use crate::chaos::inject;
use crate::chaos::metrics;
use crate::chaos::plan::occurrence_seed;
use crate::mock::handshake::{self, RequestHead};
use crate::mock::server::{Shared, snapshot};

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;

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
    /// Binds `addr` and serves the control API of the mock behind `shared` until the mock stops.
    pub async fn start(
        addr: SocketAddr,
        token: Option<String>,
        shared: Arc<Shared>,
    ) -> Result<ControlServer, ControlError> {
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(ControlError::NeedsToken(addr));
        }
        let listener = TcpListener::bind(addr).await.map_err(|source| ControlError::Bind { addr, source })?;
        let bound = listener.local_addr().map_err(|source| ControlError::Bind { addr, source })?;
        let api = Arc::new(Api { shared: shared.clone(), token, injected: AtomicU32::new(0) });
        shared.spawner.spawn(serve(listener, api));
        Ok(ControlServer { addr: bound })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

struct Api {
    shared: Arc<Shared>,
    token: Option<String>,
    injected: AtomicU32,
}

async fn serve(listener: TcpListener, api: Arc<Api>) {
    let cancel = api.shared.cancel.clone();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let api_for_request = api.clone();
                api.shared.spawner.spawn(async move { handle(stream, &api_for_request).await });
            }
            Err(e) => {
                tracing::warn!("control API accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
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

async fn handle(mut stream: TcpStream, api: &Api) {
    let timeout = Duration::from_secs(10);
    let reply = match handshake::read_head(&mut stream, timeout).await {
        Ok(head) => match read_body(&mut stream, &head).await {
            Ok(body) => route(api, &head, &body),
            Err(reply) => reply,
        },
        Err(e) => Reply::error(400, &e.to_string()),
    };
    let Reply(status, content_type, body) = reply;
    let headers: Vec<(&str, String)> =
        if status == 401 { vec![("WWW-Authenticate", "Bearer".to_owned())] } else { Vec::new() };
    let response = handshake::http_response(status, content_type, &body, &headers);
    handshake::respond_and_close(&mut stream, &response, timeout).await;
}

async fn read_body(stream: &mut TcpStream, head: &RequestHead) -> Result<Vec<u8>, Reply> {
    let length: usize = head.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    if length > MAX_BODY {
        return Err(Reply::error(413, "request body larger than 64 KiB"));
    }
    let mut body = head.leftover.clone();
    let mut chunk = vec![0u8; 4096];
    while body.len() < length {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .map_err(|_| Reply::error(408, "request body not received in time"))?
            .map_err(|e| Reply::error(400, &e.to_string()))?;
        if n == 0 {
            return Err(Reply::error(400, "connection closed before the body was complete"));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(body)
}

fn authorized(api: &Api, head: &RequestHead) -> bool {
    match &api.token {
        None => true,
        Some(token) => head.header("authorization").and_then(|v| v.strip_prefix("Bearer ")) == Some(token.as_str()),
    }
}

fn route(api: &Api, head: &RequestHead, body: &[u8]) -> Reply {
    if !authorized(api, head) {
        return Reply::error(401, "missing or wrong token: send Authorization: Bearer <token>");
    }
    let path = head.target.split('?').next().unwrap_or("");
    match (head.method.as_str(), path) {
        ("GET", "/faults") => Reply::json(200, &serde_json::json!({ "records": api.shared.chaos.records() })),
        ("POST", "/faults") => add_fault(api, body, query_number(&head.target, "seed")),
        ("DELETE", p) if p.starts_with("/faults/") => remove_fault(api, &p["/faults/".len()..]),
        ("POST", "/reset") => {
            let active = api.shared.chaos.active().len();
            inject::end_all(&api.shared);
            Reply::json(200, &serde_json::json!({ "ended": active }))
        }
        ("GET", "/health") => {
            let stats = &api.shared.stats;
            let figures = serde_json::json!({ "connections_open": stats.open_connections() });
            Reply::json(200, &figures)
        }
        ("GET", "/publications") => publications(api, &head.target),
        ("GET", "/metrics") => Reply(200, "text/plain; version=0.0.4", metrics::render(&snapshot(&api.shared))),
        ("GET", "/stats") => match serde_json::to_value(snapshot(&api.shared)) {
            Ok(value) => Reply::json(200, &value),
            Err(e) => Reply::error(500, &e.to_string()),
        },
        (_, "/faults" | "/reset" | "/metrics" | "/stats" | "/health" | "/publications") => {
            Reply::error(405, "method not allowed here")
        }
        _ => Reply::error(
            404,
            "no such endpoint; see GET /faults, POST /faults, DELETE /faults/N, POST /reset, GET /metrics, GET /stats",
        ),
    }
}

/// `GET /publications?from=N`: the events the feed published from position N on (a page of them), for a
/// harness measuring against this mock's record from another process. Empty unless the mock was started
/// with `--record-publications`.
fn publications(api: &Api, target: &str) -> Reply {
    let from = query_number(target, "from").unwrap_or(0);
    let (next, events) = api.shared.publications.since(from, crate::mock::publications::PAGE);
    Reply::json(200, &serde_json::json!({ "next": next, "events": events }))
}

/// A number in the request target's query (`?seed=N` on `POST /faults`: the occurrence's seed, so that a
/// harness driving this mock makes the same selections and draws as its embedded mock would; `?from=N` on
/// `GET /publications`).
fn query_number(target: &str, name: &str) -> Option<u64> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

fn add_fault(api: &Api, body: &[u8], seed: Option<u64>) -> Reply {
    let raw: RawFault = match serde_json::from_slice(body) {
        Ok(raw) => raw,
        Err(e) => return Reply::error(400, &format!("the body is not a fault: {e}")),
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
    let seed = seed.unwrap_or_else(|| occurrence_seed(api.shared.seed, usize::MAX, number));
    let shared = api.shared.clone();
    if fault.timing.at.is_zero() {
        let id = inject::start_now(&shared, &fault, seed, fault.window());
        return Reply::json(201, &serde_json::json!({ "id": id, "fault": fault }));
    }
    let delay = fault.timing.at;
    let cancel = shared.cancel.clone();
    let spec = serde_json::to_value(&fault).unwrap_or_default();
    api.shared.spawner.spawn(async move {
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = tokio::time::sleep(delay) => { inject::start_now(&shared, &fault, seed, fault.window()); }
        }
    });
    Reply::json(202, &serde_json::json!({ "scheduled_in_ms": delay.as_millis() as u64, "fault": spec }))
}

fn remove_fault(api: &Api, id: &str) -> Reply {
    let Ok(id) = id.parse::<u64>() else {
        return Reply::error(400, "fault ids are numbers; see GET /faults");
    };
    if !api.shared.chaos.active().contains(&id) {
        return Reply::error(404, "no active fault with that id");
    }
    inject::end(&api.shared, id);
    Reply(204, "application/json", String::new())
}
