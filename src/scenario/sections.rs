//! Validating the tables of a scenario that join the domains' sections: the cohorts (completed by a rollout
//! preset or a rehearsal), the rehearsal's plan against them and the faults (placed in a rehearsal's
//! steps). Each function takes its raw table, returns the validated value with the documented defaults and
//! pushes every problem it finds with its key path; [`Scenario::from_raw`](super::Scenario::from_raw) puts them together.

use std::time::Duration;

use super::raw::{self, CohortMode};
use crate::chaos::fault::{Fault, RawFault, validate_all};
use crate::config_file::{HumanDuration, KeyIssue};
use crate::criteria::preset::Preset;
use crate::load::placement::{Cohorts, Pinned};
use crate::load::workload::Workload;
use crate::manager::external::{ExternalManager, ManagerRef, known_names, resolve};
use crate::manager::settings::ManagerKind;
use crate::rollout::plan::{RawRollout, RolloutPlan, is_rehearsal};

/// `[cohorts]` completed by `[rollout]`: when the scenario does not choose a mode, a rehearsal splits the
/// clients between legacy and the new manager, and a preset's traffic share (its first step) and manager fill
/// what the scenario leaves out.
pub(super) fn with_rollout(raw: &raw::RawCohorts, rollout: &RawRollout) -> raw::RawCohorts {
    if raw.mode.is_some() {
        return raw.clone();
    }
    let Some(preset) = rollout.preset else {
        if !is_rehearsal(rollout) {
            return raw.clone();
        }
        let first = rollout.steps.as_ref().and_then(|s| s.first().copied());
        return raw::RawCohorts { mode: Some(CohortMode::Split), new_share: raw.new_share.or(first), ..raw.clone() };
    };
    let new_manager = raw.new_manager.clone().unwrap_or_else(|| preset.new_manager().as_str().to_owned());
    let side_by_side = |managers: Vec<String>| raw::RawCohorts {
        mode: Some(CohortMode::SideBySide),
        managers: raw.managers.clone().or(Some(managers)),
        new_share: raw.new_share,
        new_manager: None,
        ..raw.clone()
    };
    match preset {
        Preset::Phase0 => side_by_side(vec![ManagerKind::Legacy.as_str().to_owned()]),
        Preset::Phase2 => side_by_side(vec![new_manager]),
        _ => raw::RawCohorts {
            mode: Some(CohortMode::Split),
            managers: raw.managers.clone(),
            new_share: raw.new_share.or(preset.shares().first().copied()),
            new_manager: Some(new_manager),
            ..raw.clone()
        },
    }
}

/// A rehearsal's plan, with the manager the split moves traffic to.
pub(super) fn rehearsal(
    raw: &RawRollout,
    workload: &Workload,
    duration: Duration,
    cohorts: &Cohorts,
    issues: &mut Vec<KeyIssue>,
) -> Option<RolloutPlan> {
    let mut plan = crate::rollout::plan::validate(raw, workload.ramp_up, duration, issues)?;
    match cohorts {
        Cohorts::Split { new_manager, pinned, .. } => {
            plan.new_manager = new_manager.kind;
            plan.pinned = pinned.clone();
            plan.external = new_manager.is_external().then(|| new_manager.clone());
        }
        Cohorts::SideBySide { .. } => issues.push(KeyIssue::new(
            "cohorts.mode",
            "a rehearsal moves clients between legacy and one new manager: use mode = \"split\" (or leave [cohorts] out)",
        )),
    }
    Some(plan)
}

/// Every pinned client id names a client of the population.
pub(super) fn pinned_in_population(cohorts: &Cohorts, clients: u32, issues: &mut Vec<KeyIssue>) {
    let Cohorts::Split { pinned, .. } = cohorts else { return };
    for (key, ids) in [("cohorts.new-clients", &pinned.new_clients), ("cohorts.legacy-clients", &pinned.legacy_clients)]
    {
        if let Some(id) = ids.iter().find(|id| **id >= clients) {
            issues.push(KeyIssue::new(
                key,
                format!(
                    "client {id} is not in the population: ids run from 0 to {} (workload.clients - 1)",
                    clients.saturating_sub(1)
                ),
            ));
        }
    }
}

