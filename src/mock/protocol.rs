//! The live request protocol on a market-stream connection: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS,
//! SET_PROPERTY and GET_PROPERTY, with Binance's exact responses and error envelopes.
//!
//! Pure: a [`Session`] holds one connection's subscriptions and `combined` property and turns a request
//! text into the response text plus the subscription changes the connection must apply to the fan-out
//! hub. Error messages are serde's own `Display` strings, as the real (serde-based) server's are.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::error::Category;

use crate::mock::stream_name::StreamSpec;

/// The methods Binance accepts (case-sensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Method {
    Subscribe,
    Unsubscribe,
    ListSubscriptions,
    SetProperty,
    GetProperty,
}

/// The request envelope. Field order matters: serde reports the first problem it meets.
#[derive(Debug, Deserialize)]
struct Request {
    method: Method,
    #[serde(default)]
    params: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
}

/// Distinguishes `"id":null` (Some(Null)) from a missing id (None).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Serialize)]
struct ResultReply<'a, T: Serialize> {
    result: T,
    id: &'a Value,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u8,
    msg: &'a str,
}

#[derive(Serialize)]
struct ErrorReply<'a> {
    error: ErrorBody<'a>,
    id: &'a Value,
}

/// A protocol error: Binance's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// 0 unknown property, 1 bad value type, 2 invalid request, 3 invalid JSON, 4 too many subscriptions.
    pub code: u8,
    /// The message, verbatim.
    pub msg: String,
}

impl ProtocolError {
    fn new(code: u8, msg: impl Into<String>) -> Self {
        ProtocolError { code, msg: msg.into() }
    }

    fn invalid_stream() -> Self {
        Self::new(2, "Invalid request: invalid stream")
    }

    fn too_many_params() -> Self {
        Self::new(2, "Invalid request: too many parameters")
    }

    fn bad_property_name() -> Self {
        Self::new(2, "Invalid request: property name must be a string")
    }

    fn bad_id() -> Self {
        Self::new(2, "Invalid request: request ID must be an unsigned integer")
    }
}

/// A subscription change the connection applies to the hub after sending the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Start delivering this stream.
    Subscribe(String),
    /// Stop delivering this stream.
    Unsubscribe(String),
    /// Events are now wrapped (`true`) or bare (`false`).
    Combined(bool),
}

/// What handling one request produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The response text to send.
    pub response: String,
    /// Hub changes, in order.
    pub changes: Vec<Change>,
    /// The error code, when the response is an error (for counting and the close policy).
    pub error: Option<u8>,
    /// True when the error was a malformed stream name (the `malformed-stream` policy may close).
    pub malformed_stream: bool,
}

/// The rules a session enforces.
#[derive(Debug, Clone, Default)]
pub struct SessionRules {
    /// Streams per connection (`None`: unlimited).
    pub max_streams: Option<usize>,
    /// When set, SUBSCRIBE rejects symbols outside this universe.
    pub known_symbols: Option<Arc<HashSet<String>>>,
}

/// One connection's live-protocol state.
#[derive(Debug, Clone)]
pub struct Session {
    subscriptions: Vec<String>,
    combined: bool,
    rules: SessionRules,
}

impl Session {
    /// A session for a connection opened with these URL streams on a raw (`combined = false`) or
    /// combined endpoint.
    pub fn new(url_streams: Vec<String>, combined: bool, rules: SessionRules) -> Self {
        Session { subscriptions: url_streams, combined, rules }
    }

    /// Current subscriptions in the order they were made.
    pub fn subscriptions(&self) -> &[String] {
        &self.subscriptions
    }

