//! The adapter protocol, version 1: newline-delimited JSON between wschaos and an external manager process
//! (one JSON object per line; the process logs on stderr). wschaos writes [`Command`]s to the process's
//! stdin; the process writes [`Report`]s to its stdout, [`Report::Ready`] first. Both directions are
//! written and parsed here, and a line that is not a report is an error naming its line number.
//!
//! A delivery is one message handed to one subscriber's callback, reported as a row
//! `[subscriber, stream, key, event_time_us, received_us]`: `key` is the message's identifying id (`t` of a
//! trade, `a` of an aggTrade, `u` of a depth update or a bookTicker, `lastUpdateId` of a partial depth;
//! `null` for the kinds without one, which are identified by their event time), `event_time_us` its `E` in
//! microseconds (`null` when it has none), and `received_us` the wall-clock time of the callback in
//! microseconds since the Unix epoch. Rows are batched (a `deliveries` line per client every few tens of
//! milliseconds), so 100,000 deliveries a second cost a few hundred lines.

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The longest line wschaos reads from a process (a batch of deliveries included).
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// What wschaos tells an adapter process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Command {
    /// The first line: the protocol version, the upstream every client connects to, and how often to send
    /// a batch of deliveries.
    Init {
        /// [`VERSION`].
        protocol: u32,
        /// The upstream's base URL (`ws://127.0.0.1:<port>`); a manager appends `/ws/<stream>` or `/stream`.
        upstream: String,
        /// The `timeUnit` query parameter a manager adds (`MICROSECOND`), so event times are in µs.
        time_unit: String,
        /// Milliseconds between two batches of one client's deliveries.
        batch_ms: u32,
    },
    /// Start a client (one manager instance) with its own loopback source address.
    Client {
        /// The client's index in the run.
        client: u32,
        /// The source address its sockets bind to (the `ws` package's `localAddress`).
        source: String,
        /// Which implementation the process runs for it (`legacy`, `wsmanager`, or its own names).
        implementation: String,
        /// For a migration layer in a rehearsal: the side it starts on (optional).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        side: Option<Side>,
    },
    /// One subscriber of a client subscribes to a stream.
    Subscribe {
        /// The client.
        client: u32,
        /// The subscriber (unique within its client).
        subscriber: u32,
        /// The stream name (`btcusdt@trade`).
        stream: String,
    },
    /// One subscriber leaves a stream.
    Unsubscribe {
        /// The client.
        client: u32,
        /// The subscriber.
        subscriber: u32,
        /// The stream name.
        stream: String,
    },
    /// Move a client between the two managers of its migration layer (the flag flip,
    /// `connectionMigration.enableWSManager()` or `enableLegacy()`), every subscription with it: `to` is the
    /// side it moves to; with `make-before-break` the old side's subscriptions end once the new ones have
    /// each received (or `deadline_ms` passed), with `break-before-make` before the new ones start. Answered
    /// by [`Report::Migrated`]. Only for an implementation the `ready` report lists in `migrations`.
    Migrate {
        /// The client.
        client: u32,
        /// The side it moves to.
        to: Side,
        /// `make-before-break` or `break-before-make`.
        order: crate::summary::rollout::HandoverOrder,
        /// How long the new side's subscriptions have to receive before the old ones end anyway (ms).
        deadline_ms: u64,
    },
    /// Report the client's own metrics (`getMetrics()`) now.
    Metrics {
        /// The client.
        client: u32,
    },
    /// Flush every delivery, destroy every client, answer [`Report::Stopped`] and exit.
    Stop,
}

/// What an adapter process reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Report {
    /// The first line, after [`Command::Init`]: the version it speaks and what it can run.
    Ready {
        /// The protocol version (must be [`VERSION`]).
        protocol: u32,
        /// The adapter's name and version, for the report.
        adapter: String,
        /// The implementations [`Command::Client`] may name.
        implementations: Vec<String>,
        /// The implementations that are migration layers and take [`Command::Migrate`] (optional).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        migrations: Vec<String>,
    },
    /// A batch of one client's deliveries.
    Deliveries {
        /// The client.
        client: u32,
        /// `[subscriber, stream, key, event_time_us, received_us]` per delivery.
        rows: Vec<DeliveryRow>,
        /// Which side of a migration layer delivered them (optional: absent for a client that is not one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        side: Option<Side>,
    },
    /// A [`Command::Migrate`] done: the client is on `to`, and the old side's subscriptions have ended.
    Migrated {
        /// The client.
        client: u32,
        /// The side it is on now.
        to: Side,
        /// What the migration layer says it runs now (`getCurrentImplementation()`), when it says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        implementation: Option<String>,
    },
    /// A connection status the manager reported (`getConnectionStatus()`).
    Status {
        /// The client.
        client: u32,
        /// The stream it concerns, when the manager says.
        #[serde(default)]
        stream: Option<String>,
        /// `connecting`, `connected` or `disconnected`.
        state: String,
    },
    /// The client's own metrics, as `getMetrics()` returned them.
    Metrics {
        /// The client.
        client: u32,
        /// The metrics object.
        metrics: serde_json::Value,
    },
    /// An error a subscriber received (the manager gave up, or refused a stream).
    Error {
        /// The client.
        client: u32,
        /// The subscriber, when the error reached one.
        #[serde(default)]
        subscriber: Option<u32>,
        /// The stream, when it concerns one.
        #[serde(default)]
        stream: Option<String>,
        /// The error's message.
        message: String,
    },
    /// The process's own event-loop (or scheduler) lag since `init`, cumulative, about once a second
    /// (optional: a process that sends none has its lag reported as unknown). The last one stands.
    Lag {
        /// 99th percentile, µs.
        p99_us: u64,
        /// Largest, µs.
        max_us: u64,
    },
    /// Every delivery flushed and every client destroyed: the last line.
    Stopped,
}

