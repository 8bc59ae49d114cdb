//! The closed catalogue of what the mock can do to its clients: each kind of fault with only the
//! parameters it has, already validated. The mock carries them out ([`apply`](super::apply)); deciding
//! when, to whom and from which configuration is the `chaos` module's work.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::mock::close::CloseHow;
use crate::mock::config::Rate;

/// The fault kinds, as written in `kind = "…"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKindName {
    /// Close selected connections (code, FIN or reset), at once or staggered.
    Disconnect,
    /// serverShutdown, close everything, refuse new upgrades for a while.
    Outage,
    /// Answer a share of upgrades with 429, 418, 503 or 403; escalate 429 to a 418 ban.
    RejectHandshakes,
    /// Delay upgrades, or never answer them.
    SlowHandshake,
    /// Half-open: selected connections get nothing (no data, no pongs), or pongs but no data.
    Stall,
    /// Added delay with jitter on outgoing messages.
    Latency,
    /// Event rate multiplied on selected symbols.
    Burst,
    /// Drop outgoing messages (sequence gaps).
    DropMessages,
    /// Send outgoing messages twice (repeats).
    DuplicateMessages,
    /// Swap outgoing messages (out of order).
    ReorderMessages,
    /// Withhold diff-depth events so the `U`/`u` chain breaks.
    DepthGap,
    /// Malformed JSON, invalid UTF-8, oversize or fragmented frames.
    Corrupt,
    /// Connections expire after a short age.
    MaxLifetime,
    /// Change the per-IP connection-attempt budget.
    ConnectLimit,
}

impl FaultKindName {
    /// The name as written in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disconnect => "disconnect",
            Self::Outage => "outage",
            Self::RejectHandshakes => "reject-handshakes",
            Self::SlowHandshake => "slow-handshake",
            Self::Stall => "stall",
            Self::Latency => "latency",
            Self::Burst => "burst",
            Self::DropMessages => "drop-messages",
            Self::DuplicateMessages => "duplicate-messages",
            Self::ReorderMessages => "reorder-messages",
            Self::DepthGap => "depth-gap",
            Self::Corrupt => "corrupt",
            Self::MaxLifetime => "max-lifetime",
            Self::ConnectLimit => "connect-limit",
        }
    }

    /// Every kind, for documentation and tests.
    pub const ALL: [FaultKindName; 14] = [
        Self::Disconnect,
        Self::Outage,
        Self::RejectHandshakes,
        Self::SlowHandshake,
        Self::Stall,
        Self::Latency,
        Self::Burst,
        Self::DropMessages,
        Self::DuplicateMessages,
        Self::ReorderMessages,
        Self::DepthGap,
        Self::Corrupt,
        Self::MaxLifetime,
        Self::ConnectLimit,
    ];
}

/// What a `stall` keeps doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StallMode {
    /// Nothing at all: no data, no pongs, no pings (a half-open connection).
    Silent,
    /// Pongs and pings continue, data stops (a stale feed).
    Stale,
}

/// What a `corrupt` fault sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CorruptVariant {
    /// A truncated JSON text frame.
    MalformedJson,
    /// A text frame whose bytes are not UTF-8.
    InvalidUtf8,
    /// A text frame of `size` bytes.
    Oversize,
    /// The next message split into `fragments` frames with pings between them (valid, but demanding).
    Fragmented,
    /// The next message as a binary frame instead of text.
    Binary,
}

/// How new upgrades are refused during an outage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Refuse {
    /// HTTP status with an optional `Retry-After` in seconds.
    Http {
        /// The status.
        status: u16,
        /// `Retry-After` seconds.
        retry_after: Option<u64>,
    },
    /// Connection refused (the listener is closed).
    Tcp,
}

