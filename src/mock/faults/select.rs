//! Which connections, streams, symbols and source addresses a fault applies to.
//!
//! Pure matching: `*` glob patterns on stream names and symbols, CIDR blocks on source addresses, and a
//! seeded choice of a share of the matching connections, so one seed always picks the same ones.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A `*` glob (`btcusdt@*`, `*@depth*`, `eth*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pattern(String);

impl Pattern {
    /// A pattern from its text.
    pub fn new(text: impl Into<String>) -> Self {
        Pattern(text.into())
    }

    /// True when `text` matches (`*` matches any run of characters, including none).
    pub fn matches(&self, text: &str) -> bool {
        glob(self.0.as_bytes(), text.as_bytes())
    }
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|b| *b == b'*')
}

/// An address block (`127.0.1.0/24`, `127.0.0.5`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cidr {
    /// The network address.
    pub addr: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d[/n]` or an IPv6 address with an optional prefix.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// True when `ip` is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(u128::from(u32::from(net)) << 96, u128::from(u32::from(ip)) << 96, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(u128::from(net), u128::from(ip), self.prefix),
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    prefix == 0 || (a ^ b) >> (128 - u32::from(prefix)) == 0
}

/// What a fault applies to. Empty lists match everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// Share of the matching connections (0..=1), chosen with the occurrence's seed.
    pub share: f64,
    /// Stream-name patterns: a connection matches when it holds a matching stream; message faults touch
    /// only matching streams.
    pub streams: Vec<Pattern>,
    /// Symbol patterns (lowercase): as `streams`, on the symbol part.
    pub symbols: Vec<Pattern>,
    /// Source address blocks.
    pub sources: Vec<Cidr>,
}

impl Default for Selection {
    fn default() -> Self {
        Selection { share: 1.0, streams: Vec::new(), symbols: Vec::new(), sources: Vec::new() }
    }
}

impl Selection {
    /// True when a source address is selected.
    pub fn source_matches(&self, ip: IpAddr) -> bool {
        self.sources.is_empty() || self.sources.iter().any(|c| c.contains(ip))
    }

    /// True when a stream name is selected by the stream and symbol patterns.
    pub fn stream_matches(&self, name: &str) -> bool {
        let by_stream = self.streams.is_empty() || self.streams.iter().any(|p| p.matches(name));
        let symbol = name.split_once('@').map_or(name, |(s, _)| s);
        let by_symbol = self.symbols.is_empty() || self.symbols.iter().any(|p| p.matches(symbol));
        by_stream && by_symbol
    }

    /// True when a symbol is selected (for feed faults).
    pub fn symbol_matches(&self, symbol: &str) -> bool {
        self.symbols.is_empty() || self.symbols.iter().any(|p| p.matches(symbol))
    }

    /// True when stream filters are set (connections must hold a matching stream).
    pub fn filters_streams(&self) -> bool {
        !self.streams.is_empty() || !self.symbols.is_empty()
    }

    /// Picks the share of `candidates` (already filtered), each given with its stable identity: the ones
    /// whose identity, mixed with `seed`, ranks lowest. The same seed and identities give the same choice
    /// whatever order the candidates come in; another seed, another choice. Rounds to the nearest whole
    /// connection; the choice keeps the candidates' order.
    pub fn choose<T: Clone>(&self, candidates: &[(u64, T)], seed: u64) -> Vec<(u64, T)> {
        let wanted = (candidates.len() as f64 * self.share).round() as usize;
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by_key(|i| (crate::vocab::seed::mix(seed ^ candidates[*i].0), *i));
        order.truncate(wanted);
        order.sort_unstable();
        order.into_iter().map(|i| candidates[i].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_stream_names() {
        assert!(Pattern::new("btcusdt@*").matches("btcusdt@depth@100ms"));
        assert!(Pattern::new("*@depth*").matches("ethusdt@depth5"));
        assert!(!Pattern::new("*@depth*").matches("ethusdt@trade"));
        assert!(Pattern::new("*").matches(""));
        assert!(Pattern::new("a*b*c").matches("axxbyyc"));
        assert!(!Pattern::new("a*b*c").matches("axxbyy"));
    }

    #[test]
    fn cidr_blocks_contain_addresses() {
        let block = Cidr::parse("127.0.1.0/24").unwrap();
        assert!(block.contains("127.0.1.200".parse().unwrap()));
        assert!(!block.contains("127.0.2.1".parse().unwrap()));
        assert!(Cidr::parse("127.0.0.5").unwrap().contains("127.0.0.5".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("127.9.9.9".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert_eq!(Cidr::parse("127.0.0.1/33"), None);
        assert_eq!(Cidr::parse("localhost"), None);
    }

    #[test]
    fn shares_are_seeded_over_stable_identities_whatever_the_order_and_rounded() {
        let selection = Selection { share: 0.3, ..Selection::default() };
        let keyed: Vec<(u64, u32)> = (0..10).map(|i| (1000 + u64::from(i) * 7919, i)).collect();
        let a = selection.choose(&keyed, 7);
        assert_eq!(a.len(), 3);
        assert_eq!(a, selection.choose(&keyed, 7));
        assert_ne!(a, selection.choose(&keyed, 8));
        let mut reversed = keyed.clone();
        reversed.reverse();
        let mut b = selection.choose(&reversed, 7);
        b.reverse();
        assert_eq!(a, b, "accept order does not change who is chosen");
        assert_eq!(Selection::default().choose(&keyed, 1), keyed);
    }

    #[test]
    fn stream_and_symbol_filters_combine() {
        let s = Selection {
            symbols: vec![Pattern::new("eth*")],
            streams: vec![Pattern::new("*@trade")],
            ..Selection::default()
        };
        assert!(s.stream_matches("ethusdt@trade"));
        assert!(!s.stream_matches("ethusdt@depth"));
        assert!(!s.stream_matches("btcusdt@trade"));
        assert!(s.symbol_matches("ethbtc"));
    }
}
