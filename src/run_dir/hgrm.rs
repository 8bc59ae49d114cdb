//! `latency-<cohort>.hgrm` and `staleness-<cohort>.hgrm`: a histogram of microseconds in HdrHistogram's
//! percentile-distribution text format, in milliseconds. Written and parsed here; parsing never panics on
//! bad input.

use hdrhistogram::Histogram;

/// One line of an HdrHistogram percentile distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PercentilePoint {
    /// The quantile, 0 to 1 (0.99 is the 99th percentile).
    pub quantile: f64,
    /// The latency at that quantile (ms).
    pub value_ms: f64,
}

/// A line of a `.hgrm` file that is neither a header, a footer nor a percentile line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line} is not an HdrHistogram percentile line (value, percentile, count[, 1/(1-percentile)]): '{text}'")]
pub struct BadHgrmLine {
    /// 1-based line number.
    pub line: usize,
    /// The line as read.
    pub text: String,
}

/// The file's contents for a histogram of microseconds.
pub fn render(histogram: &Histogram<u64>) -> String {
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    if !histogram.is_empty() {
        for v in histogram.iter_quantiles(5) {
            let quantile = v.quantile_iterated_to();
            let inverse = if quantile < 1.0 { format!("{:14.2}", 1.0 / (1.0 - quantile)) } else { String::new() };
            let value = v.value_iterated_to() as f64 / 1000.0;
            out.push_str(&format!("{value:12.3} {quantile:14.12} {:10} {inverse}\n", v.count_since_last_iteration()));
        }
    }
    let (mean, stdev, max) = (histogram.mean() / 1000.0, histogram.stdev() / 1000.0, histogram.max() as f64 / 1000.0);
    out.push_str(&format!("#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]\n"));
    out.push_str(&format!("#[Max     = {max:12.3}, Total count    = {:12}]\n", histogram.len()));
    out.push_str(&format!(
        "#[Buckets = {:12}, SubBuckets     = {:12}]\n",
        histogram.buckets(),
        histogram.distinct_values()
    ));
    out
}

/// The percentile lines of the file's contents: header and `#[…]` footer lines are skipped, every other
/// non-empty line gives its value (ms) and percentile.
pub fn parse(text: &str) -> Result<Vec<PercentilePoint>, BadHgrmLine> {
    let mut points = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("Value") {
            continue;
        }
        let bad = || BadHgrmLine { line: index + 1, text: line.to_owned() };
        let mut fields = trimmed.split_whitespace().map(str::parse::<f64>);
        let (Some(Ok(value_ms)), Some(Ok(quantile))) = (fields.next(), fields.next()) else { return Err(bad()) };
        if !(0.0..=1.0).contains(&quantile) || !value_ms.is_finite() {
            return Err(bad());
        }
        points.push(PercentilePoint { quantile, value_ms });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_to_a_thousand_ms() -> Histogram<u64> {
        let mut h = crate::record::event::latency_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        h
    }

    #[test]
    fn it_is_in_the_hdrhistogram_text_format() {
        let text = render(&one_to_a_thousand_ms());
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
        assert!(text.contains("#[Max     =     1000.447, Total count    =         1000]"), "{text}");
        let first = text.lines().nth(2).unwrap();
        assert!(first.trim_start().starts_with("1.000 0.000000000000"), "{first}");
    }

    #[test]
    fn it_round_trips_through_the_parser() {
        let points = parse(&render(&one_to_a_thousand_ms())).unwrap();
        assert_eq!(points.first().map(|p| (p.quantile, p.value_ms)), Some((0.0, 1.0)));
        let last = points.last().unwrap();
        assert_eq!(last.quantile, 1.0);
        assert!((last.value_ms - 1000.447).abs() < 1e-9, "{last:?}");
        assert!(points.windows(2).all(|w| w[0].quantile <= w[1].quantile && w[0].value_ms <= w[1].value_ms));
    }

    #[test]
    fn an_empty_histogram_has_no_points_and_garbage_names_its_line() {
        let empty = render(&crate::record::event::latency_histogram());
        assert_eq!(parse(&empty), Ok(vec![]));
        let err = parse("       Value     Percentile\n\n   1.0 0.5 3\n   oops 0.9 1\n").unwrap_err();
        assert_eq!(err.line, 4);
        assert!(parse("1.0 1.5 3\n").is_err(), "a percentile above 100 %");
    }
}
