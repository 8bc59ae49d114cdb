//! Who runs which manager: the scenario's `[cohorts]` section (side by side, or a stable-hash split),
//! every client placed in its cohort, and each cohort as planned.

use std::collections::HashSet;

use serde::Serialize;

use crate::load::driver::{Cohort, Placement};
use crate::load::population::{ClientPlan, CohortPlan, on_new_manager, planned};
use crate::manager::settings::ManagerKind;

/// Who runs which manager.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Cohorts {
    /// Each manager runs the whole population, concurrently, against the same mock.
    SideBySide {
        /// The managers compared.
        managers: Vec<ManagerKind>,
    },
    /// A stable-hash share of the clients runs the new manager, the rest legacy.
    Split {
        /// Share on the new manager.
        new_share: f64,
        /// The new manager.
        new_manager: ManagerKind,
    },
}

impl Cohorts {
    /// The managers that run, legacy first.
    pub fn managers(&self) -> Vec<ManagerKind> {
        match self {
            Cohorts::SideBySide { managers } => managers.clone(),
            Cohorts::Split { new_manager, .. } => vec![ManagerKind::Legacy, *new_manager],
        }
    }
}

/// Cohorts of the run and where each client runs.
pub fn place(cohorts: &Cohorts, people: &[ClientPlan], clients: u32) -> (Vec<Cohort>, Vec<Placement>) {
    match cohorts {
        Cohorts::SideBySide { managers } => {
            let list: Vec<Cohort> = managers.iter().enumerate().map(|(id, m)| Cohort { id, manager: *m }).collect();
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
        Cohorts::Split { new_share, new_manager } => {
            let list = vec![Cohort { id: 0, manager: ManagerKind::Legacy }, Cohort { id: 1, manager: *new_manager }];
            let placements = people
                .iter()
                .map(|plan| {
                    let cohort = list[usize::from(on_new_manager(plan.id, *new_share))].clone();
                    Placement { cohort, plan: plan.clone(), global: plan.id }
                })
                .collect();
            (list, placements)
        }
    }
}

/// Each cohort as planned.
pub fn cohort_sizes(cohorts: &[Cohort], placements: &[Placement]) -> Vec<CohortPlan> {
    cohorts
        .iter()
        .map(|c| planned(c.manager, placements.iter().filter(|p| p.cohort.id == c.id).map(|p| &p.plan)))
        .collect()
}

/// The sockets the clients hold once every subscriber has subscribed (churn replaces subscribers without
/// adding to the count): a socket per subscription (legacy), per distinct stream per client (WSManager),
/// per `unified_max_streams` distinct streams per client (unified).
pub fn client_sockets(cohorts: &Cohorts, unified_max_streams: u32, people: &[ClientPlan]) -> u64 {
    let max_streams = u64::from(unified_max_streams.max(1));
    let per_manager = |m: ManagerKind, client: &ClientPlan| {
        let subscriptions = client.subscribers.iter().map(|s| s.streams.len() as u64).sum::<u64>();
        let distinct = client.subscribers.iter().flat_map(|s| s.streams.iter()).collect::<HashSet<_>>().len() as u64;
        match m {
            ManagerKind::Legacy => subscriptions,
            ManagerKind::Wsmanager => distinct,
            ManagerKind::Unified => distinct.div_ceil(max_streams),
        }
    };
    match cohorts {
        Cohorts::SideBySide { managers } => {
            managers.iter().map(|m| people.iter().map(|c| per_manager(*m, c)).sum::<u64>()).sum()
        }
        Cohorts::Split { new_share, new_manager } => people
            .iter()
            .map(|c| per_manager(if on_new_manager(c.id, *new_share) { *new_manager } else { ManagerKind::Legacy }, c))
            .sum(),
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
        let all =
            Cohorts::SideBySide { managers: vec![ManagerKind::Legacy, ManagerKind::Wsmanager, ManagerKind::Unified] };
        // legacy 4 + 1, WSManager 3 + 1, unified with 2 streams a socket: ceil(3 / 2) + ceil(1 / 2).
        assert_eq!(client_sockets(&all, 2, &people), 5 + 4 + 3);
        let none_new = Cohorts::Split { new_share: 0.0, new_manager: ManagerKind::Wsmanager };
        assert_eq!(client_sockets(&none_new, 2, &people), 5, "every client on legacy");
        let all_new = Cohorts::Split { new_share: 1.0, new_manager: ManagerKind::Wsmanager };
        assert_eq!(client_sockets(&all_new, 2, &people), 4, "every client on WSManager");
    }
}
