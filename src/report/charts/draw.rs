//! Drawing a [`Chart`] with plotters, as an SVG string (written to `charts/` and inlined in the HTML
//! report) or as a PNG file. Every plotters error becomes an `anyhow` error naming the chart; nothing
//! here computes what is shown, only where it goes on the page.

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::report::charts::font::{self, FAMILY};
use crate::report::charts::model::{Chart, Colour, Line, Marker, MarkerKind, Panel, Stroke, XAxis};

/// Width of every chart (px).
pub const WIDTH: u32 = 960;
/// Height of the title strip (px).
const TITLE_HEIGHT: u32 = 44;
/// Height of one panel (px).
const PANEL_HEIGHT: u32 = 420;
/// Fault windows: a translucent amber.
const FAULT_FILL: RGBAColor = RGBAColor(0xf0, 0x8c, 0x00, 0.18);
/// Fault labels.
const FAULT_TEXT: RGBColor = RGBColor(0x8a, 0x4b, 0x00);
/// Rollout steps: a thin dark slate line.
const STEP_LINE: RGBColor = RGBColor(0x34, 0x3a, 0x40);
/// A performed rollback: a thicker crimson line.
const ROLLBACK_LINE: RGBColor = RGBColor(0xa6, 0x1e, 0x4d);

/// A linear axis labelled at the positions given, and only there (plotters' `WithKeyPoints` over an
/// `f64` range has no label formatter).
#[derive(Debug, Clone, PartialEq)]
pub struct TickedAxis {
    /// The end of the axis (it starts at 0).
    pub end: f64,
    /// The labelled positions.
    pub ticks: Vec<f64>,
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = if self.end > 0.0 { value / self.end } else { 0.0 };
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }

    fn range(&self) -> std::ops::Range<f64> {
        0.0..self.end
    }
}

/// The size of a chart: fixed width, one panel height per panel.
pub fn size(chart: &Chart) -> (u32, u32) {
    (WIDTH, TITLE_HEIGHT + PANEL_HEIGHT * chart.panels.len().max(1) as u32)
}

/// The chart as an SVG document.
pub fn svg(chart: &Chart) -> Result<String> {
    font::ensure_registered()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size(chart)).into_drawing_area();
        draw(&root, chart)?;
        root.present().map_err(|e| anyhow!("could not draw '{}': {e}", chart.title))?;
    }
    Ok(out)
}

/// The chart as a PNG image.
pub fn png(chart: &Chart) -> Result<Vec<u8>> {
    font::ensure_registered()?;
    let (width, height) = size(chart);
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        draw(&root, chart)?;
        root.present().map_err(|e| anyhow!("could not draw '{}': {e}", chart.title))?;
    }
    let image = image::RgbImage::from_raw(width, height, rgb).context("the chart's pixels do not fill its size")?;
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageOutputFormat::Png)
        .with_context(|| format!("could not encode '{}'", chart.title))?;
    Ok(out.into_inner())
}

/// The horizontal span drawn for a band: at least 1/200 of the axis, so an instant fault stays visible.
pub fn visible_span(from: f64, to: f64, axis_span: f64) -> (f64, f64) {
    (from, to.max(from + axis_span / 200.0))
}

/// The axis' range and its labelled positions.
pub fn x_ticks(axis: &XAxis) -> TickedAxis {
    match *axis {
        XAxis::Seconds { end } => {
            let step = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0]
                .into_iter()
                .find(|step| end / step <= 12.0)
                .unwrap_or((end / 12.0).ceil());
            let count = (end / step).floor() as usize;
            TickedAxis { end, ticks: (0..=count).map(|i| i as f64 * step).collect() }
        }
        XAxis::Percentile { max } => {
            let mut ticks = vec![0.0, 2f64.log10()];
            ticks.extend((1..=max.floor() as usize).map(|i| i as f64));
            TickedAxis { end: max, ticks }
        }
    }
}

/// Where a marker's label goes, as a share of the vertical axis: just under the fault labels, or near the
/// bottom when the marker stands in the right part of the panel, where the legend is.
pub fn marker_label_height(marker: &Marker, x_end: f64) -> f64 {
    let right = x_end > 0.0 && marker.at > 0.78 * x_end;
    match (marker.kind, right) {
        (MarkerKind::Step, false) => 0.80,
        (MarkerKind::Rollback, false) => 0.75,
        (MarkerKind::Step, true) => 0.09,
        (MarkerKind::Rollback, true) => 0.14,
    }
}

/// An x value as its axis label: seconds, or the percentile (`99.9%`) on the HdrHistogram scale.
pub fn x_label(axis: &XAxis, x: f64) -> String {
    match axis {
        XAxis::Seconds { .. } => number(x),
        XAxis::Percentile { .. } => {
            let percent = 100.0 * (1.0 - 10f64.powf(-x));
            let decimals = (x.round() as usize).saturating_sub(2);
            format!("{percent:.decimals$}%")
        }
    }
}

