//! An external cohort during a run. The load driver hands each client's commands to a [`Link`]; one task
//! per process owns the process, its clients' [`Accounting`] and its figures: it forwards the commands,
//! accounts the deliveries, turns the mock's record of its clients' connections into the recorder's events
//! (through [`Truth`], fed by one router task that drains the mock's peer log), samples the process's
//! memory and CPU once a second, and at the end asks each client for its metrics, stops the process and
//! ends the accounting as of the run's end. Whatever the process does comes back as a report against its
//! cohort.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::adapter::account::Accounting;
use crate::adapter::launch::Started;
use crate::adapter::process::ProcessEvent;
use crate::adapter::protocol::{self, Report};
use crate::adapter::truth::{Peer, Seen, Truth};
use crate::load::driver::{Host, Hosts, source_address};
use crate::manager::audience::RunContext;
use crate::manager::settings::ManagerKind;
use crate::manager::{ClientSpec, Command};
use crate::mock::MockServer;
use crate::mock::time::{Micros, now_micros};
use crate::record::event::{AttemptOutcome, ConnectionEnd, Event};
use crate::record::external::ProcessReport;

/// How often deliveries go to the recorder and the peer log is drained.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// How long a process has to answer `stop` (flush its deliveries, close its sockets).
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// How long a process has to answer its clients' `metrics` (a manager without `getMetrics()` answers
/// nothing: the wait then ends here, and its own counts are not compared).
const METRICS_WITHIN: Duration = Duration::from_secs(2);

/// How long a process must have had no command and the mock's record of its clients no change before their
/// manager's own counts are asked for (a connection opening then is open in the mock before the manager
/// sees it open; a subscribe just sent is a connection about to open).
const QUIET: Duration = Duration::from_millis(500);

/// How long a process task waits for that stillness at the end (a manager still reconnecting is asked
/// for its metrics then anyway).
const QUIET_WITHIN: Duration = Duration::from_secs(3);

/// How long, after its process ended, a task waits for the mock to see its clients' sockets close.
const CLOSES_WITHIN: Duration = Duration::from_secs(3);

/// What a process task is told.
#[derive(Debug)]
enum Order {
    /// A client starts (at its ramp-up offset).
    Start { client: u32, source: IpAddr },
    /// One of a client's commands.
    Command { client: u32, command: Command },
    /// What the mock recorded of one of its clients' connections.
    Peer { client: u32, seen: Seen },
}

/// Where the load driver sends one external client's commands: its process's task.
#[derive(Debug, Clone)]
pub struct Link(mpsc::UnboundedSender<Order>);

impl Link {
    /// Starts the client in its process, then forwards its commands until the driver is done with it.
    async fn forward(self, spec: ClientSpec, mut commands: mpsc::Receiver<Command>) {
        let client = spec.client;
        if self.0.send(Order::Start { client, source: spec.source }).is_err() {
            return;
        }
        while let Some(command) = commands.recv().await {
            if self.0.send(Order::Command { client, command }).is_err() {
                return;
            }
        }
    }
}

impl Host for Link {
    fn run(&self, spec: ClientSpec, commands: mpsc::Receiver<Command>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.clone().forward(spec, commands))
    }
}

/// The external cohorts of a run, running.
pub struct ExternalRun {
    /// Each external client's host, by its index in the run.
    pub hosts: Hosts,
    tasks: JoinSet<()>,
    router_stop: CancellationToken,
}

impl ExternalRun {
    /// Starts a task per process and the router over `mock`'s peer log.
    pub fn start(started: Vec<Started>, ctx: Arc<RunContext>, mock: MockServer) -> Self {
        let start = now_micros().saturating_sub(ctx.start.elapsed().as_micros() as Micros);
        let mut links: Hosts = HashMap::new();
        let mut routes = HashMap::new();
        let mut tasks = JoinSet::new();
        for one in started {
            let (tx, rx) = mpsc::unbounded_channel();
            for client in &one.clients {
                links.insert(*client, Arc::new(Link(tx.clone())) as Arc<dyn Host>);
                routes.insert(source_address(*client), (Peer { cohort: one.cohort.id, client: *client }, tx.clone()));
            }
            tasks.spawn(run_process(one, ctx.clone(), rx, (mock.clone(), start)));
        }
        let router_stop = CancellationToken::new();
        tokio::spawn(route(mock, routes, Truth::new(start), router_stop.clone()));
        ExternalRun { hosts: links, tasks, router_stop }
    }

