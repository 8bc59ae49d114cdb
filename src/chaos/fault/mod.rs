//! The fault catalogue: a closed set of faults the mock can inject, in two forms.
//!
//! [`RawFault`] ([`raw`]) is what a scenario's `[[faults]]` table or a control-API request holds: one flat
//! table with a `kind` and the keys that kind takes (flat, so every mistake keeps its exact line).
//! [`Fault`] is the validated form ([`validate`]): timing, selection and a [`FaultKind`] with only the
//! parameters that kind has. Validation reports every problem with its key path, including keys that do
//! not apply to the kind.

mod raw;
mod validate;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::chaos::select::Selection;
use crate::mock::close::CloseHow;
use crate::mock::config::Rate;

pub use raw::RawFault;
pub use validate::validate_all;

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

/// How a `disconnect` or `outage` ends connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DisconnectHow {
    /// A close frame with `code` and `reason`.
    Close,
    /// TCP FIN without a close frame: the client sees 1006.
    Fin,
    /// TCP reset.
    Reset,
}

/// How an `outage` refuses new connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RefuseMode {
    /// Answer upgrades with an HTTP `status`.
    Http,
    /// Close the listener: connection refused.
    Tcp,
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

/// When a fault happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timing {
    /// Offset from the start of the run.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub at: Duration,
    /// Length of its window (`None`: until the end of the run, or instant).
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub duration: Option<Duration>,
    /// Repetition period.
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub every: Option<Duration>,
}

/// How new upgrades are refused during an outage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultKind {
    /// Close selected connections, spread over `stagger`.
    Disconnect {
        /// How.
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
        /// What.
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

/// A validated fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    /// Label.
    pub name: Option<String>,
    /// When.
    pub timing: Timing,
    /// To what.
    pub select: Selection,
    /// What.
    pub kind: FaultKind,
}
