//! The simulated population, drawn from the run seed: clients, their subscribers, and each subscriber's
//! streams (a symbol by Zipf popularity over the mock's universe, a kind by the scenario's mix), plus
//! churn (which subscribers leave and what the newcomers subscribe to), the stable-hash cohort split and
//! each cohort as planned ([`CohortPlan`]: its clients, subscriptions and distinct streams). Pure: the
//! same seed gives the same population and the same churn, whatever manager runs it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::load::workload::Workload;
use crate::manager::external::ManagerRef;
use crate::manager::settings::ManagerKind;
use crate::record::event::CohortId;
use crate::vocab::seed::derive;

/// One subscriber and its streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriberPlan {
    /// Id unique within its client.
    pub id: u32,
    /// Stream names.
    pub streams: Vec<String>,
}

/// One client (manager instance) and its initial subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientPlan {
    /// Client index (0-based).
    pub id: u32,
    /// Its subscribers at start.
    pub subscribers: Vec<SubscriberPlan>,
}

impl ClientPlan {
    /// The subscriptions its subscribers make at start (one per stream of each).
    pub fn subscriptions(&self) -> u64 {
        self.subscribers.iter().map(|s| s.streams.len() as u64).sum()
    }
}

/// Draws stream names from the workload's popularity and kind mix.
#[derive(Debug, Clone)]
pub struct StreamDraw {
    symbols: Vec<String>,
    symbol_cumulative: Vec<f64>,
    kinds: Vec<String>,
    kind_cumulative: Vec<f64>,
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut total = 0.0;
    weights
        .map(|w| {
            total += w;
            total
        })
        .collect()
}

fn pick(cumulative: &[f64], rng: &mut StdRng) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    let target = rng.random::<f64>() * total;
    cumulative.partition_point(|c| *c <= target).min(cumulative.len().saturating_sub(1))
}

impl StreamDraw {
    /// A draw over `symbols` (most popular first) with the workload's exponent and kinds.
    pub fn new(workload: &Workload, symbols: &[String]) -> Self {
        let exponent = workload.popularity_exponent;
        StreamDraw {
            symbols: symbols.to_vec(),
            symbol_cumulative: cumulative((1..=symbols.len()).map(|rank| 1.0 / (rank as f64).powf(exponent))),
            kinds: workload.kinds.iter().map(|(k, _)| k.clone()).collect(),
            kind_cumulative: cumulative(workload.kinds.iter().map(|(_, w)| *w)),
        }
    }

    /// `count` distinct stream names.
    pub fn streams(&self, count: usize, rng: &mut StdRng) -> Vec<String> {
        let mut chosen: Vec<String> = Vec::with_capacity(count);
        let mut tries = 0;
        while chosen.len() < count && tries < 1000 * count {
            tries += 1;
            let name = format!(
                "{}@{}",
                self.symbols[pick(&self.symbol_cumulative, rng)],
                self.kinds[pick(&self.kind_cumulative, rng)]
            );
            if !chosen.contains(&name) {
                chosen.push(name);
            }
        }
        chosen
    }
}

/// The initial population of one run.
pub fn population(workload: &Workload, symbols: &[String], seed: u64) -> Vec<ClientPlan> {
    let draw = StreamDraw::new(workload, symbols);
    (0..workload.clients)
        .map(|id| {
            let mut rng = client_rng(seed, id, 0);
            let subscribers = (0..workload.subscribers_per_client)
                .map(|s| SubscriberPlan {
                    id: s,
                    streams: draw.streams(workload.streams_per_subscriber as usize, &mut rng),
                })
                .collect();
            ClientPlan { id, subscribers }
        })
        .collect()
}

/// A client's random stream for one churn round (round 0 is the initial population).
pub fn client_rng(seed: u64, client: u32, round: u32) -> StdRng {
    StdRng::seed_from_u64(derive(seed, client as usize, round))
}

/// One churn round for a client: which current subscribers leave (by position) and the newcomers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChurnRound {
    /// Positions (in the client's current subscriber list) that leave.
    pub leaving: Vec<usize>,
    /// The subscribers that arrive.
    pub arriving: Vec<SubscriberPlan>,
}

/// Churn round `round` (1, 2, …) of a client with `current` subscribers; newcomer ids start at `next_id`.
pub fn churn_round(
    workload: &Workload,
    draw: &StreamDraw,
    seed: u64,
    client: u32,
    round: u32,
    current: usize,
    next_id: u32,
) -> ChurnRound {
    let Some(churn) = workload.churn else {
        return ChurnRound { leaving: Vec::new(), arriving: Vec::new() };
    };
    let mut rng = client_rng(seed, client, round);
    let leaving: Vec<usize> = (0..current).filter(|_| rng.random::<f64>() < churn.share).collect();
    let arriving = (0..leaving.len() as u32)
        .map(|i| SubscriberPlan {
            id: next_id + i,
            streams: draw.streams(workload.streams_per_subscriber as usize, &mut rng),
        })
        .collect();
    ChurnRound { leaving, arriving }
}

