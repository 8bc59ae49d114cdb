//! Validating each table of a scenario: the workload, the cohorts (completed by a rollout preset or a
//! rehearsal), the managers' parameters and the faults (placed in a rehearsal's steps). Each function takes
//! its raw table, returns the validated value with the documented defaults and pushes every problem it finds
//! with its key path; [`Scenario::from_raw`](super::Scenario::from_raw) puts them together.

use std::collections::BTreeMap;
use std::time::Duration;

use super::raw::{self, CohortMode, LegacyReconnect, ManagerKind};
use super::{Churn, Cohorts, LegacySettings, ManagerSettings, UnifiedSettings, Workload, WsManagerSettings};
use crate::chaos::fault::{Fault, RawFault, validate_all};
use crate::config_file::{HumanDuration, KeyIssue, Switch};
use crate::criteria::preset::Preset;
use crate::mock::config::MockConfig;
use crate::mock::stream_name::StreamSpec;
use crate::rollout::plan::{RawRollout, RolloutPlan, is_rehearsal};

pub(super) fn duration_or(value: Option<HumanDuration>, default: Duration) -> Duration {
    value.map_or(default, |d| d.0)
}

pub(super) fn switch_duration(value: Option<Switch<HumanDuration>>, default: Option<Duration>) -> Option<Duration> {
    match value {
        None => default,
        Some(Switch::Off) => None,
        Some(Switch::On(d)) => Some(d.0),
    }
}

pub(super) fn positive_count(key: &str, value: Option<u32>, default: u32, issues: &mut Vec<KeyIssue>) -> u32 {
    let v = value.unwrap_or(default);
    if v == 0 {
        issues.push(KeyIssue::new(key, "must be at least 1"));
    }
    v
}

pub(super) fn workload(
    raw: &raw::RawWorkload,
    duration: Duration,
    mock: &MockConfig,
    issues: &mut Vec<KeyIssue>,
) -> Workload {
    let clients = match raw.clients {
        None => {
            issues.push(KeyIssue::new("workload.clients", "is required: the number of simulated clients, e.g. 100"));
            1
        }
        Some(n) => positive_count("workload.clients", Some(n), 1, issues),
    };
    let ramp_up = duration_or(raw.ramp_up, Duration::ZERO);
    if ramp_up >= duration {
        issues
            .push(KeyIssue::new("workload.ramp-up", format!("{ramp_up:?} is not shorter than the run ({duration:?})")));
    }
    let exponent = raw.popularity_exponent.unwrap_or(1.0);
    if !(exponent.is_finite() && exponent >= 0.0) {
        issues
            .push(KeyIssue::new("workload.popularity-exponent", "must be 0 or more (0: every symbol equally popular)"));
    }
    let kinds = kinds(raw.kinds.clone(), issues);
    let streams_per_subscriber =
        positive_count("workload.streams-per-subscriber", raw.streams_per_subscriber, 1, issues);
    let distinct = mock.feed.symbols.len() * kinds.len();
    if streams_per_subscriber as usize > distinct {
        let message =
            format!("{streams_per_subscriber} is more than the {distinct} distinct streams of the symbols and kinds");
        issues.push(KeyIssue::new("workload.streams-per-subscriber", message));
    }
    Workload {
        clients,
        subscribers_per_client: positive_count(
            "workload.subscribers-per-client",
            raw.subscribers_per_client,
            1,
            issues,
        ),
        streams_per_subscriber,
        ramp_up,
        popularity_exponent: exponent,
        kinds,
        churn: churn(raw.churn.as_ref(), issues),
    }
}

pub(super) fn kinds(raw: Option<BTreeMap<String, f64>>, issues: &mut Vec<KeyIssue>) -> Vec<(String, f64)> {
    let raw = raw.unwrap_or_else(|| BTreeMap::from([("trade".to_owned(), 1.0)]));
    if raw.is_empty() {
        issues.push(KeyIssue::new("workload.kinds", "needs at least one stream kind, e.g. { trade = 1 }"));
    }
    for (kind, weight) in &raw {
        let key = format!("workload.kinds.{kind}");
        if StreamSpec::parse(&format!("btcusdt@{kind}")).is_none() {
            let message = format!(
                "{kind:?} is not a per-symbol stream kind; use e.g. trade, aggTrade, bookTicker, depth@100ms, depth5, kline_1m, miniTicker, ticker"
            );
            issues.push(KeyIssue::new(key.clone(), message));
        }
        if !(weight.is_finite() && *weight > 0.0) {
            issues.push(KeyIssue::new(key, "weights must be positive numbers"));
        }
    }
    raw.into_iter().collect()
}

