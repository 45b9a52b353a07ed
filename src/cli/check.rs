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

/// Exit 3 with every problem listed, or 0 with a one-line summary. `offline` (a build
/// machine): secret references are not resolved, and what lives only on the gateway (files
/// the file names, model packages, recordings) is checked where present and listed as not
/// checked where not.
pub fn check_config(file: &Path, offline: bool) -> Exit {
    let reader = &crate::model::package::ManifestReader;
    let loaded = if offline {
        config::load_file_offline(file, reader)
    } else {
        config::load_file_with(file, reader)
    };
    let c = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return Exit::InvalidConfig;
        }
    };
    config::secret::register(&c);
    let mut skipped = Vec::new();
    let problems = problems(&c, offline.then_some(&mut skipped));
    let origin = file.display();
    for what in &skipped {
        eprintln!("{origin}: not checked offline: {what}");
    }
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
/// read. With `offline`, what cannot be checked here is listed there instead.
fn problems(c: &Config, mut offline: Option<&mut Vec<String>>) -> Vec<Problem> {
    let mut out = c.package_problems.clone();
    let absent = |p: &Path| !p.exists();
    let is_offline = offline.is_some();
    let mut skip = |what: String| {
        if let Some(s) = offline.as_deref_mut() {
            s.push(what);
        }
    };
    for (i, s) in c.sources.iter().enumerate() {
        match s {
            crate::config::SourceConfig::Mqtt(m) if m.tls => {
                let files: Vec<&Path> = m
                    .ca_file
                    .iter()
                    .map(|p| p.as_path())
                    .chain(
                        m.client_identity
                            .iter()
                            .flat_map(|(c, k)| [c.as_path(), k.as_path()]),
                    )
                    .collect();
                let missing: Vec<String> = files
                    .iter()
                    .filter(|p| absent(p))
                    .map(|p| p.display().to_string())
                    .collect();
                if !missing.is_empty() && is_offline {
                    skip(format!(
                        "sources[{i}] TLS files not here ({})",
                        missing.join(", ")
                    ));
                    continue;
                }
                if let Err(e) = crate::ingest::mqtt::tls::connector(m) {
                    out.push(problem(&format!("sources[{i}].{}", e.field), e.to_string()));
                }
            }
            crate::config::SourceConfig::Replay(r) if absent(&r.path) => {
                skip(format!("sources[{i}].path not here ({})", r.path.display()));
            }
            _ => {}
        }
    }
    let mut kafka = c.kafka.clone();
    if is_offline {
        // librdkafka opens the files `*.location` names when the client is made: one that is
        // not here is left out. A value with an unresolved secret reference is checked with a
        // stand-in (a required property, such as sasl.password, must still be set).
        let keys: Vec<String> = kafka.properties.keys().cloned().collect();
        for k in keys {
            let v = kafka.properties[&k].clone();
            if k.ends_with(".location") && absent(Path::new(v.trim())) {
                kafka.properties.remove(&k);
                skip(format!("kafka.properties.{k}: `{}` not here", v.trim()));
            } else if v.contains("${") {
                kafka
                    .properties
                    .insert(k.clone(), "offline-stand-in".to_string());
                skip(format!(
                    "kafka.properties.{k}: its secret reference, not resolved"
                ));
            }
        }
    }
    if let Err(e) = crate::forward::check_properties(&kafka, &c.gateway.id) {
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
        if absent(&m.package) {
            skip(format!("{field} not here ({})", m.package.display()));
            continue;
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