    /// Waits for every process task (they end once the run is cancelled and their process stopped), then
    /// stops the router.
    pub async fn finish(mut self) {
        self.hosts.clear();
        while self.tasks.join_next().await.is_some() {}
        self.router_stop.cancel();
    }
}

/// Drains the mock's peer log every [`FLUSH_EVERY`] and hands each entry of an external client to its
/// process's task, converted.
async fn route(
    mock: MockServer,
    routes: HashMap<IpAddr, (Peer, mpsc::UnboundedSender<Order>)>,
    mut truth: Truth,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(FLUSH_EVERY / 2);
    let mut overflow_told = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (entries, overflowed) = mock.drain_peer_log();
        if overflowed > 0 && !overflow_told {
            overflow_told = true;
            tracing::warn!("the mock's peer log overflowed: {overflowed} entries of external clients were not kept");
        }
        for entry in entries {
            let Some((peer, tx)) = routes.get(&entry.ip) else { continue };
            let seen = truth.see(*peer, entry);
            if tx.send(Order::Peer { client: peer.client, seen }).is_err() {
                // A task that has ended no longer needs its clients' entries.
                tracing::debug!("client {}: its process's task has ended", peer.client);
            }
        }
    }
}

/// The state of one process's task.
struct ProcessTask {
    one: Started,
    ctx: Arc<RunContext>,
    accounting: Accounting,
    /// Connections the mock has open per client.
    open: HashMap<u32, i64>,
    /// Each client's metrics, as last reported.
    metrics: HashMap<u32, serde_json::Value>,
    alive: bool,
    /// Whether the run has ended: the driver's commands that still arrive (a churn step racing the end) are
    /// not the run's, and are not sent.
    ending: bool,
    /// Whether it answered `stop`.
    stopped: bool,
    /// Retries the mock's record showed for its clients.
    retries_seen: u64,
    /// When it last sent its process a command or the mock's record of its clients last changed.
    last_change: tokio::time::Instant,
    mock: MockServer,
    start: Micros,
}

async fn run_process(
    one: Started,
    ctx: Arc<RunContext>,
    mut orders: mpsc::UnboundedReceiver<Order>,
    (mock, start): (MockServer, Micros),
) {
    let accounting = Accounting::new(one.cohort.id, ctx.freshness.clone(), ctx.settle, start);
    let (open, metrics) = (HashMap::new(), HashMap::new());
    let (alive, ending, stopped, retries_seen) = (true, false, false, 0);
    let last_change = tokio::time::Instant::now();
    let mut task = ProcessTask {
        one,
        ctx,
        accounting,
        open,
        metrics,
        alive,
        ending,
        stopped,
        retries_seen,
        last_change,
        mock,
        start,
    };
    task.sample().await;
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let cancel = task.ctx.cancel.clone();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            order = orders.recv() => match order {
                Some(order) => task.order(order).await,
                None => break,
            },
            event = task.one.process.next(), if task.alive => task.event(event).await,
            _ = flush.tick() => task.flush().await,
            _ = second.tick() => task.sample().await,
        }
    }
    let ended = now_micros();
    task.accounting.close_at(ended);
    task.stop(&mut orders).await;
    task.finish(ended, &mut orders).await;
}

impl ProcessTask {
    fn cohort(&self) -> usize {
        self.one.cohort.id
    }

    async fn report(&self, report: ProcessReport) {
        self.ctx.report(Event::Process { cohort: self.cohort(), report: Box::new(report) }).await;
    }

    async fn order(&mut self, order: Order) {
        let now = now_micros();
        if self.ending && !matches!(order, Order::Peer { .. }) {
            return;
        }
        self.last_change = tokio::time::Instant::now();
        match order {
            Order::Start { client, source } => {
                let implementation = self.one.manager.implementation.clone();
                let source = source.to_string();
                self.one.process.send(protocol::Command::Client { client, source, implementation });
            }
            Order::Command { client, command: Command::Subscribe { subscriber, stream } } => {
                self.accounting.subscribed(client, subscriber, &stream, now);
                self.one.process.send(protocol::Command::Subscribe { client, subscriber, stream });
            }
            Order::Command { client, command: Command::Unsubscribe { subscriber, stream } } => {
                self.accounting.unsubscribed(client, subscriber, &stream, now);
                self.one.process.send(protocol::Command::Unsubscribe { client, subscriber, stream });
            }
            Order::Peer { client, seen } => self.peer(client, seen).await,
        }
    }