pub(super) fn churn(raw: Option<&raw::RawChurn>, issues: &mut Vec<KeyIssue>) -> Option<Churn> {
    let raw = raw?;
    let every = duration_or(raw.every, Duration::from_secs(10));
    if every.is_zero() {
        issues.push(KeyIssue::new("workload.churn.every", "must be longer than zero"));
    }
    let share = raw.share.unwrap_or(0.1);
    if !(0.0..=1.0).contains(&share) {
        issues.push(KeyIssue::new("workload.churn.share", "must be between 0 and 1"));
    }
    Some(Churn { every, share })
}

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
    let new_manager = raw.new_manager.unwrap_or(preset.new_manager());
    let side_by_side = |managers: Vec<ManagerKind>| raw::RawCohorts {
        mode: Some(CohortMode::SideBySide),
        managers: raw.managers.clone().or(Some(managers)),
        new_share: raw.new_share,
        new_manager: None,
    };
    match preset {
        Preset::Phase0 => side_by_side(vec![ManagerKind::Legacy]),
        Preset::Phase2 => side_by_side(vec![new_manager]),
        _ => raw::RawCohorts {
            mode: Some(CohortMode::Split),
            managers: raw.managers.clone(),
            new_share: raw.new_share.or(preset.shares().first().copied()),
            new_manager: Some(new_manager),
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
        Cohorts::Split { new_manager, .. } => plan.new_manager = *new_manager,
        Cohorts::SideBySide { .. } => issues.push(KeyIssue::new(
            "cohorts.mode",
            "a rehearsal moves clients between legacy and one new manager: use mode = \"split\" (or leave [cohorts] out)",
        )),
    }
    Some(plan)
}

pub(super) fn cohorts(raw: &raw::RawCohorts, issues: &mut Vec<KeyIssue>) -> Cohorts {
    match raw.mode.unwrap_or(CohortMode::SideBySide) {
        CohortMode::SideBySide => {
            if raw.new_share.is_some() || raw.new_manager.is_some() {
                issues.push(KeyIssue::new("cohorts.mode", "new-share and new-manager belong to mode = \"split\""));
            }
            let managers = raw.managers.clone().unwrap_or_else(|| vec![ManagerKind::Legacy, ManagerKind::Wsmanager]);
            let mut seen = std::collections::HashSet::new();
            if managers.is_empty() || !managers.iter().all(|m| seen.insert(*m)) {
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
            let new_manager = raw.new_manager.unwrap_or(ManagerKind::Wsmanager);
            if new_manager == ManagerKind::Legacy {
                issues.push(KeyIssue::new("cohorts.new-manager", "must be \"wsmanager\" or \"unified\""));
            }
            Cohorts::Split { new_share, new_manager }
        }
    }
}

pub(super) fn managers(raw: &raw::RawManagers, issues: &mut Vec<KeyIssue>) -> ManagerSettings {
    let legacy = raw.legacy.clone().unwrap_or_default();
    let ws = raw.wsmanager.clone().unwrap_or_default();
    let unified = raw.unified.clone().unwrap_or_default();
    let connect_timeout = |d: Option<HumanDuration>| duration_or(d, Duration::from_secs(10));
    let settings = ManagerSettings {
        legacy: LegacySettings {
            reconnect: legacy.reconnect.unwrap_or(LegacyReconnect::Fixed),
            delay: duration_or(legacy.delay, Duration::from_secs(1)),
            max_delay: duration_or(legacy.max_delay, Duration::from_secs(30)),
            max_attempts: legacy.max_attempts.and_then(|s| s.value()),
            liveness: switch_duration(legacy.liveness, None),
            connect_timeout: connect_timeout(legacy.connect_timeout),
        },
        wsmanager: WsManagerSettings {
            base_delay: duration_or(ws.base_delay, Duration::from_secs(1)),
            max_delay: duration_or(ws.max_delay, Duration::from_secs(30)),
            max_attempts: ws.max_attempts.unwrap_or(10),
            idle_timeout: duration_or(ws.idle_timeout, Duration::from_secs(300)),
            sweep_interval: duration_or(ws.sweep_interval, Duration::from_secs(60)),
            liveness: switch_duration(ws.liveness, Some(Duration::from_secs(30))),
            connect_timeout: connect_timeout(ws.connect_timeout),
        },
        unified: UnifiedSettings {
            base_delay: duration_or(unified.base_delay, Duration::from_secs(1)),
            max_delay: duration_or(unified.max_delay, Duration::from_secs(30)),
            max_attempts: unified.max_attempts.unwrap_or(10),
            max_streams: unified.max_streams.unwrap_or(1024),
            messages_per_second: unified.messages_per_second.unwrap_or(5),
            fallback_after: match unified.fallback_after {
                None => Some(3),
                Some(s) => s.value(),
            },
            liveness: switch_duration(unified.liveness, Some(Duration::from_secs(30))),
            connect_timeout: connect_timeout(unified.connect_timeout),
        },
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
