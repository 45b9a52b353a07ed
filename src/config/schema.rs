//! The JSON Schema of the provisioning file (`schemas/forewarn.provisioning.v1.json`), for
//! editors that check TOML against one (README, "The provisioning file"). Derived from the
//! [`super::raw`] structs the parser reads, so it takes the keys and types the parser takes;
//! what only validation knows (the strings a field accepts, defaults it fills in) is added by
//! their `#[schemars(...)]` attributes. Only the tests call it: none of it is linked into the
//! agent.
//!
//! The file's top level is no struct ([`super::load`] reads each section on its own), so it is
//! put together here, as are `[[sources]]`, whose `type` picks the struct.
//!
//! Written so that validators of older drafts read it the same (an editor's TOML plugin may
//! bundle one): subschemas inline (no `$ref`), no `null` (TOML has none), and only keywords
//! that drafts 4 and 7 have too (`tests/it/schemas.rs` runs it as each).

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{json_schema, JsonSchema, Schema};
use serde_json::Value;

use super::raw::*;

/// The schema's title.
pub const PROVISIONING_SCHEMA: &str = "forewarn.provisioning.v1";

/// `(title, JSON Schema)` of the provisioning file.
pub fn json_schema() -> (&'static str, Value) {
    let mut g = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let sources = json_schema!({
        "description": "`[[sources]]`: where samples come from (at least one); `type` picks \
            which keys a source has.",
        "type": "array",
        "minItems": 1,
        "items": {
            "oneOf": [
                g.subschema_for::<RawMqtt>(),
                g.subschema_for::<RawSerial>(),
                g.subschema_for::<RawReplay>(),
            ]
        }
    });
    let assets = array_of::<RawAsset>(&mut g, "`[[assets]]`: the machines and their signals.");
    let rules = array_of::<RawRule>(&mut g, "`[[rules]]`: threshold alerts on raw signals.");
    let models = array_of::<RawModelBinding>(&mut g, "`[[models]]`: model packages run on assets.");
    let detectors = array_of::<RawDetector>(
        &mut g,
        "`[[detectors]]`: detectors that learn what normal looks like, per asset.",
    );
    let mut schema = json_schema!({
        "$schema": g.settings().meta_schema,
        "title": PROVISIONING_SCHEMA,
        "description": "The forewarn provisioning file (TOML, read as the JSON it maps to). The \
            schema checks keys, types, required keys and the strings a field accepts; \
            `forewarn check-config FILE` checks what it does not: names, references between \
            sections (a rule's asset, a detector's signals), value ranges, files, model \
            packages and secret references.",
        "type": "object",
        "properties": {
            "gateway": g.subschema_for::<RawGateway>(),
            "kafka": g.subschema_for::<RawKafka>(),
            "outbox": g.subschema_for::<RawOutbox>(),
            "metrics": g.subschema_for::<RawMetrics>(),
            "sources": sources,
            "assets": assets,
            "rules": rules,
            "models": models,
            "detectors": detectors,
        },
        "required": ["gateway", "kafka", "sources"],
        "additionalProperties": false,
    })
    .to_value();
    without_null(&mut schema);
    (PROVISIONING_SCHEMA, schema)
}

/// An array of tables (`[[name]]`) of `T`.
fn array_of<T: JsonSchema>(g: &mut SchemaGenerator, description: &str) -> Schema {
    json_schema!({
        "description": description,
        "type": "array",
        "items": g.subschema_for::<T>(),
    })
}

