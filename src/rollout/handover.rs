//! One client's handover between managers, the way a blue-green switch moves it: its state (which
//! subscribers hold which streams) is captured, the other manager opens what it needs and restores every
//! subscription, and the old connections close after the new ones receive (make-before-break) or before
//! (break-before-make). What the subscribers lost, got twice and waited is read from the two managers' taps.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::load::driver::{DriveContext, Placement, source_address, subscribe};
use crate::load::population::SubscriberPlan;
use crate::manager::settings::ManagerKind;
use crate::manager::tap::{StreamMarks, Tap};
use crate::manager::{ClientSpec, Command, run_client};
use crate::record::event::{CohortId, Event, HandoverPhase, HandoverReport};
use crate::rollout::plan::HandoverOrder;

/// A manager instance serving one client.
#[derive(Debug)]
pub struct Running {
    /// Its manager.
    pub kind: ManagerKind,
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
    tap: Arc<Tap>,
}

impl Running {
    /// Sends a command (subscribe, unsubscribe) to the manager.
    pub fn commands(&self) -> &mpsc::Sender<Command> {
        &self.commands
    }
}

/// Starts `kind` for the client in cohort `cohort` and subscribes every subscriber.
pub async fn start(
    ctx: &DriveContext,
    placement: &Placement,
    (kind, cohort): (ManagerKind, CohortId),
    subscribers: &[SubscriberPlan],
) -> Running {
    let tap = Arc::new(Tap::default());
    let spec = ClientSpec {
        cohort,
        kind,
        client: placement.global,
        source: source_address(placement.global),
        seed: crate::vocab::seed::derive(ctx.seed, placement.global as usize, u32::MAX),
        tap: Some(tap.clone()),
    };
    let (commands, receiver) = mpsc::channel(1024);
    let task = tokio::spawn(run_client(ctx.run.clone(), ctx.settings.clone(), spec, receiver));
    for subscriber in subscribers {
        subscribe(&commands, subscriber).await;
    }
    Running { kind, commands, task, tap }
}

/// Stops a manager (its connections close) and returns what it delivered first and last per stream.
pub async fn stop(running: Running) -> HashMap<String, StreamMarks> {
    let Running { commands, task, tap, .. } = running;
    drop(commands);
    if task.await.is_err() {
        tracing::warn!("a manager stopped with a panic during a handover");
    }
    tap.marks()
}

/// How a handover is done.
#[derive(Debug, Clone, Copy)]
pub struct Switch {
    /// Which move it belongs to.
    pub phase: HandoverPhase,
    /// Close the old connections after or before the new ones receive.
    pub order: HandoverOrder,
    /// How long the subscriptions have to receive on the new manager.
    pub deadline: Duration,
}

/// Hands the client over from `from` to `to`; the new manager and the handover's report.
pub async fn hand_over(
    ctx: &DriveContext,
    placement: &Placement,
    from: Running,
    to: (ManagerKind, CohortId),
    subscribers: &[SubscriberPlan],
    switch: Switch,
) -> (Running, HandoverReport) {
    let at = ctx.run.now();
    let began = Instant::now();
    let streams: Vec<String> = streams_of(subscribers).into_keys().collect();
    let (old, new, covered) = match switch.order {
        HandoverOrder::MakeBeforeBreak => {
            let new = start(ctx, placement, to, subscribers).await;
            let covered = receiving(ctx, &new, &streams, began + switch.deadline).await;
            (stop(from).await, new, covered)
        }
        HandoverOrder::BreakBeforeMake => {
            let old = stop(from).await;
            let new = start(ctx, placement, to, subscribers).await;
            let covered = receiving(ctx, &new, &streams, began + switch.deadline).await;
            (old, new, covered)
        }
    };
    if !covered {
        tracing::debug!("client {}: not every stream received within the handover deadline", placement.global);
    }
    let continuity = compare(&old, &new.tap.marks(), &streams_of(subscribers), at);
    let report = HandoverReport {
        phase: switch.phase,
        at,
        took: began.elapsed(),
        subscriptions: continuity.subscriptions,
        preserved: continuity.preserved,
        lost: continuity.lost,
        duplicated: continuity.duplicated,
        without_data: continuity.without_data,
    };
    ctx.run.report(Event::Handover(Box::new(report.clone()))).await;
    (new, report)
}

