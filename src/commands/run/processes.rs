//! `wschaos run SCENARIO --processes N`: one run as N shard processes of this binary on this machine,
//! against one mock process or several alike replicas (seeded alike and started together, shard I on
//! replica I mod M), merged into the run directory. The parent starts the mocks (as a child mock is
//! started), then the shards (`--shard I/N --target … --control …`, each writing `shard-I/` inside the
//! run directory), waits until every shard has drawn its population and is ready, tells them all one start
//! instant (the barrier), waits for them to end (Ctrl-C and SIGTERM are passed on: each shard writes what it
//! measured), stops the mock and merges (`wschaos merge`'s own code).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::cli::RunArgs;
use crate::commands::process::{Outcome, StopSignals, UsageError};
use crate::mock::process::MockProcess;
use crate::scenario::Scenario;
use crate::scenario::cost::FD_MARGIN;

/// How long a shard may take to draw its population and connect its control client before it is ready.
const READY_WITHIN: Duration = Duration::from_secs(300);

/// Between the last shard's `ready` and the common start: every shard has read its `start` by then.
const START_MARGIN: Duration = Duration::from_millis(500);

/// How long past the run's length the shards may take to stop and write their directories.
const STOP_WITHIN: Duration = Duration::from_secs(120);

/// The mock replicas a run of `count` shard processes needs: as many as asked, or as few as hold every
/// client socket; refused when the mocks or the shards cannot hold them (`open_files`: one process's
/// limit).
pub(super) fn replicas(
    scenario: &Scenario,
    (count, asked): (u32, Option<u32>),
    open_files: Option<u64>,
) -> Result<u32> {
    let sockets = crate::scenario::cost::cost(scenario).sockets_at_least;
    let per_process = open_files.map_or(u64::MAX, |limit| limit.saturating_sub(FD_MARGIN).max(1));
    let needed = u32::try_from(sockets.div_ceil(per_process).max(1)).unwrap_or(u32::MAX);
    // Shard I is on replica I mod M: the busiest replica serves ceil(N / M) shards' sockets, each shard
    // about its share (its hash draws a little over it: 5 % spare).
    let busiest = |m: u32| u64::from(count.div_ceil(m.max(1))) * (sockets.div_ceil(u64::from(count)) * 21 / 20);
    let balanced = (needed..=count).find(|m| busiest(*m) <= per_process);
    let replicas = asked.or(balanced).unwrap_or(needed);
    let refuse =
        |why: String| Err(UsageError(format!("scenario '{}' as --processes {count}: {why}", scenario.name)).into());
    if replicas < needed {
        return refuse(format!(
            "its clients hold {sockets} sockets and a mock process may hold {per_process}: it needs at least {needed} \
             mock processes (--mock-processes {needed}, the default)"
        ));
    }
    if count < needed {
        return refuse(format!(
            "its clients hold {sockets} sockets and a shard process may hold {per_process}: run at least {needed} \
             processes"
        ));
    }
    if replicas > count {
        return refuse(format!(
            "each of the {replicas} mock processes needs a shard: run at least {replicas} processes"
        ));
    }
    if busiest(replicas) > per_process {
        return refuse(format!(
            "shard I connects to mock I mod {replicas}, so one mock serves {} shards, about {} sockets, and a mock \
             process may hold {per_process}: run a multiple of {replicas} processes, or more mock processes",
            count.div_ceil(replicas),
            busiest(replicas)
        ));
    }
    Ok(replicas)
}

