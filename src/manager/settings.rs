//! The managers' vocabulary and their scenario section: which manager ([`ManagerKind`]) and each one's
//! parameters, as written ([`RawManagers`], `[managers]`) and validated ([`ManagerSettings`]). The
//! scenario assembles them; the managers, the load driver, the criteria and the rollout read them from here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config_file::{HumanDuration, KeyIssue, Switch, duration_or, switch_duration};
use crate::manager::external::{ExternalManager, RawExternal};
pub use crate::manager::kind::ManagerKind;

/// Legacy reconnect delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LegacyReconnect {
    /// The same delay every time.
    Fixed,
    /// delay × attempt.
    Linear,
    /// delay × 2^attempt, no jitter.
    Exponential,
}

/// Legacy manager parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacySettings {
    /// Delay policy (no jitter).
    pub reconnect: LegacyReconnect,
    /// The fixed delay, or the first one for linear and exponential (`delay`, default 1s).
    #[serde(with = "crate::vocab::serialize::millis")]
    pub delay: Duration,
    /// Largest delay.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub max_delay: Duration,
    /// Attempts before giving up (`None`: never).
    pub max_attempts: Option<u32>,
    /// Silence before a socket is declared dead (`None`: never).
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub liveness: Option<Duration>,
    /// Connect time limit (`None`: none, as a browser's `WebSocket` has none).
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub connect_timeout: Option<Duration>,
    /// What starts the attempt count afresh.
    pub retry_reset: RetryReset,
}

/// What sets a manager's count of reconnect attempts back to zero, which decides when it gives up and how
/// long its backoff grows. The documents do not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RetryReset {
    /// Every successful upgrade (`onopen`): an upstream that accepts and closes at once is retried forever.
    OnOpen,
    /// The first market message on the socket (`onmessage`): accepted-and-closed connections count as tries.
    OnMessage,
}

impl RetryReset {
    /// The name as written in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryReset::OnOpen => "on-open",
            RetryReset::OnMessage => "on-message",
        }
    }
}

/// WSManager parameters (003).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WsManagerSettings {
    /// Backoff base.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub base_delay: Duration,
    /// Backoff cap.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub max_delay: Duration,
    /// Attempts before the error reaches the subscribers.
    pub max_attempts: u32,
    /// Idle streams closed after this.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub idle_timeout: Duration,
    /// Sweep period.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub sweep_interval: Duration,
    /// Silence before a socket is declared dead (`None`: never; 003 describes no such check).
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub liveness: Option<Duration>,
    /// Connect time limit (`None`: none; 003 states none).
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub connect_timeout: Option<Duration>,
    /// What starts the attempt count afresh.
    pub retry_reset: RetryReset,
}

/// Unified manager parameters (002).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnifiedSettings {
    /// Backoff base.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub base_delay: Duration,
    /// Backoff cap.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub max_delay: Duration,
    /// Attempts per outage before counting a failure.
    pub max_attempts: u32,
    /// Streams per socket.
    pub max_streams: u32,
    /// Control messages per second per socket.
    pub messages_per_second: u32,
    /// Consecutive failures before falling back to legacy (`None`: never).
    pub fallback_after: Option<u32>,
    /// Silence before a socket is declared dead (`None`: never; 002 describes no such check).
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub liveness: Option<Duration>,
    /// Connect time limit (`None`: none; 002 states none).
    #[serde(with = "crate::vocab::serialize::opt_millis")]
    pub connect_timeout: Option<Duration>,
    /// What starts the attempt count afresh.
    pub retry_reset: RetryReset,
}

/// Every manager's parameters (echoed in the output).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManagerSettings {
    /// The legacy manager's parameters (`[managers.legacy]`).
    pub legacy: LegacySettings,
    /// The new WSManager's parameters (`[managers.wsmanager]`).
    pub wsmanager: WsManagerSettings,
    /// The unified manager's parameters (`[managers.unified]`).
    pub unified: UnifiedSettings,
    /// The external managers, in name order (`[managers.<name>]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external: Vec<ExternalManager>,
}

