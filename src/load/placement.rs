//! Who runs which manager: the scenario's `[cohorts]` section (side by side, or a stable-hash split),
//! every client placed in its cohort, and each cohort as planned.

use std::collections::HashSet;

use serde::Serialize;

use crate::load::driver::{Cohort, Placement};
use crate::load::population::{ClientPlan, CohortPlan, on_new_manager, planned};
use crate::manager::external::ManagerRef;
use crate::manager::settings::ManagerKind;

/// Who runs which manager.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Cohorts {
    /// Each manager runs the whole population, concurrently, against the same mock.
    SideBySide {
        /// The managers compared.
        managers: Vec<ManagerRef>,
    },
    /// A stable-hash share of the clients runs the new manager, the rest legacy.
    Split {
        /// Share on the new manager.
        new_share: f64,
        /// The new manager.
        new_manager: ManagerRef,
        /// Clients the share does not decide for.
        #[serde(flatten, skip_serializing_if = "Pinned::is_empty")]
        pinned: Pinned,
    },
}

/// Clients whose manager a split does not leave to the share: 002's `WEBSOCKET_ROLLOUT_USER_LIST` (always on
/// the new manager; with a share of 0, its testing mode) and `WEBSOCKET_FORCE_LEGACY_USERS` (always on legacy,
/// whatever the share or the other list).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pinned {
    /// Client ids always on the new manager, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub new_clients: Vec<u32>,
    /// Client ids always on legacy, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub legacy_clients: Vec<u32>,
}

impl Pinned {
    /// Nobody pinned.
    pub fn is_empty(&self) -> bool {
        self.new_clients.is_empty() && self.legacy_clients.is_empty()
    }

    /// Whether client `id` runs the new manager in a split of `share`.
    pub fn on_new(&self, id: u32, share: f64) -> bool {
        if self.legacy_clients.binary_search(&id).is_ok() {
            return false;
        }
        self.new_clients.binary_search(&id).is_ok() || on_new_manager(id, share)
    }
}

impl Cohorts {
    /// The managers that run, legacy first in a split.
    pub fn managers(&self) -> Vec<ManagerRef> {
        match self {
            Cohorts::SideBySide { managers } => managers.clone(),
            Cohorts::Split { new_manager, .. } => vec![ManagerRef::model(ManagerKind::Legacy), new_manager.clone()],
        }
    }
}

/// Cohorts of the run and where each client runs.
pub fn place(cohorts: &Cohorts, people: &[ClientPlan], clients: u32) -> (Vec<Cohort>, Vec<Placement>) {
    match cohorts {
        Cohorts::SideBySide { managers } => {
            let list: Vec<Cohort> = managers.iter().enumerate().map(|(id, m)| Cohort::of(id, m)).collect();
            let placements = list
                .iter()
                .flat_map(|cohort| {
                    people.iter().map(move |plan| Placement {
                        cohort: cohort.clone(),
                        plan: plan.clone(),
                        global: cohort.id as u32 * clients + plan.id,
                    })
                })
                .collect();
            (list, placements)
        }
        Cohorts::Split { new_share, new_manager, pinned } => {
            let list = vec![Cohort::of(0, &ManagerRef::model(ManagerKind::Legacy)), Cohort::of(1, new_manager)];
            let placements = people
                .iter()
                .map(|plan| {
                    let cohort = list[usize::from(pinned.on_new(plan.id, *new_share))].clone();
                    Placement { cohort, plan: plan.clone(), global: plan.id }
                })
                .collect();
            (list, placements)
        }
    }
}

/// Each cohort as planned.
pub fn cohort_sizes(cohorts: &[Cohort], placements: &[Placement]) -> Vec<CohortPlan> {
    cohorts.iter().map(|c| planned(c, placements.iter().filter(|p| p.cohort.id == c.id).map(|p| &p.plan))).collect()
}

/// The sockets the harness's own clients hold once every subscriber has subscribed (churn replaces
/// subscribers without adding to the count): a socket per subscription (legacy), per distinct stream per
/// client (WSManager), per `unified_max_streams` distinct streams per client (unified). An external
/// manager's sockets are its processes', not the harness's: they count in [`upstream_sockets`] only.
pub fn client_sockets(cohorts: &Cohorts, unified_max_streams: u32, people: &[ClientPlan]) -> u64 {
    sockets(cohorts, unified_max_streams, people, false)
}

/// The sockets the upstream serves once every subscriber has subscribed: the harness's clients' and the
/// external managers' (estimated by the manager each implements).
pub fn upstream_sockets(cohorts: &Cohorts, unified_max_streams: u32, people: &[ClientPlan]) -> u64 {
    sockets(cohorts, unified_max_streams, people, true)
}

