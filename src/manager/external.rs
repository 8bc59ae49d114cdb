//! External managers: the team's own manager code, run in processes of its own behind the adapter protocol
//! (`crate::adapter`). A scenario names each one in `[managers.<name>]` with its command, the manager it
//! implements (which decides how the criteria judge it: legacy is the baseline, the others the new
//! managers) and how many clients one process runs; its cohorts name it like a model. Which manager a
//! cohort runs, model or external, is a [`ManagerRef`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use crate::config_file::{HumanDuration, KeyIssue, duration_or};
use crate::manager::kind::ManagerKind;

/// How long a process may take to answer `init` with `ready` unless the scenario says (a Node process
/// loading its modules on a busy machine takes a second or two).
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The most clients one process may run (each is a manager instance with its sockets).
pub const MAX_CLIENTS_PER_PROCESS: u32 = 10_000;

/// `[managers.<name>]` for a name that is not a model's.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawExternal {
    /// The program and its arguments, run from the directory wschaos runs in
    /// (`["node", "adapters/node/run.js"]`).
    pub command: Option<Vec<String>>,
    /// The manager it implements, `legacy`, `wsmanager` or `unified`: how the criteria judge it and how its
    /// sockets are estimated.
    pub implements: Option<ManagerKind>,
    /// The implementation the process runs for each client, as its `ready` report names it (default: the
    /// value of `implements`).
    pub implementation: Option<String>,
    /// Clients (manager instances) one process runs: 1 models separate browser tabs or app instances, more
    /// is cheaper (default 1).
    pub clients_per_process: Option<u32>,
    /// How long a process may take to answer `init` (default 20s).
    pub ready_timeout: Option<HumanDuration>,
    /// Environment variables set for the process (`USE_NEW_WS_MANAGER = "true"`).
    pub env: Option<BTreeMap<String, String>>,
}

/// A validated external manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalManager {
    /// Its name in `[managers]` and `[cohorts]`.
    pub name: String,
    /// Program and arguments.
    pub command: Vec<String>,
    /// The manager it implements.
    pub implements: ManagerKind,
    /// The implementation each client runs.
    pub implementation: String,
    /// Clients per process.
    pub clients_per_process: u32,
    /// Time allowed for `ready`.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub ready_timeout: Duration,
    /// Environment of the process.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// Which manager a cohort runs: a model, or the external manager at `external` in the scenario's list.
/// Written as its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerRef {
    /// The name in the scenario (a model's is its kind's).
    pub name: String,
    /// The manager it is (or implements).
    pub kind: ManagerKind,
    /// Its index among the external managers, `None` for a model.
    pub external: Option<usize>,
}

impl ManagerRef {
    /// The model of `kind`.
    pub fn model(kind: ManagerKind) -> Self {
        ManagerRef { name: kind.as_str().to_owned(), kind, external: None }
    }

    /// Whether it is the team's own code rather than a model.
    pub fn is_external(&self) -> bool {
        self.external.is_some()
    }
}

impl Serialize for ManagerRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

/// The manager a cohort names: a model's name, or an external manager of `[managers]`.
pub fn resolve(name: &str, external: &[ExternalManager]) -> Option<ManagerRef> {
    for kind in [ManagerKind::Legacy, ManagerKind::Wsmanager, ManagerKind::Unified] {
        if kind.as_str() == name {
            return Some(ManagerRef::model(kind));
        }
    }
    let index = external.iter().position(|e| e.name == name)?;
    Some(ManagerRef { name: name.to_owned(), kind: external[index].implements, external: Some(index) })
}

