//! Starting the processes of a run's external cohorts before its clock starts: each cohort's clients
//! grouped `clients-per-process` to a process (in client order), every process started from its
//! manager's command with its environment, told the upstream and waited for until it is ready and names
//! the implementation the scenario asks for. A process that cannot start stops the run before it begins.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::adapter::process::{AdapterProcess, Ready, StartError};
use crate::adapter::protocol::{Command, VERSION};
use crate::load::driver::{Cohort, Placement};
use crate::manager::external::ExternalManager;

/// Processes started at once (each loads its runtime: a Node process takes a few hundred ms of CPU).
const STARTING_AT_ONCE: usize = 8;

/// Milliseconds between two batches of one client's deliveries.
pub const BATCH_MS: u32 = 50;

/// One started process and who it runs.
pub struct Started {
    /// Its cohort.
    pub cohort: Cohort,
    /// The external manager it runs.
    pub manager: Arc<ExternalManager>,
    /// Its index among its cohort's processes.
    pub index: u32,
    /// The clients it runs (their indices in the run).
    pub clients: Vec<u32>,
    /// The process.
    pub process: AdapterProcess,
    /// What its `ready` said.
    pub ready: Ready,
}

/// Which clients each process of each external cohort runs: (cohort, process index, clients).
pub fn groups(
    cohorts: &[Cohort],
    placements: &[Placement],
    external: &[ExternalManager],
) -> Vec<(Cohort, u32, Vec<u32>)> {
    let mut out = Vec::new();
    for cohort in cohorts {
        let Some(manager) = cohort.external.and_then(|i| external.get(i)) else { continue };
        let mut members: Vec<(u32, u32)> =
            placements.iter().filter(|p| p.cohort.id == cohort.id).map(|p| (p.plan.id, p.global)).collect();
        members.sort_unstable();
        let per = manager.clients_per_process.max(1) as usize;
        for (index, chunk) in members.chunks(per).enumerate() {
            out.push((cohort.clone(), index as u32, chunk.iter().map(|(_, global)| *global).collect()));
        }
    }
    out
}

/// Starts every process of `groups`, at most [`STARTING_AT_ONCE`] at a time; the first failure ends the
/// start (the processes already started are killed as they are dropped).
/// With `migrating` (a rehearsal), each process must list its implementation among its migration layers.
pub async fn start_all(
    groups: Vec<(Cohort, u32, Vec<u32>)>,
    external: &[ExternalManager],
    upstream: &str,
    migrating: bool,
) -> Result<Vec<Started>, StartError> {
    let gate = Arc::new(Semaphore::new(STARTING_AT_ONCE));
    let mut set = JoinSet::new();
    for (cohort, index, clients) in groups {
        let Some(manager) = cohort.external.and_then(|i| external.get(i)).cloned() else { continue };
        let (gate, upstream) = (gate.clone(), upstream.to_owned());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            start_one(Arc::new(manager), cohort, index, clients, (&upstream, migrating)).await
        });
    }
    let mut started = Vec::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok(Ok(one)) => started.push(one),
            Ok(Err(e)) => return Err(e),
            Err(e) => {
                return Err(StartError::NotReady {
                    process: "an adapter process".into(),
                    problem: format!("its start-up task failed: {e}"),
                    stderr: Vec::new(),
                });
            }
        }
    }
    started.sort_by_key(|s| (s.cohort.id, s.index));
    Ok(started)
}

async fn start_one(
    manager: Arc<ExternalManager>,
    cohort: Cohort,
    index: u32,
    clients: Vec<u32>,
    (upstream, migrating): (&str, bool),
) -> Result<Started, StartError> {
    let init = Command::Init {
        protocol: VERSION,
        upstream: upstream.to_owned(),
        time_unit: "MICROSECOND".to_owned(),
        batch_ms: BATCH_MS,
    };
    let (process, ready) =
        AdapterProcess::start_with(&manager.command, &manager.env, init, manager.ready_timeout).await?;
    if !ready.implementations.iter().any(|i| *i == manager.implementation) {
        return Err(StartError::NotReady {
            process: process.name.clone(),
            problem: format!(
                "it runs {:?}, not \"{}\": set managers.{}.implementation to one of them",
                ready.implementations, manager.implementation, manager.name
            ),
            stderr: process.stderr_tail(),
        });
    }
    if migrating && !ready.migrations.iter().any(|i| *i == manager.implementation) {
        return Err(StartError::NotReady {
            process: process.name.clone(),
            problem: format!(
                "a rehearsal moves its clients with \"migrate\", and \"{}\" is not among the migration layers its \
                 ready report lists ({:?}): set managers.{}.implementation to one of them",
                manager.implementation, ready.migrations, manager.name
            ),
            stderr: process.stderr_tail(),
        });
    }
    Ok(Started { cohort, manager, index, clients, process, ready })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::load::population::ClientPlan;
    use crate::manager::external::ManagerRef;
    use crate::manager::settings::ManagerKind;

    #[test]
    fn clients_go_to_processes_in_order_clients_per_process_at_a_time() {
        let js = ManagerRef { name: "js".into(), kind: ManagerKind::Wsmanager, external: Some(0) };
        let cohorts = [Cohort::of(0, &ManagerRef::model(ManagerKind::Legacy)), Cohort::of(1, &js)];
        let placement = |cohort: &Cohort, id: u32| Placement {
            cohort: cohort.clone(),
            plan: ClientPlan { id, subscribers: Vec::new() },
            global: cohort.id as u32 * 5 + id,
        };
        let mut placements: Vec<Placement> = (0..5).map(|id| placement(&cohorts[0], id)).collect();
        placements.extend((0..5).rev().map(|id| placement(&cohorts[1], id)));
        let manager = ExternalManager {
            name: "js".into(),
            command: vec!["node".into()],
            implements: ManagerKind::Wsmanager,
            implementation: "wsmanager".into(),
            clients_per_process: 2,
            ready_timeout: std::time::Duration::from_secs(1),
            env: BTreeMap::new(),
        };
        let grouped: Vec<(u32, Vec<u32>)> =
            groups(&cohorts, &placements, &[manager]).into_iter().map(|(c, i, g)| (c.id as u32 * 10 + i, g)).collect();
        assert_eq!(grouped, [(10, vec![5, 6]), (11, vec![7, 8]), (12, vec![9])], "the model cohort has none");
    }
}
