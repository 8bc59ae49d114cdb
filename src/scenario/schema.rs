//! The JSON Schema of the scenario format and of the mock configuration, generated from the raw serde
//! mirrors ([`RawScenario`], [`RawMockConfig`]) so that it cannot drift from what the loader accepts: doc
//! comments become descriptions and `deny_unknown_fields` becomes `"additionalProperties": false`.
//! Draft-07, which the TOML language servers of editors (Taplo, Even Better TOML) read. It only
//! describes the format; the loader remains the judge, with lines and semantic checks.

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema};
use serde_json::Value;

use crate::mock::config::RawMockConfig;
use crate::scenario::RawScenario;

/// The schema of scenario files (`wschaos run`, `wschaos validate`).
pub fn scenario() -> serde_json::Value {
    generate::<RawScenario>("wschaos scenario")
}

/// The schema of mock configuration files (`wschaos mock --config`, or a scenario's `[mock]`).
pub fn mock() -> serde_json::Value {
    generate::<RawMockConfig>("wschaos mock configuration")
}

/// Pretty JSON with a trailing newline, as shipped in `scenarios/`.
pub fn to_text(schema: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

fn generate<T: JsonSchema>(title: &str) -> serde_json::Value {
    let settings = SchemaSettings::draft07().with_transform(RecursiveTransform(without_null));
    let mut schema = settings.into_generator().into_root_schema_for::<T>();
    schema.insert("title".to_owned(), title.into());
    schema.to_value()
}

/// TOML has no null: an optional key is one that may be absent, so the `null` alternatives schemars adds
/// for `Option` are removed (`["string", "null"]` becomes `"string"`, `anyOf: [X, null]` becomes
/// `allOf: [X]`, which keeps the key's description beside a reference and lets validators report what is
/// wrong inside X rather than "not valid under any of the schemas").
fn without_null(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else { return };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            object.insert("type".to_owned(), only);
        }
    }
    if let Some(Value::Array(options)) = object.get_mut("anyOf") {
        options.retain(|option| option.get("type").is_none_or(|t| t != "null"));
        if options.len() == 1 {
            if let Some(only) = object.remove("anyOf") {
                object.insert("allOf".to_owned(), only);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Follows `$ref` to its definition.
    fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/definitions/")) {
            Some(name) => &root["definitions"][name],
            None => schema,
        }
    }

    #[test]
    fn every_key_of_the_raw_scenario_is_a_property_and_no_other_key_is_allowed() {
        let schema = scenario();
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(schema["additionalProperties"], false);
        let written = serde_json::to_value(RawScenario::default()).unwrap();
        let mut keys: Vec<&String> = written.as_object().unwrap().keys().collect();
        let mut properties: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        keys.sort();
        properties.sort();
        assert_eq!(keys, properties);
    }

    #[test]
    fn every_table_forbids_unknown_keys() {
        for schema in [scenario(), mock()] {
            for (name, definition) in schema["definitions"].as_object().unwrap() {
                if name == "RawManagers" {
                    // Any other name under [managers] is an external manager's table, which forbids its own.
                    assert_eq!(definition["additionalProperties"]["$ref"], "#/definitions/RawExternal");
                    assert_eq!(schema["definitions"]["RawExternal"]["additionalProperties"], false);
                } else if definition.get("properties").is_some() {
                    assert_eq!(definition["additionalProperties"], false, "{name}");
                }
            }
        }
    }

    #[test]
    fn durations_and_switches_have_their_own_shapes() {
        let schema = scenario();
        let heartbeat = resolve(&schema, &schema["definitions"]["RawHeartbeat"]);
        let ping = &heartbeat["properties"]["ping-interval"];
        assert_eq!(ping["description"], "Interval between server pings, or \"off\".");
        let switch = resolve(&schema, &ping["allOf"][0]);
        assert_eq!(switch["anyOf"][1]["const"], "off");
        let duration = resolve(&schema, &switch["anyOf"][0]);
        assert_eq!(duration["type"], "string");
        assert!(duration["pattern"].as_str().unwrap().contains("|ms|"));
        let seed = &schema["properties"]["seed"];
        assert_eq!(seed["type"], "integer", "TOML has no null: {seed}");
    }

    #[test]
    fn a_fault_needs_a_kind() {
        let schema = scenario();
        assert_eq!(schema["definitions"]["RawFault"]["required"], serde_json::json!(["kind"]));
    }

    #[test]
    fn every_unit_of_the_duration_pattern_is_one_humantime_reads() {
        for unit in crate::config_file::DURATION_UNITS {
            assert!(humantime::parse_duration(&format!("2{unit}")).is_ok(), "{unit}");
        }
    }
}
