//! The recorder's view of a rollout rehearsal: per step and cohort, the counts the rollback triggers read
//! (attempts, failures, errors, fallbacks, latency), and per step the handovers' totals. Owned by the
//! recorder task like every other aggregate; the rehearsal controller asks for a step's figures when it
//! judges the step.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::record::event::{
    AttemptOutcome, CohortId, Event, HandoverPhase, HandoverReport, add_histogram, latency_histogram,
};

/// One cohort's counts within one step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepCounts {
    /// Connection attempts.
    pub attempts: u64,
    /// Attempts that upgraded.
    pub connected: u64,
    /// Subscribers that received a give-up error.
    pub give_up_subscribers: u64,
    /// Protocol errors.
    pub errors: u64,
    /// Unified clients that fell back to legacy.
    pub fallbacks: u64,
    /// Delivery latency (µs).
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub latency: Histogram<u64>,
    /// Failed attempts per second of the step (health checks).
    pub failed_by_second: Vec<(u64, u64)>,
}

impl Default for StepCounts {
    fn default() -> Self {
        StepCounts {
            attempts: 0,
            connected: 0,
            give_up_subscribers: 0,
            errors: 0,
            fallbacks: 0,
            latency: latency_histogram(),
            failed_by_second: Vec::new(),
        }
    }
}

/// Every handover of one step (or of the rollback).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoverTotals {
    /// Clients moved.
    pub clients: u64,
    /// Clients whose every subscription received on the new manager in time.
    pub clients_preserved: u64,
    /// Subscriptions moved.
    pub subscriptions: u64,
    /// Subscriptions that received on the new manager in time.
    pub subscriptions_preserved: u64,
    /// Sequence ids between the old manager's last message and the new one's first (consecutive streams).
    pub lost: u64,
    /// Sequence ids delivered by both managers (the overlap of make-before-break).
    pub duplicated: u64,
    /// Time without data per moved subscription (µs).
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub without_data: Histogram<u64>,
    /// Time from the start of a client's handover to its last subscription receiving (µs).
    #[serde(with = "crate::vocab::serialize::histogram")]
    pub took: Histogram<u64>,
    /// When the last handover completed (run clock).
    pub last_done: Duration,
}

impl Default for HandoverTotals {
    fn default() -> Self {
        HandoverTotals {
            clients: 0,
            clients_preserved: 0,
            subscriptions: 0,
            subscriptions_preserved: 0,
            lost: 0,
            duplicated: 0,
            without_data: latency_histogram(),
            took: latency_histogram(),
            last_done: Duration::ZERO,
        }
    }
}

impl StepCounts {
    /// Adds another shard's counts of the same step and cohort.
    pub fn absorb(&mut self, other: &StepCounts) {
        self.attempts += other.attempts;
        self.connected += other.connected;
        self.give_up_subscribers += other.give_up_subscribers;
        self.errors += other.errors;
        self.fallbacks += other.fallbacks;
        add_histogram(&mut self.latency, &other.latency);
        if self.failed_by_second.len() < other.failed_by_second.len() {
            self.failed_by_second.resize(other.failed_by_second.len(), (0, 0));
        }
        for (into, (attempts, failed)) in self.failed_by_second.iter_mut().zip(&other.failed_by_second) {
            into.0 += attempts;
            into.1 += failed;
        }
    }
}

impl HandoverTotals {
    /// Adds another shard's handovers of the same step.
    pub fn absorb(&mut self, other: &HandoverTotals) {
        self.clients += other.clients;
        self.clients_preserved += other.clients_preserved;
        self.subscriptions += other.subscriptions;
        self.subscriptions_preserved += other.subscriptions_preserved;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        add_histogram(&mut self.without_data, &other.without_data);
        add_histogram(&mut self.took, &other.took);
        self.last_done = self.last_done.max(other.last_done);
    }

    fn add(&mut self, report: &HandoverReport) {
        self.clients += 1;
        self.clients_preserved += u64::from(report.preserved == report.subscriptions);
        self.subscriptions += u64::from(report.subscriptions);
        self.subscriptions_preserved += u64::from(report.preserved);
        self.lost += report.lost;
        self.duplicated += report.duplicated;
        for (gap, subscribers) in &report.without_data {
            self.without_data.saturating_record_n((gap.as_micros() as u64).max(1), u64::from(*subscribers).max(1));
        }
        self.took.saturating_record((report.took.as_micros() as u64).max(1));
        self.last_done = self.last_done.max(report.at + report.took);
    }
}

/// A step's figures for one cohort, as the controller asks for them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepFigures {
    /// The cohort's counts in the step.
    pub counts: StepCounts,
    /// The step's handovers.
    pub handovers: HandoverTotals,
}

