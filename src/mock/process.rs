//! A mock in its own process: `wschaos mock` started as a child with the scenario's configuration and a
//! loopback control API, so a scenario can hold more sockets than one process may open (the mock's side of
//! every connection is then in the child). Faults, health and the final counters go through the control
//! API; the child is stopped with SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::chaos::barrier::{Arrival, BarrierState};
use crate::chaos::step_board::{Posting, StepState};
use crate::mock::config::RawMockConfig;
use crate::mock::faults::FaultOrder;
use crate::mock::stats::MockSnapshot;

/// The control API of a mock in another process: its address and, when it was started with a token, the
/// token every request carries (`Authorization: Bearer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlApi {
    /// host:port.
    pub addr: SocketAddr,
    /// `--control-token` of the mock.
    pub token: Option<String>,
}

impl ControlApi {
    /// A control API on `addr` without a token (a loopback mock of this run's own).
    pub fn at(addr: SocketAddr) -> ControlApi {
        ControlApi { addr, token: None }
    }
}

/// A running `wschaos mock` child.
#[derive(Debug)]
pub struct MockProcess {
    child: Child,
    addr: SocketAddr,
    control: SocketAddr,
}

impl MockProcess {
    /// Starts the child with `config` (written next to `dir`) and `seed`; waits for its banner.
    pub async fn spawn(config: &RawMockConfig, seed: u64, dir: &Path) -> Result<MockProcess> {
        std::fs::create_dir_all(dir).with_context(|| format!("could not create '{}'", dir.display()))?;
        let config_path = dir.join("mock.toml");
        let text = toml::to_string(config).context("could not write the mock configuration")?;
        std::fs::write(&config_path, text).with_context(|| format!("could not write '{}'", config_path.display()))?;
        let exe = std::env::current_exe().context("could not find the wschaos executable")?;
        let log_path = dir.join("mock.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("could not create the mock's log '{}'", log_path.display()))?;
        let mut child = Command::new(exe)
            .args([
                "mock",
                "--listen",
                "127.0.0.1:0",
                "--control",
                "127.0.0.1:0",
                "--seed",
                &seed.to_string(),
                "--record-publications",
                "--config",
            ])
            .arg(&config_path)
            // A token in this process's environment is not the child's: it listens on loopback for this
            // process alone.
            .env_remove("WSCHAOS_CONTROL_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("could not start the mock process")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("the mock process has no stdout"))?;
        let (addr, control) = tokio::time::timeout(Duration::from_secs(10), read_banner(stdout))
            .await
            .map_err(|_| {
                anyhow!("the mock process did not print its address within 10 s (see '{}')", log_path.display())
            })?
            .with_context(|| format!("the mock process did not start (see '{}')", log_path.display()))?;
        Ok(MockProcess { child, addr, control })
    }

    /// The WebSocket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The control API's address.
    pub fn control(&self) -> SocketAddr {
        self.control
    }

    /// The child's counters.
    pub async fn snapshot(&self) -> Result<MockSnapshot> {
        snapshot_of(&ControlApi::at(self.control)).await
    }

    /// True while the child runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the child (SIGTERM, then a kill after 10 s).
    pub async fn stop(mut self) -> Result<()> {
        if let Some(pid) = self.child.id() {
            let terminated = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
            if !terminated.is_ok_and(|s| s.success()) {
                tracing::warn!("could not signal the mock process {pid}");
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => status.map(|_| ()).context("the mock process"),
            Err(_) => self.child.kill().await.context("could not kill the mock process"),
        }
    }
}

/// The counters of the mock behind `control`.
pub async fn snapshot_of(control: &ControlApi) -> Result<MockSnapshot> {
    let body = request(control, "GET", "/stats", "").await?;
    serde_json::from_str(&body).context("could not read the mock's /stats")
}

/// Connections open in the child behind `control` now.
pub async fn connections_open(control: &ControlApi) -> Result<u64> {
    let body = request(control, "GET", "/health", "").await?;
    let value: serde_json::Value = serde_json::from_str(&body)?;
    value["connections_open"].as_u64().ok_or_else(|| anyhow!("unexpected /health answer: {body}"))
}

/// Mirrors the child's record of what it published into `into`, fetching what is new every `every`, until
/// `stop`. A harness in this process measures loss and staleness against the mirror: it lags the child's
/// own record by up to `every` plus a request, so an event in flight may be seen as published that much late.
pub async fn mirror_publications(
    control: ControlApi,
    into: std::sync::Arc<crate::mock::publications::Publications>,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut from = 0u64;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        loop {
            match fetch_publications(&control, from).await {
                Ok((next, events)) => {
                    let full = events.len() >= crate::mock::publications::PAGE;
                    for (key, id, at) in events {
                        into.record(key, id, at);
                    }
                    from = next;
                    if !full {
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!("could not read the mock's publications: {e:#}");
                    break;
                }
            }
        }
    }
}

async fn fetch_publications(
    control: &ControlApi,
    from: u64,
) -> Result<(u64, Vec<crate::mock::publications::Published>)> {
    #[derive(serde::Deserialize)]
    struct Page {
        next: u64,
        events: Vec<crate::mock::publications::Published>,
    }
    let body = request(control, "GET", &format!("/publications?from={from}"), "").await?;
    let page: Page = serde_json::from_str(&body).context("unexpected /publications answer")?;
    Ok((page.next, page.events))
}

/// Arrives at the start barrier of the mock behind `control`; where the barrier stands.
pub async fn arrive(control: &ControlApi, arrival: &Arrival) -> Result<BarrierState> {
    let body = request(control, "POST", "/barrier", &serde_json::to_string(arrival)?).await?;
    serde_json::from_str(&body).context("unexpected /barrier answer")
}

/// Posts a shard's figures of a rehearsal step to the board of the mock behind `control`; where the step
/// stands.
pub async fn post_step(control: &ControlApi, posting: &Posting) -> Result<StepState> {
    let body = request(control, "POST", "/steps", &serde_json::to_string(posting)?).await?;
    serde_json::from_str(&body).context("unexpected /steps answer")
}

/// Has the mock behind the control API at `control` carry out a fault now, as already decided.
pub async fn order_fault(control: &ControlApi, order: &FaultOrder) -> Result<()> {
    request(control, "POST", "/fault-orders", &serde_json::to_string(order)?).await.map(|_| ())
}

async fn read_banner(stdout: tokio::process::ChildStdout) -> Result<(SocketAddr, SocketAddr)> {
    let mut lines = BufReader::new(stdout).lines();
    let (mut addr, mut control) = (None, None);
    while let Some(line) = lines.next_line().await? {
        for word in line.split_whitespace() {
            if let Some(rest) = word.strip_prefix("ws://").filter(|_| addr.is_none()) {
                addr = rest.split('/').next().and_then(|a| a.parse().ok());
            }
            if let Some(rest) = word.strip_prefix("http://").filter(|_| line.trim_start().starts_with("control:")) {
                control = rest.split('/').next().and_then(|a| a.parse().ok());
            }
        }
        if let (Some(a), Some(c)) = (addr, control) {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok((a, c));
        }
    }
    bail!("the mock process ended before printing its addresses")
}

/// A control API that answered, but not with a 2xx: it will not change its mind on its own.
#[derive(Debug, thiserror::Error)]
#[error("{request} answered {status}: {body}")]
pub struct Refused {
    /// Method and path.
    pub request: String,
    /// The HTTP status.
    pub status: u16,
    /// The body of the answer.
    pub body: String,
}

/// One HTTP/1.1 request to the control API; the body of a 2xx answer.
async fn request(control: &ControlApi, method: &str, path: &str, body: &str) -> Result<String> {
    let addr = control.addr;
    let auth = control.token.as_ref().map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(body.as_bytes()).await?;
        let mut response = String::new();
        tcp.read_to_string(&mut response).await?;
        Ok::<String, std::io::Error>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .context("the mock's control API did not answer")??;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    if !(200..300).contains(&status) {
        return Err(Refused { request: format!("{method} {path}"), status, body: body.to_owned() }.into());
    }
    Ok(body.to_owned())
}
