//! What a run writes, from the summary model ([`crate::summary`]): the files of the run directory
//! ([`files`]): the recordings (`summary.json`, `timeseries.csv`, `latency-<cohort>.hgrm`, `events.csv`),
//! and the reports rendered from those files alone ([`run_dir`] reads them back): `report.md` ([`markdown`]),
//! `junit.xml` ([`junit`]), `report.html` ([`html`]) and `charts/` ([`charts`]), with a rollout rehearsal's
//! text shared by the reports ([`rehearsal`]); and two runs side by side ([`compare`]).

pub mod charts;
pub mod compare;
pub mod files;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod rehearsal;
pub mod run_dir;