/// True when client `id` runs the new manager in a split of `new_share`: a stable FNV-1a hash of the
/// client id into 10,000 buckets, as a feature flag rolled out by percentage does.
pub fn on_new_manager(id: u32, new_share: f64) -> bool {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!("client-{id}").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    ((hash % 10_000) as f64) < new_share * 10_000.0
}

/// A cohort of the run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cohort {
    /// Index in the run.
    pub id: CohortId,
    /// Its name in reports: the manager's name in the scenario.
    pub name: String,
    /// The manager it runs (or, for an external one, implements).
    pub manager: ManagerKind,
    /// The external manager it runs (its index in the scenario's list), `None` for a model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<usize>,
}

impl Cohort {
    /// Cohort `id` running `manager`.
    pub fn of(id: CohortId, manager: &ManagerRef) -> Self {
        Cohort { id, name: manager.name.clone(), manager: manager.kind, external: manager.external }
    }
}

/// A cohort as planned: its name and manager, clients, subscriptions and distinct streams per client
/// (summed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortPlan {
    /// The cohort's name (its manager's in the scenario).
    pub name: String,
    /// The manager (or the one an external manager implements).
    pub manager: ManagerKind,
    /// Whether it runs an external manager.
    pub external: bool,
    /// How many clients run the cohort's manager.
    pub clients: u32,
    /// Subscriptions at start.
    pub subscriptions: u64,
    /// Distinct streams per client at start, summed.
    pub distinct_streams: u64,
}

/// `cohort` serving `clients`: their subscriptions, and their distinct streams per client.
pub fn planned<'a>(cohort: &Cohort, clients: impl Iterator<Item = &'a ClientPlan>) -> CohortPlan {
    let (name, manager, external) = (cohort.name.clone(), cohort.manager, cohort.external.is_some());
    let mut plan = CohortPlan { name, manager, external, clients: 0, subscriptions: 0, distinct_streams: 0 };
    for client in clients {
        let streams: Vec<&String> = client.subscribers.iter().flat_map(|s| s.streams.iter()).collect();
        plan.clients += 1;
        plan.subscriptions += streams.len() as u64;
        plan.distinct_streams += streams.iter().collect::<std::collections::HashSet<_>>().len() as u64;
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::workload::{Churn, Workload};
    use std::time::Duration;

    fn workload() -> Workload {
        Workload {
            clients: 200,
            subscribers_per_client: 4,
            streams_per_subscriber: 2,
            ramp_up: Duration::ZERO,
            popularity_exponent: 1.0,
            kinds: vec![("trade".into(), 3.0), ("depth@100ms".into(), 1.0)],
            churn: Some(Churn { every: Duration::from_secs(5), share: 0.25 }),
        }
    }

    fn symbols() -> Vec<String> {
        ["btcusdt", "ethusdt", "bnbusdt", "solusdt", "xrpusdt", "dogeusdt"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_population_is_seeded_zipf_and_distinct_per_subscriber() {
        let a = population(&workload(), &symbols(), 9);
        assert_eq!(a, population(&workload(), &symbols(), 9));
        assert_ne!(a, population(&workload(), &symbols(), 10));
        let all: Vec<&String> = a.iter().flat_map(|c| c.subscribers.iter().flat_map(|s| s.streams.iter())).collect();
        let count = |prefix: &str| all.iter().filter(|s| s.starts_with(prefix)).count();
        assert!(count("btcusdt@") > 3 * count("dogeusdt@"), "popular symbols dominate");
        assert!(count("btcusdt@trade") > count("btcusdt@depth@100ms"), "kind weights apply");
        for subscriber in a.iter().flat_map(|c| &c.subscribers) {
            assert_eq!(subscriber.streams.len(), 2);
            assert_ne!(subscriber.streams[0], subscriber.streams[1]);
        }
    }

    #[test]
    fn churn_and_split_are_stable() {
        let w = workload();
        let draw = StreamDraw::new(&w, &symbols());
        let round = churn_round(&w, &draw, 9, 3, 1, 4, 4);
        assert_eq!(round, churn_round(&w, &draw, 9, 3, 1, 4, 4));
        assert_eq!(round.leaving.len(), round.arriving.len());
        let share = (0..10_000).filter(|id| on_new_manager(*id, 0.1)).count();
        assert!((900..1100).contains(&share), "about 10 %: {share}");
        assert!((0..1000).all(|id| !on_new_manager(id, 0.0) && on_new_manager(id, 1.0)));
        assert!((0..1000).filter(|id| on_new_manager(*id, 0.05)).all(|id| on_new_manager(id, 0.25)), "monotone");
    }
}
