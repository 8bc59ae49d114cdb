//! The run's charts: what is drawn ([`Chart`]: panels of lines, shaded fault windows and marked moments
//! such as a rollout's steps, with their titles, axis labels and legends), computed from the run directory
//! by the pure functions of [`series`], and drawn as SVG and PNG by [`draw`] with a font embedded in the
//! binary ([`font`]). Nothing here decides what a run means; it only shows it.

pub mod draw;
pub mod font;
pub mod model;
pub mod series;

pub use model::{Band, Chart, Colour, Line, Marker, MarkerKind, Panel, Point, Stroke, XAxis};

use crate::run_dir::RunDirectory;

/// Every chart of a run, in the order the HTML report shows them.
pub fn all(run: &RunDirectory) -> Vec<Chart> {
    vec![
        series::latency_series(&run.summary, &run.latency),
        series::latency_over_time_series(&run.summary, &run.timeseries),
        series::open_connections_series(&run.summary, &run.timeseries),
        series::attempts_series(&run.summary, &run.timeseries),
        series::delivery_series(&run.summary, &run.timeseries),
    ]
}