pub(super) fn cohorts(raw: &raw::RawCohorts, external: &[ExternalManager], issues: &mut Vec<KeyIssue>) -> Cohorts {
    let named = |key: &str, name: &str, issues: &mut Vec<KeyIssue>| {
        resolve(name, external).unwrap_or_else(|| {
            let known = known_names(external);
            issues.push(KeyIssue::new(
                key,
                format!("\"{name}\" is not a manager: name one of {known}, or add [managers.{name}] with its command"),
            ));
            ManagerRef::model(ManagerKind::Wsmanager)
        })
    };
    match raw.mode.unwrap_or(CohortMode::SideBySide) {
        CohortMode::SideBySide => {
            if raw.new_share.is_some() || raw.new_manager.is_some() {
                issues.push(KeyIssue::new("cohorts.mode", "new-share and new-manager belong to mode = \"split\""));
            }
            if raw.new_clients.is_some() || raw.legacy_clients.is_some() {
                issues.push(KeyIssue::new("cohorts.mode", "new-clients and legacy-clients belong to mode = \"split\""));
            }
            let names = raw.managers.clone().unwrap_or_else(|| vec!["legacy".to_owned(), "wsmanager".to_owned()]);
            let managers: Vec<ManagerRef> = names.iter().map(|n| named("cohorts.managers", n, issues)).collect();
            let mut seen = std::collections::HashSet::new();
            if names.is_empty() || !names.iter().all(|m| seen.insert(m)) {
                issues.push(KeyIssue::new(
                    "cohorts.managers",
                    "needs one or more different managers, e.g. [\"legacy\", \"wsmanager\"]",
                ));
            }
            Cohorts::SideBySide { managers }
        }
        CohortMode::Split => {
            if raw.managers.is_some() {
                issues.push(KeyIssue::new(
                    "cohorts.managers",
                    "belongs to mode = \"side-by-side\"; use new-manager with split",
                ));
            }
            let new_share = raw.new_share.unwrap_or(0.5);
            if !(0.0..=1.0).contains(&new_share) {
                issues.push(KeyIssue::new("cohorts.new-share", "must be between 0 and 1 (0.1 is 10 % of the clients)"));
            }
            let new_manager = named("cohorts.new-manager", raw.new_manager.as_deref().unwrap_or("wsmanager"), issues);
            if new_manager.kind == ManagerKind::Legacy {
                issues.push(KeyIssue::new(
                    "cohorts.new-manager",
                    "must be a new manager: \"wsmanager\", \"unified\", or an external manager that implements one",
                ));
            }
            let sorted = |ids: &Option<Vec<u32>>| {
                let mut ids = ids.clone().unwrap_or_default();
                ids.sort_unstable();
                ids.dedup();
                ids
            };
            let pinned = Pinned { new_clients: sorted(&raw.new_clients), legacy_clients: sorted(&raw.legacy_clients) };
            Cohorts::Split { new_share, new_manager, pinned }
        }
    }
}

/// Faults placed in a rehearsal step (`step = 3`) moved onto the run's clock: their `at` counts from the
/// step's start.
pub(super) fn place_in_steps(
    raws: &[RawFault],
    plan: Option<&RolloutPlan>,
    issues: &mut Vec<KeyIssue>,
) -> Vec<RawFault> {
    let mut placed = raws.to_vec();
    for (i, fault) in placed.iter_mut().enumerate() {
        let Some(step) = fault.step.take() else { continue };
        let steps = plan.map_or(0, |p| p.steps.len());
        match plan.and_then(|p| p.step_start((step as usize).checked_sub(1)?)) {
            Some(start) => fault.at = Some(HumanDuration(start + fault.at.map_or(Duration::ZERO, |d| d.0))),
            None if steps == 0 => issues.push(KeyIssue::new(
                format!("faults[{i}].step"),
                "belongs to a rehearsal ([rollout] steps or a stepped preset)",
            )),
            None => issues.push(KeyIssue::new(
                format!("faults[{i}].step"),
                format!("{step} is not a step of the rehearsal; its steps are 1 to {steps}"),
            )),
        }
    }
    placed
}

pub(super) fn faults(raws: &[RawFault], duration: Duration, issues: &mut Vec<KeyIssue>) -> Vec<Fault> {
    for (i, fault) in raws.iter().enumerate() {
        if let Some(at) = fault.at.filter(|at| at.0 >= duration) {
            issues.push(KeyIssue::new(
                format!("faults[{i}].at"),
                format!("{:?} is not inside the run ({duration:?})", at.0),
            ));
        }
    }
    validate_all(raws, "faults").unwrap_or_else(|e| {
        issues.extend(e);
        Vec::new()
    })
}
