//! Who runs which manager: the scenario's `[cohorts]` section (side by side, or a stable-hash split),
//! every client placed in its cohort, and each cohort as planned.

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
