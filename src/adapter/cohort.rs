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

use std::sync::Mutex;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::adapter::account::Accounting;
use crate::adapter::launch::Started;
use crate::adapter::migration::Migrations;
use crate::adapter::process::ProcessEvent;
use crate::adapter::protocol::{self, Report, Side};
use crate::adapter::truth::{Peer, Seen, Truth};
use crate::load::driver::{Host, Hosts, Move, source_address};
use crate::manager::audience::RunContext;
use crate::manager::settings::ManagerKind;
use crate::manager::{ClientSpec, Command};
use crate::mock::MockServer;
use crate::mock::time::{Micros, now_micros};
use crate::record::event::{AttemptOutcome, CohortId, ConnectionEnd, Event, HandoverReport};
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
    /// A client starts (at its ramp-up offset) on `cohort`.
    Start { client: u32, source: IpAddr, cohort: CohortId },
    /// One of a client's commands.
    Command { client: u32, command: Command },
    /// A client moves to the other side of its migration layer.
    Migrate { client: u32, moving: Move, reply: oneshot::Sender<HandoverReport> },
    /// What the mock recorded of one of its clients' connections.
    Peer { client: u32, seen: Seen },
}

/// A client's moves, waiting to be forwarded after its commands.
type Moves = mpsc::UnboundedSender<(Move, oneshot::Sender<HandoverReport>)>;

/// Where the load driver sends one external client's commands: its process's task.
#[derive(Debug, Clone)]
pub struct Link {
    orders: mpsc::UnboundedSender<Order>,
    /// Each running client's moves, when its process runs a migration layer (`None`: it runs none).
    moves: Option<Arc<Mutex<HashMap<u32, Moves>>>>,
}

impl Link {
    /// Starts the client in its process, then forwards its commands and moves, in the order they were
    /// made, until the driver is done with it.
    async fn forward(
        self,
        spec: ClientSpec,
        mut commands: mpsc::Receiver<Command>,
        mut moves: mpsc::UnboundedReceiver<(Move, oneshot::Sender<HandoverReport>)>,
    ) {
        let client = spec.client;
        if self.orders.send(Order::Start { client, source: spec.source, cohort: spec.cohort }).is_err() {
            return;
        }
        loop {
            // A move is asked for after the commands sent before it, which are queued by then: commands first.
            let order = tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(command) => Order::Command { client, command },
                    None => break,
                },
                Some((moving, reply)) = moves.recv() => Order::Migrate { client, moving, reply },
            };
            if self.orders.send(order).is_err() {
                break;
            }
        }
        if let Some(all) = &self.moves {
            all.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&client);
        }
    }
}

impl Host for Link {
    fn run(&self, spec: ClientSpec, commands: mpsc::Receiver<Command>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        // Registered before the future first runs, so a move asked for at once is not lost.
        let (moves_tx, moves) = mpsc::unbounded_channel();
        if let Some(all) = &self.moves {
            all.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(spec.client, moves_tx);
        }
        Box::pin(self.clone().forward(spec, commands, moves))
    }