/// `[managers.legacy]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLegacy {
    /// Delay policy.
    pub reconnect: Option<LegacyReconnect>,
    /// The delay (first delay for linear and exponential).
    pub delay: Option<HumanDuration>,
    /// Largest delay for linear and exponential.
    pub max_delay: Option<HumanDuration>,
    /// Attempts before giving up, or "off" (never gives up).
    pub max_attempts: Option<Switch<u32>>,
    /// Reconnect a socket silent for this long, or "off".
    pub liveness: Option<Switch<HumanDuration>>,
    /// TCP + upgrade time limit, or "off" (the default: none).
    pub connect_timeout: Option<Switch<HumanDuration>>,
    /// What sets the attempt count back to zero: "on-open" (the default) or "on-message".
    pub retry_reset: Option<RetryReset>,
}

/// `[managers.wsmanager]` and the backoff part of `[managers.unified]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawWsManager {
    /// Backoff base.
    pub base_delay: Option<HumanDuration>,
    /// Backoff cap.
    pub max_delay: Option<HumanDuration>,
    /// Attempts before the error reaches the subscribers.
    pub max_attempts: Option<u32>,
    /// Streams without traffic this long are closed.
    pub idle_timeout: Option<HumanDuration>,
    /// How often idle streams are swept.
    pub sweep_interval: Option<HumanDuration>,
    /// Reconnect a socket silent for this long, or "off".
    pub liveness: Option<Switch<HumanDuration>>,
    /// TCP + upgrade time limit, or "off" (the default: none).
    pub connect_timeout: Option<Switch<HumanDuration>>,
    /// What sets the attempt count back to zero: "on-open" (the default) or "on-message".
    pub retry_reset: Option<RetryReset>,
}

/// `[managers.unified]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawUnified {
    /// Backoff base.
    pub base_delay: Option<HumanDuration>,
    /// Backoff cap.
    pub max_delay: Option<HumanDuration>,
    /// Attempts before falling back or giving up.
    pub max_attempts: Option<u32>,
    /// Streams per connection before a second socket.
    pub max_streams: Option<u32>,
    /// Control messages per second sent on one socket.
    pub messages_per_second: Option<u32>,
    /// Consecutive failures before the client falls back to legacy, or "off".
    pub fallback_after: Option<Switch<u32>>,
    /// Reconnect a socket silent for this long, or "off".
    pub liveness: Option<Switch<HumanDuration>>,
    /// TCP + upgrade time limit, or "off" (the default: none).
    pub connect_timeout: Option<Switch<HumanDuration>>,
    /// What sets the attempt count back to zero: "on-open" (the default) or "on-message".
    pub retry_reset: Option<RetryReset>,
}

/// `[managers]`: the models' parameters, and any other name is an external manager (a table of its own
/// keys, so a misspelt model name is reported as an external manager missing its `command`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub struct RawManagers {
    /// The legacy manager's parameters.
    pub legacy: Option<RawLegacy>,
    /// The new WSManager's parameters.
    pub wsmanager: Option<RawWsManager>,
    /// The unified manager's parameters.
    pub unified: Option<RawUnified>,
    /// External managers by name (`[managers.js-wsmanager]`).
    #[serde(flatten)]
    pub external: std::collections::BTreeMap<String, RawExternal>,
}

