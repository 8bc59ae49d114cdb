//! The external cohorts of a run, wired: refused where the mock's record of their connections cannot be
//! read, their processes started before the clock starts (Ctrl-C heard), and their hosts handed to the
//! load driver.

use anyhow::Result;

use super::upstream::Upstream;
use crate::adapter::launch::{Started, groups, start_all};
use crate::commands::process::UsageError;
use crate::load::driver::{Cohort, Placement};
use crate::mock::MockServer;
use crate::scenario::Scenario;

/// Whether any cohort of the scenario runs an external manager.
pub(super) fn any(scenario: &Scenario) -> bool {
    scenario.cohorts.managers().iter().any(|m| m.is_external())
}

/// An external manager's connections are judged by the embedded mock's own record: refuses a run whose
/// clients connect elsewhere.
pub(super) fn check_upstream(scenario: &Scenario, target: bool, own_process: bool) -> Result<()> {
    if !any(scenario) || !(target || own_process) {
        return Ok(());
    }
    let names: Vec<String> =
        scenario.cohorts.managers().iter().filter(|m| m.is_external()).map(|m| m.name.clone()).collect();
    let what = if target { "--target" } else { "a mock in its own process" };
    Err(UsageError(format!(
        "scenario '{}' runs external managers ({}), which are judged by the embedded mock's record of their \
         connections: run it without {what}",
        scenario.name,
        names.join(", ")
    ))
    .into())
}

/// Starts every external process against the embedded mock (its peer record turned on first); `None`
/// when the scenario has none.
pub(super) async fn launch(
    scenario: &Scenario,
    cohorts: &[Cohort],
    placements: &[Placement],
    upstream: &Upstream,
) -> Result<Option<(Vec<Started>, MockServer)>> {
    if !any(scenario) {
        return Ok(None);
    }
    let Upstream::Embedded(mock) = upstream else {
        return Err(UsageError("external managers need the embedded mock".into()).into());
    };
    mock.enable_peer_log();
    let url = format!("ws://{}", mock.local_addr());
    let external = &scenario.managers.external;
    let migrating = scenario.rollout.plan.is_some();
    let started = start_all(groups(cohorts, placements, external), external, &url, migrating)
        .await
        .map_err(|e| UsageError(format!("scenario '{}': an external manager did not start: {e}", scenario.name)))?;
    Ok(Some((started, mock.clone())))
}
