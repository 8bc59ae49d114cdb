//! Faults acting on one connection's outgoing traffic: stalls (silent or stale), added latency, dropped,
//! duplicated and reordered messages, corrupt frames, and a shortened lifetime.
//!
//! A connection holds a [`ConnChaos`] only once a fault touches it (idle connections pay nothing). It is
//! driven by the connection task: [`ConnChaos::frames`] turns one queued message into the frames to write,
//! [`ConnChaos::due`] says when latency lets it go. No I/O here; time and randomness come in as arguments
//! or from the fault's own seed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::mock::faults::kind::{CorruptVariant, StallMode};
use crate::mock::faults::state::{FaultId, jittered};
use crate::mock::outgoing::{Outgoing, StreamId};

/// What a message fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageAction {
    /// Skip the message.
    Drop,
    /// Send it twice.
    Duplicate,
    /// Send the next message first.
    Reorder,
}

/// A per-connection fault as the hub delivers it.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnFault {
    /// Stop data (and, silently, everything else).
    Stall {
        /// Silent or stale.
        mode: StallMode,
    },
    /// Delay outgoing messages.
    Latency {
        /// Time from a message's publication until it may be written; `jitter` spreads it either way.
        delay: Duration,
        /// Jitter around it.
        jitter: Duration,
    },
    /// Drop, duplicate or reorder messages of some streams.
    Messages {
        /// Whether a hit message is dropped, sent twice or swapped with the next.
        action: MessageAction,
        /// Per message.
        probability: f64,
        /// Streams affected (`None`: all).
        streams: Option<Arc<HashSet<StreamId>>>,
    },
    /// Corrupt the next `count` messages.
    Corrupt {
        /// Which corruption each of the next `count` messages gets.
        variant: CorruptVariant,
        /// How many.
        count: u32,
        /// Oversize bytes.
        size: usize,
        /// Fragments per message.
        fragments: u32,
    },
}

/// One active fault on the connection.
#[derive(Debug, Clone)]
struct Window {
    fault: FaultId,
    kind: ConnFault,
    until: Option<Instant>,
}

/// The faults acting on one connection.
#[derive(Debug)]
pub struct ConnChaos {
    windows: Vec<Window>,
    held: Option<Outgoing>,
    last_due: Option<Instant>,
    rng: StdRng,
}

impl ConnChaos {
    /// Chaos state seeded for this connection.
    pub fn new(seed: u64) -> Self {
        ConnChaos { windows: Vec::new(), held: None, last_due: None, rng: StdRng::seed_from_u64(seed) }
    }

    /// Starts a fault until `until` (`None`: until it is ended).
    pub fn start(&mut self, fault: FaultId, kind: ConnFault, until: Option<Instant>) {
        self.windows.push(Window { fault, kind, until });
    }

    /// Ends a fault; returns a message held back for reordering that must now be written.
    pub fn end(&mut self, fault: FaultId) -> Option<Outgoing> {
        self.windows.retain(|w| w.fault != fault || matches!(w.kind, ConnFault::Corrupt { .. }));
        self.release_if_unordered()
    }

    /// Ends windows that have run out; returns a held message to write, as [`ConnChaos::end`].
    pub fn expire(&mut self, now: Instant) -> Option<Outgoing> {
        self.windows.retain(|w| w.until.is_none_or(|t| t > now));
        self.release_if_unordered()
    }

    fn release_if_unordered(&mut self) -> Option<Outgoing> {
        let reordering =
            self.windows.iter().any(|w| matches!(w.kind, ConnFault::Messages { action: MessageAction::Reorder, .. }));
        if reordering { None } else { self.held.take() }
    }

