//! `records.json`: everything a shard of a sharded run measured, exactly (histograms in their HdrHistogram
//! V2 encoding, every counter, series and per-client window), with the scenario text it ran, so that
//! `wschaos merge` can add the shards' records and judge the merged run as if it had run in one process.
//! Written and parsed here; only shards (`wschaos run --shard I/N`) write it.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::assemble::Recorded;
use crate::load::shard::Shard;
use crate::mock::stats::MockSnapshot;
use crate::run_dir::fs;

/// The file's name in a run directory.
pub const FILE: &str = "records.json";

/// The layout's version: a merge refuses records of another.
pub const VERSION: u32 = 3;

/// The scenario a shard ran, as its file said it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioText {
    /// The file it was read from (its stem names the scenario when the file has no `name`).
    pub path: String,
    /// Its text.
    pub text: String,
}

/// What a shard knew about its run besides its records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardFacts {
    /// Which shard.
    pub shard: Shard,
    /// Mock replicas serving the run's shards: this shard's was replica `index mod replicas`.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Its clients connected from loopback addresses of their own (the mock's per-address counts are
    /// theirs).
    #[serde(default = "yes")]
    pub sources_bound: bool,
    /// The scenario it ran.
    pub scenario: ScenarioText,
    /// The seed it ran with (`--seed` included).
    pub seed: u64,
    /// Its run length (`--duration` included), ms.
    pub duration_ms: u64,
    /// The instant the shards were to start at (`--start-at`), Unix ms.
    pub start_at_unix_ms: Option<u64>,
    /// When its clients started, Unix ms.
    pub started_unix_ms: u64,
    /// Its upstream's label.
    pub upstream: String,
    /// The shared mock's counters when this shard ended.
    pub snapshot: Option<MockSnapshot>,
    /// Milliseconds between the mock's start and this shard's.
    pub mock_offset_ms: u64,
    /// Whether its rig's own delay could be in its figures.
    pub rig_lagged: bool,
}

/// The file: a shard's facts and its records.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShardRecords<R = Recorded> {
    /// [`VERSION`].
    pub version: u32,
    /// The wschaos version that wrote it.
    pub wschaos_version: String,
    /// What the shard knew.
    pub facts: ShardFacts,
    /// What it measured.
    pub recorded: R,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// The file's contents.
pub fn render(facts: &ShardFacts, recorded: &Recorded) -> Result<Vec<u8>> {
    let records = ShardRecords {
        version: VERSION,
        wschaos_version: env!("CARGO_PKG_VERSION").to_owned(),
        facts: facts.clone(),
        recorded,
    };
    let mut json = serde_json::to_vec(&records).context("could not serialise the shard's records")?;
    json.push(b'\n');
    Ok(json)
}

/// A shard's records from the file's contents; another layout's version is refused.
pub fn parse(bytes: &[u8]) -> Result<ShardRecords> {
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let versioned: Versioned = serde_json::from_slice(bytes).context("not a wschaos records file")?;
    if versioned.version != VERSION {
        anyhow::bail!(
            "records of layout version {} (this wschaos reads version {VERSION}): merge with the wschaos that ran the shards",
            versioned.version
        );
    }
    serde_json::from_slice(bytes).context("not a wschaos records file")
}

/// Writes `records.json` into the run directory `dir`, whole or not at all (written beside it, then
/// renamed: a merge waiting for it never reads half of it).
pub fn write(dir: &Path, facts: &ShardFacts, recorded: &Recorded) -> Result<()> {
    let partial = dir.join(format!("{FILE}.partial"));
    fs::write(&partial, render(facts, recorded)?)?;
    std::fs::rename(&partial, dir.join(FILE)).with_context(|| format!("could not write '{}'", dir.join(FILE).display()))
}

/// Reads the `records.json` of the run directory `dir`.
pub fn read(dir: &Path) -> Result<ShardRecords> {
    let path = dir.join(FILE);
    let bytes = fs::read(&path, || {
        format!("could not read '{}': is it the run directory of a shard (wschaos run --shard I/N)?", path.display())
    })?;
    parse(&bytes).with_context(|| format!("'{}' is not a shard's records", path.display()))
}