/// Validates `[managers]`: each manager's documented defaults, every problem pushed with its key path.
pub fn validate(raw: &RawManagers, issues: &mut Vec<KeyIssue>) -> ManagerSettings {
    let settings = ManagerSettings {
        legacy: legacy_settings(&raw.legacy.clone().unwrap_or_default()),
        wsmanager: wsmanager_settings(&raw.wsmanager.clone().unwrap_or_default()),
        unified: unified_settings(&raw.unified.clone().unwrap_or_default()),
        external: crate::manager::external::validate(&raw.external, issues),
    };
    for (key, value) in [
        ("managers.legacy.delay", settings.legacy.delay),
        ("managers.wsmanager.base-delay", settings.wsmanager.base_delay),
        ("managers.wsmanager.sweep-interval", settings.wsmanager.sweep_interval),
        ("managers.unified.base-delay", settings.unified.base_delay),
    ] {
        if value.is_zero() {
            issues.push(KeyIssue::new(key, "must be longer than zero"));
        }
    }
    for (key, value) in [
        ("managers.legacy.connect-timeout", settings.legacy.connect_timeout),
        ("managers.wsmanager.connect-timeout", settings.wsmanager.connect_timeout),
        ("managers.unified.connect-timeout", settings.unified.connect_timeout),
        ("managers.legacy.liveness", settings.legacy.liveness),
        ("managers.wsmanager.liveness", settings.wsmanager.liveness),
        ("managers.unified.liveness", settings.unified.liveness),
    ] {
        if value.is_some_and(|d| d.is_zero()) {
            issues.push(KeyIssue::new(key, "must be longer than zero, or \"off\""));
        }
    }
    for (key, value) in [
        ("managers.legacy.max-attempts", settings.legacy.max_attempts.unwrap_or(1)),
        ("managers.unified.fallback-after", settings.unified.fallback_after.unwrap_or(1)),
        ("managers.wsmanager.max-attempts", settings.wsmanager.max_attempts),
        ("managers.unified.max-attempts", settings.unified.max_attempts),
        ("managers.unified.max-streams", settings.unified.max_streams),
        ("managers.unified.messages-per-second", settings.unified.messages_per_second),
    ] {
        if value == 0 {
            issues.push(KeyIssue::new(key, "must be at least 1"));
        }
    }
    settings
}

/// The legacy manager's settings: fixed 1 s delay, never gives up, no liveness check, no connect timeout.
fn legacy_settings(legacy: &RawLegacy) -> LegacySettings {
    LegacySettings {
        reconnect: legacy.reconnect.unwrap_or(LegacyReconnect::Fixed),
        delay: duration_or(legacy.delay, Duration::from_secs(1)),
        max_delay: duration_or(legacy.max_delay, Duration::from_secs(30)),
        max_attempts: legacy.max_attempts.and_then(|s| s.value()),
        liveness: switch_duration(legacy.liveness, None),
        connect_timeout: switch_duration(legacy.connect_timeout, None),
        retry_reset: legacy.retry_reset.unwrap_or(RetryReset::OnOpen),
    }
}

/// WSManager's settings: 003's backoff (1 s base, 30 s cap, 10 attempts) and idle sweep (5 minutes, every
/// minute); no liveness check and no connect timeout, as 003 describes none.
fn wsmanager_settings(ws: &RawWsManager) -> WsManagerSettings {
    WsManagerSettings {
        base_delay: duration_or(ws.base_delay, Duration::from_secs(1)),
        max_delay: duration_or(ws.max_delay, Duration::from_secs(30)),
        max_attempts: ws.max_attempts.unwrap_or(10),
        idle_timeout: duration_or(ws.idle_timeout, Duration::from_secs(300)),
        sweep_interval: duration_or(ws.sweep_interval, Duration::from_secs(60)),
        liveness: switch_duration(ws.liveness, None),
        connect_timeout: switch_duration(ws.connect_timeout, None),
        retry_reset: ws.retry_reset.unwrap_or(RetryReset::OnOpen),
    }
}

/// The unified manager's settings: Binance's limits (1024 streams, 5 messages a second); assumed: WSManager's
/// backoff and a fallback to legacy after 3 failed attempts; no liveness check and no connect timeout.
fn unified_settings(unified: &RawUnified) -> UnifiedSettings {
    UnifiedSettings {
        base_delay: duration_or(unified.base_delay, Duration::from_secs(1)),
        max_delay: duration_or(unified.max_delay, Duration::from_secs(30)),
        max_attempts: unified.max_attempts.unwrap_or(10),
        max_streams: unified.max_streams.unwrap_or(1024),
        messages_per_second: unified.messages_per_second.unwrap_or(5),
        fallback_after: match unified.fallback_after {
            None => Some(3),
            Some(s) => s.value(),
        },
        liveness: switch_duration(unified.liveness, None),
        connect_timeout: switch_duration(unified.connect_timeout, None),
        retry_reset: unified.retry_reset.unwrap_or(RetryReset::OnOpen),
    }
}