    /// The earliest window end, for the connection's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.windows.iter().filter_map(|w| w.until).min()
    }

    /// The stall in force, if any (silent wins over stale).
    pub fn stall(&self) -> Option<StallMode> {
        let modes = self.windows.iter().filter_map(|w| match w.kind {
            ConnFault::Stall { mode } => Some(mode),
            _ => None,
        });
        modes.max_by_key(|m| matches!(m, StallMode::Silent))
    }

    /// When latency lets `message` be written (`None`: now). Order is kept: never before the previous.
    pub fn due(&mut self, message: &Outgoing) -> Option<Instant> {
        let (delay, jitter) = self.windows.iter().find_map(|w| match w.kind {
            ConnFault::Latency { delay, jitter } => Some((delay, jitter)),
            _ => None,
        })?;
        let due = message.at + jittered(delay, jitter, &mut self.rng);
        let due = self.last_due.map_or(due, |last| due.max(last));
        self.last_due = Some(due);
        Some(due)
    }

    /// Appends the frames to write for one queued message, after message faults and corruption.
    pub fn frames(&mut self, message: Outgoing, out: &mut Vec<Message>) {
        let mut copies = 1;
        for index in 0..self.windows.len() {
            let ConnFault::Messages { action, probability, streams } = &self.windows[index].kind else { continue };
            if streams.as_ref().is_some_and(|s| !s.contains(&message.stream))
                || self.rng.random::<f64>() >= *probability
            {
                continue;
            }
            match action {
                MessageAction::Drop => return,
                MessageAction::Duplicate => copies = 2,
                MessageAction::Reorder if self.held.is_none() => {
                    self.held = Some(message);
                    return;
                }
                MessageAction::Reorder => {}
            }
        }
        for _ in 0..copies {
            self.render(&message, out);
        }
        if let Some(held) = self.held.take() {
            self.render(&held, out);
        }
    }

    fn render(&mut self, message: &Outgoing, out: &mut Vec<Message>) {
        let corrupt = self.windows.iter_mut().find_map(|w| match &mut w.kind {
            ConnFault::Corrupt { variant, count, size, fragments } if *count > 0 => {
                *count -= 1;
                Some((*variant, *size, *fragments))
            }
            _ => None,
        });
        match corrupt {
            None => out.push(Message::Text(message.text.clone())),
            Some((variant, size, fragments)) => corrupt_frames(message.text.as_bytes(), variant, size, fragments, out),
        }
        self.windows.retain(|w| !matches!(w.kind, ConnFault::Corrupt { count: 0, .. }));
    }
}

/// The frames of one corrupted message.
pub fn corrupt_frames(payload: &[u8], variant: CorruptVariant, size: usize, fragments: u32, out: &mut Vec<Message>) {
    let text = |bytes: Vec<u8>| Message::Frame(Frame::message(bytes, OpCode::Data(Data::Text), true));
    match variant {
        CorruptVariant::MalformedJson => out.push(text(payload[..payload.len() / 2].to_vec())),
        CorruptVariant::InvalidUtf8 => {
            let mut bytes = payload.to_vec();
            bytes.splice(0..0, [0xff, 0xfe]);
            out.push(text(bytes));
        }
        CorruptVariant::Oversize => {
            let mut bytes = b"{\"e\":\"oversize\",\"pad\":\"".to_vec();
            bytes.resize(size.saturating_sub(2).max(bytes.len()), b'x');
            bytes.extend_from_slice(b"\"}");
            out.push(text(bytes));
        }
        CorruptVariant::Binary => out.push(Message::Binary(Bytes::copy_from_slice(payload))),
        CorruptVariant::Fragmented => fragment(payload, fragments.max(2) as usize, out),
    }
}