    async fn peer(&mut self, client: u32, seen: Seen) {
        match seen {
            Seen::Attempt(event) => {
                if let Event::Attempt { outcome, retry, .. } = &event {
                    if *outcome == AttemptOutcome::Connected {
                        *self.open.entry(client).or_default() += 1;
                    }
                    self.retries_seen += u64::from(*retry);
                }
                self.ctx.report(event).await;
            }
            Seen::Closed { end, at, streams } => {
                *self.open.entry(client).or_default() -= 1;
                let per_subscription = self.one.manager.implements == ManagerKind::Legacy;
                let subscriptions = match end {
                    ConnectionEnd::Local => 0,
                    _ => self.accounting.dropped(client, &streams, at, per_subscription),
                };
                let at = Duration::from_micros(at.saturating_sub(self.start));
                self.ctx.report(Event::Ended { cohort: self.cohort(), at, end, subscriptions }).await;
            }
        }
    }

    async fn event(&mut self, event: Option<ProcessEvent>) {
        match event {
            Some(ProcessEvent::Report(report)) => self.reported(report).await,
            Some(ProcessEvent::Garbage(problem)) => {
                self.report(ProcessReport::Garbage { process: self.one.index, problem: problem.to_string() }).await;
            }
            Some(ProcessEvent::Ended { code, stderr }) => {
                self.alive = false;
                let what = match code {
                    Some(code) => format!("it exited with code {code} during the run"),
                    None => "it was killed by a signal (or closed its stdout) during the run".to_owned(),
                };
                let name = self.one.process.name.clone();
                self.report(ProcessReport::Failed { process: self.one.index, name, what, stderr }).await;
            }
            None => self.alive = false,
        }
    }

    async fn reported(&mut self, report: Report) {
        match report {
            Report::Deliveries { client, rows } => {
                for event in self.accounting.recovered(client, &rows) {
                    self.ctx.report(event).await;
                }
                self.accounting.delivered(client, &rows);
            }
            Report::Metrics { client, metrics } => {
                self.metrics.insert(client, metrics);
            }
            Report::Error { subscriber: Some(_), .. } => {
                let at = self.ctx.now();
                self.ctx.report(Event::GaveUp { cohort: self.cohort(), at, subscribers: 1 }).await;
            }
            Report::Error { .. } => self.ctx.report(Event::Error { cohort: self.cohort(), kind: "manager" }).await,
            Report::Lag { p99_us, max_us } => {
                self.report(ProcessReport::Lag { process: self.one.index, p99_us, max_us }).await;
            }
            Report::Stopped => self.stopped = true,
            Report::Status { .. } => {}
            Report::Ready { .. } => {
                let problem = "a second \"ready\" report".to_owned();
                self.report(ProcessReport::Garbage { process: self.one.index, problem }).await;
            }
        }
    }

    async fn flush(&mut self) {
        if let Some(sample) = self.accounting.take() {
            self.ctx.report(Event::Deliveries(Box::new(sample))).await;
        }
        let routing = std::mem::take(&mut self.accounting.routing_errors);
        if routing > 0 {
            self.report(ProcessReport::RoutingErrors { count: routing }).await;
        }
    }

    async fn sample(&self) {
        let process = &self.one.process;
        if let (Some(rss_kib), Some(cpu_ms)) = (process.rss_kib(), process.cpu_ms()) {
            let at = self.ctx.now();
            let (process, clients) = (self.one.index, self.one.clients.len() as u32);
            self.report(ProcessReport::Sample { process, at, rss_kib, cpu_ms, clients }).await;
        }
    }

