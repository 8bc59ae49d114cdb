//! Recording a run: the events clients report ([`event`]), the one task that aggregates them
//! ([`recorder`]) with its per-step view of rollout rehearsals ([`steps`]) and its staleness samples of every
//! live subscription ([`freshness`]), the running totals it publishes for the live display ([`progress`]),
//! the harness's own health ([`selfcheck`]) and the rig's ([`canary`]).

pub mod canary;
pub mod event;
pub mod external;
pub mod freshness;
pub mod progress;
pub mod recorder;
pub mod selfcheck;
pub mod steps;