/// Removes what `Option` adds for JSON (`null` as a type, an enum value or a default): a TOML
/// file cannot write null, and an absent key is how it leaves a value out.
fn without_null(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Array(types)) = o.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types.remove(0);
                    o.insert("type".into(), t);
                }
            }
            if let Some(Value::Array(values)) = o.get_mut("enum") {
                values.retain(|e| !e.is_null());
            }
            if o.get("default").is_some_and(Value::is_null) {
                o.remove("default");
            }
            o.values_mut().for_each(without_null);
        }
        Value::Array(a) => a.iter_mut().for_each(without_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Every subschema under `v` that `keep` picks, with its JSON pointer.
    fn find<'v>(
        v: &'v Value,
        at: &str,
        keep: fn(&Value) -> bool,
        out: &mut Vec<(String, &'v Value)>,
    ) {
        if keep(v) {
            out.push((at.to_string(), v));
        }
        match v {
            Value::Object(o) => o
                .iter()
                .for_each(|(k, x)| find(x, &format!("{at}/{k}"), keep, out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| find(x, &format!("{at}/{i}"), keep, out)),
            _ => {}
        }
    }

    #[test]
    fn tables_refuse_unknown_keys_and_nothing_is_null_or_a_reference() {
        let (name, schema) = json_schema();
        assert_eq!(schema["title"], name);
        let mut tables = Vec::new();
        let table = |v: &Value| v["type"] == "object" && v.get("properties").is_some();
        find(&schema, "", table, &mut tables);
        // The top level and the 18 raw structs, the timestamp once in each of the 3 sources.
        assert_eq!(tables.len(), 1 + 18 + 2);
        for (at, t) in &tables {
            assert_eq!(
                t["additionalProperties"], false,
                "{at} lets unknown keys through"
            );
        }
        let text = schema.to_string();
        assert!(!text.contains("null"), "a TOML file cannot write null");
        assert!(!text.contains("\"$ref\""), "subschemas are inline");
    }

    /// A file that sets every field with a fixed set of strings to one outside it.
    const WRONG_STRINGS: &str = r#"
[gateway]
id = "gw"
site = "s"
data_dir = "/tmp/x"
[kafka]
bootstrap_servers = "k:9092"
encoding = "wrong"
compression = "wrong"
[outbox]
durability = "wrong"
[[sources]]
type = "mqtt"
name = "m"
host = "h"
topics = ["a/#"]
topic_pattern = "a/{asset}/{signal}"
timestamp = { unit = "wrong" }
[[sources]]
type = "serial"
name = "s"
device = "/dev/null"
asset = "a"
format = "wrong"
parity = "wrong"
[[sources]]
type = "wrong"
[[assets]]
id = "a"
signals = [{ name = "x" }]
[[rules]]
name = "r"
asset = "a"
signal = "x"
above = 1.0
severity = "wrong"
[[detectors]]
name = "d"
method = "wrong"
assets = ["a"]
signals = ["x"]
grid_secs = 1.0
learn = { steps = 100 }
alert = { severity = "wrong" }
"#;

    /// Where the schema lists the strings a field accepts, validation accepts the same ones:
    /// its message for a string outside them (`expected a, b or c`) lists the schema's enum.
    #[test]
    fn the_strings_a_field_accepts_are_the_ones_validation_accepts() {
        let sources = "/properties/sources/items/oneOf";
        let detector = "/properties/detectors/items/properties";
        // Each enum of the schema and the field of WRONG_STRINGS that breaks it.
        let fields = [
            ("/properties/kafka/properties/encoding", "kafka.encoding"),
            (
                "/properties/kafka/properties/compression",
                "kafka.compression",
            ),
            (
                "/properties/outbox/properties/durability",
                "outbox.durability",
            ),
            (&format!("{sources}/0/properties/type"), "sources[2].type"),
            (&format!("{sources}/1/properties/type"), "sources[2].type"),
            (&format!("{sources}/2/properties/type"), "sources[2].type"),
            (
                &format!("{sources}/0/properties/timestamp/properties/unit"),
                "sources[0].timestamp.unit",
            ),
            (
                &format!("{sources}/1/properties/timestamp/properties/unit"),
                "sources[0].timestamp.unit",
            ),
            (
                &format!("{sources}/2/properties/timestamp/properties/unit"),
                "sources[0].timestamp.unit",
            ),
            (
                &format!("{sources}/1/properties/parity"),
                "sources[1].parity",
            ),
            (
                &format!("{sources}/1/properties/format"),
                "sources[1].format",
            ),
            (
                "/properties/rules/items/properties/severity",
                "rules[0].severity",
            ),
            (&format!("{detector}/method"), "detectors[0].method"),
            (
                &format!("{detector}/alert/properties/severity"),
                "detectors[0].alert.severity",
            ),
        ];
        let (_, schema) = json_schema();
        let mut enums = Vec::new();
        find(&schema, "", |v| v.get("enum").is_some(), &mut enums);
        let mut listed: Vec<&str> = fields.iter().map(|(p, _)| *p).collect();
        let mut found: Vec<&str> = enums.iter().map(|(p, _)| p.as_str()).collect();
        listed.sort_unstable();
        found.sort_unstable();
        assert_eq!(
            found, listed,
            "an enum of the schema that this test does not check"
        );

        let problems = match crate::config::parse_str(WRONG_STRINGS, "wrong.toml", Path::new("/")) {
            Ok(_) => panic!("every string is wrong"),
            Err(e) => e.problems,
        };
        let mut by_field: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (pointer, field) in fields {
            let values = schema.pointer(&format!("{pointer}/enum")).expect("enum");
            let values = values
                .as_array()
                .expect("array")
                .iter()
                .map(|v| v.as_str().expect("a string").to_string());
            by_field.entry(field).or_default().extend(values);
        }
        for (field, values) in by_field {
            let problem = problems
                .iter()
                .find(|p| p.field == field)
                .unwrap_or_else(|| panic!("no problem at {field}: {problems:#?}"));
            let expected = problem
                .message
                .split("expected ")
                .nth(1)
                .expect("`expected ...`");
            let accepted: BTreeSet<String> = expected
                .split([',', ' '])
                .filter(|w| !w.is_empty() && *w != "or")
                .map(str::to_string)
                .collect();
            assert_eq!(accepted, values, "{field}: {}", problem.message);
        }
    }
}
