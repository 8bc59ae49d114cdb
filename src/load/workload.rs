//! The workload section of a scenario (`[workload]`): as written ([`RawWorkload`]) and validated
//! ([`Workload`]): the population the load driver plans and runs (clients, subscribers, streams, ramp-up,
//! popularity, kinds, churn).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config_file::{HumanDuration, KeyIssue, duration_or, positive_count};
use crate::mock::config::MockConfig;
use crate::mock::stream_name::StreamSpec;

/// Subscribers replaced over the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Churn {
    /// Time between churn rounds, counted from each client's start (`churn.every`, default 10s).
    #[serde(with = "crate::vocab::serialize::millis")]
    pub every: Duration,
    /// Share replaced each period.
    pub share: f64,
}

/// The population.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    /// Clients (manager instances): each cohort runs all of them side by side; a split shares them out.
    pub clients: u32,
    /// Subscribers per client.
    pub subscribers_per_client: u32,
    /// Streams per subscriber.
    pub streams_per_subscriber: u32,
    /// Clients start evenly over this time.
    #[serde(with = "crate::vocab::serialize::millis")]
    pub ramp_up: Duration,
    /// Zipf exponent over the mock's symbols (most popular first).
    pub popularity_exponent: f64,
    /// Stream-kind suffixes (`trade`, `depth@100ms`) and their weights.
    pub kinds: Vec<(String, f64)>,
    /// Subscribers leaving and arriving.
    pub churn: Option<Churn>,
}

/// `[workload.churn]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawChurn {
    /// How often subscribers leave and others arrive.
    pub every: Option<HumanDuration>,
    /// Share of the subscribers replaced each time.
    pub share: Option<f64>,
}

/// `[workload]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawWorkload {
    /// Simulated clients (manager instances).
    pub clients: Option<u32>,
    /// Subscribers per client.
    pub subscribers_per_client: Option<u32>,
    /// Streams per subscriber.
    pub streams_per_subscriber: Option<u32>,
    /// Time over which clients start.
    pub ramp_up: Option<HumanDuration>,
    /// Zipf exponent of symbol popularity (0: uniform).
    pub popularity_exponent: Option<f64>,
    /// Stream kinds and their weights (`trade = 3`, `"depth@100ms" = 1`).
    pub kinds: Option<BTreeMap<String, f64>>,
    /// Subscribers leaving and arriving.
    pub churn: Option<RawChurn>,
}

/// Validates `[workload]`: the documented defaults, every problem pushed with its key path.
pub fn validate(raw: &RawWorkload, duration: Duration, mock: &MockConfig, issues: &mut Vec<KeyIssue>) -> Workload {
    let clients = match raw.clients {
        None => {
            issues.push(KeyIssue::new("workload.clients", "is required: the number of simulated clients, e.g. 100"));
            1
        }
        Some(n) => positive_count("workload.clients", Some(n), 1, issues),
    };
    let ramp_up = duration_or(raw.ramp_up, Duration::ZERO);
    if ramp_up >= duration {
        issues
            .push(KeyIssue::new("workload.ramp-up", format!("{ramp_up:?} is not shorter than the run ({duration:?})")));
    }
    let exponent = raw.popularity_exponent.unwrap_or(1.0);
    if !(exponent.is_finite() && exponent >= 0.0) {
        issues
            .push(KeyIssue::new("workload.popularity-exponent", "must be 0 or more (0: every symbol equally popular)"));
    }
    let kinds = kinds(raw.kinds.clone(), issues);
    let streams_per_subscriber =
        positive_count("workload.streams-per-subscriber", raw.streams_per_subscriber, 1, issues);
    let distinct = mock.feed.symbols.len() * kinds.len();
    if streams_per_subscriber as usize > distinct {
        let message =
            format!("{streams_per_subscriber} is more than the {distinct} distinct streams of the symbols and kinds");
        issues.push(KeyIssue::new("workload.streams-per-subscriber", message));
    }
    Workload {
        clients,
        subscribers_per_client: positive_count(
            "workload.subscribers-per-client",
            raw.subscribers_per_client,
            1,
            issues,
        ),
        streams_per_subscriber,
        ramp_up,
        popularity_exponent: exponent,
        kinds,
        churn: churn(raw.churn.as_ref(), issues),
    }
}

fn kinds(raw: Option<BTreeMap<String, f64>>, issues: &mut Vec<KeyIssue>) -> Vec<(String, f64)> {
    let raw = raw.unwrap_or_else(|| BTreeMap::from([("trade".to_owned(), 1.0)]));
    if raw.is_empty() {
        issues.push(KeyIssue::new("workload.kinds", "needs at least one stream kind, e.g. { trade = 1 }"));
    }
    for (kind, weight) in &raw {
        let key = format!("workload.kinds.{kind}");
        if StreamSpec::parse(&format!("btcusdt@{kind}")).is_none() {
            let message = format!(
                "{kind:?} is not a per-symbol stream kind; use e.g. trade, aggTrade, bookTicker, depth@100ms, depth5, kline_1m, miniTicker, ticker"
            );
            issues.push(KeyIssue::new(key.clone(), message));
        }
        if !(weight.is_finite() && *weight > 0.0) {
            issues.push(KeyIssue::new(key, "weights must be positive numbers"));
        }
    }
    raw.into_iter().collect()
}

fn churn(raw: Option<&RawChurn>, issues: &mut Vec<KeyIssue>) -> Option<Churn> {
    let raw = raw?;
    let every = duration_or(raw.every, Duration::from_secs(10));
    if every.is_zero() {
        issues.push(KeyIssue::new("workload.churn.every", "must be longer than zero"));
    }
    let share = raw.share.unwrap_or(0.1);
    if !(0.0..=1.0).contains(&share) {
        issues.push(KeyIssue::new("workload.churn.share", "must be between 0 and 1"));
    }
    Some(Churn { every, share })
}
