//! Fixed-point numbers as Binance prints them: integers in units of 1e-8 rendered as JSON strings with
//! exactly eight decimals (`"0.01914100"`), formatted digit by digit without ever going through `f64`.
//!
//! Owns the number types and their text form; it knows nothing about JSON objects or events.

use std::fmt;

use serde::{Serialize, Serializer};

/// Units of 1e-8 in one whole unit.
pub const SCALE: i64 = 100_000_000;

/// A price or quantity in units of 1e-8 (`Decimal8(1_914_100)` is `0.01914100`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Decimal8(pub i64);

/// A running total (volumes, quote volumes) in units of 1e-8, wide enough for meme-coin volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Volume8(pub i128);

impl Decimal8 {
    /// The decimal 0 (`0.00000000`).
    pub const ZERO: Decimal8 = Decimal8(0);

    /// Rounds a float to the nearest 1e-8 (saturating at the `i64` range; NaN becomes zero).
    pub fn from_f64(value: f64) -> Decimal8 {
        Decimal8((value * SCALE as f64).round() as i64)
    }

    /// The value as a float, for logs and tests only.
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }
}

/// Writes `value / 10^decimals` right-aligned into `buf` and returns the text (`-0.00000001`, `12.50`).
pub fn fixed_str(value: i128, decimals: u32, buf: &mut [u8; 64]) -> &str {
    let mut pos = buf.len();
    let mut rest = value.unsigned_abs();
    for i in 0.. {
        if i == decimals && decimals > 0 {
            pos -= 1;
            buf[pos] = b'.';
        }
        pos -= 1;
        buf[pos] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 && i >= decimals {
            break;
        }
    }
    if value < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    std::str::from_utf8(&buf[pos..]).unwrap_or("0")
}

/// Appends `value / 10^decimals` as plain digits (no quotes) to `out`.
pub fn write_fixed(out: &mut Vec<u8>, value: i128, decimals: u32) {
    let mut buf = [0u8; 64];
    out.extend_from_slice(fixed_str(value, decimals, &mut buf).as_bytes());
}

impl fmt::Display for Decimal8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(fixed_str(self.0.into(), 8, &mut [0u8; 64]))
    }
}

impl fmt::Display for Volume8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(fixed_str(self.0, 8, &mut [0u8; 64]))
    }
}

impl Serialize for Decimal8 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(fixed_str(self.0.into(), 8, &mut [0u8; 64]))
    }
}

impl Serialize for Volume8 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(fixed_str(self.0, 8, &mut [0u8; 64]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(d: Decimal8) -> String {
        serde_json::to_string(&d).unwrap()
    }

    #[test]
    fn formats_eight_decimals() {
        assert_eq!(json(Decimal8(0)), "\"0.00000000\"");
        assert_eq!(json(Decimal8(1)), "\"0.00000001\"");
        assert_eq!(json(Decimal8(1_914_100)), "\"0.01914100\"");
        assert_eq!(json(Decimal8(9_876_543_210_000_000)), "\"98765432.10000000\"");
        assert_eq!(json(Decimal8(-1)), "\"-0.00000001\"");
        assert_eq!(json(Decimal8(-250_000_000)), "\"-2.50000000\"");
        assert_eq!(Decimal8(i64::MIN).to_string(), "-92233720368.54775808");
        assert_eq!(Volume8(10i128.pow(30)).to_string(), "10000000000000000000000.00000000");
    }

    #[test]
    fn other_scales_and_floats() {
        let mut out = Vec::new();
        write_fixed(&mut out, -1234, 3);
        write_fixed(&mut out, 7, 0);
        assert_eq!(out, b"-1.2347");
        assert_eq!(Decimal8::from_f64(0.019141), Decimal8(1_914_100));
        assert_eq!(Decimal8::from_f64(-2.5), Decimal8(-250_000_000));
        assert_eq!(Decimal8(1_914_100).to_f64(), 0.019141);
    }
}
