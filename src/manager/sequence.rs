//! Reading what the upstream sends as a subscriber sees it: the stream (combined wrapper), the event time
//! and the sequence ids (trade id, aggregate id, depth `U`/`u`, book ticker and partial-depth update ids),
//! and checking each stream's sequence for gaps and repeats. Pure.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};

/// A number when the field holds one; anything else (a price string, an object) reads as `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Id(Option<u64>);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        struct IdVisitor;
        impl<'de> Visitor<'de> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("anything")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id(u64::try_from(v).ok()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Id, E> {
                Ok(Id(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Id, E> {
                Ok(Id(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Id, E> {
                Ok(Id(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Id, E> {
                Ok(Id(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Id, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Id(None))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Id, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Id(None))
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

#[derive(Debug, Default, Deserialize)]
struct Payload<'a> {
    #[serde(default, borrow)]
    e: Option<&'a str>,
    #[serde(default, rename = "E")]
    event_time: Id,
    #[serde(default)]
    t: Id,
    #[serde(default)]
    a: Id,
    #[serde(default, rename = "U")]
    first_update: Id,
    #[serde(default)]
    u: Id,
    #[serde(default, rename = "lastUpdateId")]
    last_update_id: Id,
    #[serde(default)]
    id: Option<IgnoredAny>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct Wrapped<'a> {
    #[serde(borrow)]
    stream: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<Payload<'a>>,
    #[serde(default)]
    id: Option<IgnoredAny>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

/// Where a message sits in its stream's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequence {
    /// Trade id (`t`): consecutive.
    Trade(u64),
    /// Aggregate trade id (`a`): consecutive.
    AggTrade(u64),
    /// Diff depth: `U` must follow the previous `u`.
    Depth {
        /// `U`
        first: u64,
        /// `u`
        last: u64,
    },
    /// bookTicker `u`: increasing, not consecutive.
    UpdateId(u64),
    /// Partial depth `lastUpdateId`: the book's update id, sent again every window while the book is
    /// unchanged (a repeat is not a duplicate).
    Snapshot(u64),
    /// No sequence.
    None,
}

/// One message as a subscriber reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read<'a> {
    /// The stream of a wrapped message.
    pub stream: Option<&'a str>,
    /// `E`, when the payload has one (µs with `timeUnit=MICROSECOND`).
    pub event_time: Option<u64>,
    /// Its sequence.
    pub sequence: Sequence,
    /// A response to a request, not an event.
    pub is_response: bool,
    /// An error response.
    pub is_error: bool,
}

/// Parses a text message (`combined`: expect the `{"stream","data"}` wrapper); `None` when malformed.
pub fn parse(text: &str, combined: bool) -> Option<Read<'_>> {
    if combined {
        let wrapped: Wrapped<'_> = serde_json::from_str(text).ok()?;
        if wrapped.id.is_some() {
            return Some(response(wrapped.error.is_some()));
        }
        let payload = wrapped.data?;
        return Some(read(wrapped.stream, &payload));
    }
    if text.starts_with('[') {
        return Some(Read {
            stream: None,
            event_time: None,
            sequence: Sequence::None,
            is_response: false,
            is_error: false,
        });
    }
    let payload: Payload<'_> = serde_json::from_str(text).ok()?;
    if payload.id.is_some() {
        return Some(response(payload.error.is_some()));
    }
    Some(read(None, &payload))
}

fn response(is_error: bool) -> Read<'static> {
    Read { stream: None, event_time: None, sequence: Sequence::None, is_response: true, is_error }
}

fn read<'a>(stream: Option<&'a str>, p: &Payload<'a>) -> Read<'a> {
    let sequence = match (p.e, p.t.0, p.a.0, p.first_update.0, p.u.0, p.last_update_id.0) {
        (Some("trade"), Some(t), ..) => Sequence::Trade(t),
        (Some("aggTrade"), _, Some(a), ..) => Sequence::AggTrade(a),
        (Some("depthUpdate"), _, _, Some(first), Some(last), _) => Sequence::Depth { first, last },
        (None, _, _, _, Some(u), _) => Sequence::UpdateId(u),
        (None, _, _, _, _, Some(id)) => Sequence::Snapshot(id),
        _ => Sequence::None,
    };
    Read { stream, event_time: p.event_time.0, sequence, is_response: false, is_error: false }
}

/// What a sequence check found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Check {
    /// Messages missing before this one (1 per broken depth chain).
    pub missing: u64,
    /// This message repeats or goes backwards.
    pub duplicate: bool,
}

/// The last sequence id seen per stream.
#[derive(Debug, Default)]
pub struct Sequences(HashMap<String, u64>);

impl Sequences {
    /// Checks a message of `stream` against the previous one and remembers it.
    pub fn check(&mut self, stream: &str, message: &Read<'_>) -> Check {
        let (first, last, consecutive) = match message.sequence {
            Sequence::Trade(id) | Sequence::AggTrade(id) => (id, id, true),
            Sequence::Depth { first, last } => (first, last, true),
            Sequence::UpdateId(id) => (id, id, false),
            Sequence::Snapshot(id) if self.0.get(stream) == Some(&id) => return Check::default(),
            Sequence::Snapshot(id) => (id, id, false),
            Sequence::None => return Check::default(),
        };
        let Some(previous) = self.0.get(stream).copied() else {
            self.0.insert(stream.to_owned(), last);
            return Check::default();
        };
        if last <= previous {
            return Check { missing: 0, duplicate: true };
        }
        self.0.insert(stream.to_owned(), last);
        let missing = match message.sequence {
            _ if !consecutive || first <= previous + 1 => 0,
            Sequence::Depth { .. } => 1,
            _ => first - previous - 1,
        };
        Check { missing, duplicate: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_raw_and_wrapped_payloads() {
        let trade = r#"{"e":"trade","E":1700000000000123,"s":"BTCUSDT","t":42,"p":"1.00000000","q":"1.00000000","T":1,"m":true,"M":true}"#;
        let r = parse(trade, false).unwrap();
        assert_eq!((r.event_time, r.sequence), (Some(1_700_000_000_000_123), Sequence::Trade(42)));
        let wrapped = format!(r#"{{"stream":"btcusdt@trade","data":{trade}}}"#);
        assert_eq!(parse(&wrapped, true).unwrap().stream, Some("btcusdt@trade"));
        let ticker = r#"{"e":"24hrTicker","E":5,"s":"X","a":"1.5","b":"1.4","t":"x"}"#;
        assert_eq!(parse(ticker, false).unwrap().sequence, Sequence::None);
        let book = r#"{"u":400900217,"s":"BNBUSDT","b":"1","B":"1","a":"1","A":"1"}"#;
        assert_eq!(parse(book, false).unwrap().sequence, Sequence::UpdateId(400_900_217));
        assert!(parse(r#"{"result":null,"id":1}"#, true).unwrap().is_response);
        assert!(parse(r#"{"error":{"code":2,"msg":"x"},"id":1}"#, false).unwrap().is_error);
        assert_eq!(parse("{\"e\":\"tra", false), None);
    }

    #[test]
    fn gaps_and_repeats_are_found_per_stream() {
        let mut s = Sequences::default();
        let trade = |t| Read {
            stream: None,
            event_time: None,
            sequence: Sequence::Trade(t),
            is_response: false,
            is_error: false,
        };
        assert_eq!(s.check("a", &trade(10)), Check::default());
        assert_eq!(s.check("a", &trade(11)), Check::default());
        assert_eq!(s.check("a", &trade(15)), Check { missing: 3, duplicate: false });
        assert_eq!(s.check("a", &trade(15)), Check { missing: 0, duplicate: true });
        assert_eq!(s.check("b", &trade(1)), Check::default(), "per stream");
        let depth = |first, last| Read { sequence: Sequence::Depth { first, last }, ..trade(0) };
        assert_eq!(s.check("d", &depth(1, 5)), Check::default());
        assert_eq!(s.check("d", &depth(6, 9)), Check::default());
        assert_eq!(s.check("d", &depth(12, 14)), Check { missing: 1, duplicate: false });
    }
}
