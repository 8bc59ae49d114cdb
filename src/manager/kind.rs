//! Which manager: the three the documents describe, by the name files and reports use.

use serde::{Deserialize, Serialize};

/// The manager implementations the harness models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ManagerKind {
    /// The legacy `binanceConnectionManager`: one socket per `subscribe()` call, fixed reconnect delay.
    Legacy,
    /// The new WSManager: one socket per distinct stream, reference counted, full-jitter backoff.
    Wsmanager,
    /// The unified single-connection manager: one `/stream` socket per client with live SUBSCRIBE.
    Unified,
}

impl ManagerKind {
    /// The name as written in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ManagerKind::Legacy => "legacy",
            ManagerKind::Wsmanager => "wsmanager",
            ManagerKind::Unified => "unified",
        }
    }
}
