//! The symbol universe the mock serves: real Binance spot symbols in rough order of popularity, each with
//! a plausible starting price, tick size and lot size.
//!
//! Owns the static list only; the moving state of each symbol lives in the market state.

/// A symbol and the constants its simulated market starts from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SymbolSpec {
    /// Lowercase symbol, as in stream names (`btcusdt`).
    pub name: String,
    /// Starting price in the quote asset.
    pub price: f64,
    /// Price step.
    pub tick_size: f64,
    /// Quantity step.
    pub lot_size: f64,
}

impl SymbolSpec {
    /// A spec from its parts.
    pub fn new(name: &str, price: f64, tick_size: f64, lot_size: f64) -> SymbolSpec {
        SymbolSpec { name: name.to_ascii_lowercase(), price, tick_size, lot_size }
    }

    /// A symbol outside the built-in universe: a price of 10 with a tick and lot of 0.001.
    pub fn generic(name: &str) -> SymbolSpec {
        SymbolSpec::new(name, 10.0, 0.001, 0.001)
    }

    /// A typical notional of one book level, in the quote asset (about 5,000 USD worth).
    pub fn level_notional(&self) -> f64 {
        const QUOTES: [(&str, f64); 6] =
            [("usdt", 5000.0), ("usdc", 5000.0), ("fdusd", 5000.0), ("btc", 0.05), ("eth", 1.5), ("bnb", 8.0)];
        QUOTES.iter().find(|(quote, _)| self.name.ends_with(quote)).map_or(5000.0, |(_, notional)| *notional)
    }
}

/// `(name, price, tick, lot)` for the default universe.
const UNIVERSE: [(&str, f64, f64, f64); 42] = [
    ("btcusdt", 97_000.0, 0.01, 0.000_01),
    ("ethusdt", 3_400.0, 0.01, 0.000_1),
    ("bnbusdt", 650.0, 0.01, 0.001),
    ("solusdt", 190.0, 0.01, 0.001),
    ("xrpusdt", 2.3, 0.000_1, 0.1),
    ("dogeusdt", 0.32, 0.000_01, 1.0),
    ("adausdt", 0.9, 0.000_1, 0.1),
    ("trxusdt", 0.25, 0.000_1, 0.1),
    ("linkusdt", 22.0, 0.01, 0.01),
    ("avaxusdt", 38.0, 0.01, 0.01),
    ("dotusdt", 7.0, 0.001, 0.01),
    ("ltcusdt", 105.0, 0.01, 0.001),
    ("bchusdt", 450.0, 0.1, 0.001),
    ("shibusdt", 0.000_022, 0.000_000_01, 1.0),
    ("nearusdt", 5.2, 0.001, 0.1),
    ("uniusdt", 13.0, 0.001, 0.01),
    ("atomusdt", 6.5, 0.001, 0.01),
    ("etcusdt", 27.0, 0.01, 0.01),
    ("filusdt", 5.3, 0.001, 0.01),
    ("aptusdt", 9.5, 0.001, 0.01),
    ("arbusdt", 0.75, 0.000_1, 0.1),
    ("opusdt", 1.9, 0.001, 0.01),
    ("suiusdt", 4.2, 0.000_1, 0.1),
    ("pepeusdt", 0.000_018, 0.000_000_01, 1.0),
    ("injusdt", 22.0, 0.01, 0.01),
    ("tiausdt", 5.5, 0.001, 0.01),
    ("seiusdt", 0.45, 0.000_1, 0.1),
    ("wldusdt", 2.4, 0.001, 0.1),
    ("fetusdt", 1.3, 0.001, 0.1),
    ("renderusdt", 7.2, 0.001, 0.01),
    ("ethbtc", 0.035, 0.000_01, 0.000_1),
    ("bnbbtc", 0.006_7, 0.000_001, 0.001),
    ("solbtc", 0.001_96, 0.000_001, 0.001),
    ("xrpbtc", 0.000_023_7, 0.000_000_01, 1.0),
    ("bnbeth", 0.19, 0.000_01, 0.001),
    ("btcfdusd", 97_000.0, 0.01, 0.000_01),
    ("ethfdusd", 3_400.0, 0.01, 0.000_1),
    ("btcusdc", 97_000.0, 0.01, 0.000_01),
    ("ethusdc", 3_400.0, 0.01, 0.000_1),
    ("solusdc", 190.0, 0.01, 0.001),
    ("xrpusdc", 2.3, 0.000_1, 0.1),
    ("dogeusdc", 0.32, 0.000_01, 1.0),
];

/// The default universe: 42 real spot symbols, most popular first.
pub fn default_universe() -> Vec<SymbolSpec> {
    UNIVERSE.iter().map(|&(name, price, tick, lot)| SymbolSpec::new(name, price, tick, lot)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn universe_is_sane() {
        let all = default_universe();
        assert_eq!(all[0].name, "btcusdt");
        for (i, s) in all.iter().enumerate() {
            assert!(s.price > s.tick_size * 200.0, "{} too cheap for its tick", s.name);
            assert!(s.tick_size >= 1e-8 && s.lot_size >= 1e-8, "{}", s.name);
            assert!(all[..i].iter().all(|o| o.name != s.name), "duplicate {}", s.name);
        }
        let by_name = |n: &str| all.iter().find(|s| s.name == n).unwrap().level_notional();
        assert_eq!(by_name("ethbtc"), 0.05);
        assert_eq!(by_name("btcfdusd"), 5000.0);
    }
}
