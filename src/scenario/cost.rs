//! What a scenario costs, known from its numbers alone before anything of it is built: its subscriptions,
//! the sockets its clients hold at the least, and an estimate of the memory a run takes; and whether that
//! fits what this machine allows a process (open files) and has (memory). `wschaos validate` and
//! `wschaos run` both check it, so a scenario that cannot run is refused with its figures, exit 2, before
//! its population is drawn. Pure: the machine's limits are given.
//!
//! The sockets are a lower bound, so a refusal is never wrong: legacy holds one per subscription, WSManager
//! at least one per stream of a subscriber, unified at least one per client. The exact count, which needs
//! the drawn population, is checked again when the run places the mock.

use serde::Serialize;

use crate::config_file::KeyIssue;
use crate::load::placement::Cohorts;
use crate::manager::settings::ManagerKind;
use crate::scenario::model::Scenario;

/// File descriptors kept free for the harness itself (files, the recorder, the runtime).
pub const FD_MARGIN: u64 = 256;

/// Harness memory per open client socket, an upper estimate: measured 11 to 19 KB per connection
/// (`benches/scenarios/idle-connections.toml`, `scenarios/scale-10k.toml`).
pub const HARNESS_BYTES_PER_SOCKET: u64 = 20 * 1024;

/// Mock memory per connection, an upper estimate: measured 7.4 KiB idle, 10.4 KB with its baseline.
pub const MOCK_BYTES_PER_SOCKET: u64 = 12 * 1024;

/// Memory per subscription (its planned stream names and its subscriber's state), an upper estimate.
pub const BYTES_PER_SUBSCRIPTION: u64 = 512;

/// Memory per client (its manager's tasks and tables), an upper estimate.
pub const BYTES_PER_CLIENT: u64 = 8 * 1024;

/// What a scenario costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cost {
    /// Clients, over every cohort.
    pub clients: u64,
    /// Subscriptions (subscriber × stream), over every cohort.
    pub subscriptions: u64,
    /// Sockets the clients hold at the least once every subscriber has subscribed, canaries included.
    pub sockets_at_least: u64,
    /// Estimated memory of the run (harness and mock), bytes.
    pub memory_bytes: u64,
}

impl std::fmt::Display for Cost {
    /// `N clients, M subscriptions, at least S sockets`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} clients, {} subscriptions, at least {} sockets",
            self.clients, self.subscriptions, self.sockets_at_least
        )
    }
}

/// What this machine allows one process and has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MachineLimits {
    /// The hard limit on open files of one process (`None`: not known).
    pub open_files: Option<u64>,
    /// Memory available to a run, bytes (`None`: not known).
    pub memory_bytes: Option<u64>,
}

/// The cost of a validated scenario.
pub fn cost(scenario: &Scenario) -> Cost {
    let w = &scenario.workload;
    let clients = u64::from(w.clients);
    let per_client = u64::from(w.subscribers_per_client).saturating_mul(u64::from(w.streams_per_subscriber));
    let max_streams = u64::from(scenario.managers.unified.max_streams.max(1));
    let sockets_of = |manager: ManagerKind| -> u64 {
        let per = match manager {
            ManagerKind::Legacy => per_client,
            ManagerKind::Wsmanager => u64::from(w.streams_per_subscriber),
            ManagerKind::Unified => u64::from(w.streams_per_subscriber).div_ceil(max_streams),
        };
        clients.saturating_mul(per)
    };
    let (cohort_clients, sockets) = match &scenario.cohorts {
        Cohorts::SideBySide { managers } => (
            clients.saturating_mul(managers.len() as u64),
            managers.iter().map(|m| sockets_of(m.kind)).fold(0u64, u64::saturating_add),
        ),
        // A client runs one manager or the other: the lesser is the bound.
        Cohorts::Split { new_manager, .. } => {
            (clients, sockets_of(ManagerKind::Legacy).min(sockets_of(new_manager.kind)))
        }
    };
    let subscriptions = cohort_clients.saturating_mul(per_client);
    let sockets_at_least = sockets.saturating_add(u64::from(scenario.harness.canaries));
    let memory_bytes = sockets_at_least
        .saturating_mul(HARNESS_BYTES_PER_SOCKET + MOCK_BYTES_PER_SOCKET)
        .saturating_add(subscriptions.saturating_mul(BYTES_PER_SUBSCRIPTION))
        .saturating_add(cohort_clients.saturating_mul(BYTES_PER_CLIENT));
    Cost { clients: cohort_clients, subscriptions, sockets_at_least, memory_bytes }
}

