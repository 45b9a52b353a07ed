//! JSON Schemas of what the commands topic carries: the envelope, and the command inside its
//! `command` text. Unlike the records' schemas these forbid unknown fields: a gateway refuses
//! a command with a field it does not know (`malformed`) rather than ignore part of an order.
//! Only the tests call this: none of it is linked into the agent.

use schemars::JsonSchema;

use super::{Command, Envelope, COMMAND_SCHEMA, ENVELOPE_SCHEMA};

/// `(title, JSON Schema)` of the envelope and of the command.
pub fn json_schemas() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            ENVELOPE_SCHEMA,
            schema_of::<Envelope>(
                ENVELOPE_SCHEMA,
                "A signed command as the commands topic carries it: `command` is the JSON text \
                 of a forewarn.command.v1, exactly the bytes signed.",
            ),
        ),
        (
            COMMAND_SCHEMA,
            schema_of::<Command>(
                COMMAND_SCHEMA,
                "A command from the center, as signed (the envelope's `command` text).",
            ),
        ),
    ]
}

fn schema_of<T: JsonSchema>(name: &str, description: &str) -> serde_json::Value {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    schema.insert("title".into(), name.into());
    schema.insert("description".into(), description.into());
    schema.to_value()
}