/// What a cohort may name, for error messages: the models and the external managers.
pub fn known_names(external: &[ExternalManager]) -> String {
    let mut names = vec!["legacy", "wsmanager", "unified"];
    names.extend(external.iter().map(|e| e.name.as_str()));
    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

/// Validates every `[managers.<name>]` that is not a model's, in name order.
pub fn validate(raw: &BTreeMap<String, RawExternal>, issues: &mut Vec<KeyIssue>) -> Vec<ExternalManager> {
    raw.iter().map(|(name, table)| validate_one(name, table, issues)).collect()
}

fn validate_one(name: &str, raw: &RawExternal, issues: &mut Vec<KeyIssue>) -> ExternalManager {
    let key = |k: &str| format!("managers.{name}.{k}");
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') || name.is_empty() {
        issues.push(KeyIssue::new(
            format!("managers.{name}"),
            "an external manager's name is lowercase letters, digits and '-' (it names files and report columns)",
        ));
    }
    let command = raw.command.clone().unwrap_or_default();
    if raw.command.is_none() {
        issues.push(KeyIssue::new(
            key("command"),
            "is required for an external manager, e.g. command = [\"node\", \"adapters/node/run.js\"] (the models' \
             tables are managers.legacy, managers.wsmanager and managers.unified)",
        ));
    } else if command.first().is_none_or(|program| program.trim().is_empty()) {
        issues.push(KeyIssue::new(key("command"), "needs a program first, e.g. [\"node\", \"adapters/node/run.js\"]"));
    }
    let implements = raw.implements.unwrap_or_else(|| {
        issues.push(KeyIssue::new(
            key("implements"),
            "is required: the manager it implements, \"legacy\", \"wsmanager\" or \"unified\" (legacy is judged as \
             the baseline, the others as new managers)",
        ));
        ManagerKind::Wsmanager
    });
    let clients_per_process = raw.clients_per_process.unwrap_or(1);
    if !(1..=MAX_CLIENTS_PER_PROCESS).contains(&clients_per_process) {
        issues.push(KeyIssue::new(
            key("clients-per-process"),
            format!("must be 1 to {MAX_CLIENTS_PER_PROCESS} (1: a process per client, as separate tabs or apps)"),
        ));
    }
    let ready_timeout = duration_or(raw.ready_timeout, DEFAULT_READY_TIMEOUT);
    if ready_timeout.is_zero() {
        issues.push(KeyIssue::new(key("ready-timeout"), "must be longer than zero, e.g. \"20s\""));
    }
    let implementation = raw.implementation.clone().unwrap_or_else(|| implements.as_str().to_owned());
    if implementation.is_empty() {
        issues.push(KeyIssue::new(key("implementation"), "must name the implementation its ready report lists"));
    }
    ExternalManager {
        name: name.to_owned(),
        command,
        implements,
        implementation,
        clients_per_process: clients_per_process.clamp(1, MAX_CLIENTS_PER_PROCESS),
        ready_timeout,
        env: raw.env.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(command: &[&str], implements: Option<ManagerKind>) -> RawExternal {
        RawExternal {
            command: Some(command.iter().map(|s| (*s).to_owned()).collect()),
            implements,
            ..RawExternal::default()
        }
    }

    #[test]
    fn an_external_manager_takes_its_defaults_and_resolves_by_name() {
        let mut issues = Vec::new();
        let tables = BTreeMap::from([("js-ws".to_owned(), raw(&["node", "run.js"], Some(ManagerKind::Wsmanager)))]);
        let external = validate(&tables, &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(external[0].clients_per_process, 1);
        assert_eq!(external[0].implementation, "wsmanager");
        assert_eq!(external[0].ready_timeout, DEFAULT_READY_TIMEOUT);
        let found = resolve("js-ws", &external).expect("named");
        assert_eq!((found.kind, found.external), (ManagerKind::Wsmanager, Some(0)));
        assert_eq!(resolve("legacy", &external), Some(ManagerRef::model(ManagerKind::Legacy)));
        assert_eq!(resolve("js-legacy", &external), None);
        assert_eq!(known_names(&external), "\"legacy\", \"wsmanager\", \"unified\", \"js-ws\"");
    }

    #[test]
    fn every_mistake_of_an_external_table_is_reported_with_its_key() {
        let mut issues = Vec::new();
        let mut bad = raw(&[""], None);
        bad.clients_per_process = Some(0);
        bad.ready_timeout = Some(HumanDuration(Duration::ZERO));
        let tables = BTreeMap::from([("Bad Name".to_owned(), bad), ("x".to_owned(), RawExternal::default())]);
        validate(&tables, &mut issues);
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "managers.Bad Name",
                "managers.Bad Name.command",
                "managers.Bad Name.implements",
                "managers.Bad Name.clients-per-process",
                "managers.Bad Name.ready-timeout",
                "managers.x.command",
                "managers.x.implements",
            ]
        );
    }
}