/// The problems of a scenario whose cost does not fit the machine, on the keys that set it.
pub fn check(cost: &Cost, limits: &MachineLimits) -> Vec<KeyIssue> {
    let mut issues = Vec::new();
    let figures = cost.to_string();
    if let Some(open_files) = limits.open_files.filter(|limit| cost.sockets_at_least.saturating_add(FD_MARGIN) > *limit)
    {
        issues.push(KeyIssue::new(
            "workload.clients",
            format!(
                "the scenario's clients hold {figures} (legacy: one per subscription; the mock then runs in its own \
                 process), but one process may open {open_files} files (the hard limit, `ulimit -Hn`); run it as \
                 shards (`wschaos run --processes N`, or `--shard I/N` against a shared mock), reduce \
                 workload.clients, workload.subscribers-per-client or workload.streams-per-subscriber, or raise \
                 the hard limit"
            ),
        ));
    }
    if let Some(memory) = limits.memory_bytes.filter(|available| cost.memory_bytes > *available) {
        issues.push(KeyIssue::new(
            "workload",
            format!(
                "a run of {figures} needs about {} of memory, more than the {} this machine has available; \
                 reduce workload.clients or workload.subscribers-per-client",
                mebibytes(cost.memory_bytes),
                mebibytes(memory)
            ),
        ));
    }
    issues
}

/// Bytes as MiB or GiB, for a message.
pub fn mebibytes(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 10_240.0 { format!("{:.0} GiB", mib / 1024.0) } else { format!("{mib:.0} MiB") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        let raw: crate::scenario::RawScenario = toml::from_str(text).unwrap();
        Scenario::from_raw(&raw, "cost").unwrap()
    }

    const BASE: &str = "duration = \"10s\"\n[mock.feed]\nsymbols = [\"btcusdt\", \"ethusdt\"]\n";

    #[test]
    fn legacy_holds_a_socket_per_subscription_and_wsmanager_one_per_subscriber_stream() {
        let text = format!(
            "{BASE}[workload]\nclients = 10\nsubscribers-per-client = 4\nstreams-per-subscriber = 2\n\
             kinds = {{ trade = 1, bookTicker = 1 }}\n[cohorts]\nmanagers = [\"legacy\", \"wsmanager\"]\n\
             [harness]\ncanaries = 2\n"
        );
        let c = cost(&scenario(&text));
        assert_eq!(c.clients, 20);
        assert_eq!(c.subscriptions, 160);
        // legacy 10 × 8, WSManager at least 10 × 2, and the 2 canaries.
        assert_eq!(c.sockets_at_least, 80 + 20 + 2);
        assert_eq!(
            c.memory_bytes,
            102 * (HARNESS_BYTES_PER_SOCKET + MOCK_BYTES_PER_SOCKET)
                + 160 * BYTES_PER_SUBSCRIPTION
                + 20 * BYTES_PER_CLIENT
        );
    }

    #[test]
    fn a_split_is_bounded_by_the_lesser_manager() {
        let text = format!(
            "{BASE}[workload]\nclients = 100\nsubscribers-per-client = 10\n\
             [cohorts]\nmode = \"split\"\nnew-share = 0.5\nnew-manager = \"unified\"\n"
        );
        let c = cost(&scenario(&text));
        assert_eq!(c.clients, 100);
        assert_eq!(c.sockets_at_least, 100 + 2, "unified: one socket per client, and the default 2 canaries");
    }

    #[test]
    fn a_scenario_past_the_machine_is_refused_on_its_keys_with_its_figures() {
        let huge = format!("{BASE}[workload]\nclients = 10000000\n[cohorts]\nmanagers = [\"legacy\"]\n");
        let c = cost(&scenario(&huge));
        let limits = MachineLimits { open_files: Some(20_000), memory_bytes: Some(24 << 30) };
        let issues = check(&c, &limits);
        assert_eq!(issues.len(), 2, "{issues:?}");
        assert_eq!(issues[0].key, "workload.clients");
        assert!(issues[0].message.contains("at least 10000002 sockets") && issues[0].message.contains("20000"));
        assert!(issues[1].message.contains("more than the 24 GiB"), "{}", issues[1].message);
        let small = cost(&scenario(&format!("{BASE}[workload]\nclients = 10\n")));
        assert!(check(&small, &limits).is_empty());
        assert!(check(&c, &MachineLimits::default()).is_empty(), "unknown limits refuse nothing");
    }

    #[test]
    fn counts_saturate_instead_of_overflowing() {
        let text = format!(
            "{BASE}[workload]\nclients = 4000000000\nsubscribers-per-client = 4000000000\n\
             streams-per-subscriber = 2\n"
        );
        let c = cost(&scenario(&text));
        assert_eq!(c.memory_bytes, u64::MAX);
    }
}