/// Waits until the new manager receives on every stream, the deadline, or the end of the run.
async fn receiving(ctx: &DriveContext, new: &Running, streams: &[String], deadline: Instant) -> bool {
    tokio::select! {
        covered = new.tap.wait_for(streams, deadline) => covered,
        _ = ctx.run.cancel.cancelled() => false,
    }
}

/// Subscriptions per stream.
fn streams_of(subscribers: &[SubscriberPlan]) -> HashMap<String, u32> {
    let mut streams = HashMap::new();
    for stream in subscribers.iter().flat_map(|s| s.streams.iter()) {
        *streams.entry(stream.clone()).or_insert(0) += 1;
    }
    streams
}

/// What the subscribers of a client saw across a handover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Continuity {
    /// Subscriptions moved.
    pub subscriptions: u32,
    /// Subscriptions the new manager delivered to.
    pub preserved: u32,
    /// Sequence ids neither manager delivered.
    pub lost: u64,
    /// Sequence ids both managers delivered.
    pub duplicated: u64,
    /// Time without data and the subscriptions that waited it.
    pub without_data: Vec<(Duration, u32)>,
}

/// Compares the old manager's last message with the new one's first, stream by stream; `began` is when the
/// handover started (the gap of a stream the old manager never delivered counts from there).
pub fn compare(
    old: &HashMap<String, StreamMarks>,
    new: &HashMap<String, StreamMarks>,
    streams: &HashMap<String, u32>,
    began: Duration,
) -> Continuity {
    let mut c = Continuity::default();
    for (stream, subscriptions) in streams {
        c.subscriptions += subscriptions;
        let Some(first) = new.get(stream).map(|m| m.first) else { continue };
        c.preserved += subscriptions;
        let last = old.get(stream).map(|m| m.last);
        let since = last.map_or(began, |l| l.at);
        c.without_data.push((first.at.saturating_sub(since), *subscriptions));
        if let (Some(last_id), Some(first_id)) = (last.and_then(|l| l.last_id), first.first_id) {
            c.lost += first_id.saturating_sub(last_id + 1);
            c.duplicated += (last_id + 1).saturating_sub(first_id);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::tap::Mark;

    fn marks(first: (u64, u64), last: (u64, u64)) -> StreamMarks {
        let mark = |(id, ms): (u64, u64)| Mark { first_id: Some(id), last_id: Some(id), at: Duration::from_millis(ms) };
        StreamMarks { first: mark(first), last: mark(last) }
    }

    #[test]
    fn an_overlap_duplicates_and_a_gap_loses() {
        let streams = HashMap::from([("a@trade".to_owned(), 3), ("b@trade".to_owned(), 1), ("c@trade".to_owned(), 2)]);
        let old = HashMap::from([
            ("a@trade".to_owned(), marks((1, 0), (100, 1000))),
            ("b@trade".to_owned(), marks((1, 0), (50, 1000))),
        ]);
        let new = HashMap::from([
            ("a@trade".to_owned(), marks((97, 900), (120, 1200))), // overlap: 97..=100 twice, no wait
            ("b@trade".to_owned(), marks((56, 1300), (60, 1400))), // gap: 51..=55 lost, 300 ms without data
        ]);
        let c = compare(&old, &new, &streams, Duration::from_millis(950));
        assert_eq!((c.subscriptions, c.preserved), (6, 4), "c@trade never arrived");
        assert_eq!((c.lost, c.duplicated), (5, 4));
        let mut waits = c.without_data.clone();
        waits.sort();
        assert_eq!(waits, [(Duration::ZERO, 3), (Duration::from_millis(300), 1)]);
    }
}