/// Runs the scenario as `count` shards against `replicas` mocks and merges them into `out`.
pub(super) async fn run(
    args: &RunArgs,
    scenario: &Scenario,
    (count, replicas): (u32, u32),
    out: &Path,
    stop: &mut StopSignals,
) -> Result<(crate::summary::RunSummary, Outcome)> {
    let mut mocks = Vec::with_capacity(replicas as usize);
    for replica in 0..replicas {
        let dir = if replicas == 1 { out.to_owned() } else { out.join(format!("mock-{replica}")) };
        mocks.push(MockProcess::spawn(&scenario.mock_raw, scenario.seed, &dir).await?);
    }
    let dirs: Vec<PathBuf> = (0..count).map(|i| out.join(format!("shard-{i}"))).collect();
    let mut shards = Vec::with_capacity(dirs.len());
    for (index, dir) in dirs.iter().enumerate() {
        let mock = &mocks[index % mocks.len()];
        let mut shard = shard_command(args, (index as u32, count, replicas), mock, dir)?;
        if scenario.rollout.plan.is_some() {
            // A rehearsal's shards pool each step's figures on one board: replica 0's.
            shard.args(["--pool", &mocks[0].control().to_string()]);
        }
        shards.push(shard.spawn().with_context(|| format!("could not start shard {index}/{count}"))?);
    }
    let started = start_together(&mut shards, stop).await;
    if let Err(e) = started {
        terminate_all(&mut shards).await;
        stop_mocks(mocks).await.ok();
        return Err(e);
    }
    // A shard serving --metrics lingers that long after its run.
    let linger = args.metrics_linger.as_ref().map_or(Duration::ZERO, |d| d.0);
    let ended = wait_all(&mut shards, scenario.duration.saturating_add(STOP_WITHIN).saturating_add(linger), stop).await;
    stop_mocks(mocks).await?;
    let failed: Vec<String> =
        ended.iter().enumerate().filter(|(_, code)| !matches!(code, Some(0 | 1 | 3 | 130))).map(describe).collect();
    if !failed.is_empty() {
        return Err(anyhow!("shard(s) {} failed; see their messages above", failed.join(", ")));
    }
    super::super::merge::merge(&dirs, out, args.baseline.as_deref())
}

async fn stop_mocks(mocks: Vec<MockProcess>) -> Result<()> {
    for mock in mocks {
        mock.stop().await.context("stopping a mock process")?;
    }
    Ok(())
}

fn describe((index, code): (usize, &Option<i32>)) -> String {
    match code {
        Some(code) => format!("{index} (exit {code})"),
        None => format!("{index} (killed by a signal, or did not stop in time)"),
    }
}

/// A shard process to start: its stdout read for `ready`, its stdin for `start MS`, its stderr the parent's.
fn shard_command(
    args: &RunArgs,
    (index, count, replicas): (u32, u32, u32),
    mock: &MockProcess,
    dir: &Path,
) -> Result<Command> {
    let exe = std::env::current_exe().context("could not find the wschaos executable")?;
    let mut command = Command::new(exe);
    command
        .arg("run")
        .arg(&args.scenario)
        .args(["--shard", &format!("{index}/{count}"), "--start-on-stdin", "--quiet"])
        .args(["--target", &format!("ws://{}", mock.addr()), "--control", &mock.control().to_string()])
        .args(["--replicas", &replicas.to_string()])
        .arg("--out")
        .arg(dir);
    if let Some(seed) = args.seed {
        command.args(["--seed", &seed.to_string()]);
    }
    if let Some(duration) = &args.duration {
        command.args(["--duration", &format!("{}ms", duration.0.as_millis())]);
    }
    if let Some(threads) = args.threads {
        command.args(["--threads", &threads.to_string()]);
    }
    command.env_remove("WSCHAOS_METRICS_TOKEN");
    if let Some(addr) = args.metrics {
        command.args(["--metrics", &super::metrics::shard_address(addr, index)?.to_string()]);
        if let Some(linger) = &args.metrics_linger {
            command.args(["--metrics-linger", &format!("{}ms", linger.0.as_millis())]);
        }
        // Through the environment, not the command line that every user of the machine can read.
        if let Some(token) = &args.metrics_token {
            command.env("WSCHAOS_METRICS_TOKEN", token);
        }
    }
    command
        .env_remove("WSCHAOS_CONTROL_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    Ok(command)
}

/// Ctrl-C or SIGTERM while the shards were starting: nothing was measured.
#[derive(Debug, thiserror::Error)]
#[error("interrupted while the shards were starting; nothing was measured")]
pub(super) struct Interrupted;

/// Waits until every shard said `ready`, then tells them all one start instant.
async fn start_together(shards: &mut [Child], stop: &mut StopSignals) -> Result<()> {
    let ready = async {
        for (index, shard) in shards.iter_mut().enumerate() {
            let stdout = shard.stdout.take().ok_or_else(|| anyhow!("shard {index} has no stdout"))?;
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).await.context("reading a shard")?;
            if line.trim() != "ready" {
                return Err(
                    UsageError(format!("shard {index} stopped before it was ready (see its message above)")).into()
                );
            }
        }
        Ok::<(), anyhow::Error>(())
    };
    tokio::select! {
        done = tokio::time::timeout(READY_WITHIN, ready) => {
            done.map_err(|_| anyhow!("the shards were not ready within {} s", READY_WITHIN.as_secs()))??
        }
        _ = stop.recv() => return Err(Interrupted.into()),
    }
    let at = SystemTime::now() + START_MARGIN;
    let ms = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    for (index, shard) in shards.iter_mut().enumerate() {
        let stdin = shard.stdin.as_mut().ok_or_else(|| anyhow!("shard {index} has no stdin"))?;
        stdin.write_all(format!("start {ms}\n").as_bytes()).await.with_context(|| format!("starting shard {index}"))?;
        stdin.flush().await.with_context(|| format!("starting shard {index}"))?;
    }
    Ok(())
}