    /// Handles one text message from the client.
    pub fn handle(&mut self, text: &str) -> Outcome {
        let request = match serde_json::from_str::<Request>(text) {
            Ok(r) => r,
            Err(e) => return parse_failure(text, &e),
        };
        let id = match request.id.map(valid_id) {
            Some(Some(id)) => id,
            _ => return error_outcome(&Value::Null, ProtocolError::bad_id()),
        };
        let params = request.params.unwrap_or_default();
        let result = match request.method {
            Method::Subscribe => self.subscribe(&params),
            Method::Unsubscribe => self.unsubscribe(&params),
            Method::ListSubscriptions => self.list(&params),
            Method::SetProperty => self.set_property(&params),
            Method::GetProperty => self.get_property(&params),
        };
        match result {
            Ok((result, changes)) => Outcome {
                response: reply_text(&ResultReply { result, id: &id }),
                changes,
                error: None,
                malformed_stream: false,
            },
            Err(e) => error_outcome(&id, e),
        }
    }

    fn subscribe(&mut self, params: &[Value]) -> Result<(Value, Vec<Change>), ProtocolError> {
        let names = stream_params(params)?;
        if let Some(known) = &self.rules.known_symbols {
            let unknown = names.iter().filter_map(|n| StreamSpec::parse(n)?.symbol).any(|s| !known.contains(&s));
            if unknown {
                return Err(ProtocolError::invalid_stream());
            }
        }
        let mut fresh: Vec<String> = Vec::new();
        for name in names {
            if !self.subscriptions.contains(&name) && !fresh.contains(&name) {
                fresh.push(name);
            }
        }
        if let Some(max) = self.rules.max_streams {
            if self.subscriptions.len() + fresh.len() > max {
                return Err(ProtocolError::new(4, "Too many subscriptions"));
            }
        }
        self.subscriptions.extend(fresh.iter().cloned());
        Ok((Value::Null, fresh.into_iter().map(Change::Subscribe).collect()))
    }

    fn unsubscribe(&mut self, params: &[Value]) -> Result<(Value, Vec<Change>), ProtocolError> {
        let names = stream_params(params)?;
        let mut changes = Vec::new();
        for name in names {
            if let Some(pos) = self.subscriptions.iter().position(|s| *s == name) {
                self.subscriptions.remove(pos);
                changes.push(Change::Unsubscribe(name));
            }
        }
        Ok((Value::Null, changes))
    }

    fn list(&self, params: &[Value]) -> Result<(Value, Vec<Change>), ProtocolError> {
        if !params.is_empty() {
            return Err(ProtocolError::too_many_params());
        }
        let list = self.subscriptions.iter().cloned().map(Value::String).collect();
        Ok((Value::Array(list), Vec::new()))
    }

    fn set_property(&mut self, params: &[Value]) -> Result<(Value, Vec<Change>), ProtocolError> {
        property_name(params.first())?;
        let value = match params.get(1) {
            Some(Value::Bool(b)) => *b,
            _ => return Err(ProtocolError::new(1, "Invalid value type: expected Boolean")),
        };
        if params.len() > 2 {
            return Err(ProtocolError::too_many_params());
        }
        let changes = if value == self.combined { Vec::new() } else { vec![Change::Combined(value)] };
        self.combined = value;
        Ok((Value::Null, changes))
    }

    fn get_property(&self, params: &[Value]) -> Result<(Value, Vec<Change>), ProtocolError> {
        property_name(params.first())?;
        if params.len() > 1 {
            return Err(ProtocolError::too_many_params());
        }
        Ok((Value::Bool(self.combined), Vec::new()))
    }
}

/// Checks the property name: a string, and `combined`.
fn property_name(name: Option<&Value>) -> Result<(), ProtocolError> {
    match name {
        Some(Value::String(s)) if s == "combined" => Ok(()),
        Some(Value::String(_)) => Err(ProtocolError::new(0, "Unknown property")),
        _ => Err(ProtocolError::bad_property_name()),
    }
}

/// The stream names of SUBSCRIBE/UNSUBSCRIBE; any non-string or malformed name fails the whole request.
fn stream_params(params: &[Value]) -> Result<Vec<String>, ProtocolError> {
    params
        .iter()
        .map(|p| match p {
            Value::String(s) if StreamSpec::parse(s).is_some() => Ok(s.clone()),
            _ => Err(ProtocolError::invalid_stream()),
        })
        .collect()
}

