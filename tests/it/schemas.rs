//! The committed JSON Schemas (schemas/) are the ones the record types and the provisioning
//! file's raw structs give; the harness validates every record the integration tests read
//! against theirs (`harness::check_schema`), and the provisioning files here are checked
//! against theirs.

use std::path::Path;

#[test]
fn committed_schemas_are_the_ones_the_types_give() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let write = std::env::var_os("FOREWARN_WRITE_SCHEMAS").is_some();
    let mut schemas = forewarn::record::json_schemas();
    schemas.push(forewarn::config::json_schema());
    schemas.extend(forewarn::command::json_schemas());
    for (name, schema) in &schemas {
        let path = dir.join(format!("{name}.json"));
        let text = serde_json::to_string_pretty(schema).expect("schema as JSON") + "\n";
        if write {
            std::fs::write(&path, &text).expect("write schema");
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "schemas/{name}.json is not what the types give: regenerate with \
             FOREWARN_WRITE_SCHEMAS=1 cargo test --test it schemas, and review the diff \
             (a record's against the rules for change, README \"For consumers\")"
        );
    }
    let files = std::fs::read_dir(&dir).expect("schemas/").count();
    assert_eq!(files, schemas.len(), "a schema file that no type gives");
}

#[test]
fn a_record_that_breaks_its_schema_is_caught() {
    let good = serde_json::json!({
        "schema": "forewarn.telemetry.v1", "gateway": "gw", "site": "s", "asset": "a",
        "signal": "t", "start_ns": 1_796_000_000_000_000_000i64, "end_ns": 1_796_000_001_000_000_000i64,
        "count": 3, "min": 1.0, "max": 2.0, "mean": 1.5, "last": 2.0, "meta": {},
        "added_later": "ignored"
    });
    assert_eq!(
        crate::harness::schema_errors("forewarn.telemetry.v1", &good),
        Vec::<String>::new()
    );
    let mut bad = good.clone();
    bad["count"] = serde_json::json!("three");
    bad.as_object_mut().expect("object").remove("asset");
    let errors = crate::harness::schema_errors("forewarn.telemetry.v1", &bad);
    assert_eq!(errors.len(), 2, "{errors:?}");
}

/// The committed provisioning schema, compiled as `draft` (`None`: the one its `$schema`
/// names, 2020-12). It is written to mean the same to validators of drafts 4 and 7 (taplo,
/// which editors use, validates with an older library), so the tests run it as each.
fn provisioning_validator(draft: Option<jsonschema::Draft>) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(format!("{}.json", forewarn::config::PROVISIONING_SCHEMA));
    let text = std::fs::read_to_string(&path).expect("schemas/forewarn.provisioning.v1.json");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema JSON");
    let mut options = jsonschema::options();
    if let Some(d) = draft {
        options = options.with_draft(d);
    }
    options
        .build(&schema)
        .unwrap_or_else(|e| panic!("{draft:?}: {e}"))
}

const DRAFTS: [Option<jsonschema::Draft>; 3] = [
    None,
    Some(jsonschema::Draft::Draft7),
    Some(jsonschema::Draft::Draft4),
];

/// Where a provisioning file (TOML, read as the JSON it maps to) breaks the schema, as
/// `instance path: message`, the same under each draft.
fn provisioning_errors(toml_text: &str) -> Vec<String> {
    let json: serde_json::Value = toml::from_str(toml_text).expect("TOML");
    let mut first: Option<Vec<String>> = None;
    for draft in DRAFTS {
        let errors: Vec<String> = provisioning_validator(draft)
            .iter_errors(&json)
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect();
        match &first {
            None => first = Some(errors),
            Some(f) => assert_eq!(&errors, f, "{draft:?} reads the schema otherwise"),
        }
    }
    first.expect("a draft")
}

/// The provisioning files in the repository (the examples the README names, and the demo's,
/// which `forewarn demo` embeds) fit the schema, and a `#:schema` directive in one names it.
#[test]
fn shipped_provisioning_files_fit_the_provisioning_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema = root
        .join("schemas")
        .join(format!("{}.json", forewarn::config::PROVISIONING_SCHEMA));
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("firmware-config")).expect("firmware-config/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let errors = provisioning_errors(&text);
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        if let Some(named) = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("#:schema "))
        {
            let named = path.parent().expect("dir").join(named.trim());
            assert_eq!(
                named.canonicalize().ok(),
                schema.canonicalize().ok(),
                "{}: `#:schema` names another file",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 4,
        "expected the demo, the example and the two gateway files"
    );
}

/// A misspelt key, a wrong type and a missing key are each reported once, under every draft,
/// and `check-config`'s validation names the same fields.
#[test]
fn a_provisioning_file_that_breaks_the_schema_is_caught() {
    let good = r#"
[gateway]
id = "gw-1"
site = "plant"
data_dir = "/var/lib/forewarn"
heartbeat_secs = 30

[kafka]
bootstrap_servers = "kafka:9092"
max_in_flight = 500
properties = { "sasl.password" = "${FOREWARN_KAFKA_PASSWORD}" }

[[sources]]
type = "replay"
name = "r"
path = "r.csv"
asset = "a"
"#;
    assert_eq!(provisioning_errors(good), Vec::<String>::new());
    let bad = good
        .replace("heartbeat_secs", "heartbeat_sec")
        .replace("max_in_flight = 500", "max_in_flight = \"500\"")
        .replace("site = \"plant\"\n", "");
    let errors = provisioning_errors(&bad);
    assert_eq!(errors.len(), 3, "{errors:#?}");
    for (path, word) in [
        ("/gateway: ", "heartbeat_sec"),
        ("/kafka/max_in_flight: ", "integer"),
        ("/gateway: ", "\"site\""),
    ] {
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(path) && e.contains(word)),
            "no error at {path} naming {word}: {errors:#?}"
        );
    }
    let problems = match forewarn::config::parse_str(&bad, "bad.toml", Path::new("/")) {
        Ok(_) => panic!("check-config passes what the schema refuses"),
        Err(e) => e.problems,
    };
    for (field, word) in [
        ("gateway.heartbeat_sec", "unknown field"),
        ("kafka.max_in_flight", "invalid type"),
        ("gateway", "missing field `site`"),
    ] {
        assert!(
            problems
                .iter()
                .any(|p| p.field == field && p.message.contains(word)),
            "check-config does not report {field} ({word}): {problems:#?}"
        );
    }
}