impl StepFigures {
    /// Adds another shard's figures of the same step and cohort.
    pub fn absorb(&mut self, other: &StepFigures) {
        self.counts.absorb(&other.counts);
        self.handovers.absorb(&other.handovers);
    }
}

/// The controller's question: step `step`'s figures for `cohort`.
#[derive(Debug)]
pub struct StepQuery {
    /// Step index.
    pub step: usize,
    /// Cohort asked about.
    pub cohort: CohortId,
    /// Where the answer goes.
    pub reply: oneshot::Sender<StepFigures>,
}

/// Everything recorded per step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepLog {
    starts: Vec<Duration>,
    /// Per step, per cohort.
    pub counts: Vec<Vec<StepCounts>>,
    /// Per step.
    pub handovers: Vec<HandoverTotals>,
    /// The rollback's handovers.
    pub rollback: HandoverTotals,
}

impl StepLog {
    /// A log for steps starting at `starts`, with `cohorts` cohorts.
    pub fn new(starts: Vec<Duration>, cohorts: usize) -> StepLog {
        let n = starts.len();
        StepLog {
            starts,
            counts: vec![vec![StepCounts::default(); cohorts]; n],
            handovers: vec![HandoverTotals::default(); n],
            rollback: HandoverTotals::default(),
        }
    }

    /// Adds another shard's log of the same run, step by step and cohort by cohort (an empty log takes
    /// the other's).
    pub fn absorb(&mut self, other: &StepLog) {
        if self.starts.is_empty() && self.counts.is_empty() {
            self.clone_from(other);
            return;
        }
        for (into, step) in self.counts.iter_mut().zip(&other.counts) {
            for (into, cohort) in into.iter_mut().zip(step) {
                into.absorb(cohort);
            }
        }
        for (into, step) in self.handovers.iter_mut().zip(&other.handovers) {
            into.absorb(step);
        }
        self.rollback.absorb(&other.rollback);
    }

    fn step_of(&self, at: Duration) -> Option<usize> {
        self.starts.iter().rposition(|start| *start <= at)
    }

    fn counts(&mut self, cohort: CohortId, at: Duration) -> Option<(&mut StepCounts, Duration)> {
        let step = self.step_of(at)?;
        let since = at.saturating_sub(self.starts[step]);
        self.counts.get_mut(step)?.get_mut(cohort).map(|c| (c, since))
    }

    /// Takes what the triggers read from an event; `now` dates the events that carry no time.
    pub fn observe(&mut self, event: &Event, now: Duration) {
        match event {
            Event::Attempt { cohort, at, outcome, .. } => {
                if let Some((c, since)) = self.counts(*cohort, *at) {
                    let connected = *outcome == AttemptOutcome::Connected;
                    c.attempts += 1;
                    c.connected += u64::from(connected);
                    let second = since.as_secs() as usize;
                    if c.failed_by_second.len() <= second {
                        c.failed_by_second.resize(second + 1, (0, 0));
                    }
                    c.failed_by_second[second].0 += 1;
                    c.failed_by_second[second].1 += u64::from(!connected);
                }
            }
            Event::GaveUp { cohort, at, subscribers } => {
                if let Some((c, _)) = self.counts(*cohort, *at) {
                    c.give_up_subscribers += u64::from(*subscribers);
                }
            }
            Event::Error { cohort, .. } => {
                if let Some((c, _)) = self.counts(*cohort, now) {
                    c.errors += 1;
                }
            }
            Event::Fallback { cohort, at } => {
                if let Some((c, _)) = self.counts(*cohort, *at) {
                    c.fallbacks += 1;
                }
            }
            Event::Deliveries(sample) => {
                if let Some((c, _)) = self.counts(sample.cohort, now) {
                    for l in &sample.latencies {
                        c.latency.saturating_record_n(u64::from(l.latency_us), u64::from(l.subscribers));
                    }
                }
            }
            Event::Handover(report) => match report.phase {
                HandoverPhase::Step(step) => {
                    if let Some(totals) = self.handovers.get_mut(step) {
                        totals.add(report);
                    }
                }
                HandoverPhase::Rollback => self.rollback.add(report),
            },
            _ => {}
        }
    }

    /// Answers a controller's question.
    pub fn answer(&self, query: StepQuery) {
        let counts = self.counts.get(query.step).and_then(|s| s.get(query.cohort)).cloned().unwrap_or_default();
        let handovers = self.handovers.get(query.step).cloned().unwrap_or_default();
        if query.reply.send(StepFigures { counts, handovers }).is_err() {
            tracing::debug!("the rehearsal controller stopped before its answer");
        }
    }
}