/// Accepts a 64-bit signed integer, a string of `[A-Za-z0-9-]{1,36}`, or null; returns it unchanged.
fn valid_id(id: Value) -> Option<Value> {
    let ok = match &id {
        Value::Null => true,
        Value::Number(n) => n.is_i64(),
        Value::String(s) => (1..=36).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
        _ => false,
    };
    ok.then_some(id)
}

/// Maps a serde failure to Binance's envelope: syntax errors are code 3 with a null id; data errors
/// (unknown or missing method, wrong types) are code 2 with the id echoed when it can be read.
fn parse_failure(text: &str, e: &serde_json::Error) -> Outcome {
    match e.classify() {
        Category::Data => {
            let id = serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v.get("id").cloned())
                .and_then(valid_id)
                .unwrap_or(Value::Null);
            error_outcome(&id, ProtocolError::new(2, format!("Invalid request: {e}")))
        }
        Category::Syntax | Category::Eof | Category::Io => {
            error_outcome(&Value::Null, ProtocolError::new(3, format!("Invalid JSON: {e}")))
        }
    }
}

fn error_outcome(id: &Value, error: ProtocolError) -> Outcome {
    Outcome {
        response: reply_text(&ErrorReply { error: ErrorBody { code: error.code, msg: &error.msg }, id }),
        changes: Vec::new(),
        error: Some(error.code),
        malformed_stream: error == ProtocolError::invalid_stream(),
    }
}

