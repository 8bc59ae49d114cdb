//! The handovers of an external migration layer's clients in a rehearsal: a client moves when its process
//! is told to flip its flag (`migrate`), and its deliveries, tagged with the side that made them, say what
//! the subscribers saw across the switch. Per client it keeps the side it is on, the connections the mock
//! has open for each side, the last delivery per stream and side, and the handover in progress; a handover
//! ends when the process said `migrated` and the new side has delivered on every moved stream, or at its
//! deadline, and is then measured the way a model's is ([`crate::rollout::handover::compare`]'s rules:
//! the old side's last message against the new side's first, per stream).
//!
//! The mock's record of a connection names its address, not its side: an attempt is the side the client is
//! on when it is seen, and a close is the old side's while that side still has connections open (the
//! old side closes its sockets once the new side receives). A connection of the new side dropped during
//! that overlap is counted as the old side's. Pure: the caller supplies every time.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::adapter::protocol::{DeliveryRow, Side};
use crate::load::driver::Move;
use crate::manager::tap::{Mark, StreamMarks};
use crate::mock::stream_name::{StreamKind, StreamSpec};
use crate::mock::time::Micros;
use crate::record::event::{CohortId, HandoverReport};

/// Time after its deadline a handover waits for the rows still in flight (a batch is sent every 50 ms).
const ROWS_IN_FLIGHT_US: u64 = 300_000;

/// A handover in progress.
#[derive(Debug)]
struct Pending {
    moving: Move,
    began: Micros,
    /// Subscriptions moved, per stream.
    streams: HashMap<String, u32>,
    /// The new side's first and last delivery per stream since it began.
    new: HashMap<String, StreamMarks>,
    /// When the process said `migrated`.
    migrated: Option<Micros>,
    reply: Option<oneshot::Sender<HandoverReport>>,
}

/// The migration state of one process's clients.
#[derive(Debug)]
pub struct Migrations {
    /// The legacy side's cohort and the new side's.
    cohorts: (CohortId, CohortId),
    /// The run's start (µs since the epoch).
    start: Micros,
    side: HashMap<u32, CohortId>,
    open: HashMap<(u32, CohortId), i64>,
    /// The last delivery per client and side, by stream.
    last: HashMap<(u32, CohortId), HashMap<String, Mark>>,
    pending: HashMap<u32, Pending>,
}

