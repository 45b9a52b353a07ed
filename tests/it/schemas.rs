//! The committed JSON Schemas (schemas/) are the ones the record types give; the harness
//! validates every record the integration tests read against them (`harness::check_schema`).

use std::path::Path;

#[test]
fn committed_schemas_are_the_ones_the_record_types_give() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let write = std::env::var_os("FOREWARN_WRITE_SCHEMAS").is_some();
    let schemas = forewarn::record::json_schemas();
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
            "schemas/{name}.json is not what the record types give: regenerate with \
             FOREWARN_WRITE_SCHEMAS=1 cargo test --test it schemas, and review the diff \
             against the rules for change (README, \"For consumers\")"
        );
    }
    let files = std::fs::read_dir(&dir).expect("schemas/").count();
    assert_eq!(
        files,
        schemas.len(),
        "a schema file that no record type gives"
    );
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
