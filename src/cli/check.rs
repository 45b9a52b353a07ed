//! `forewarn check-config FILE`: every problem of a provisioning file at once.
//!
//! In one report: the file's own problems (syntax, fields, values, with line and column),
//! each model package's manifest and signal binding, the Kafka properties as librdkafka sees
//! them, and each package checked as the agent checks it (checksum, limits, tract, golden
//! vectors, in a child process under limits). A file whose fields are invalid stops there:
//! the Kafka properties and the packages need a valid file to be checked against.

use std::path::Path;

use super::Exit;
use crate::config::{self, Config, Problem};
use crate::model::verify::{run_check, CheckLimits};

/// Exit 3 with every problem listed, or 0 with a one-line summary.
pub fn check_config(file: &Path) -> Exit {
    let c = match config::load_file_with(file, &crate::model::package::ManifestReader) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return Exit::InvalidConfig;
        }
    };
    config::secret::register(&c);
    let problems = problems(&c);
    let origin = file.display();
    for (field, why) in config::secret::cleartext_credentials(&c) {
        eprintln!("{origin}: warning: {field}: {why}");
    }
    if let Some(why) = c.metrics.as_ref().and_then(|m| m.exposure()) {
        eprintln!("{origin}: warning: metrics.listen: {why}");
    }
    if problems.is_empty() {
        println!(
            "{origin}: ok (gateway {}, {} sources, {} assets, {} rules, {} models, {} detectors)",
            c.gateway.id,
            c.sources.len(),
            c.assets.len(),
            c.rules.len(),
            c.models.len(),
            c.detectors.len()
        );
        return Exit::Ok;
    }
    eprintln!("{origin}: {} problem(s)", problems.len());
    for p in problems {
        match (p.line, p.column) {
            (Some(l), Some(col)) => eprintln!(
                "  {origin}:{l}:{col}: {}: {}",
                p.field,
                config::secret::scrub(&p.message)
            ),
            _ => eprintln!(
                "  {origin}: {}: {}",
                p.field,
                config::secret::scrub(&p.message)
            ),
        }
    }
    Exit::InvalidConfig
}

/// What `run` would start without (packages) or fail on (Kafka properties), in file order:
/// package problems, the Kafka properties, then the verdict of each package whose manifest
/// read.
fn problems(c: &Config) -> Vec<Problem> {
    let mut out = c.package_problems.clone();
    for (i, s) in c.sources.iter().enumerate() {
        if let crate::config::SourceConfig::Mqtt(m) = s {
            if m.tls {
                if let Err(e) = crate::ingest::mqtt::tls::connector(m) {
                    out.push(problem(&format!("sources[{i}].{}", e.field), e.to_string()));
                }
            }
        }
    }
    if let Err(e) = crate::forward::check_properties(&c.kafka, &c.gateway.id) {
        out.push(problem(
            "kafka.properties",
            format!("librdkafka refuses them: {e}"),
        ));
    }
    for (i, m) in c.models.iter().enumerate() {
        let field = format!("models[{i}].package");
        if c.package_problems.iter().any(|p| p.field == field) {
            continue; // its manifest did not read: already reported
        }
        let limits = CheckLimits {
            timeout: m.check_timeout,
            ..Default::default()
        };
        let v = run_check(&m.package, limits, &|| false);
        if !v.is_ok() {
            out.push(problem(
                &field,
                format!("{} refused: {v}", m.package.display()),
            ));
        }
    }
    out
}

fn problem(field: &str, message: String) -> Problem {
    Problem {
        field: field.to_string(),
        line: None,
        column: None,
        message,
    }
}
