//! Rollout rehearsals: traffic moved from the legacy manager to the new one step by step, the way the
//! feature flag would move it ([`plan`]); each client's handover with its state ([`handover`]); the
//! automatic-rollback triggers judged at every step ([`evaluate`]); the task that runs the steps
//! ([`controller`]); and the rehearsal's part of the run summary ([`summary`]).

pub mod controller;
pub mod evaluate;
pub mod handover;
pub mod plan;
pub mod summary;
