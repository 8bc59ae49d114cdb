//! What each fuzz target runs (`fuzz/fuzz_targets/`), one function per parser that reads what users and
//! clients send, so that `cargo fuzz` and the corpus replay in the tests (`tests/it/fuzz_corpus.rs`) run the
//! same code. Each panics only on a broken invariant; an error answer is a pass.

use std::path::PathBuf;

use crate::adapter::protocol;
use crate::chaos::fault::{Fault, RawFault};
use crate::config_file::SourceFile;
use crate::mock::config::{InvalidTimeUnit, UrlOverLimit};
use crate::mock::handshake::{accept_key, parse_head};
use crate::mock::protocol::{Session, SessionRules};
use crate::mock::route::{RoutePolicy, Target, percent_decode, route};
use crate::mock::stream_name::StreamSpec;
use crate::scenario::cost::MachineLimits;

/// The HTTP request-head parser and the upgrade check, on any bytes a client may send first.
pub fn http_head(data: &[u8]) {
    if let Ok(Some(head)) = parse_head(data) {
        assert!(head.leftover.len() <= data.len());
        if let Ok(key) = accept_key(&head) {
            assert_eq!(key.len(), 28, "a SHA-1 in base64");
        }
    }
}

/// The URL grammar (paths, query, percent-decoding, `timeUnit`, REST parameters) under both limit
/// policies, and the stream-name grammar on every path segment.
pub fn url_route(target: &str) {
    for (over_limit, invalid_time_unit) in
        [(UrlOverLimit::Reject, InvalidTimeUnit::Reject), (UrlOverLimit::Truncate, InvalidTimeUnit::Ignore)]
    {
        let policy = RoutePolicy { max_streams: Some(3), over_limit, invalid_time_unit };
        if let Ok(Target::WebSocket(ws)) = route(target, policy) {
            assert!(ws.streams.len() <= 3 || ws.canary, "the stream limit holds");
            assert!(ws.canary || ws.streams.iter().all(|name| StreamSpec::parse(name).is_some()));
        }
    }
    assert!(percent_decode(target).len() <= target.len() * 3, "decoding never grows a string past its escapes");
    for token in target.split('/') {
        if let Some(spec) = StreamSpec::parse(token) {
            assert!(!token.is_empty(), "{spec:?}");
        }
    }
}

/// The live-request parser: one session, with a stream limit, fed each line as a text message.
pub fn live_request(text: &str) {
    let rules = SessionRules { max_streams: Some(8), known_symbols: None };
    let mut session = Session::new(Vec::new(), false, rules);
    for message in text.split('\n').take(64) {
        drop(session.handle(message));
        assert!(session.subscriptions().len() <= 8, "the stream limit holds");
    }
}

/// The control API's fault body, read and validated as `POST /faults` does.
pub fn fault_json(body: &[u8]) {
    if let Ok(raw) = serde_json::from_slice::<RawFault>(body) {
        if let Ok(fault) = Fault::from_raw(&raw, "fault") {
            assert!(serde_json::to_string(&fault).is_ok(), "a valid fault serializes");
        }
    }
}

/// The scenario loader: any text as a scenario file, every problem collected and placed, the cost checked
/// against a small machine.
pub fn scenario(text: &str) {
    let source = SourceFile { path: PathBuf::from("fuzz.toml"), text: text.to_owned() };
    let limits = MachineLimits { open_files: Some(20_000), memory_bytes: Some(1 << 30) };
    match crate::scenario::from_source(&source, &limits) {
        Ok(scenario) => assert!(!scenario.duration.is_zero()),
        Err(issues) => assert!(!issues.0.is_empty(), "a refusal names its problems"),
    }
}

/// The adapter protocol's report parser, on any bytes an external manager process may write, line by line:
/// a report it accepts writes back as a line that parses to the same report.
pub fn adapter_report(data: &[u8]) {
    for (number, line) in data.split(|b| *b == b'\n').take(64).enumerate() {
        let Ok(text) = std::str::from_utf8(line) else { continue };
        if let Ok(report) = protocol::parse(text, number as u64 + 1) {
            let written = protocol::encode_report(&report);
            assert_eq!(protocol::parse(written.trim_end(), 1).ok(), Some(report), "{written}");
        }
    }
}