/// A tick value, shortest form, at most three decimals.
pub fn number(v: f64) -> String {
    let rounded = (v * 1000.0).round() / 1000.0;
    if rounded == 0.0 { "0".to_owned() } else { rounded.to_string() }
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<()> {
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("could not draw '{}': {e}", chart.title);
    root.fill(&WHITE).map_err(fail)?;
    let body = root.titled(&chart.title, (FAMILY, 22)).map_err(fail)?;
    for (area, panel) in body.split_evenly((chart.panels.len().max(1), 1)).iter().zip(&chart.panels) {
        draw_panel(area, panel).map_err(fail)?;
    }
    Ok(())
}

/// The top of the vertical axis: room above the highest point for the legend and the fault labels.
fn y_top(panel: &Panel) -> f64 {
    let highest = panel.lines.iter().flat_map(|l| l.points.iter().map(|p| p.y)).fold(0.0, f64::max);
    (highest * 1.35).max(1.0)
}

type PanelResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw_panel<'a, DB: DrawingBackend + 'a>(area: &'a DrawingArea<DB, Shift>, panel: &Panel) -> PanelResult<DB> {
    let x_axis = x_ticks(&panel.x);
    let x_end = x_axis.end;
    let y_end = y_top(panel);
    let mut builder = ChartBuilder::on(area);
    builder.margin(14).margin_right(44).x_label_area_size(46).y_label_area_size(72);
    if !panel.caption.is_empty() {
        builder.caption(&panel.caption, (FAMILY, 16));
    }
    let mut ctx = builder.build_cartesian_2d(x_axis, 0f64..y_end)?;
    ctx.configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .x_label_formatter(&|x| x_label(&panel.x, *x))
        .y_label_formatter(&|y| number(*y))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .bold_line_style(BLACK.mix(0.12))
        .max_light_lines(0)
        .draw()?;
    for (index, band) in panel.bands.iter().enumerate() {
        let (from, to) = visible_span(band.from, band.to, x_end);
        let shade =
            ctx.draw_series(std::iter::once(Rectangle::new([(from, 0.0), (to, y_end)], FAULT_FILL.filled())))?;
        if index == 0 {
            shade
                .label("fault window")
                .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], FAULT_FILL.filled()));
        }
        let height = y_end * (0.99 - 0.05 * (index % 4) as f64);
        let style = (FAMILY, 13).into_font().color(&FAULT_TEXT);
        ctx.draw_series(std::iter::once(Text::new(band.label.clone(), (from, height), style)))?;
    }
    draw_markers(&mut ctx, &panel.markers, x_end, y_end)?;
    for line in &panel.lines {
        draw_line(&mut ctx, line)?;
    }
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FAMILY, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
}

type Context2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickedAxis, RangedCoordf64>>;

/// The markers: a vertical line each, labelled beside it; one legend entry per kind.
fn draw_markers<'a, DB: DrawingBackend + 'a>(
    ctx: &mut Context2d<'a, DB>,
    markers: &[Marker],
    x_end: f64,
    y_end: f64,
) -> PanelResult<DB> {
    let mut in_legend = [false, false];
    for marker in markers {
        let (colour, width, name, kind) = match marker.kind {
            MarkerKind::Step => (STEP_LINE, 1, "rollout step", 0),
            MarkerKind::Rollback => (ROLLBACK_LINE, 2, "rollback", 1),
        };
        let style = ShapeStyle { color: colour.to_rgba(), filled: false, stroke_width: width };
        let path = PathElement::new(vec![(marker.at, 0.0), (marker.at, y_end)], style);
        let drawn = ctx.draw_series(std::iter::once(path))?;
        if !in_legend[kind] {
            in_legend[kind] = true;
            drawn.label(name).legend(move |(x, y)| PathElement::new(vec![(x + 10, y - 7), (x + 10, y + 7)], style));
        }
        let at = (marker.at + x_end * 0.004, y_end * marker_label_height(marker, x_end));
        let text = (FAMILY, 13).into_font().color(&colour);
        ctx.draw_series(std::iter::once(Text::new(marker.label.clone(), at, text)))?;
    }
    Ok(())
}

