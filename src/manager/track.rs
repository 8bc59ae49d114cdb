//! Delivery accounting of one stream on one socket, in one unit for every manager: subscriber-deliveries.
//! A shared socket that misses an event loses it for every subscriber it serves.
//!
//! Every message resolves to its index in the upstream's publication record, so loss is counted the same
//! way for every stream kind, with or without consecutive ids: an index past the next expected one skips
//! the ones between (gaps); an earlier index that was skipped arrives late (reordered, no longer lost); any
//! other earlier index is a duplicate. When the socket's accounting ends, the events published up to the
//! cut-off that never arrived are lost too. So per stream, `delivered + lost = published while subscribed`
//! (from its first event on), with `lost = gaps − late` and duplicates apart. Pure.

use crate::mock::publications::Index;

/// Skipped ranges remembered for late arrivals; older ones stay lost.
const REMEMBERED_RANGES: usize = 1024;

/// What one message meant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Subscriber-deliveries of a new event (the message and any late one).
    pub delivered: u64,
    /// Subscriber-deliveries skipped before it.
    pub gaps: u64,
    /// Subscriber-deliveries of an event skipped earlier that arrived now.
    pub late: u64,
    /// Subscriber-deliveries of an event already received.
    pub duplicates: u64,
    /// Events (not subscriber-deliveries) newly received in order or after a gap: how far the first index not
    /// yet received moved.
    pub advanced: u64,
}

/// The accounting of one stream on one socket.
#[derive(Debug, Clone, Default)]
pub struct Track {
    /// The first index not yet received (`None` before the first event).
    next: Option<Index>,
    /// Skipped, not yet arrived: inclusive ranges, oldest first.
    missing: Vec<(Index, Index)>,
}

impl Track {
    /// The first index not yet received.
    pub fn next(&self) -> Option<Index> {
        self.next
    }

    /// Accounts event `index` received by a socket serving `subscribers`.
    pub fn receive(&mut self, index: Index, subscribers: u32) -> Delivery {
        let n = u64::from(subscribers);
        let Some(next) = self.next else {
            self.next = Some(index + 1);
            return Delivery { delivered: n, advanced: 1, ..Delivery::default() };
        };
        if index >= next {
            let skipped = index - next;
            if skipped > 0 {
                self.remember(next, index - 1);
            }
            self.next = Some(index + 1);
            return Delivery { delivered: n, gaps: skipped * n, advanced: skipped + 1, ..Delivery::default() };
        }
        if self.take_missing(index) {
            Delivery { delivered: n, late: n, ..Delivery::default() }
        } else {
            Delivery { duplicates: n, ..Delivery::default() }
        }
    }

    /// Ends the accounting at `published_by` (the index after the last event owed: published before the
    /// cut-off): the events owed that never arrived are gaps, returned in subscriber-deliveries.
    pub fn close(&mut self, published_by: Index, subscribers: u32) -> u64 {
        let Some(next) = self.next else { return 0 };
        if published_by <= next {
            return 0;
        }
        self.next = Some(published_by);
        (published_by - next) * u64::from(subscribers)
    }

    fn remember(&mut self, first: Index, last: Index) {
        if self.missing.len() == REMEMBERED_RANGES {
            self.missing.remove(0);
        }
        self.missing.push((first, last));
    }

    fn take_missing(&mut self, index: Index) -> bool {
        let Some(position) = self.missing.iter().position(|(a, b)| (*a..=*b).contains(&index)) else {
            return false;
        };
        let (a, b) = self.missing[position];
        match (index == a, index == b) {
            (true, true) => {
                self.missing.remove(position);
            }
            (true, false) => self.missing[position].0 = index + 1,
            (false, true) => self.missing[position].1 = index - 1,
            (false, false) => {
                self.missing[position].1 = index - 1;
                self.missing.insert(position + 1, (index + 1, b));
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_late_arrivals_and_duplicates_in_subscriber_deliveries() {
        let mut track = Track::default();
        assert_eq!(track.receive(10, 4), Delivery { delivered: 4, advanced: 1, ..Delivery::default() });
        assert_eq!(track.receive(11, 4).gaps, 0);
        let skip = track.receive(15, 4);
        assert_eq!((skip.delivered, skip.gaps, skip.advanced), (4, 12, 4), "12, 13, 14 lost for 4 subscribers");
        assert_eq!(track.receive(13, 4), Delivery { delivered: 4, late: 4, ..Delivery::default() });
        assert_eq!(track.receive(13, 4), Delivery { duplicates: 4, ..Delivery::default() }, "13 again");
        assert_eq!(track.receive(11, 4).duplicates, 4);
        assert_eq!(track.receive(12, 4).late, 4);
        assert_eq!(track.receive(14, 4).late, 4);
        assert_eq!(track.missing, []);
        assert_eq!(track.next(), Some(16));
    }

    #[test]
    fn what_never_arrived_before_the_cut_off_is_lost_and_the_identity_holds() {
        let mut track = Track::default();
        let (mut delivered, mut gaps, mut late) = (0, 0, 0);
        for index in [0, 1, 4, 2, 7] {
            let d = track.receive(index, 2);
            (delivered, gaps, late) = (delivered + d.delivered, gaps + d.gaps, late + d.late);
        }
        gaps += track.close(10, 2);
        let published = 10 * 2;
        assert_eq!(delivered + (gaps - late), published, "delivered {delivered}, gaps {gaps}, late {late}");
        assert_eq!(track.close(10, 2), 0, "closed once");
        assert_eq!(Track::default().close(10, 2), 0, "nothing received: owed nothing here");
    }
}
