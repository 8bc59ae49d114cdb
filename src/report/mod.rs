//! What a run writes: the summary model ([`summary`]) and the files rendered from it and the run's
//! recordings ([`files`]): `summary.json`, `timeseries.csv`, `latency-<cohort>.hgrm`, `events.csv`, and from the summary alone `report.md` ([`markdown`]) and
//! `junit.xml` ([`junit`]).

pub mod compare;
pub mod files;
pub mod junit;
pub mod markdown;
pub mod summary;