fn draw_line<'a, DB: DrawingBackend + 'a>(ctx: &mut Context2d<'a, DB>, line: &Line) -> PanelResult<DB> {
    let Colour { r, g, b } = line.colour;
    let style = ShapeStyle { color: RGBAColor(r, g, b, 1.0), filled: false, stroke_width: 2 };
    let points: Vec<(f64, f64)> = line.points.iter().map(|p| (p.x, p.y)).collect();
    let drawn = match line.stroke {
        Stroke::Solid => ctx.draw_series(LineSeries::new(points, style))?,
        Stroke::Dashed => ctx.draw_series(DashedLineSeries::new(points, 8, 5, style))?,
    };
    let (first, second) = match line.stroke {
        Stroke::Solid => ((0, 10), (10, 22)),
        Stroke::Dashed => ((0, 8), (13, 21)),
    };
    drawn.label(line.label.as_str()).legend(move |(x, y)| {
        EmptyElement::at((x, y))
            + PathElement::new(vec![(first.0, 0), (first.1, 0)], style)
            + PathElement::new(vec![(second.0, 0), (second.1, 0)], style)
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::charts::Point;

    fn chart() -> Chart {
        let line = |label: &str, stroke| Line {
            label: label.into(),
            colour: Colour { r: 1, g: 2, b: 3 },
            stroke,
            points: vec![Point { x: 0.5, y: 3.0 }, Point { x: 1.5, y: 7.0 }],
        };
        let panel = Panel {
            caption: "a caption".into(),
            x: XAxis::Seconds { end: 2.0 },
            x_label: "time (s)".into(),
            y_label: "count".into(),
            lines: vec![line("solid <one>", Stroke::Solid), line("dashed", Stroke::Dashed)],
            bands: vec![crate::report::charts::Band { label: "a & b".into(), from: 1.0, to: 1.0 }],
            markers: vec![
                Marker { label: "25 %".into(), at: 0.5, kind: MarkerKind::Step },
                Marker { label: "roll <back>".into(), at: 1.8, kind: MarkerKind::Rollback },
            ],
        };
        Chart { file_stem: "test", title: "A title".into(), panels: vec![panel.clone(), panel] }
    }

    #[test]
    fn percentile_labels_read_as_percentiles() {
        let axis = XAxis::Percentile { max: 4.0 };
        let ticked = x_ticks(&axis);
        let labels: Vec<String> = ticked.ticks.iter().map(|x| x_label(&axis, *x)).collect();
        assert_eq!(ticked.end, 4.0);
        assert_eq!(labels, ["0%", "50%", "90%", "99%", "99.9%", "99.99%"]);
    }

    #[test]
    fn time_ticks_are_round_and_inside_the_run() {
        assert_eq!(
            x_ticks(&XAxis::Seconds { end: 20.005 }).ticks,
            [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0]
        );
        let long = x_ticks(&XAxis::Seconds { end: 5400.0 }).ticks;
        assert!(long.len() <= 13 && long.windows(2).all(|w| w[1] - w[0] == 600.0), "{long:?}");
        assert_eq!((number(0.25), number(20000.0), number(1e-9)), ("0.25".into(), "20000".into(), "0".into()));
    }

    #[test]
    fn marker_labels_stay_clear_of_the_fault_labels_and_the_legend() {
        let marker = |at, kind| Marker { label: String::new(), at, kind };
        assert_eq!(marker_label_height(&marker(4.0, MarkerKind::Step), 24.0), 0.80);
        assert_eq!(marker_label_height(&marker(4.0, MarkerKind::Rollback), 24.0), 0.75);
        assert_eq!(marker_label_height(&marker(20.0, MarkerKind::Step), 24.0), 0.09, "under the legend");
        assert_eq!(marker_label_height(&marker(20.0, MarkerKind::Rollback), 24.0), 0.14);
    }

    #[test]
    fn instant_faults_stay_visible() {
        assert_eq!(visible_span(10.0, 10.004, 20.0), (10.0, 10.1));
        assert_eq!(visible_span(5.0, 8.0, 20.0), (5.0, 8.0));
    }

    #[test]
    fn svg_has_the_title_axis_labels_legend_and_escaped_text() {
        let svg = svg(&chart()).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("viewBox=\"0 0 960 884\""), "{}", &svg[..200]);
        for text in [
            "A title",
            "a caption",
            "time (s)",
            "count",
            "solid &lt;one&gt;",
            "dashed",
            "a &amp; b",
            "fault window",
            "rollout step",
            "25 %",
            "roll &lt;back&gt;",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(!svg.contains("<one>"));
    }

    #[test]
    fn png_is_drawn_with_the_embedded_font() {
        let bytes = png(&chart()).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(bytes.len() > 5_000, "{} bytes", bytes.len());
    }

    #[test]
    fn an_empty_chart_still_draws() {
        let mut empty = chart();
        for panel in &mut empty.panels {
            panel.lines.iter_mut().for_each(|l| l.points.clear());
            panel.bands.clear();
            panel.markers.clear();
        }
        assert!(svg(&empty).is_ok());
    }
}
