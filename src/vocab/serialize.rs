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
