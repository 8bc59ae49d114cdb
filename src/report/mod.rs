//! What a run writes: the summary model ([`summary`]) and the files rendered from it and the run's
//! recordings ([`files`]): `summary.json`, `timeseries.csv`, `latency-<cohort>.hgrm`, `events.csv`.

pub mod files;
pub mod summary;