/// The two managers of a migration layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// The legacy manager (`USE_NEW_WS_MANAGER` false).
    Legacy,
    /// The new one (`USE_NEW_WS_MANAGER` true).
    New,
}

/// One delivery: `[subscriber, stream, key, event_time_us, received_us]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRow(pub u32, pub String, pub Option<u64>, pub Option<u64>, pub u64);

impl DeliveryRow {
    /// The subscriber it was handed to.
    pub fn subscriber(&self) -> u32 {
        self.0
    }

    /// The stream it arrived on.
    pub fn stream(&self) -> &str {
        &self.1
    }

    /// The message's identifying key, or its event time for the kinds without one.
    pub fn key(&self) -> Option<u64> {
        self.2.or(self.3)
    }

    /// `E`, µs.
    pub fn event_time_us(&self) -> Option<u64> {
        self.3
    }

    /// When the subscriber's callback ran, µs since the Unix epoch.
    pub fn received_us(&self) -> u64 {
        self.4
    }
}

/// A line from a process that is not a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not JSON, or not one of the reports.
    #[error("line {line}: not a report of protocol {VERSION}: {problem}")]
    Garbage {
        /// 1-based line number on the process's stdout.
        line: u64,
        /// What was wrong.
        problem: String,
    },
    /// Longer than [`MAX_LINE`].
    #[error("line {line}: longer than {MAX_LINE} bytes")]
    TooLong {
        /// 1-based line number.
        line: u64,
    },
    /// The first report was not `ready`, or named another version.
    #[error("line {line}: {problem}")]
    Handshake {
        /// 1-based line number.
        line: u64,
        /// What was wrong.
        problem: String,
    },
}

/// A command as one line, newline included.
pub fn encode(command: &Command) -> String {
    line(command)
}

/// A report as one line, newline included (what an adapter writes; the tests' fake adapters use it).
pub fn encode_report(report: &Report) -> String {
    line(report)
}

fn line(value: &impl Serialize) -> String {
    let mut line = serde_json::to_string(value).unwrap_or_default();
    line.push('\n');
    line
}

/// Parses line number `line` of a process's stdout (without its newline).
pub fn parse(text: &str, line: u64) -> Result<Report, LineError> {
    if text.len() > MAX_LINE {
        return Err(LineError::TooLong { line });
    }
    serde_json::from_str(text).map_err(|e| LineError::Garbage { line, problem: short(&e.to_string()) })
}

/// Checks the first report: `ready`, with this build's version.
pub fn check_ready(report: &Report, line: u64) -> Result<(), LineError> {
    match report {
        Report::Ready { protocol, .. } if *protocol == VERSION => Ok(()),
        Report::Ready { protocol, .. } => Err(LineError::Handshake {
            line,
            problem: format!("the adapter speaks protocol {protocol}; this wschaos speaks {VERSION}"),
        }),
        other => Err(LineError::Handshake {
            line,
            problem: format!("the first report must be \"ready\", not {:?}", kind(other)),
        }),
    }
}

fn kind(report: &Report) -> &'static str {
    match report {
        Report::Ready { .. } => "ready",
        Report::Deliveries { .. } => "deliveries",
        Report::Migrated { .. } => "migrated",
        Report::Status { .. } => "status",
        Report::Metrics { .. } => "metrics",
        Report::Error { .. } => "error",
        Report::Lag { .. } => "lag",
        Report::Stopped => "stopped",
    }
}