    /// Asks every client for its metrics and compares them with the mock's count of the clients'
    /// connections as soon as all have answered, then stops the process; reads what it still says
    /// (deliveries in flight included) until it answers `stopped` or [`STOP_WITHIN`] passes (both steps
    /// together), and kills it then.
    async fn stop(&mut self, orders: &mut mpsc::UnboundedReceiver<Order>) {
        self.ending = true;
        if !self.alive {
            return;
        }
        self.sample().await;
        // A full stretch of stillness after the end, whatever came before it.
        self.last_change = tokio::time::Instant::now();
        let settled = self.quiet(orders).await;
        self.metrics.clear();
        for client in &self.one.clients {
            self.one.process.send(protocol::Command::Metrics { client: *client });
        }
        let clients = self.one.clients.len();
        let deadline = tokio::time::Instant::now() + METRICS_WITHIN;
        self.serve_until(orders, deadline, |task| task.metrics.len() >= clients).await;
        self.self_reported(settled).await;
        self.one.process.send(protocol::Command::Stop);
        let deadline = tokio::time::Instant::now() + STOP_WITHIN;
        let stopped = self.serve_until(orders, deadline, |task| task.stopped).await;
        if !stopped && self.alive {
            let name = self.one.process.name.clone();
            let what = format!("it did not answer \"stop\" within {STOP_WITHIN:?} and was killed");
            let stderr = self.one.process.stderr_tail();
            self.report(ProcessReport::Failed { process: self.one.index, name, what, stderr }).await;
        }
        self.one.process.kill().await;
        self.alive = false;
    }

    /// Handles orders and the process's reports until nothing has changed for [`QUIET`], at most
    /// [`QUIET_WITHIN`]; whether it got that still.
    async fn quiet(&mut self, orders: &mut mpsc::UnboundedReceiver<Order>) -> bool {
        let deadline = tokio::time::Instant::now() + QUIET_WITHIN;
        while self.alive {
            let still = self.last_change + QUIET;
            let now = tokio::time::Instant::now();
            if still <= now {
                return true;
            }
            if deadline <= now {
                return false;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(still.min(deadline)) => {}
                Some(order) = orders.recv() => self.order(order).await,
                event = self.one.process.next() => self.event(event).await,
            }
        }
        false
    }

    /// Handles orders and the process's reports until `done` holds, the process ends or `deadline` passes;
    /// whether `done` held.
    async fn serve_until(
        &mut self,
        orders: &mut mpsc::UnboundedReceiver<Order>,
        deadline: tokio::time::Instant,
        done: impl Fn(&Self) -> bool,
    ) -> bool {
        while !done(self) && self.alive {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                Some(order) = orders.recv() => self.order(order).await,
                event = self.one.process.next() => self.event(event).await,
            }
        }
        done(self)
    }

    /// The manager's own counts beside the mock's: the connections the mock has open now (just after the
    /// last client answered) from the clients that answered, and the retries the mock's record showed;
    /// `settled`: whether nothing had changed for [`QUIET`] before they were asked.
    async fn self_reported(&self, settled: bool) {
        if self.metrics.is_empty() {
            return;
        }
        let field = |names: &[&str]| -> Option<u64> {
            let values: Vec<u64> =
                self.metrics.values().filter_map(|m| names.iter().find_map(|n| m.get(*n)?.as_u64())).collect();
            (!values.is_empty()).then(|| values.iter().sum())
        };
        let active_connections = field(&["activeConnections", "active_connections"]);
        let retries = field(&["retryCount", "reconnectAttempts", "retries"]);
        let sources: HashSet<IpAddr> = self.metrics.keys().map(|c| source_address(*c)).collect();
        let mock_open = self.mock.connections().iter().filter(|c| sources.contains(&c.peer.ip())).count() as u64;
        let (process, mock_retries) = (self.one.index, self.retries_seen);
        let report =
            ProcessReport::SelfReported { process, active_connections, retries, mock_open, mock_retries, settled };
        self.report(report).await;
    }

    /// Waits (bounded) for the mock to see the clients' sockets close, then ends the accounting as of
    /// `ended` and hands over the last samples.
    async fn finish(&mut self, ended: Micros, orders: &mut mpsc::UnboundedReceiver<Order>) {
        let deadline = tokio::time::Instant::now() + CLOSES_WITHIN;
        while self.open.values().any(|n| *n > 0) {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                order = orders.recv() => match order {
                    Some(order) => self.order(order).await,
                    None => break,
                },
            }
        }
        for event in self.accounting.finish(ended) {
            self.ctx.report(event).await;
        }
        self.flush().await;
    }
}
