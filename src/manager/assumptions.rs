//! What the manager models assume beyond their documents. Each model's defaults are what its document states
//! (003 for WSManager, the success-criteria table for legacy; 002 states only Binance's limits); what the
//! documents leave open (a liveness check, a connect timeout, what resets the attempt count, legacy's delay)
//! is a named setting whose default is an assumption. A run lists every assumption it made and every
//! setting its scenario changed, so a figure that rests on one says so in the report.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::manager::settings::{LegacyReconnect, ManagerKind, ManagerSettings, RawManagers};

/// Why a setting's value is not simply what the manager's document states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// The documents leave the behaviour open; the value is wschaos's default.
    Assumed,
    /// The scenario set it.
    Scenario,
}

impl Basis {
    /// How a report says it.
    pub fn words(self) -> &'static str {
        match self {
            Basis::Assumed => "assumed: the documents leave it open",
            Basis::Scenario => "set by the scenario",
        }
    }
}

/// One setting a run's figures rest on that its manager's document does not fix.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Assumption {
    /// The manager it belongs to.
    pub manager: ManagerKind,
    /// The setting, as `[managers.<manager>]` spells it.
    pub setting: String,
    /// The value the run used (`off` for a check or limit that is not there).
    pub value: String,
    /// Whether wschaos assumed it or the scenario set it.
    pub basis: Basis,
    /// What the document states, when it states anything.
    pub document: Option<String>,
}

/// One setting of one manager: its value, whether the scenario wrote it, what the document says (`None`:
/// nothing), and whether it matters at all given the others.
struct Row {
    setting: &'static str,
    value: String,
    written: bool,
    document: Option<&'static str>,
    matters: bool,
}

impl Row {
    fn new(setting: &'static str, value: String, written: bool, document: Option<&'static str>) -> Row {
        Row { setting, value, written, document, matters: true }
    }

    fn when(mut self, matters: bool) -> Row {
        self.matters = matters;
        self
    }
}

/// Every manager's assumptions and scenario-set values, legacy first.
pub fn list(raw: &RawManagers, settings: &ManagerSettings) -> Vec<Assumption> {
    let rows = [
        (ManagerKind::Legacy, legacy_rows(raw, settings)),
        (ManagerKind::Wsmanager, wsmanager_rows(raw, settings)),
        (ManagerKind::Unified, unified_rows(raw, settings)),
    ];
    rows.into_iter()
        .flat_map(|(manager, rows)| rows.into_iter().filter_map(move |row| assumption(manager, row)))
        .collect()
}

fn assumption(manager: ManagerKind, row: Row) -> Option<Assumption> {
    let basis = match (row.written, row.document) {
        (true, _) => Basis::Scenario,
        (false, None) if row.matters => Basis::Assumed,
        _ => return None,
    };
    Some(Assumption {
        manager,
        setting: row.setting.to_owned(),
        value: row.value,
        basis,
        document: row.document.map(str::to_owned),
    })
}

fn legacy_rows(raw: &RawManagers, settings: &ManagerSettings) -> Vec<Row> {
    let (l, r) = (&settings.legacy, raw.legacy.clone().unwrap_or_default());
    let fixed = l.reconnect == LegacyReconnect::Fixed;
    let reconnect = serde_json::to_value(l.reconnect).ok().and_then(|v| v.as_str().map(str::to_owned));
    vec![
        Row::new(
            "reconnect",
            reconnect.unwrap_or_default(),
            r.reconnect.is_some(),
            Some("fixed delay, no jitter (success criteria)"),
        ),
        Row::new("delay", duration(l.delay), r.delay.is_some(), None),
        Row::new("max-delay", duration(l.max_delay), r.max_delay.is_some(), None).when(!fixed),
        Row::new("max-attempts", count(l.max_attempts), r.max_attempts.is_some(), None),
        Row::new("liveness", optional(l.liveness), r.liveness.is_some(), None),
        Row::new("connect-timeout", optional(l.connect_timeout), r.connect_timeout.is_some(), None),
        // It decides when legacy gives up, and how far a growing delay has grown.
        Row::new("retry-reset", l.retry_reset.as_str().to_owned(), r.retry_reset.is_some(), None)
            .when(l.max_attempts.is_some() || !fixed),
    ]
}

