//! A fault as written in TOML or JSON: one flat table with a `kind` and the keys that kind takes.

use serde::{Deserialize, Serialize};

use crate::config_file::{HumanDuration, Switch};
use crate::mock::config::RawRate;
use crate::mock::faults::{CorruptVariant, FaultKindName, StallMode};

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

/// One fault as written: a flat table with a `kind` and the keys that kind takes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawFault {
    /// The fault kind (required).
    #[schemars(required)]
    pub kind: Option<FaultKindName>,
    /// A label for reports and the control API.
    pub name: Option<String>,
    /// Offset from the start of the run, or of the rehearsal step given by `step` (default 0).
    pub at: Option<HumanDuration>,
    /// In a rollout rehearsal: the step it falls in (1 is the first); `at` then counts from that step's start.
    pub step: Option<u32>,
    /// How long it lasts (faults with a window).
    pub duration: Option<HumanDuration>,
    /// Repeat every … (within the run).
    pub every: Option<HumanDuration>,
    /// Share of the matching connections (default 1).
    pub share: Option<f64>,
    /// Stream-name patterns (`btcusdt@*`).
    pub streams: Option<Vec<String>>,
    /// Symbol patterns (`eth*`).
    pub symbols: Option<Vec<String>>,
    /// Source addresses or blocks (`127.0.1.0/24`).
    pub sources: Option<Vec<String>>,
    /// disconnect/outage: `close`, `fin` or `reset`.
    pub how: Option<DisconnectHow>,
    /// Close code for `how = "close"`.
    pub code: Option<u16>,
    /// Close reason.
    pub reason: Option<String>,
    /// disconnect: spread the closes evenly over this window.
    pub stagger: Option<HumanDuration>,
    /// outage: send `serverShutdown` first.
    pub notice: Option<bool>,
    /// outage: time between the notice and the closes.
    pub notice_lead: Option<HumanDuration>,
    /// outage: refuse new connections with `http` (status) or `tcp`.
    pub refuse: Option<RefuseMode>,
    /// HTTP status for refusals.
    pub status: Option<u16>,
    /// `Retry-After` sent with refusals.
    pub retry_after: Option<HumanDuration>,
    /// reject-handshakes: 429s to one IP before it is banned with 418.
    pub ban_after: Option<u32>,
    /// reject-handshakes: how long a ban lasts.
    pub ban: Option<HumanDuration>,
    /// Added delay (latency, slow-handshake).
    pub delay: Option<HumanDuration>,
    /// Uniform jitter around the delay.
    pub jitter: Option<HumanDuration>,
    /// slow-handshake: never answer.
    pub hang: Option<bool>,
    /// stall: `silent` or `stale`.
    pub mode: Option<StallMode>,
    /// burst: rate multiplier.
    pub factor: Option<f64>,
    /// Per-message (or per-attempt) probability.
    pub probability: Option<f64>,
    /// corrupt: what to send.
    pub variant: Option<CorruptVariant>,
    /// corrupt: how many messages per connection.
    pub count: Option<u32>,
    /// corrupt oversize: bytes.
    pub size: Option<usize>,
    /// corrupt fragmented: frames per message.
    pub fragments: Option<u32>,
    /// max-lifetime: the age at which connections are closed.
    pub age: Option<HumanDuration>,
    /// connect-limit: attempts per window per IP, or "off".
    pub limit: Option<Switch<RawRate>>,
}
