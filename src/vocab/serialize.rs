//! Serde forms the run's outputs share: durations as whole milliseconds, and `(name, value)` pairs as one
//! JSON object in their order.

/// A [`Duration`](std::time::Duration) serialised as whole milliseconds.
pub mod millis {
    use std::time::Duration;

    /// Whole milliseconds, truncated.
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    /// Whole milliseconds.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        <u64 as serde::Deserialize>::deserialize(d).map(Duration::from_millis)
    }
}

/// An optional [`Duration`](std::time::Duration) serialised as whole milliseconds or `null`.
pub mod opt_millis {
    use std::time::Duration;

    /// Whole milliseconds, truncated, or `null`.
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_millis() as u64),
            None => s.serialize_none(),
        }
    }

    /// Whole milliseconds, or `null`.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        <Option<u64> as serde::Deserialize>::deserialize(d).map(|ms| ms.map(Duration::from_millis))
    }
}

/// Serialises `(name, value)` pairs as a JSON object in their order.
pub fn as_map<S: serde::Serializer, V: serde::Serialize>(items: &[(&str, V)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(items.iter().map(|(k, v)| (k, v)))
}

/// A [`Histogram`](hdrhistogram::Histogram) serialised exactly, bounds and every count, as the base64 of
/// its HdrHistogram V2 encoding (the interchange format of the HdrHistogram libraries and their logs): what
/// lets the histograms of a run's shards be added after the fact.
pub mod histogram {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
    use serde::de::Error as _;

    /// A histogram's V2 encoding.
    pub fn encode(h: &Histogram<u64>) -> Vec<u8> {
        let mut bytes = Vec::new();
        // Writing into a Vec fails only for a histogram the encoding cannot describe (none of ours).
        if V2Serializer::new().serialize(h, &mut bytes).is_err() {
            bytes.clear();
        }
        bytes
    }

    /// A histogram from its V2 encoding (`None` for bytes that are not one).
    pub fn decode(bytes: &[u8]) -> Option<Histogram<u64>> {
        Deserializer::new().deserialize(&mut std::io::Cursor::new(bytes)).ok()
    }

    /// The V2 encoding, in base64.
    pub fn serialize<S: serde::Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        V2Serializer::new().serialize(h, &mut bytes).map_err(|e| serde::ser::Error::custom(format!("{e:?}")))?;
        s.serialize_str(&STANDARD.encode(bytes))
    }

    /// A histogram from the base64 of its V2 encoding.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        let bytes = STANDARD.decode(text).map_err(|e| D::Error::custom(format!("not base64: {e}")))?;
        Deserializer::new()
            .deserialize(&mut std::io::Cursor::new(bytes))
            .map_err(|e| D::Error::custom(format!("not an HdrHistogram V2 encoding: {e:?}")))
    }
}

/// Bytes serialised as one base64 string.
pub mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::de::Error as _;

    /// The bytes in base64.
    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    /// The bytes of a base64 string.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        STANDARD.decode(text).map_err(|e| D::Error::custom(format!("not base64: {e}")))
    }
}
