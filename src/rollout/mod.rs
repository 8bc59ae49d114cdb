//! Rollout rehearsals: traffic moved from the legacy manager to the new one step by step, the way the
//! feature flag would move it ([`plan`], the scenario's `[rollout]` section); the rehearsal's clients placed
//! and driven, each following the target share ([`rehearsal`]); a sharded rehearsal's steps judged on
//! every shard's figures ([`pool`]) and merged ([`merged`]); each client's handover with its state
//! ([`handover`]); the automatic-rollback triggers judged at every step ([`evaluate`]); the task that runs
//! the steps ([`controller`]); and the rehearsal's part of the run summary ([`summary`], the data in
//! [`crate::summary::rollout`]) and its verdicts ([`verdicts`]). The rollout uses the criteria, never the
//! reverse.

pub mod controller;
pub mod evaluate;
pub mod handover;
pub mod merged;
pub mod plan;
pub mod pool;
pub mod rehearsal;
pub mod summary;
pub mod verdicts;
