//! The rig's canary stream: a quiet stream that no Binance client can ask for and no fault touches, for a
//! harness to measure the delay the rig itself adds (the feed task, the fan-out, the connection writers,
//! the kernel and the harness's own readers) apart from the managers it measures.
//!
//! `GET /wschaos/canary` upgrades to a raw connection on [`STREAM`], which the feed publishes every
//! [`PERIOD`] as `{"e":"canary","E":<µs>,"n":<count>}` (always in microseconds). It goes through the same
//! hub, queues and writers as every market stream. The connection is exempt from handshake faults, the
//! per-IP connection budget, lifetime faults and every fault's selection; an outage still closes it.

use std::io::Write;
use std::time::Duration;

/// The request path of a canary connection (not a Binance path: real Binance answers 404).
pub const PATH: &str = "/wschaos/canary";

/// The hub's name of the canary stream (outside the Binance grammar, so no SUBSCRIBE can name it).
pub const STREAM: &str = "wschaos@canary";

/// How often the feed publishes a canary event.
pub const PERIOD: Duration = Duration::from_millis(10);

/// Renders one canary event published at `at` (µs since the epoch), the `n`-th of the feed.
pub fn render(at: u64, n: u64, out: &mut Vec<u8>) {
    if write!(out, "{{\"e\":\"canary\",\"E\":{at},\"n\":{n}}}").is_err() {
        // Writing to a Vec cannot fail; if it ever did, an empty object keeps the JSON valid.
        out.extend_from_slice(b"{}");
    }
}

/// True when a connection holding `streams` is a canary.
pub fn holds_canary<S: AsRef<str>>(streams: &[S]) -> bool {
    streams.iter().any(|s| s.as_ref() == STREAM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_an_event_with_its_time_in_microseconds() {
        let mut out = Vec::new();
        render(1_700_000_000_123_456, 7, &mut out);
        assert_eq!(out, br#"{"e":"canary","E":1700000000123456,"n":7}"#);
        assert!(holds_canary(&["btcusdt@trade", STREAM]));
        assert!(!holds_canary(&["btcusdt@trade"]));
    }
}