fn reply_text<T: Serialize>(reply: &T) -> String {
    serde_json::to_string(reply).unwrap_or_else(|_| String::from("{}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new(vec!["btcusdt@trade".into()], false, SessionRules { max_streams: Some(3), known_symbols: None })
    }

    #[test]
    fn subscribe_list_unsubscribe_round_trip() {
        let mut s = session();
        let out = s.handle(r#"{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth"],"id":1}"#);
        assert_eq!(out.response, r#"{"result":null,"id":1}"#);
        assert_eq!(
            out.changes,
            [Change::Subscribe("btcusdt@aggTrade".into()), Change::Subscribe("btcusdt@depth".into())]
        );
        let out = s.handle(r#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#);
        assert_eq!(out.response, r#"{"result":["btcusdt@trade","btcusdt@aggTrade","btcusdt@depth"],"id":3}"#);
        let out = s.handle(r#"{"method":"UNSUBSCRIBE","params":["btcusdt@depth","ethusdt@trade"],"id":312}"#);
        assert_eq!(out.response, r#"{"result":null,"id":312}"#);
        assert_eq!(out.changes, [Change::Unsubscribe("btcusdt@depth".into())]);
    }

    #[test]
    fn duplicate_subscribe_changes_nothing() {
        let mut s = session();
        let out = s.handle(r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@trade"],"id":7}"#);
        assert_eq!(out.response, r#"{"result":null,"id":7}"#);
        assert!(out.changes.is_empty());
        assert_eq!(s.subscriptions(), ["btcusdt@trade"]);
    }

    #[test]
    fn ids_are_echoed_with_their_type() {
        let mut s = session();
        for id in ["1", "\"0123456789abcdef0123456789abcdef\"", "\"3f1c2a9e-5b6d-4c8e-9f00-112233445566\"", "null"] {
            let out = s.handle(&format!(r#"{{"method":"GET_PROPERTY","params":["combined"],"id":{id}}}"#));
            assert_eq!(out.response, format!(r#"{{"result":false,"id":{id}}}"#));
        }
        for bad in ["1.5", "\"has space\"", "\"0123456789012345678901234567890123456\"", "[1]", "18446744073709551615"]
        {
            let out = s.handle(&format!(r#"{{"method":"LIST_SUBSCRIPTIONS","id":{bad}}}"#));
            assert_eq!(
                out.response,
                r#"{"error":{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"},"id":null}"#,
                "{bad}"
            );
        }
    }

    #[test]
    fn error_envelopes_match_binance() {
        let mut s = session();
        let cases = [
            ("{bad", r#"{"error":{"code":3,"msg":"Invalid JSON: key must be a string at line 1 column 2"},"id":null}"#),
            (
                "",
                r#"{"error":{"code":3,"msg":"Invalid JSON: EOF while parsing a value at line 1 column 0"},"id":null}"#,
            ),
            (
                r#"{"method":"SUBSCRIB","params":[],"id":4}"#,
                "{\"error\":{\"code\":2,\"msg\":\"Invalid request: unknown variant `SUBSCRIB`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 column 20\"},\"id\":4}",
            ),
            (
                r#"{"params":["btcusdt@trade"],"id":5}"#,
                "{\"error\":{\"code\":2,\"msg\":\"Invalid request: missing field `method` at line 1 column 35\"},\"id\":5}",
            ),
            (
                r#"{"method":"SET_PROPERTY","params":["colour",true],"id":6}"#,
                r#"{"error":{"code":0,"msg":"Unknown property"},"id":6}"#,
            ),
            (
                r#"{"method":"SET_PROPERTY","params":["combined","yes"],"id":7}"#,
                r#"{"error":{"code":1,"msg":"Invalid value type: expected Boolean"},"id":7}"#,
            ),
            (
                r#"{"method":"SET_PROPERTY","params":[5,true],"id":8}"#,
                r#"{"error":{"code":2,"msg":"Invalid request: property name must be a string"},"id":8}"#,
            ),
            (
                r#"{"method":"GET_PROPERTY","params":[],"id":9}"#,
                r#"{"error":{"code":2,"msg":"Invalid request: property name must be a string"},"id":9}"#,
            ),
            (
                r#"{"method":"SET_PROPERTY","params":["combined",true,1],"id":10}"#,
                r#"{"error":{"code":2,"msg":"Invalid request: too many parameters"},"id":10}"#,
            ),
            (
                r#"{"method":"SUBSCRIBE","params":["not asdfads"],"id":11}"#,
                r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":11}"#,
            ),
            (r#"{"method":"SUBSCRIBE","id":12}"#, r#"{"result":null,"id":12}"#),
            (
                r#"{"method":"SUBSCRIBE","params":["a@trade"]}"#,
                r#"{"error":{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"},"id":null}"#,
            ),
        ];
        for (request, expected) in cases {
            assert_eq!(s.handle(request).response, expected, "{request}");
        }
    }

    #[test]
    fn stream_limit_is_code_4_and_atomic() {
        let mut s = session();
        let out = s.handle(r#"{"method":"SUBSCRIBE","params":["a@trade","b@trade","c@trade"],"id":19}"#);
        assert_eq!(out.response, r#"{"error":{"code":4,"msg":"Too many subscriptions"},"id":19}"#);
        assert_eq!(s.subscriptions().len(), 1);
        assert!(s.handle(r#"{"method":"SUBSCRIBE","params":["a@trade","b@trade"],"id":20}"#).error.is_none());
    }

    #[test]
    fn set_property_switches_the_wrapper() {
        let mut s = session();
        let out = s.handle(r#"{"method":"SET_PROPERTY","params":["combined",true],"id":5}"#);
        assert_eq!(out.response, r#"{"result":null,"id":5}"#);
        assert_eq!(out.changes, [Change::Combined(true)]);
        assert_eq!(
            s.handle(r#"{"method":"GET_PROPERTY","params":["combined"],"id":2}"#).response,
            r#"{"result":true,"id":2}"#
        );
    }

    #[test]
    fn strict_symbols_reject_unknown() {
        let known = Arc::new(HashSet::from(["btcusdt".to_owned()]));
        let mut s = Session::new(vec![], true, SessionRules { max_streams: None, known_symbols: Some(known) });
        assert_eq!(s.handle(r#"{"method":"SUBSCRIBE","params":["000usdt@trade"],"id":1}"#).error, Some(2));
        assert_eq!(
            s.handle(r#"{"method":"SUBSCRIBE","params":["!miniTicker@arr","btcusdt@trade"],"id":2}"#).error,
            None
        );
    }
}
