//! What a run's reader sees, rendered from the summary model ([`crate::summary`]) and the run directory's
//! files alone ([`crate::run_dir`] reads them back): `report.md` ([`markdown`]), `junit.xml` ([`junit`]),
//! `report.html` ([`html`]) and `charts/` ([`charts`]), written by [`files`], with a rollout rehearsal's
//! text shared by the reports ([`rehearsal`]), and so are the external managers' ([`external`]); the
//! team's notification texts ([`notify`]); and two runs side by side ([`compare`]).

pub mod charts;
pub mod compare;
pub mod external;
pub mod files;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod notify;
pub mod rehearsal;