/// A text message as `parts` frames (first Text, then Continue, the last final) with a ping between each.
fn fragment(payload: &[u8], parts: usize, out: &mut Vec<Message>) {
    let chunk = payload.len().div_ceil(parts).max(1);
    let pieces: Vec<&[u8]> = payload.chunks(chunk).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let opcode = if i == 0 { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
        let last = i + 1 == pieces.len();
        out.push(Message::Frame(Frame::message(piece.to_vec(), opcode, last)));
        if !last {
            out.push(Message::Frame(Frame::ping(Bytes::from_static(b"fragment"))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::Utf8Bytes;

    fn message(n: u32) -> Outgoing {
        Outgoing { stream: n % 2, text: Utf8Bytes::from(format!("{{\"t\":{n}}}")), at: Instant::now() }
    }

    fn texts(frames: &[Message]) -> Vec<String> {
        frames.iter().filter_map(|f| f.to_text().ok().map(str::to_owned)).collect()
    }

    fn run(chaos: &mut ConnChaos, n: u32) -> Vec<String> {
        let mut out = Vec::new();
        for i in 0..n {
            chaos.frames(message(i), &mut out);
        }
        texts(&out)
    }

    #[test]
    fn message_faults_drop_duplicate_and_reorder() {
        let streams = |action| ConnFault::Messages { action, probability: 1.0, streams: None };
        let mut drop = ConnChaos::new(1);
        drop.start(1, streams(MessageAction::Drop), None);
        assert!(run(&mut drop, 3).is_empty());
        let mut dup = ConnChaos::new(1);
        dup.start(1, streams(MessageAction::Duplicate), None);
        assert_eq!(run(&mut dup, 2), ["{\"t\":0}", "{\"t\":0}", "{\"t\":1}", "{\"t\":1}"]);
        let mut swap = ConnChaos::new(1);
        swap.start(1, streams(MessageAction::Reorder), None);
        assert_eq!(run(&mut swap, 4), ["{\"t\":1}", "{\"t\":0}", "{\"t\":3}", "{\"t\":2}"]);
        let mut only_even = ConnChaos::new(1);
        let even: HashSet<StreamId> = [0].into();
        only_even.start(
            1,
            ConnFault::Messages { action: MessageAction::Drop, probability: 1.0, streams: Some(Arc::new(even)) },
            None,
        );
        assert_eq!(run(&mut only_even, 4), ["{\"t\":1}", "{\"t\":3}"]);
    }

    #[test]
    fn a_held_message_is_released_when_reordering_ends() {
        let mut chaos = ConnChaos::new(1);
        chaos.start(9, ConnFault::Messages { action: MessageAction::Reorder, probability: 1.0, streams: None }, None);
        assert!(run(&mut chaos, 1).is_empty());
        assert_eq!(chaos.end(9).map(|m| m.text.to_string()), Some("{\"t\":0}".to_owned()));
    }

    #[test]
    fn corruption_applies_to_the_next_messages_only() {
        let mut chaos = ConnChaos::new(1);
        chaos.start(
            1,
            ConnFault::Corrupt { variant: CorruptVariant::MalformedJson, count: 1, size: 0, fragments: 2 },
            None,
        );
        let mut out = Vec::new();
        chaos.frames(message(12), &mut out);
        chaos.frames(message(13), &mut out);
        assert!(matches!(&out[0], Message::Frame(f) if f.payload() == b"{\"t\"".as_slice()));
        assert_eq!(out[1].to_text().unwrap(), "{\"t\":13}");
        let mut fragments = Vec::new();
        corrupt_frames(b"abcdefgh", CorruptVariant::Fragmented, 0, 3, &mut fragments);
        assert_eq!(fragments.len(), 5, "3 data frames and 2 pings between them");
    }

    #[test]
    fn latency_keeps_order_and_stalls_prefer_silence() {
        let mut chaos = ConnChaos::new(1);
        chaos.start(
            1,
            ConnFault::Latency { delay: Duration::from_millis(100), jitter: Duration::from_millis(90) },
            None,
        );
        let m = message(0);
        let mut last = m.at;
        for _ in 0..50 {
            let due = chaos.due(&m).unwrap();
            assert!(due >= last && due >= m.at + Duration::from_millis(10));
            last = due;
        }
        chaos.start(2, ConnFault::Stall { mode: StallMode::Stale }, None);
        chaos.start(3, ConnFault::Stall { mode: StallMode::Silent }, None);
        assert_eq!(chaos.stall(), Some(StallMode::Silent));
        chaos.end(3);
        assert_eq!(chaos.stall(), Some(StallMode::Stale));
    }
}