/// A parser's message cut to one readable line.
fn short(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    line.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_one_line_each_with_their_type() {
        let commands = [
            Command::Init {
                protocol: VERSION,
                upstream: "ws://127.0.0.1:9".into(),
                time_unit: "MICROSECOND".into(),
                batch_ms: 50,
            },
            Command::Client { client: 7, source: "127.1.0.8".into(), implementation: "wsmanager".into(), side: None },
            Command::Migrate {
                client: 7,
                to: Side::New,
                order: crate::summary::rollout::HandoverOrder::MakeBeforeBreak,
                deadline_ms: 3000,
            },
            Command::Subscribe { client: 7, subscriber: 3, stream: "btcusdt@trade".into() },
            Command::Unsubscribe { client: 7, subscriber: 3, stream: "btcusdt@trade".into() },
            Command::Metrics { client: 7 },
            Command::Stop,
        ];
        for command in &commands {
            let line = encode(command);
            assert_eq!(line.matches('\n').count(), 1, "{line}");
            assert!(line.ends_with('\n'));
            assert_eq!(&serde_json::from_str::<Command>(&line).unwrap(), command, "round trip");
        }
        assert_eq!(
            encode(&commands[2]),
            "{\"type\":\"migrate\",\"client\":7,\"to\":\"new\",\"order\":\"make-before-break\",\"deadline_ms\":3000}\n"
        );
        assert!(!encode(&commands[1]).contains("side"), "a client outside a rehearsal names no side");
        assert_eq!(
            encode(&commands[3]),
            "{\"type\":\"subscribe\",\"client\":7,\"subscriber\":3,\"stream\":\"btcusdt@trade\"}\n"
        );
        assert_eq!(encode(&Command::Stop), "{\"type\":\"stop\"}\n");
    }

    #[test]
    fn reports_parse_from_what_an_adapter_writes() {
        let text = r#"{"type":"deliveries","client":7,"rows":[[3,"btcusdt@trade",12,1700000000000000,1700000000000450],[4,"btcusdt@kline_1m",null,1700000000000001,1700000000000900]]}"#;
        let Report::Deliveries { client, rows, side } = parse(text, 5).unwrap() else { panic!() };
        assert_eq!((client, rows.len(), side), (7, 2, None));
        assert_eq!((rows[0].subscriber(), rows[0].stream(), rows[0].key()), (3, "btcusdt@trade", Some(12)));
        assert_eq!(rows[1].key(), Some(1_700_000_000_000_001), "no id: the event time identifies it");
        assert_eq!(rows[0].received_us() - rows[0].event_time_us().unwrap(), 450);
        let status = parse(r#"{"type":"status","client":1,"state":"connected"}"#, 6).unwrap();
        assert_eq!(status, Report::Status { client: 1, stream: None, state: "connected".into() });
        let tagged = parse(r#"{"type":"deliveries","client":7,"rows":[],"side":"legacy"}"#, 7).unwrap();
        assert!(matches!(tagged, Report::Deliveries { side: Some(Side::Legacy), .. }), "{tagged:?}");
        let migrated = parse(r#"{"type":"migrated","client":7,"to":"new","implementation":"WSManager"}"#, 8).unwrap();
        let implementation = Some("WSManager".to_owned());
        assert_eq!(migrated, Report::Migrated { client: 7, to: Side::New, implementation });
        for report in [
            status,
            migrated,
            tagged,
            Report::Stopped,
            Report::Metrics { client: 2, metrics: serde_json::json!({"a": 1}) },
        ] {
            let line = encode_report(&report);
            assert_eq!(parse(line.trim_end(), 1).unwrap(), report);
        }
    }

    #[test]
    fn garbage_is_named_by_its_line() {
        let err = parse("hello", 12).unwrap_err();
        assert!(err.to_string().starts_with("line 12: not a report of protocol 1: expected value"), "{err}");
        let err = parse(r#"{"type":"deliveries","client":1,"rows":[[1,2]]}"#, 3).unwrap_err();
        assert!(matches!(err, LineError::Garbage { line: 3, .. }), "{err}");
        let err = parse(r#"{"type":"teleport"}"#, 4).unwrap_err();
        assert!(err.to_string().contains("unknown variant `teleport`"), "{err}");
        let long = "x".repeat(MAX_LINE + 1);
        assert_eq!(parse(&long, 9).unwrap_err(), LineError::TooLong { line: 9 });
    }

    #[test]
    fn the_handshake_wants_ready_in_this_version() {
        let ready =
            |protocol| Report::Ready { protocol, adapter: "a".into(), implementations: vec![], migrations: vec![] };
        assert!(check_ready(&ready(VERSION), 1).is_ok());
        let err = check_ready(&ready(2), 1).unwrap_err();
        assert_eq!(err.to_string(), "line 1: the adapter speaks protocol 2; this wschaos speaks 1");
        let err = check_ready(&Report::Stopped, 1).unwrap_err();
        assert!(err.to_string().contains("must be \"ready\", not \"stopped\""), "{err}");
    }
}
