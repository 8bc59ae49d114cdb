//! When a run's clients start: at once, at a given instant (`--start-at`), when the parent of `--processes`
//! says on stdin (`--start-on-stdin`), or when every shard of the run has arrived at the shared mock's start
//! barrier (`--barrier`, for shards no one parent starts: the pods of a Kubernetes Job).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};

use crate::chaos::barrier::Arrival;
use crate::cli::RunArgs;
use crate::commands::process::StopSignals;
use crate::load::shard::Shard;
use crate::mock::process::ControlApi;

/// How often a shard asks the barrier whether every shard has arrived.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// How long a shard waits at the barrier for the others (pods being scheduled, images pulled).
const BARRIER_WITHIN: Duration = Duration::from_secs(900);

/// Between the last arrival and the start: every shard has heard of it by then (it polls every
/// [`POLL_EVERY`]).
const BARRIER_LEAD: Duration = Duration::from_secs(2);

/// When a run's clients start.
#[derive(Debug, Clone)]
pub(super) enum StartGate {
    /// At once.
    Now,
    /// At this instant (`--start-at`).
    At(SystemTime),
    /// When the parent of `--processes` says, once every shard is ready (`--start-on-stdin`).
    Parent,
    /// When every shard has arrived at the barrier of the mock behind this control API (`--barrier`).
    Mock(ControlApi, Shard),
}

impl StartGate {
    /// The gate the flags ask for; `control` is the run's `--control`.
    pub(super) fn of(args: &RunArgs, control: Option<ControlApi>) -> StartGate {
        match (args.start_at, args.start_on_stdin, args.barrier, control, args.shard) {
            (Some(at), ..) => StartGate::At(at),
            (None, true, ..) => StartGate::Parent,
            (None, false, true, Some(control), Some(shard)) => StartGate::Mock(control, shard),
            _ => StartGate::Now,
        }
    }
}

/// Waits for the gate and returns the instant it named (a start instant that has passed starts at once,
/// which the shard's start time then shows); `Ok(None)` when Ctrl-C or SIGTERM came first, or the parent
/// went away.
pub(super) async fn wait_for_start(stop: &mut StopSignals, gate: StartGate) -> Result<Option<Option<SystemTime>>> {
    let at = match gate {
        StartGate::Now => return Ok(Some(None)),
        StartGate::At(at) => at,
        StartGate::Parent => match until_stopped(stop, parent()).await.flatten() {
            Some(at) => at,
            None => return Ok(None),
        },
        StartGate::Mock(control, shard) => match until_stopped(stop, at_the_barrier(&control, shard)).await {
            Some(at) => at?,
            None => return Ok(None),
        },
    };
    match at.duration_since(SystemTime::now()) {
        Ok(wait) => {
            if until_stopped(stop, tokio::time::sleep(wait)).await.is_none() {
                return Ok(None);
            }
        }
        Err(late) => {
            eprintln!("wschaos run: the start instant passed {} ms ago; starting now", late.duration().as_millis());
        }
    }
    Ok(Some(Some(at)))
}

/// Says `ready` on stdout and reads `start MS` from stdin, on a thread of its own so that a signal is
/// heard meanwhile (`None` when stdin ends or says anything else).
async fn parent() -> Option<SystemTime> {
    use std::io::{BufRead, Write};
    let (done, said) = tokio::sync::oneshot::channel();
    let reading = std::thread::Builder::new().name("start-barrier".into()).spawn(move || {
        let mut stdout = std::io::stdout().lock();
        if stdout.write_all(b"ready\n").and_then(|()| stdout.flush()).is_err() {
            return;
        }
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_ok() {
            done.send(line).ok();
        }
    });
    reading.ok()?;
    let line = said.await.ok()?;
    let ms: u64 = line.trim().strip_prefix("start ")?.parse().ok()?;
    Some(UNIX_EPOCH + Duration::from_millis(ms))
}

/// Arrives at the mock's barrier and asks again every [`POLL_EVERY`] until it names the start, at most
/// [`BARRIER_WITHIN`]; a mock not answering yet (its pod still starting) is asked again too.
async fn at_the_barrier(control: &ControlApi, shard: Shard) -> Result<SystemTime> {
    let arrival = Arrival { party: shard.index, parties: shard.count, lead_ms: BARRIER_LEAD.as_millis() as u64 };
    let polls = BARRIER_WITHIN.as_millis() / POLL_EVERY.as_millis();
    let mut unreachable = None;
    for _ in 0..polls {
        match crate::mock::process::arrive(control, &arrival).await {
            Ok(state) => {
                if let Some(ms) = state.start_unix_ms {
                    return Ok(UNIX_EPOCH + Duration::from_millis(ms));
                }
                unreachable = None;
            }
            // A refusal (another run's barrier, a wrong token) is final; a mock not up yet is not.
            Err(e) if e.is::<crate::mock::process::Refused>() => {
                return Err(e).with_context(|| format!("shard {shard} at the start barrier of {}", control.addr));
            }
            Err(e) => unreachable = Some(e),
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    let why = unreachable.map_or_else(|| "not every shard arrived".to_owned(), |e| format!("{e:#}"));
    Err(anyhow!(
        "shard {shard}: no start from the barrier at {} within {} s: {why}",
        control.addr,
        BARRIER_WITHIN.as_secs()
    ))
}

/// `work`, unless Ctrl-C or SIGTERM comes first (`None`).
pub(super) async fn until_stopped<T>(stop: &mut StopSignals, work: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::select! {
        done = work => Some(done),
        _ = stop.recv() => None,
    }
}