fn sockets(cohorts: &Cohorts, unified_max_streams: u32, people: &[ClientPlan], external: bool) -> u64 {
    let max_streams = u64::from(unified_max_streams.max(1));
    let per_manager = |m: &ManagerRef, client: &ClientPlan| {
        if m.is_external() && !external {
            return 0;
        }
        let subscriptions = client.subscriptions();
        let distinct = client.subscribers.iter().flat_map(|s| s.streams.iter()).collect::<HashSet<_>>().len() as u64;
        match m.kind {
            ManagerKind::Legacy => subscriptions,
            ManagerKind::Wsmanager => distinct,
            ManagerKind::Unified => distinct.div_ceil(max_streams),
        }
    };
    match cohorts {
        Cohorts::SideBySide { managers } => {
            managers.iter().map(|m| people.iter().map(|c| per_manager(m, c)).sum::<u64>()).sum()
        }
        Cohorts::Split { new_share, new_manager, pinned } => {
            let legacy = ManagerRef::model(ManagerKind::Legacy);
            people
                .iter()
                .map(|c| per_manager(if pinned.on_new(c.id, *new_share) { new_manager } else { &legacy }, c))
                .sum()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::population::SubscriberPlan;

    fn client(id: u32, subscribers: &[&[&str]]) -> ClientPlan {
        let subscriber = |(i, streams): (usize, &&[&str])| SubscriberPlan {
            id: i as u32,
            streams: streams.iter().map(|s| (*s).to_owned()).collect(),
        };
        ClientPlan { id, subscribers: subscribers.iter().enumerate().map(subscriber).collect() }
    }

    #[test]
    fn sockets_are_counted_per_subscription_per_distinct_stream_and_per_unified_batch() {
        // Client 0: 4 subscriptions over 3 distinct streams; client 1: 1 over 1.
        let people = [client(0, &[&["a", "b"], &["a", "c"]]), client(1, &[&["a"]])];
        let model = ManagerRef::model;
        let all = Cohorts::SideBySide {
            managers: vec![model(ManagerKind::Legacy), model(ManagerKind::Wsmanager), model(ManagerKind::Unified)],
        };
        // legacy 4 + 1, WSManager 3 + 1, unified with 2 streams a socket: ceil(3 / 2) + ceil(1 / 2).
        assert_eq!(client_sockets(&all, 2, &people), 5 + 4 + 3);
        let split =
            |new_share, pinned| Cohorts::Split { new_share, new_manager: model(ManagerKind::Wsmanager), pinned };
        assert_eq!(client_sockets(&split(0.0, Pinned::default()), 2, &people), 5, "every client on legacy");
        assert_eq!(client_sockets(&split(1.0, Pinned::default()), 2, &people), 4, "every client on WSManager");
        let testing = Pinned { new_clients: vec![0], legacy_clients: vec![] };
        assert_eq!(client_sockets(&split(0.0, testing), 2, &people), 3 + 1, "client 0 on WSManager, 1 on legacy");
        let forced = Pinned { new_clients: vec![], legacy_clients: vec![1] };
        assert_eq!(client_sockets(&split(1.0, forced), 2, &people), 3 + 1, "client 1 forced to legacy");
        let js = ManagerRef { name: "js".into(), kind: ManagerKind::Wsmanager, external: Some(0) };
        let beside = Cohorts::SideBySide { managers: vec![model(ManagerKind::Legacy), js.clone()] };
        assert_eq!(client_sockets(&beside, 2, &people), 5, "the external cohort's sockets are its processes'");
        assert_eq!(upstream_sockets(&beside, 2, &people), 5 + 4, "but the upstream serves them");
        let split_js = Cohorts::Split { new_share: 1.0, new_manager: js, pinned: Pinned::default() };
        assert_eq!((client_sockets(&split_js, 2, &people), upstream_sockets(&split_js, 2, &people)), (0, 4));
    }

    #[test]
    fn a_forced_legacy_client_wins_over_the_list_and_the_share() {
        let pinned = Pinned { new_clients: vec![3, 7], legacy_clients: vec![7, 9] };
        assert!(pinned.on_new(3, 0.0), "listed: on the new manager at a share of 0 (testing mode)");
        assert!(!pinned.on_new(7, 1.0) && !pinned.on_new(9, 1.0), "forced to legacy even at 100 %");
        let by_share = (0..1000).filter(|id| pinned.on_new(*id, 0.25)).count();
        let plain = (0..1000).filter(|id| on_new_manager(*id, 0.25)).count();
        assert!(by_share.abs_diff(plain) <= 2, "everyone else by the stable hash: {by_share} vs {plain}");
    }
}
