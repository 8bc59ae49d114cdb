//! Why the mock refused an upgrade ([`RejectReason`]) and why an established connection ended
//! ([`CloseCause`]): the words of its counters, its peer log and `/stats`.

use serde::{Deserialize, Serialize};

/// Why an upgrade (or plain HTTP request) was refused. Serialized as its label (`too-many-requests`,
/// `injected-503`), so it can key a JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// 404: not `/ws…` or `/stream…`.
    NotFound,
    /// 400: bad `timeUnit`, too many URL streams, or not a valid WebSocket upgrade.
    BadRequest,
    /// 405: not a GET.
    MethodNotAllowed,
    /// 414: request target longer than `max-url-length`.
    UriTooLong,
    /// 426: unsupported `Sec-WebSocket-Version`.
    UpgradeRequired,
    /// 431: request head too large.
    HeadersTooLarge,
    /// 429: the source IP used up its connection-attempt budget.
    TooManyRequests,
    /// A status answered by an injected fault (outage, reject-handshakes).
    Injected(u16),
    /// Never answered: a `slow-handshake` fault held the upgrade until the client left.
    Withheld,
    /// The client did not finish its upgrade request in time.
    HandshakeTimeout,
    /// The client closed or reset the socket before finishing its upgrade request.
    HandshakeAborted,
}

impl RejectReason {
    /// The label used in JSON, metrics and reports.
    pub fn label(self) -> String {
        match self {
            Self::NotFound => "not-found".into(),
            Self::BadRequest => "bad-request".into(),
            Self::MethodNotAllowed => "method-not-allowed".into(),
            Self::UriTooLong => "uri-too-long".into(),
            Self::UpgradeRequired => "upgrade-required".into(),
            Self::HeadersTooLarge => "headers-too-large".into(),
            Self::TooManyRequests => "too-many-requests".into(),
            Self::Injected(status) => format!("injected-{status}"),
            Self::Withheld => "withheld".into(),
            Self::HandshakeTimeout => "handshake-timeout".into(),
            Self::HandshakeAborted => "handshake-aborted".into(),
        }
    }
}

impl std::str::FromStr for RejectReason {
    type Err = String;

    fn from_str(label: &str) -> Result<Self, String> {
        let known = [
            Self::NotFound,
            Self::BadRequest,
            Self::MethodNotAllowed,
            Self::UriTooLong,
            Self::UpgradeRequired,
            Self::HeadersTooLarge,
            Self::TooManyRequests,
            Self::Withheld,
            Self::HandshakeTimeout,
            Self::HandshakeAborted,
        ];
        if let Some(status) = label.strip_prefix("injected-").and_then(|s| s.parse().ok()) {
            return Ok(Self::Injected(status));
        }
        known.into_iter().find(|r| r.label() == label).ok_or_else(|| format!("unknown reject reason {label:?}"))
    }
}

impl<'de> Deserialize<'de> for RejectReason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let label = String::deserialize(deserializer)?;
        label.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for RejectReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.label())
    }
}

/// Why an established connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloseCause {
    /// The client sent a close frame.
    ClientClose,
    /// The client's TCP connection ended without a close frame (FIN or reset).
    ClientVanished,
    /// More incoming messages than the rate limit allows (1008 "Too many requests").
    MessageRate,
    /// No pong before the deadline.
    PongTimeout,
    /// The connection reached its maximum lifetime.
    Lifetime,
    /// The outbound queue overflowed under the `disconnect` policy.
    SlowConsumer,
    /// An incoming message over `max-message-size` (1009).
    MessageTooBig,
    /// Invalid frames, bad UTF-8 or other protocol violations by the client.
    ProtocolViolation,
    /// A malformed stream under the `error-and-close` policy.
    MalformedStream,
    /// The server was asked to close it (library or chaos call).
    ServerInitiated,
    /// The mock is shutting down.
    Shutdown,
    /// A write or read failed.
    IoError,
}

impl CloseCause {
    /// The name as `/stats` writes it.
    pub fn label(self) -> &'static str {
        match self {
            CloseCause::ClientClose => "client-close",
            CloseCause::ClientVanished => "client-vanished",
            CloseCause::MessageRate => "message-rate",
            CloseCause::PongTimeout => "pong-timeout",
            CloseCause::Lifetime => "lifetime",
            CloseCause::SlowConsumer => "slow-consumer",
            CloseCause::MessageTooBig => "message-too-big",
            CloseCause::ProtocolViolation => "protocol-violation",
            CloseCause::MalformedStream => "malformed-stream",
            CloseCause::ServerInitiated => "server-initiated",
            CloseCause::Shutdown => "shutdown",
            CloseCause::IoError => "io-error",
        }
    }
}
