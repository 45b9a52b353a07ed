//! Meaning checks on the raw provisioning file, collecting every problem as `(field, message)`.
//! One file per section: `gateway.rs` (`[gateway]`, `[kafka]`, `[outbox]`), `assets.rs`,
//! `sources.rs`, `rules.rs`, `models.rs`, `detectors.rs`; the shared helpers (problems, names, `${ENV}`) here.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::raw::*;
use super::*;
use crate::record::AssetMeta;

mod assets;
mod detectors;
mod gateway;
mod models;
mod rules;
mod sources;

use assets::asset;
use detectors::detector;
use gateway::{gateway, kafka, outbox};
use models::model;
use rules::rule;
use sources::{mqtt, replay, serial};

/// Sections as read; `None` where a section failed to deserialize (its problem is already
/// reported, so validation skips checks that would only repeat it).
#[derive(Default)]
pub(super) struct RawConfig {
    pub gateway: Option<RawGateway>,
    pub kafka: Option<RawKafka>,
    pub outbox: Option<RawOutbox>,
    pub metrics: Option<RawMetrics>,
    pub sources: Vec<Option<RawSource>>,
    pub assets: Vec<Option<RawAsset>>,
    pub rules: Vec<Option<RawRule>>,
    pub models: Vec<Option<RawModelBinding>>,
    pub detectors: Vec<Option<RawDetector>>,
    /// Top-level keys the file has (a missing section is reported only if it is absent).
    pub present: HashSet<String>,
}

pub(super) enum RawSource {
    Mqtt(RawMqtt),
    Serial(RawSerial),
    Replay(RawReplay),
}

type Problems = Vec<(String, String)>;

fn problem(p: &mut Problems, field: impl Into<String>, msg: impl Into<String>) {
    p.push((field.into(), msg.into()));
}

/// The one name rule of the agent ([`crate::util::check_name`]: 1-249 letters, digits, `.`,
/// `_` or `-`, not `.` or `..`), shared with model manifests.
fn is_name(s: &str) -> bool {
    crate::util::check_name(s).is_ok()
}

/// `info`, `warning` (the default) or `critical`.
fn severity(s: Option<&str>, field: &str, p: &mut Problems) -> crate::record::Severity {
    use crate::record::Severity;
    match s {
        None | Some("warning") => Severity::Warning,
        Some("info") => Severity::Info,
        Some("critical") => Severity::Critical,
        Some(other) => {
            problem(
                p,
                field,
                format!("`{other}`: expected info, warning or critical"),
            );
            Severity::Warning
        }
    }
}

