//! The JSON Schema of the scenario format: `wschaos schema` prints it, the shipped copies in `scenarios/`
//! are up to date, and every key the shipped files use is in it.

use serde_json::Value;

use crate::support::{repo_path, wschaos_binary};

const REGENERATE: &str = "regenerate it with `cargo run -- schema > scenarios/wschaos.schema.json` and \
                          `cargo run -- schema --mock > scenarios/mock/wschaos-mock.schema.json`";

#[test]
fn the_shipped_schemas_are_the_generated_ones() {
    for (path, generated) in [
        ("scenarios/wschaos.schema.json", wschaos::scenario::schema::scenario()),
        ("scenarios/mock/wschaos-mock.schema.json", wschaos::scenario::schema::mock()),
    ] {
        let shipped = std::fs::read_to_string(repo_path(path)).unwrap_or_default();
        assert!(shipped == wschaos::scenario::schema::to_text(&generated), "{path} is out of date: {REGENERATE}");
    }
}

#[test]
fn wschaos_schema_prints_json_that_names_every_top_level_key_and_forbids_others() {
    let output = wschaos_binary().arg("schema").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let schema: Value = serde_json::from_slice(&output.stdout).expect("the schema is JSON");
    assert_eq!(schema["additionalProperties"], false);
    let properties = schema["properties"].as_object().unwrap();
    for key in ["name", "description", "duration", "seed", "workload", "cohorts", "managers", "mock", "faults"] {
        assert!(properties.contains_key(key), "{key}");
        assert!(properties[key]["description"].is_string(), "{key} has its doc comment as description");
    }
    let mock: Value = serde_json::from_slice(&wschaos_binary().args(["schema", "--mock"]).output().unwrap().stdout)
        .expect("the mock schema is JSON");
    assert!(mock["properties"].as_object().unwrap().contains_key("heartbeat"));
}

/// The schema of the value at `key` inside `schema` (following references, `anyOf`/`allOf` and map values).
fn child<'a>(root: &'a Value, schema: &'a Value, key: &str) -> Option<&'a Value> {
    let schema = resolve(root, schema);
    if let Some(options) = schema.get("anyOf").or_else(|| schema.get("allOf")).and_then(Value::as_array) {
        return options.iter().find_map(|option| child(root, option, key));
    }
    schema["properties"].get(key).or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/definitions/")) {
        Some(name) => resolve(root, &root["definitions"][name]),
        None => schema,
    }
}

fn items<'a>(root: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    let schema = resolve(root, schema);
    match schema.get("anyOf").or_else(|| schema.get("allOf")).and_then(Value::as_array) {
        Some(options) => options.iter().find_map(|option| items(root, option)),
        None => schema.get("items"),
    }
}

/// Every key path of `value` that the schema does not describe.
fn unknown_keys(root: &Value, schema: &Value, value: &toml::Value, path: &str, out: &mut Vec<String>) {
    match value {
        toml::Value::Table(table) => {
            for (key, inner) in table {
                let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match child(root, schema, key) {
                    Some(sub) => unknown_keys(root, sub, inner, &here, out),
                    None => out.push(here),
                }
            }
        }
        toml::Value::Array(list) => {
            for (i, item) in list.iter().enumerate() {
                match items(root, schema) {
                    Some(sub) => unknown_keys(root, sub, item, &format!("{path}[{i}]"), out),
                    None if item.is_table() => out.push(format!("{path}[{i}]")),
                    None => {}
                }
            }
        }
        _ => {}
    }
}

#[test]
fn every_key_of_every_shipped_file_is_in_the_schema() {
    let mut checked = 0;
    for (dir, schema) in
        [("scenarios", wschaos::scenario::schema::scenario()), ("scenarios/mock", wschaos::scenario::schema::mock())]
    {
        for entry in std::fs::read_dir(repo_path(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let value: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let mut unknown = Vec::new();
            unknown_keys(&schema, &schema, &value, "", &mut unknown);
            assert!(unknown.is_empty(), "{}: {unknown:?} missing from the schema", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 4, "the scenarios and the mock configuration");
    let mut unknown = Vec::new();
    let typo: toml::Value = toml::from_str("[workload]\nclients = 1\nrampup = \"1s\"\n").unwrap();
    let schema = wschaos::scenario::schema::scenario();
    unknown_keys(&schema, &schema, &typo, "", &mut unknown);
    assert_eq!(unknown, ["workload.rampup"], "the walk itself finds keys the schema lacks");
}
