//! JSON Schemas of the records as Kafka carries them (the payload of each topic, JSON or the
//! same map in CBOR), derived from the record types, so they cannot drift from what the agent
//! writes. `schemas/` holds them as committed files (`tests/it/schemas.rs` checks they are
//! these, and validates every record the integration tests read against them).
//!
//! Rules for change (README, "For consumers"): a field may be added within a version, so a
//! reader ignores fields it does not know (no schema forbids extra properties); a change that
//! breaks a reader (a field removed, renamed or retyped, a meaning changed) moves the version
//! suffix (`forewarn.status.v2`), and the agent then says so in the `forewarn-schema` header.

use schemars::{JsonSchema, Schema};

use super::{Alert, BASELINE_SCHEMA};
use super::{BaselineRecord, Status, Telemetry, ALERT_SCHEMA, STATUS_SCHEMA, TELEMETRY_SCHEMA};

/// `(schema name, JSON Schema)` for each record kind, in the order of the topics.
pub fn json_schemas() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            ALERT_SCHEMA,
            schema_of::<Alert>(
                ALERT_SCHEMA,
                "An alert raised or cleared (topic forewarn.alerts).",
            ),
        ),
        (
            TELEMETRY_SCHEMA,
            schema_of::<Telemetry>(
                TELEMETRY_SCHEMA,
                "One signal's bucket of samples (topic forewarn.telemetry).",
            ),
        ),
        (
            STATUS_SCHEMA,
            schema_of::<Status>(
                STATUS_SCHEMA,
                "The gateway's heartbeat (topic forewarn.status).",
            ),
        ),
        (
            BASELINE_SCHEMA,
            schema_of::<BaselineRecord>(
                BASELINE_SCHEMA,
                "A learned baseline (topic forewarn.status, beside the heartbeats).",
            ),
        ),
    ]
}

fn schema_of<T: JsonSchema>(name: &str, description: &str) -> serde_json::Value {
    let mut schema: Schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    schema.insert("title".into(), name.into());
    schema.insert("description".into(), description.into());
    schema.to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_schema_names_its_record_and_lets_fields_be_added() {
        let schemas = json_schemas();
        assert_eq!(schemas.len(), 4);
        for (name, s) in schemas {
            assert_eq!(s["title"], name);
            assert_eq!(s["type"], "object", "{name}");
            assert!(s["properties"]["schema"].is_object(), "{name}");
            assert_ne!(s["additionalProperties"], false, "{name}");
        }
    }
}