/// A validated fault's action and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultKind {
    /// Close selected connections, spread over `stagger`.
    Disconnect {
        /// How each selected connection is closed: a close frame, a TCP FIN or a reset.
        how: CloseHow,
        /// Spread window.
        #[serde(with = "crate::vocab::serialize::millis")]
        stagger: Duration,
    },
    /// Optional notice, close everything, then refuse for the duration.
    Outage {
        /// Send `serverShutdown` first.
        notice: bool,
        /// Time between notice and closes.
        #[serde(with = "crate::vocab::serialize::millis")]
        notice_lead: Duration,
        /// How connections are closed.
        how: CloseHow,
        /// How new upgrades are refused.
        refuse: Refuse,
    },
    /// Refuse a share of upgrades.
    RejectHandshakes {
        /// The status (429, 418, 503, 403, …).
        status: u16,
        /// `Retry-After` seconds.
        retry_after: Option<u64>,
        /// Probability per attempt.
        probability: f64,
        /// 429s to one IP before it is answered 418 for `ban`.
        ban_after: Option<u32>,
        /// Ban length.
        #[serde(with = "crate::vocab::serialize::millis")]
        ban: Duration,
    },
    /// Delay or withhold the 101.
    SlowHandshake {
        /// Delay before answering.
        #[serde(with = "crate::vocab::serialize::millis")]
        delay: Duration,
        /// Uniform jitter around it.
        #[serde(with = "crate::vocab::serialize::millis")]
        jitter: Duration,
        /// Never answer.
        hang: bool,
        /// Probability per attempt.
        probability: f64,
    },
    /// Half-open or stale connections.
    Stall {
        /// Silent or stale.
        mode: StallMode,
    },
    /// Delay outgoing messages.
    Latency {
        /// The delay.
        #[serde(with = "crate::vocab::serialize::millis")]
        delay: Duration,
        /// Uniform jitter around it (order is kept).
        #[serde(with = "crate::vocab::serialize::millis")]
        jitter: Duration,
    },
    /// Multiply the event rate of selected symbols.
    Burst {
        /// The multiplier.
        factor: f64,
    },
    /// Drop outgoing messages.
    DropMessages {
        /// Per message.
        probability: f64,
    },
    /// Repeat outgoing messages.
    DuplicateMessages {
        /// Per message.
        probability: f64,
    },
    /// Swap a message with the next.
    ReorderMessages {
        /// Per message.
        probability: f64,
    },
    /// Withhold diff-depth events.
    DepthGap {
        /// Per diff event.
        probability: f64,
    },
    /// Send malformed frames.
    Corrupt {
        /// Which corruption each selected connection's next `count` messages get.
        variant: CorruptVariant,
        /// Messages per connection.
        count: u32,
        /// Oversize bytes.
        size: usize,
        /// Fragments per message.
        fragments: u32,
    },
    /// Short connection lifetimes.
    MaxLifetime {
        /// The age.
        #[serde(with = "crate::vocab::serialize::millis")]
        age: Duration,
    },
    /// A different per-IP attempt budget.
    ConnectLimit {
        /// The budget (`None`: unlimited).
        limit: Option<Rate>,
    },
}

impl FaultKind {
    /// The kind's name.
    pub fn name(&self) -> FaultKindName {
        match self {
            Self::Disconnect { .. } => FaultKindName::Disconnect,
            Self::Outage { .. } => FaultKindName::Outage,
            Self::RejectHandshakes { .. } => FaultKindName::RejectHandshakes,
            Self::SlowHandshake { .. } => FaultKindName::SlowHandshake,
            Self::Stall { .. } => FaultKindName::Stall,
            Self::Latency { .. } => FaultKindName::Latency,
            Self::Burst { .. } => FaultKindName::Burst,
            Self::DropMessages { .. } => FaultKindName::DropMessages,
            Self::DuplicateMessages { .. } => FaultKindName::DuplicateMessages,
            Self::ReorderMessages { .. } => FaultKindName::ReorderMessages,
            Self::DepthGap { .. } => FaultKindName::DepthGap,
            Self::Corrupt { .. } => FaultKindName::Corrupt,
            Self::MaxLifetime { .. } => FaultKindName::MaxLifetime,
            Self::ConnectLimit { .. } => FaultKindName::ConnectLimit,
        }
    }
}

/// The largest frame an `oversize` corruption sends, in bytes.
pub const MAX_OVERSIZE: usize = 64 * 1024 * 1024;

/// The most frames a `fragmented` corruption splits one message into.
pub const MAX_FRAGMENTS: u32 = 1_000;

impl FaultKind {
    /// What makes this fault one the mock must not carry out: a probability outside 0..=1, a multiplier
    /// that is not positive, a frame or fragment count past the mock's caps, an empty budget, a close
    /// reason longer than a close frame holds. Validation from configuration never lets one through; an
    /// order posted by hand can carry one.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut probability = |name: &str, p: f64| {
            if !(0.0..=1.0).contains(&p) {
                problems.push(format!("{name} {p} is not a probability from 0 to 1"));
            }
        };
        match self {
            FaultKind::RejectHandshakes { probability: p, .. }
            | FaultKind::SlowHandshake { probability: p, .. }
            | FaultKind::DropMessages { probability: p }
            | FaultKind::DuplicateMessages { probability: p }
            | FaultKind::ReorderMessages { probability: p }
            | FaultKind::DepthGap { probability: p } => probability("probability", *p),
            _ => {}
        }
        match self {
            FaultKind::Burst { factor } if !(factor.is_finite() && *factor > 0.0) => {
                problems.push(format!("factor {factor} is not a positive multiplier"));
            }
            FaultKind::Corrupt { size, fragments, count, .. } => {
                if *size > MAX_OVERSIZE {
                    problems.push(format!("size {size} is over the {MAX_OVERSIZE}-byte cap"));
                }
                if !(2..=MAX_FRAGMENTS).contains(fragments) {
                    problems.push(format!("fragments {fragments} is not from 2 to {MAX_FRAGMENTS}"));
                }
                if *count == 0 {
                    problems.push("count must be at least 1".to_owned());
                }
            }
            FaultKind::ConnectLimit { limit: Some(rate) } if rate.max == 0 || rate.window.is_zero() => {
                problems.push("limit needs max >= 1 and a window longer than zero".to_owned());
            }
            FaultKind::Disconnect { how: CloseHow::Frame { reason, .. }, .. }
            | FaultKind::Outage { how: CloseHow::Frame { reason, .. }, .. }
                if reason.len() > 123 =>
            {
                problems.push("the close reason is longer than 123 bytes".to_owned());
            }
            _ => {}
        }
        problems
    }
}
