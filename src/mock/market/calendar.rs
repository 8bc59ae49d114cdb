//! Candle boundaries: where the kline of an interval containing a given instant opens and where the next
//! one opens, in UTC or in UTC+8 (`@+08:00` streams), without a date library.
//!
//! Fixed intervals align to multiples of their length since the epoch (shifted by the zone), `1w` to
//! Monday 00:00 and `1M` to the first of the calendar month, both in the zone.

use crate::mock::stream_name::KlineInterval;
use crate::mock::time::Micros;
use crate::vocab::calendar::{civil_from_days, days_from_civil};

const SECOND: u64 = 1_000_000;
const DAY: u64 = 86_400 * SECOND;
const UTC8: u64 = 8 * 3600 * SECOND;

/// `(open, next open)` of the candle containing `t`; both are plain Unix microseconds.
pub fn candle_bounds(interval: KlineInterval, utc8: bool, t: Micros) -> (Micros, Micros) {
    let offset = if utc8 { UTC8 } else { 0 };
    let local = t.saturating_add(offset);
    let (open, next) = match (interval, interval.fixed_seconds()) {
        (KlineInterval::Month1, _) | (_, None) => month_bounds(local),
        (KlineInterval::W1, _) => {
            let day = local / DAY;
            let monday = day - (day + 3) % 7; // 1970-01-01 was a Thursday
            (monday * DAY, (monday + 7) * DAY)
        }
        (_, Some(seconds)) => {
            let len = seconds * SECOND;
            let open = local - local % len;
            (open, open + len)
        }
    };
    (open.saturating_sub(offset), next.saturating_sub(offset))
}

fn month_bounds(local: Micros) -> (Micros, Micros) {
    let (year, month, _) = civil_from_days((local / DAY) as i64);
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let open = days_from_civil(year, month, 1).max(0) as u64;
    let next = days_from_civil(next_year, next_month, 1).max(0) as u64;
    (open * DAY, next * DAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use KlineInterval::*;

    const S: u64 = SECOND;
    /// 2024-02-15 10:30:15.123456 UTC, a Thursday.
    const T: u64 = 1_707_993_015 * S + 123_456;

    #[test]
    fn fixed_intervals_in_utc() {
        assert_eq!(candle_bounds(M1, false, T), (1_707_993_000 * S, 1_707_993_060 * S));
        assert_eq!(candle_bounds(S1, false, T), (1_707_993_015 * S, 1_707_993_016 * S));
        assert_eq!(candle_bounds(H1, false, T), (1_707_991_200 * S, 1_707_994_800 * S));
        assert_eq!(candle_bounds(D1, false, T), (1_707_955_200 * S, 1_708_041_600 * S));
        assert_eq!(candle_bounds(M1, true, T), candle_bounds(M1, false, T));
    }

    #[test]
    fn days_in_utc8_open_at_16_utc() {
        let (open, next) = candle_bounds(D1, true, T);
        assert_eq!(open, 1_707_926_400 * S); // 2024-02-14 16:00 UTC
        assert_eq!(next, open + DAY);
        // just before 16:00 UTC the candle is the previous local day
        assert_eq!(candle_bounds(D1, true, open - 1).0, open - DAY);
    }

    #[test]
    fn weeks_open_on_monday() {
        assert_eq!(candle_bounds(W1, false, T), (1_707_696_000 * S, 1_707_696_000 * S + 7 * DAY));
        assert_eq!(candle_bounds(W1, true, T).0, 1_707_667_200 * S); // Sunday 16:00 UTC
        assert_eq!(candle_bounds(W1, false, 1_707_696_000 * S).0, 1_707_696_000 * S);
    }

    #[test]
    fn months_open_on_the_first() {
        assert_eq!(candle_bounds(Month1, false, T), (1_706_745_600 * S, 1_709_251_200 * S));
        assert_eq!(candle_bounds(Month1, true, T).0, 1_706_716_800 * S); // Jan 31 16:00 UTC
        let new_year_eve = 1_735_689_599 * S;
        assert_eq!(candle_bounds(Month1, false, new_year_eve), (1_733_011_200 * S, 1_735_689_600 * S));
    }
}