    fn migrate(&self, client: u32, moving: Move) -> Option<oneshot::Receiver<HandoverReport>> {
        let (reply, answer) = oneshot::channel();
        let all = self.moves.as_ref()?.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.get(&client)?.send((moving, reply)).ok()?;
        Some(answer)
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
    /// Starts a task per process and the router over `mock`'s peer log; `legacy_side`: in a rehearsal, the
    /// legacy cohort the processes' migration layers move their clients from and back to.
    pub fn start(started: Vec<Started>, ctx: Arc<RunContext>, mock: MockServer, legacy_side: Option<CohortId>) -> Self {
        let start = now_micros().saturating_sub(ctx.start.elapsed().as_micros() as Micros);
        let mut links: Hosts = HashMap::new();
        let mut routes = HashMap::new();
        let mut tasks = JoinSet::new();
        for one in started {
            let (tx, rx) = mpsc::unbounded_channel();
            let moves = legacy_side.map(|_| Arc::new(Mutex::new(HashMap::new())));
            for client in &one.clients {
                let link = Link { orders: tx.clone(), moves: moves.clone() };
                links.insert(*client, Arc::new(link) as Arc<dyn Host>);
                routes.insert(source_address(*client), (Peer { cohort: one.cohort.id, client: *client }, tx.clone()));
            }
            let sides = (legacy_side.unwrap_or(one.cohort.id), one.cohort.id);
            tasks.spawn(run_process(one, ctx.clone(), rx, (mock.clone(), start), sides));
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
    /// The accounting of each cohort its clients run in (two in a rehearsal: legacy, then the new side).
    accounts: HashMap<CohortId, Accounting>,
    /// Which side each client is on, its connections per side and its handovers.
    sides: Migrations,
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
    (legacy, new): (CohortId, CohortId),
) {
    let account = |cohort| (cohort, Accounting::new(cohort, ctx.freshness.clone(), ctx.settle, start));
    let accounts = HashMap::from([account(legacy), account(new)]);
    let sides = Migrations::new((legacy, new), start);
    let metrics = HashMap::new();
    let (alive, ending, stopped, retries_seen) = (true, false, false, 0);
    let last_change = tokio::time::Instant::now();
    let mut task = ProcessTask {
        one,
        ctx,
        accounts,
        sides,
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
    for accounting in task.accounts.values_mut() {
        accounting.close_at(ended);
    }
    task.stop(&mut orders).await;
    task.finish(ended, &mut orders).await;
}

impl ProcessTask {
    /// The process's own cohort (the new side in a rehearsal): its memory, CPU and lag are reported there.
    fn cohort(&self) -> usize {
        self.one.cohort.id
    }

    fn account(&mut self, cohort: CohortId) -> &mut Accounting {
        let (freshness, settle, start) = (self.ctx.freshness.clone(), self.ctx.settle, self.start);
        self.accounts.entry(cohort).or_insert_with(|| Accounting::new(cohort, freshness, settle, start))
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
            Order::Start { client, source, cohort } => {
                self.sides.started(client, cohort);
                let implementation = self.one.manager.implementation.clone();
                let source = source.to_string();
                let side = self.switches().then(|| self.sides.side_of(cohort));
                self.one.process.send(protocol::Command::Client { client, source, implementation, side });
            }
            Order::Command { client, command: Command::Subscribe { subscriber, stream } } => {
                let cohort = self.sides.cohort_of(client);
                self.account(cohort).subscribed(client, subscriber, &stream, now);
                self.one.process.send(protocol::Command::Subscribe { client, subscriber, stream });
            }
            Order::Command { client, command: Command::Unsubscribe { subscriber, stream } } => {
                let cohort = self.sides.cohort_of(client);
                self.account(cohort).unsubscribed(client, subscriber, &stream, now);
                self.one.process.send(protocol::Command::Unsubscribe { client, subscriber, stream });
            }
            Order::Migrate { client, moving, reply } => self.migrate(client, moving, reply, now).await,
            Order::Peer { client, seen } => self.peer(client, seen).await,
        }
    }

    async fn peer(&mut self, client: u32, seen: Seen) {
        match seen {
            Seen::Attempt(mut event) => {
                if let Event::Attempt { outcome, retry, cohort, .. } = &mut event {
                    *cohort = if *outcome == AttemptOutcome::Connected {
                        self.sides.opened(client)
                    } else {
                        self.sides.cohort_of(client)
                    };
                    self.retries_seen += u64::from(*retry);
                }
                self.ctx.report(event).await;
            }
            Seen::Closed { end, at, streams } => {
                let cohort = self.sides.closed(client);
                let legacy_side = cohort != self.cohort() || self.one.manager.implements == ManagerKind::Legacy;
                let subscriptions = match end {
                    ConnectionEnd::Local => 0,
                    _ => self.account(cohort).dropped(client, &streams, at, legacy_side),
                };
                let at = Duration::from_micros(at.saturating_sub(self.start));
                self.ctx.report(Event::Ended { cohort, client, at, end, subscriptions }).await;
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
            Report::Deliveries { client, rows, side } => {
                let cohort = self.sides.cohort_of_rows(client, side);
                for event in self.account(cohort).recovered(client, &rows) {
                    self.ctx.report(event).await;
                }
                self.account(cohort).delivered(client, &rows);
                self.sides.delivered(client, cohort, &rows);
                self.handovers_done(now_micros()).await;
            }
            Report::Migrated { client, to, .. } => self.migrated(client, to).await,
            Report::Metrics { client, metrics } => {
                self.metrics.insert(client, metrics);
            }
            Report::Error { client, subscriber: Some(_), .. } => {
                let (at, cohort) = (self.ctx.now(), self.sides.cohort_of(client));
                self.ctx.report(Event::GaveUp { cohort, at, subscribers: 1 }).await;
            }
            Report::Error { client, .. } => {
                let cohort = self.sides.cohort_of(client);
                self.ctx.report(Event::Error { cohort, kind: "manager" }).await;
            }
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
        self.handovers_done(now_micros()).await;
        let samples: Vec<_> = self.accounts.values_mut().filter_map(Accounting::take).collect();
        for sample in samples {
            self.ctx.report(Event::Deliveries(Box::new(sample))).await;
        }
        let routing: u64 = self.accounts.values_mut().map(|a| std::mem::take(&mut a.routing_errors)).sum();
        if routing > 0 {
            self.report(ProcessReport::RoutingErrors { count: routing }).await;
        }
    }

    /// Whether the process's clients run a migration layer (a rehearsal moves them by `migrate`).
    fn switches(&self) -> bool {
        self.accounts.len() > 1
    }

    /// Starts `client`'s move: its subscriptions begin on the side it moves to now (each owes what is
    /// published from now), and the process is told to flip its flag.
    async fn migrate(&mut self, client: u32, moving: Move, reply: oneshot::Sender<HandoverReport>, now: Micros) {
        let (to, from) = moving.cohorts;
        let held = self.account(from).subscriptions_of(client);
        let mut streams: HashMap<String, u32> = HashMap::new();
        for (subscriber, stream) in &held {
            self.account(to).subscribed(client, *subscriber, stream, now);
            *streams.entry(stream.clone()).or_default() += 1;
        }
        let command = protocol::Command::Migrate {
            client,
            to: self.sides.side_of(to),
            order: moving.order,
            deadline_ms: moving.deadline.as_millis() as u64,
        };
        self.sides.begin(client, moving, now, streams, reply);
        if self.alive {
            self.one.process.send(command);
        }
        self.handovers_done(now).await;
    }

    /// The process moved `client` to `to`: the subscriptions of the side it left end now. A reply naming
    /// the side the client is not on answers an earlier move, one the client was sent back from before
    /// it answered: the later move's reply ends the other side.
    async fn migrated(&mut self, client: u32, to: Side) {
        let now = now_micros();
        let on = self.sides.cohort_of(client);
        if !self.sides.is_on(client, to) {
            tracing::debug!("client {client}: a late \"migrated\" to {to:?}, from a move it was sent back from");
            return;
        }
        let left = *self.accounts.keys().find(|c| **c != on).unwrap_or(&on);
        if left != on {
            for (subscriber, stream) in self.account(left).subscriptions_of(client) {
                self.account(left).unsubscribed(client, subscriber, &stream, now);
            }
        }
        self.sides.migrated(client, now);
        self.handovers_done(now).await;
    }

    /// Reports the handovers done by `now` (every one, once the process has ended).
    async fn handovers_done(&mut self, now: Micros) {
        let reports = if self.alive { self.sides.done(now) } else { self.sides.end_all() };
        for report in reports {
            self.ctx.report(Event::Handover(Box::new(report))).await;
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
        while self.sides.any_open() {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                order = orders.recv() => match order {
                    Some(order) => self.order(order).await,
                    None => break,
                },
            }
        }
        // A handover the run's end cut short is measured as it stands, as a model's is.
        for report in self.sides.end_all() {
            self.ctx.report(Event::Handover(Box::new(report))).await;
        }
        let events: Vec<Event> = self.accounts.values_mut().flat_map(|a| a.finish(ended)).collect();
        for event in events {
            self.ctx.report(event).await;
        }
        self.flush().await;
    }
}