impl Migrations {
    /// The state of clients moving between `legacy` and `new` cohorts, in a run that started at `start`.
    pub fn new((legacy, new): (CohortId, CohortId), start: Micros) -> Self {
        Migrations {
            cohorts: (legacy, new),
            start,
            side: HashMap::new(),
            open: HashMap::new(),
            last: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    /// The side `cohort` is, for the process.
    pub fn side_of(&self, cohort: CohortId) -> Side {
        if cohort == self.cohorts.0 { Side::Legacy } else { Side::New }
    }

    /// `client` starts on `cohort`.
    pub fn started(&mut self, client: u32, cohort: CohortId) {
        self.side.insert(client, cohort);
    }

    /// The cohort `client` is on now.
    pub fn cohort_of(&self, client: u32) -> CohortId {
        self.side.get(&client).copied().unwrap_or(self.cohorts.0)
    }

    /// Whether `client` is on `side` now (a `migrated` naming another answers a move it was sent back from).
    pub fn is_on(&self, client: u32, side: Side) -> bool {
        self.side_of(self.cohort_of(client)) == side
    }

    /// The cohort of rows `side` reported for `client` (untagged rows: the side it is on).
    pub fn cohort_of_rows(&self, client: u32, side: Option<Side>) -> CohortId {
        match side {
            Some(Side::Legacy) => self.cohorts.0,
            Some(Side::New) => self.cohorts.1,
            None => self.cohort_of(client),
        }
    }

    /// The cohort of a connection of `client` the mock saw open.
    pub fn opened(&mut self, client: u32) -> CohortId {
        let cohort = self.cohort_of(client);
        *self.open.entry((client, cohort)).or_default() += 1;
        cohort
    }

    /// The cohort of a connection of `client` the mock saw close: the side it left while that one still
    /// has connections open, else the side it is on.
    pub fn closed(&mut self, client: u32) -> CohortId {
        let on = self.cohort_of(client);
        let other = if on == self.cohorts.0 { self.cohorts.1 } else { self.cohorts.0 };
        let cohort = if self.open.get(&(client, other)).is_some_and(|n| *n > 0) { other } else { on };
        *self.open.entry((client, cohort)).or_default() -= 1;
        cohort
    }

    /// Whether any client has connections open (for the wait at the end).
    pub fn any_open(&self) -> bool {
        self.open.values().any(|n| *n > 0)
    }

    /// `client` begins `moving` at `at` with `streams` (subscriptions per stream); `reply` gets the handover.
    pub fn begin(
        &mut self,
        client: u32,
        moving: Move,
        at: Micros,
        streams: HashMap<String, u32>,
        reply: oneshot::Sender<HandoverReport>,
    ) {
        self.side.insert(client, moving.cohorts.0);
        let pending = Pending { moving, began: at, streams, new: HashMap::new(), migrated: None, reply: Some(reply) };
        self.pending.insert(client, pending);
    }

    /// The process said `client` migrated, at `at`.
    pub fn migrated(&mut self, client: u32, at: Micros) {
        if let Some(pending) = self.pending.get_mut(&client) {
            pending.migrated.get_or_insert(at);
        }
    }

    /// Notes `client`'s rows delivered on `cohort`'s side.
    pub fn delivered(&mut self, client: u32, cohort: CohortId, rows: &[DeliveryRow]) {
        if self.cohorts.0 == self.cohorts.1 {
            // Not a rehearsal: nobody moves, and a row costs nothing here.
            return;
        }
        let mut pending = self.pending.get_mut(&client).filter(|p| p.moving.cohorts.0 == cohort);
        for row in rows {
            let at = Duration::from_micros(row.received_us().saturating_sub(self.start));
            let id = consecutive(row.stream()).then(|| row.key()).flatten();
            let mark = Mark { first_id: id, last_id: id, at };
            let last = self.last.entry((client, cohort)).or_default();
            match last.get_mut(row.stream()) {
                Some(last) => *last = mark,
                None => {
                    last.insert(row.stream().to_owned(), mark);
                }
            }
            if let Some(pending) = pending.as_deref_mut().filter(|p| row.received_us() >= p.began) {
                let marks =
                    pending.new.entry(row.stream().to_owned()).or_insert(StreamMarks { first: mark, last: mark });
                marks.last = mark;
            }
        }
    }

    /// The handovers done by `now`: migrated and received on every stream, or past their deadline. Each
    /// is measured, and its report is sent to whoever asked for the move and returned for the recorder.
    pub fn done(&mut self, now: Micros) -> Vec<HandoverReport> {
        let finished: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                let deadline = p.began + p.moving.deadline.as_micros() as u64 + ROWS_IN_FLIGHT_US;
                now >= deadline || (p.migrated.is_some() && p.streams.keys().all(|s| p.new.contains_key(s)))
            })
            .map(|(client, _)| *client)
            .collect();
        let mut reports = Vec::new();
        for client in finished {
            let Some(mut pending) = self.pending.remove(&client) else { continue };
            let report = self.measure(client, &pending);
            if let Some(reply) = pending.reply.take() {
                if reply.send(report.clone()).is_err() {
                    tracing::debug!("client {client}: nobody waits for its handover any more (the run ended)");
                }
            }
            reports.push(report);
        }
        reports
    }

    /// Ends every handover in progress (the run ended): measured as they stand.
    pub fn end_all(&mut self) -> Vec<HandoverReport> {
        self.done(Micros::MAX)
    }

    fn measure(&self, client: u32, pending: &Pending) -> HandoverReport {
        let from = pending.moving.cohorts.1;
        let old: HashMap<String, StreamMarks> = pending
            .streams
            .keys()
            .filter_map(|s| {
                let last = *self.last.get(&(client, from))?.get(s)?;
                Some((s.clone(), StreamMarks { first: last, last }))
            })
            .collect();
        let began = Duration::from_micros(pending.began.saturating_sub(self.start));
        let c = crate::rollout::handover::compare(&old, &pending.new, &pending.streams, began);
        let received = pending.new.values().map(|m| m.first.at).max().unwrap_or(began);
        let migrated = pending.migrated.map_or(began, |at| Duration::from_micros(at.saturating_sub(self.start)));
        let covered = c.preserved == c.subscriptions;
        let took = if covered { received.max(migrated).saturating_sub(began) } else { pending.moving.deadline };
        HandoverReport {
            phase: pending.moving.phase,
            at: began,
            took,
            subscriptions: c.subscriptions,
            preserved: c.preserved,
            lost: c.lost,
            duplicated: c.duplicated,
            without_data: c.without_data,
        }
    }
}

