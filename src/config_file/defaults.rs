//! Reading an optional value with its documented default, the way every configuration's validation does.

use std::time::Duration;

use super::source::KeyIssue;
use super::values::{HumanDuration, Switch};

/// An optional duration, or its default.
pub fn duration_or(value: Option<HumanDuration>, default: Duration) -> Duration {
    value.map_or(default, |d| d.0)
}

/// An optional duration that can be switched off: the default when not given, `None` when off.
pub fn switch_duration(value: Option<Switch<HumanDuration>>, default: Option<Duration>) -> Option<Duration> {
    match value {
        None => default,
        Some(Switch::Off) => None,
        Some(Switch::On(d)) => Some(d.0),
    }
}

/// An optional count, or its default; zero is a mistake at `key`.
pub fn positive_count(key: &str, value: Option<u32>, default: u32, issues: &mut Vec<KeyIssue>) -> u32 {
    let v = value.unwrap_or(default);
    if v == 0 {
        issues.push(KeyIssue::new(key, "must be at least 1"));
    }
    v
}