thread_local! {
    /// Validation for a build machine ([`super::load_file_offline`]): secret references are
    /// checked but not resolved, and files that live on the gateway (replay recordings, model
    /// packages) may be missing.
    static OFFLINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Validate offline while the guard lives (this thread).
pub(super) struct Offline(bool);

impl Offline {
    pub(super) fn set(on: bool) -> Offline {
        Offline(OFFLINE.with(|o| o.replace(on)))
    }
}

impl Drop for Offline {
    fn drop(&mut self) {
        OFFLINE.with(|o| o.set(self.0));
    }
}

pub(super) fn offline() -> bool {
    OFFLINE.with(|o| o.get())
}

/// A value with its `${...}` references resolved ([`super::secret::Reference`]: `${NAME}`,
/// `${env:NAME}`, `${file:/path}`, `${credential:NAME}`). A problem names the reference, never
/// the value it holds.
fn expand_env(value: &str, field: &str, p: &mut Problems) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            problem(p, field, "unterminated `${` in value");
            return out;
        };
        let resolved = match super::secret::Reference::parse(&after[..end]) {
            Err(why) => Err(why),
            // Offline: a well-formed reference stays as written.
            Ok(_) if offline() => Ok(rest[start..start + 2 + end + 1].to_string()),
            Ok(r) => r.resolve(),
        };
        match resolved {
            Ok(v) => out.push_str(&v),
            Err(why) => problem(p, field, why),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `packages` collects the problems of the model packages themselves (see
/// [`Config::package_problems`]), apart from the file's own in `p`.
pub(super) fn validate(
    raw: RawConfig,
    base: &Path,
    reader: Option<&dyn crate::config::PackageReader>,
    p: &mut Problems,
    packages: &mut Problems,
) -> Option<Config> {
    let gateway = raw.gateway.as_ref().and_then(|g| gateway(g, p));
    if !raw.present.contains("gateway") {
        problem(p, "gateway", "missing table [gateway]");
    }
    let kafka = raw.kafka.as_ref().and_then(|k| kafka(k, p));
    if !raw.present.contains("kafka") {
        problem(p, "kafka", "missing table [kafka]");
    }
    let outbox = outbox(raw.outbox.as_ref().unwrap_or(&RawOutbox::default()), p);
    let metrics = raw
        .metrics
        .as_ref()
        .and_then(|m| match m.listen.trim().parse() {
            Ok(listen) => Some(MetricsConfig { listen }),
            Err(_) => {
                problem(
                    p,
                    "metrics.listen",
                    "must be IP:port, e.g. 127.0.0.1:9464 (loopback) or [::1]:9464",
                );
                None
            }
        });

    let mut assets = Vec::new();
    let mut seen = HashSet::new();
    for (i, a) in raw.assets.iter().enumerate() {
        let Some(a) = a else { continue };
        let f = format!("assets[{i}]");
        if !is_name(&a.id) {
            problem(
                p,
                format!("{f}.id"),
                "must be letters, digits, `.`, `_` or `-`",
            );
        }
        if !seen.insert(a.id.clone()) {
            problem(
                p,
                format!("{f}.id"),
                format!("duplicate asset id `{}`", a.id),
            );
        }
        if let Some(asset) = asset(a, &f, p) {
            assets.push(asset);
        }
    }
    let gateway_id = raw.gateway.as_ref().map(|g| g.id.as_str()).unwrap_or("");

    let mut sources = Vec::new();
    let mut names = HashSet::new();
    for (i, s) in raw.sources.iter().enumerate() {
        let Some(s) = s else { continue };
        let f = format!("sources[{i}]");
        let source = match s {
            RawSource::Mqtt(m) => mqtt(m, gateway_id, &f, p).map(SourceConfig::Mqtt),
            RawSource::Serial(s) => serial(s, &assets, &f, p).map(SourceConfig::Serial),
            RawSource::Replay(r) => replay(r, &assets, base, &f, p).map(SourceConfig::Replay),
        };
        let name = match s {
            RawSource::Mqtt(m) => &m.name,
            RawSource::Serial(s) => &s.name,
            RawSource::Replay(r) => &r.name,
        };
        if !is_name(name) {
            problem(
                p,
                format!("{f}.name"),
                "must be letters, digits, `.`, `_` or `-`",
            );
        }
        if !names.insert(name.clone()) {
            problem(
                p,
                format!("{f}.name"),
                format!("duplicate source name `{name}`"),
            );
        }
        sources.extend(source);
    }
    if raw.sources.is_empty() {
        problem(
            p,
            "sources",
            "no [[sources]]: the agent would have nothing to read",
        );
    }

    let mut rules = Vec::new();
    let mut rule_names = HashSet::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let Some(r) = r else { continue };
        let f = format!("rules[{i}]");
        if !rule_names.insert(r.name.clone()) {
            problem(
                p,
                format!("{f}.name"),
                format!("duplicate rule name `{}`", r.name),
            );
        }
        rules.extend(rule(r, &assets, &f, p));
    }

    let mut models = Vec::new();
    let mut model_names = HashSet::new();
    for (i, m) in raw.models.iter().enumerate() {
        let Some(m) = m else { continue };
        let f = format!("models[{i}]");
        if let Some(mc) = model(m, &assets, base, reader, &f, p, packages) {
            if !model_names.insert(mc.name.clone()) {
                problem(
                    p,
                    format!("{f}.package"),
                    format!(
                        "model `{}` is bound twice; list all its assets in one [[models]]",
                        mc.name
                    ),
                );
            }
            models.push(mc);
        }
    }

    let mut detectors = Vec::new();
    let mut detector_names = HashSet::new();
    for (i, d) in raw.detectors.iter().enumerate() {
        let Some(d) = d else { continue };
        let f = format!("detectors[{i}]");
        if !detector_names.insert(d.name.clone()) {
            problem(
                p,
                format!("{f}.name"),
                format!("duplicate detector name `{}`", d.name),
            );
        }
        detectors.extend(detector(d, &assets, reader, &f, p));
    }

    if !p.is_empty() {
        return None;
    }
    Some(Config {
        gateway: gateway?,
        kafka: kafka?,
        outbox: outbox?,
        metrics,
        sources,
        assets,
        rules,
        models,
        detectors,
        package_problems: Vec::new(),
    })
}