/// Whether a stream's keys are consecutive ids (trades, aggregate trades), so that a gap between the old
/// side's last and the new side's first is messages lost. A diff depth's row carries its last id only, and
/// the other kinds have none: their continuity is time without data alone.
fn consecutive(stream: &str) -> bool {
    StreamSpec::parse(stream).is_some_and(|s| matches!(s.kind, StreamKind::Trade | StreamKind::AggTrade))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::event::HandoverPhase;
    use crate::summary::rollout::HandoverOrder;

    const START: Micros = 1_000_000_000;

    fn moving(to: CohortId, from: CohortId) -> Move {
        Move {
            cohorts: (to, from),
            phase: HandoverPhase::Step(0),
            order: HandoverOrder::MakeBeforeBreak,
            deadline: Duration::from_secs(2),
        }
    }

    fn trade(subscriber: u32, id: u64, at_ms: u64) -> DeliveryRow {
        DeliveryRow(subscriber, "btcusdt@trade".into(), Some(id), None, START + at_ms * 1000)
    }

    #[test]
    fn a_make_before_break_move_is_measured_from_each_side_s_deliveries() {
        let mut sides = Migrations::new((0, 1), START);
        sides.started(7, 0);
        sides.delivered(7, 0, &[trade(1, 10, 900), trade(1, 11, 950)]);
        let (reply, mut answer) = oneshot::channel();
        let streams = HashMap::from([("btcusdt@trade".to_owned(), 2)]);
        sides.begin(7, moving(1, 0), START + 1_000_000, streams, reply);
        assert_eq!(sides.cohort_of(7), 1, "new subscriptions go to the side it moves to");
        // The old side goes on until the new one receives: ids 12 and 13 twice.
        sides.delivered(7, 0, &[trade(1, 12, 1100), trade(1, 13, 1200)]);
        sides.delivered(7, 1, &[trade(1, 12, 1150), trade(1, 13, 1210), trade(1, 14, 1300)]);
        assert!(sides.done(START + 1_300_000).is_empty(), "not migrated yet");
        sides.migrated(7, START + 1_310_000);
        let reports = sides.done(START + 1_320_000);
        assert_eq!(reports.len(), 1);
        let r = &reports[0];
        assert_eq!((r.subscriptions, r.preserved, r.lost, r.duplicated), (2, 2, 0, 2));
        assert_eq!((r.at, r.took), (Duration::from_secs(1), Duration::from_millis(310)));
        assert_eq!(answer.try_recv().expect("the asker is answered"), *r);
        assert!(sides.done(START + 9_000_000).is_empty(), "reported once");
    }

    #[test]
    fn a_move_the_new_side_never_serves_ends_at_its_deadline_with_the_gap_it_left() {
        let mut sides = Migrations::new((0, 1), START);
        sides.started(3, 0);
        sides.delivered(3, 0, &[trade(1, 10, 500)]);
        let (reply, _answer) = oneshot::channel();
        sides.begin(3, moving(1, 0), START + 1_000_000, HashMap::from([("btcusdt@trade".to_owned(), 1)]), reply);
        sides.migrated(3, START + 3_000_000);
        assert!(sides.done(START + 3_000_000).is_empty(), "rows may still be in flight");
        let r = sides.done(START + 3_000_000 + ROWS_IN_FLIGHT_US).pop().expect("past the deadline");
        assert_eq!((r.subscriptions, r.preserved, r.took), (1, 0, Duration::from_secs(2)));
        assert!(r.without_data.is_empty(), "no first message on the new side to count a wait to");
    }

    #[test]
    fn a_late_reply_to_a_move_the_client_was_sent_back_from_is_not_the_current_move_s() {
        let mut sides = Migrations::new((0, 1), START);
        sides.started(5, 0);
        assert!(sides.is_on(5, Side::Legacy));
        let (reply, _first) = oneshot::channel();
        sides.begin(5, moving(1, 0), START, HashMap::new(), reply);
        assert!(sides.is_on(5, Side::New), "on the new side from the move on");
        let (reply, _back) = oneshot::channel();
        sides.begin(5, moving(0, 1), START + 500_000, HashMap::new(), reply);
        assert!(!sides.is_on(5, Side::New), "the first move's \"migrated\" (to new) answers nothing now");
        assert!(sides.is_on(5, Side::Legacy), "the rollback's does");
    }

    #[test]
    fn a_close_is_the_old_side_s_while_it_still_has_connections_open() {
        let mut sides = Migrations::new((0, 1), START);
        sides.started(1, 0);
        assert_eq!((sides.opened(1), sides.opened(1)), (0, 0));
        let (reply, _answer) = oneshot::channel();
        sides.begin(1, moving(1, 0), START, HashMap::new(), reply);
        assert_eq!(sides.opened(1), 1, "opened after the flip: the new side's");
        assert_eq!((sides.closed(1), sides.closed(1)), (0, 0), "the old side closes its two");
        assert!(sides.any_open());
        assert_eq!(sides.closed(1), 1, "then the new side's own");
        assert!(!sides.any_open());
        assert_eq!(sides.side_of(0), Side::Legacy);
        assert_eq!(sides.cohort_of_rows(1, Some(Side::Legacy)), 0);
        assert_eq!(sides.cohort_of_rows(1, None), 1, "untagged rows: the side it is on");
    }

    #[test]
    fn only_trades_and_aggregate_trades_count_lost_ids() {
        assert!(consecutive("btcusdt@trade") && consecutive("btcusdt@aggTrade"));
        assert!(!consecutive("btcusdt@bookTicker") && !consecutive("btcusdt@depth@100ms"));
    }
}