fn wsmanager_rows(raw: &RawManagers, settings: &ManagerSettings) -> Vec<Row> {
    let (w, r) = (&settings.wsmanager, raw.wsmanager.clone().unwrap_or_default());
    vec![
        Row::new("base-delay", duration(w.base_delay), r.base_delay.is_some(), Some("1s (003)")),
        Row::new("max-delay", duration(w.max_delay), r.max_delay.is_some(), Some("30s (003)")),
        Row::new("max-attempts", w.max_attempts.to_string(), r.max_attempts.is_some(), Some("10 (003)")),
        Row::new("idle-timeout", duration(w.idle_timeout), r.idle_timeout.is_some(), Some("5m (003)")),
        Row::new(
            "sweep-interval",
            duration(w.sweep_interval),
            r.sweep_interval.is_some(),
            Some("1m (003; 000's example sweeps every 5 minutes)"),
        ),
        Row::new("liveness", optional(w.liveness), r.liveness.is_some(), None),
        Row::new("connect-timeout", optional(w.connect_timeout), r.connect_timeout.is_some(), None),
        Row::new("retry-reset", w.retry_reset.as_str().to_owned(), r.retry_reset.is_some(), None),
    ]
}

fn unified_rows(raw: &RawManagers, settings: &ManagerSettings) -> Vec<Row> {
    let (u, r) = (&settings.unified, raw.unified.clone().unwrap_or_default());
    let limit = Some("Binance's limit");
    vec![
        Row::new("base-delay", duration(u.base_delay), r.base_delay.is_some(), None),
        Row::new("max-delay", duration(u.max_delay), r.max_delay.is_some(), None),
        // With a fallback, its consecutive failures are the attempt limit.
        Row::new("max-attempts", u.max_attempts.to_string(), r.max_attempts.is_some(), None)
            .when(u.fallback_after.is_none()),
        Row::new("max-streams", u.max_streams.to_string(), r.max_streams.is_some(), limit),
        Row::new("messages-per-second", u.messages_per_second.to_string(), r.messages_per_second.is_some(), limit),
        // 002's 3 consecutive failures are its deployment monitor's rollback threshold, not the client's.
        Row::new("fallback-after", count(u.fallback_after), r.fallback_after.is_some(), None),
        Row::new("liveness", optional(u.liveness), r.liveness.is_some(), None),
        Row::new("connect-timeout", optional(u.connect_timeout), r.connect_timeout.is_some(), None),
        Row::new("retry-reset", u.retry_reset.as_str().to_owned(), r.retry_reset.is_some(), None),
    ]
}

fn duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn optional(d: Option<Duration>) -> String {
    d.map_or_else(|| "off".to_owned(), duration)
}

fn count(n: Option<u32>) -> String {
    n.map_or_else(|| "off".to_owned(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assumptions(toml_text: &str) -> Vec<Assumption> {
        let raw: RawManagers = toml::from_str(toml_text).unwrap();
        let mut issues = Vec::new();
        let settings = crate::manager::settings::validate(&raw, &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
        list(&raw, &settings)
    }

    fn of(list: &[Assumption], manager: ManagerKind) -> Vec<(&str, &str, Basis)> {
        list.iter().filter(|a| a.manager == manager).map(|a| (a.setting.as_str(), a.value.as_str(), a.basis)).collect()
    }

    #[test]
    fn by_default_only_what_the_documents_leave_open_is_listed() {
        let list = assumptions("");
        let open = |manager| of(&list, manager);
        use Basis::Assumed;
        assert_eq!(
            open(ManagerKind::Wsmanager),
            [("liveness", "off", Assumed), ("connect-timeout", "off", Assumed), ("retry-reset", "on-open", Assumed)],
            "003 states the backoff and the sweep; nothing else"
        );
        assert_eq!(
            open(ManagerKind::Legacy),
            [
                ("delay", "1s", Assumed),
                ("max-attempts", "off", Assumed),
                ("liveness", "off", Assumed),
                ("connect-timeout", "off", Assumed)
            ],
            "max-delay needs a growing delay and retry-reset an attempt limit"
        );
        let unified: Vec<&str> = open(ManagerKind::Unified).iter().map(|(s, _, _)| *s).collect();
        assert_eq!(
            unified,
            ["base-delay", "max-delay", "fallback-after", "liveness", "connect-timeout", "retry-reset"],
            "max-attempts does not apply while a fallback is on"
        );
    }

    #[test]
    fn a_setting_the_scenario_writes_is_listed_with_what_the_document_says() {
        let list = assumptions("[wsmanager]\nmax-attempts = 3\nliveness = \"3s\"\n[legacy]\nmax-attempts = 5\n");
        let attempts = list.iter().find(|a| a.manager == ManagerKind::Wsmanager && a.setting == "max-attempts");
        let attempts = attempts.unwrap();
        assert_eq!((attempts.value.as_str(), attempts.basis), ("3", Basis::Scenario));
        assert_eq!(attempts.document.as_deref(), Some("10 (003)"));
        let ws = of(&list, ManagerKind::Wsmanager);
        assert!(ws.contains(&("liveness", "3s", Basis::Scenario)), "{ws:?}");
        let legacy = of(&list, ManagerKind::Legacy);
        assert!(legacy.contains(&("retry-reset", "on-open", Basis::Assumed)), "with an attempt limit: {legacy:?}");
    }
}
