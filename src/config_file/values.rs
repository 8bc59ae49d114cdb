//! Two value shapes every configuration uses: human durations (`"30s"`, `"5m"`) and limits that can be
//! switched `"off"`, with their serde forms and their JSON Schemas.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, IntoDeserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written the human way in configuration (`"30s"`, `"5m"`, `"1h 30m"`, `"200ms"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"5m\" or \"200ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(v).map(HumanDuration).map_err(|e| {
                    E::custom(format!(
                        "invalid duration {v:?} ({e}); write a number with a unit, such as \"30s\", \"5m\" or \"200ms\""
                    ))
                })
            }
        }
        deserializer.deserialize_str(DurationVisitor)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// The units `humantime` reads, in the duration pattern of the JSON Schema.
pub(crate) const DURATION_UNITS: [&str; 40] = [
    "nanos", "nsec", "ns", "usec", "us", "µs", "millis", "msec", "ms", "seconds", "second", "secs", "sec", "s",
    "minutes", "minute", "mins", "min", "m", "hours", "hour", "hrs", "hr", "h", "days", "day", "d", "weeks", "week",
    "wks", "wk", "w", "months", "month", "M", "years", "year", "yrs", "yr", "y",
];

/// Builds a schema from a JSON object literal (anything else is the schema that accepts everything).
fn schema_object(value: serde_json::Value) -> schemars::Schema {
    match value {
        serde_json::Value::Object(map) => schemars::Schema::from(map),
        _ => schemars::Schema::default(),
    }
}

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let units = DURATION_UNITS.join("|");
        schema_object(serde_json::json!({
            "type": "string",
            "description": "A duration: a number and a unit, or several (\"30s\", \"5m\", \"1h 30m\", \"1.5s\", \"200ms\").",
            "pattern": format!(r"^\s*(0|([0-9]+(\.[0-9]+)?\s*({units})\s*)+)$"),
            "examples": ["30s", "5m", "200ms"],
        }))
    }
}

/// A limit that is either a value or switched `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Switch<T> {
    /// The limit is not enforced.
    Off,
    /// The limit is enforced with this value.
    On(T),
}

impl<T> Switch<T> {
    /// The value when on.
    pub fn value(self) -> Option<T> {
        match self {
            Switch::Off => None,
            Switch::On(v) => Some(v),
        }
    }
}

impl<T: Serialize> Serialize for Switch<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Switch::Off => serializer.serialize_str("off"),
            Switch::On(v) => v.serialize(serializer),
        }
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Switch<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Switch_{}", T::schema_name()).into()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        format!("{}::Switch<{}>", module_path!(), T::schema_id()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let value = generator.subschema_for::<T>();
        schema_object(serde_json::json!({
            "anyOf": [value, { "const": "off", "description": "Switched off: the limit is not enforced." }],
        }))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Switch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SwitchVisitor(std::marker::PhantomData))
    }
}

struct SwitchVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SwitchVisitor<T> {
    type Value = Switch<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value, or \"off\" to switch the limit off")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Switch<T>, E> {
        if v == "off" {
            return Ok(Switch::Off);
        }
        T::deserialize(v.into_deserializer()).map(Switch::On)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Switch<T>, E> {
        T::deserialize(v.into_deserializer()).map(Switch::On)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Switch<T>, E> {
        T::deserialize(v.into_deserializer()).map(Switch::On)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Switch<T>, E> {
        T::deserialize(v.into_deserializer()).map(Switch::On)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Switch<T>, E> {
        T::deserialize(v.into_deserializer()).map(Switch::On)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Switch<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Switch::On)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Switch<T>, A::Error> {
        T::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Switch::On)
    }
}
