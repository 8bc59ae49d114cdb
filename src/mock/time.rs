//! Wall-clock time as the mock stamps it on events: microseconds since the Unix epoch, rendered in
//! milliseconds or microseconds depending on the connection's `timeUnit`.
//!
//! Owns the unit conversion only; scheduling uses `tokio::time::Instant`, never these values.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch.
pub type Micros = u64;

/// The current wall-clock time in microseconds since the Unix epoch.
pub fn now_micros() -> Micros {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as Micros).unwrap_or(0)
}

/// The unit a connection asked for with `timeUnit=`; Binance's default is milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimeUnit {
    /// 13-digit millisecond timestamps (the default).
    #[default]
    Millisecond,
    /// 16-digit microsecond timestamps.
    Microsecond,
}

impl TimeUnit {
    /// Parses a `timeUnit` query value, in upper or lower case (`MICROSECOND`, `microsecond`, …).
    pub fn parse(value: &str) -> Option<TimeUnit> {
        if value.eq_ignore_ascii_case("MILLISECOND") {
            Some(TimeUnit::Millisecond)
        } else if value.eq_ignore_ascii_case("MICROSECOND") {
            Some(TimeUnit::Microsecond)
        } else {
            None
        }
    }

    /// Converts a microsecond timestamp into this unit.
    pub fn convert(self, micros: Micros) -> u64 {
        match self {
            TimeUnit::Millisecond => micros / 1000,
            TimeUnit::Microsecond => micros,
        }
    }

    /// Both units, for code that renders every variant of an event.
    pub const ALL: [TimeUnit; 2] = [TimeUnit::Millisecond, TimeUnit::Microsecond];

    /// A dense index (0 for milliseconds, 1 for microseconds) for per-unit caches.
    pub fn index(self) -> usize {
        match self {
            TimeUnit::Millisecond => 0,
            TimeUnit::Microsecond => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_either_case_and_converts() {
        assert_eq!(TimeUnit::parse("microsecond"), Some(TimeUnit::Microsecond));
        assert_eq!(TimeUnit::parse("MILLISECOND"), Some(TimeUnit::Millisecond));
        assert_eq!(TimeUnit::parse("SECOND"), None);
        assert_eq!(TimeUnit::Millisecond.convert(1_672_515_782_136_123), 1_672_515_782_136);
        assert_eq!(TimeUnit::Microsecond.convert(1_672_515_782_136_123), 1_672_515_782_136_123);
    }
}
