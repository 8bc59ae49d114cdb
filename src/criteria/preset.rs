//! Rollout presets: the phases of the rollout documents (`success-criteria.md`, "Rollout phases"). Each sets
//! the traffic share on the new manager, step by step, and the gates judged at every step. A preset is a set
//! of defaults: a scenario's own `[cohorts]` keys and `[criteria.<id>]` overrides win over it.
//!
//! This module is data and the pure merge of a preset's gates with a scenario's overrides; running steps is
//! the rollout rehearsal's work.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::criteria::RawOverride;
use crate::manager::settings::ManagerKind;

/// A rollout phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Preset {
    /// Flag off: legacy only; establishes the baseline (000).
    #[serde(rename = "phase-0")]
    Phase0,
    /// 10 % of the clients on the new manager (000).
    #[serde(rename = "phase-1")]
    Phase1,
    /// 100 % on the new manager in staging, long-run stability (000).
    #[serde(rename = "phase-2")]
    Phase2,
    /// Production steps 5 → 25 → 50 → 100 % with rollback triggers at every step (000, 004).
    #[serde(rename = "phase-3")]
    Phase3,
    /// Live connections handed over 10 → 25 → 50 → 75 → 100 % (001).
    #[serde(rename = "blue-green")]
    BlueGreen,
    /// The unified manager from 5 % by 5 % steps to 50 %, then by 10 % to 100 %, with automatic rollback (002).
    #[serde(rename = "gradual")]
    Gradual,
}

/// One gate a preset adds: a criterion switched on, with the phase's threshold when it differs from the table's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    /// Criterion id.
    pub criterion: &'static str,
    /// The phase's threshold (`None`: the table's default).
    pub threshold: Option<f64>,
}

const fn gate(criterion: &'static str, threshold: Option<f64>) -> Gate {
    Gate { criterion, threshold }
}

const PHASE_1_GATES: &[Gate] =
    &[gate("error-rate-regression", None), gate("latency-regression", Some(5.0)), gate("connection-leaks", None)];
const PHASE_2_GATES: &[Gate] = &[gate("connection-leaks", None)];
const PHASE_3_GATES: &[Gate] =
    &[gate("error-rate", Some(1.0)), gate("latency-p95", Some(500.0)), gate("connection-success", Some(95.0))];
const BLUE_GREEN_GATES: &[Gate] = &[
    gate("error-rate", Some(1.0)),
    gate("latency-p95", Some(500.0)),
    gate("subscription-preservation", Some(100.0)),
    gate("connection-preservation", Some(95.0)),
    gate("recovery-time", Some(30.0)),
];
const GRADUAL_GATES: &[Gate] = &[
    gate("error-rate", Some(5.0)),
    gate("connection-success", Some(95.0)),
    gate("fallback-rate", Some(10.0)),
    gate("consecutive-failures", Some(3.0)),
];
const GRADUAL_SHARES: &[f64] =
    &[0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.60, 0.70, 0.80, 0.90, 1.0];

impl Preset {
    /// Every preset, in rollout order.
    pub const ALL: [Preset; 6] =
        [Preset::Phase0, Preset::Phase1, Preset::Phase2, Preset::Phase3, Preset::BlueGreen, Preset::Gradual];

