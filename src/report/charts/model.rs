//! What a chart is: panels of lines, shaded fault windows and marked moments, with titles, axis labels
//! and legends. Plain data; [`series`](super::series) computes it and [`draw`](super::draw) draws it.

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour {
    /// The red channel, 0 to 255.
    pub r: u8,
    /// The green channel, 0 to 255.
    pub g: u8,
    /// The blue channel, 0 to 255.
    pub b: u8,
}

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    /// A continuous line.
    Solid,
    /// A dashed line (staleness, reconnects, the mock's own count).
    Dashed,
}

/// A point of a line, in the panel's coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Horizontal: seconds since the start, or log10(1/(1-percentile)).
    pub x: f64,
    /// Vertical, in the panel's unit.
    pub y: f64,
}

/// One line of a panel, with its legend entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The legend text.
    pub label: String,
    /// Its colour (the cohort's, the same on every chart).
    pub colour: Colour,
    /// Its stroke.
    pub stroke: Stroke,
    /// The points, in increasing x.
    pub points: Vec<Point>,
}

/// A shaded, labelled span of the horizontal axis: a fault window.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// The label drawn at its top (the fault's name, or its kind).
    pub label: String,
    /// Start (seconds).
    pub from: f64,
    /// End (seconds).
    pub to: f64,
}

/// What a marked moment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    /// A rollout step began (its share of clients moving to the new manager).
    Step,
    /// A performed rollback moved every client back to legacy.
    Rollback,
}

/// A thin, labelled vertical line at one moment of the horizontal axis: distinct from fault windows.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// The label drawn beside it (`25 %`, `rollback`).
    pub label: String,
    /// Where (seconds).
    pub at: f64,
    /// What it marks.
    pub kind: MarkerKind,
}

/// The horizontal axis of a panel.
#[derive(Debug, Clone, PartialEq)]
pub enum XAxis {
    /// Seconds since the start of the run, from 0 to `end`.
    Seconds {
        /// The run's length (s).
        end: f64,
    },
    /// Percentiles on the HdrHistogram scale: x = log10(1/(1-p)), from 0 to `max` (3 is 99.9 %).
    Percentile {
        /// The largest x shown.
        max: f64,
    },
}

/// One plotting area of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// The panel's own title (empty for a single-panel chart).
    pub caption: String,
    /// The horizontal axis.
    pub x: XAxis,
    /// The horizontal axis label, with its unit.
    pub x_label: String,
    /// The vertical axis label, with its unit.
    pub y_label: String,
    /// The lines.
    pub lines: Vec<Line>,
    /// Shaded spans (fault windows).
    pub bands: Vec<Band>,
    /// Marked moments (rollout steps, a rollback).
    pub markers: Vec<Marker>,
}

/// A chart as drawn: a title over one or more panels stacked vertically.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File name without extension, under `charts/` (`latency`, `open-connections`, …).
    pub file_stem: &'static str,
    /// The title drawn at the top.
    pub title: String,
    /// The panels, top to bottom.
    pub panels: Vec<Panel>,
}