/// Waits for every shard to exit, at most `limit`; a signal is passed on to them (each then writes what it
/// measured) and the wait goes on. Each shard's exit code, `None` for one killed or still running at the
/// limit (it is killed when dropped).
async fn wait_all(shards: &mut [Child], limit: Duration, stop: &mut StopSignals) -> Vec<Option<i32>> {
    let pids: Vec<u32> = shards.iter().filter_map(Child::id).collect();
    let count = shards.len();
    let all = futures_util::future::join_all(shards.iter_mut().map(Child::wait));
    tokio::pin!(all);
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    let mut signalled = false;
    loop {
        tokio::select! {
            statuses = &mut all => return statuses.into_iter().map(|s| s.ok().and_then(|s| s.code())).collect(),
            _ = stop.recv(), if !signalled => {
                signalled = true;
                eprintln!("wschaos run: stopping the shards; each writes what it measured");
                for pid in &pids {
                    Command::new("kill").args(["-TERM", &pid.to_string()]).status().await.ok();
                }
            }
            _ = &mut deadline => {
                eprintln!("wschaos run: the shards did not stop within {:?} of the run's start", limit);
                return vec![None; count];
            }
        }
    }
}

/// Stops every shard at once (a failed start).
async fn terminate_all(shards: &mut [Child]) {
    for shard in shards.iter_mut() {
        shard.kill().await.ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_file::SourceFile;
    use crate::scenario::cost::MachineLimits;

    fn legacy(clients: u32) -> Scenario {
        let text = format!(
            "name = \"n\"\nduration = \"10s\"\n[workload]\nclients = {clients}\nsubscribers-per-client = 1\n\
             ramp-up = \"1s\"\n[cohorts]\nmanagers = [\"legacy\"]\n"
        );
        let source = SourceFile { path: "n.toml".into(), text };
        crate::scenario::from_source(&source, &MachineLimits::default()).unwrap()
    }

    #[test]
    fn as_few_mock_replicas_as_hold_every_socket_and_a_shard_for_each() {
        let limit = Some(20_000);
        // 100,000 sockets (and the canaries') over 20,000 less the margin per process: 6 mocks.
        assert_eq!(replicas(&legacy(100_000), (6, None), limit).unwrap(), 6);
        assert_eq!(replicas(&legacy(1_000), (4, None), limit).unwrap(), 1);
        assert_eq!(replicas(&legacy(1_000), (4, Some(2)), limit).unwrap(), 2);
        let too_few = replicas(&legacy(100_000), (6, Some(3)), limit).unwrap_err().to_string();
        assert!(too_few.contains("at least 6 mock processes"), "{too_few}");
        let few_shards = replicas(&legacy(100_000), (4, None), limit).unwrap_err().to_string();
        assert!(few_shards.contains("run at least 6 processes"), "{few_shards}");
        let idle = replicas(&legacy(1_000), (2, Some(3)), limit).unwrap_err().to_string();
        assert!(idle.contains("each of the 3 mock processes needs a shard"), "{idle}");
        assert_eq!(replicas(&legacy(100_000), (1, None), None).unwrap(), 1, "an unknown limit refuses nothing");
        // 7 shards on 6 mocks would put two shards on mock 0: 7 mocks, one each.
        assert_eq!(replicas(&legacy(100_000), (7, None), limit).unwrap(), 7);
        let unbalanced = replicas(&legacy(100_000), (7, Some(6)), limit).unwrap_err().to_string();
        assert!(unbalanced.contains("one mock serves 2 shards"), "{unbalanced}");
    }
}