    /// The id written in scenario files.
    pub fn id(self) -> &'static str {
        match self {
            Preset::Phase0 => "phase-0",
            Preset::Phase1 => "phase-1",
            Preset::Phase2 => "phase-2",
            Preset::Phase3 => "phase-3",
            Preset::BlueGreen => "blue-green",
            Preset::Gradual => "gradual",
        }
    }

    /// The preset with this id.
    pub fn from_id(id: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.id() == id)
    }

    /// The share of clients on the new manager at each step (one step for single-share phases).
    pub fn shares(self) -> &'static [f64] {
        match self {
            Preset::Phase0 => &[0.0],
            Preset::Phase1 => &[0.10],
            Preset::Phase2 => &[1.0],
            Preset::Phase3 => &[0.05, 0.25, 0.50, 1.0],
            Preset::BlueGreen => &[0.10, 0.25, 0.50, 0.75, 1.0],
            Preset::Gradual => GRADUAL_SHARES,
        }
    }

    /// The gates beyond the defaults.
    pub fn gates(self) -> &'static [Gate] {
        match self {
            Preset::Phase0 => &[],
            Preset::Phase1 => PHASE_1_GATES,
            Preset::Phase2 => PHASE_2_GATES,
            Preset::Phase3 => PHASE_3_GATES,
            Preset::BlueGreen => BLUE_GREEN_GATES,
            Preset::Gradual => GRADUAL_GATES,
        }
    }

    /// The manager the phase moves traffic to.
    pub fn new_manager(self) -> ManagerKind {
        match self {
            Preset::Gradual => ManagerKind::Unified,
            _ => ManagerKind::Wsmanager,
        }
    }

    /// Whether the phase's run establishes the baseline later phases compare with.
    pub fn writes_baseline(self) -> bool {
        self == Preset::Phase0
    }

    /// Whether the phase moves traffic in more than one step.
    pub fn is_stepped(self) -> bool {
        self.shares().len() > 1
    }

    /// The rollout document it comes from.
    pub fn source(self) -> &'static str {
        match self {
            Preset::Phase0 | Preset::Phase1 | Preset::Phase2 => "000",
            Preset::Phase3 => "000, 004",
            Preset::BlueGreen => "001",
            Preset::Gradual => "002",
        }
    }

    /// The preset's gates under the scenario's own overrides (the scenario's keys win, field by field).
    pub fn merge_overrides(self, scenario: &BTreeMap<String, RawOverride>) -> BTreeMap<String, RawOverride> {
        let mut merged: BTreeMap<String, RawOverride> = self
            .gates()
            .iter()
            .map(|g| (g.criterion.to_owned(), RawOverride { threshold: g.threshold, enabled: Some(true) }))
            .collect();
        for (id, over) in scenario {
            let entry = merged.entry(id.clone()).or_default();
            entry.threshold = over.threshold.or(entry.threshold);
            entry.enabled = over.enabled.or(entry.enabled);
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::criteria::table;

    #[test]
    fn every_gate_names_a_criterion_and_shares_climb_to_the_end() {
        let ids: Vec<&str> = table().iter().map(|c| c.id).collect();
        for preset in Preset::ALL {
            for g in preset.gates() {
                assert!(ids.contains(&g.criterion), "{} gates on unknown {}", preset.id(), g.criterion);
            }
            let shares = preset.shares();
            assert!(shares.windows(2).all(|w| w[0] < w[1]), "{} climbs", preset.id());
            assert!(shares.iter().all(|s| (0.0..=1.0).contains(s)));
            assert_eq!(Preset::from_id(preset.id()), Some(preset));
        }
        assert_eq!(Preset::Gradual.shares().len(), 15, "5 % steps to 50 %, then 10 % steps");
        assert_eq!(Preset::Phase3.shares(), [0.05, 0.25, 0.5, 1.0]);
    }

    #[test]
    fn the_scenario_wins_over_the_preset_field_by_field() {
        let mut scenario = BTreeMap::new();
        scenario.insert("latency-p95".to_owned(), RawOverride { threshold: Some(300.0), enabled: None });
        scenario.insert("error-rate".to_owned(), RawOverride { threshold: None, enabled: Some(false) });
        let merged = Preset::Phase3.merge_overrides(&scenario);
        assert_eq!(merged["latency-p95"], RawOverride { threshold: Some(300.0), enabled: Some(true) });
        assert_eq!(merged["error-rate"], RawOverride { threshold: Some(1.0), enabled: Some(false) });
        assert_eq!(merged["connection-success"].threshold, Some(95.0));
    }
}
