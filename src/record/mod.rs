//! Recording a run: the events clients report ([`event`]), the one task that aggregates them
//! ([`recorder`]), the running totals it publishes for the live display ([`progress`]), the harness's own
//! health ([`selfcheck`]) and the files a run writes ([`output`]).

pub mod event;
pub mod progress;
pub mod recorder;
pub mod selfcheck;
