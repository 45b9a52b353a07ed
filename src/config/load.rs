//! Reading the provisioning file: TOML syntax, per-section deserialization, problem locations.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::raw::{
    RawAsset, RawDetector, RawGateway, RawKafka, RawMetrics, RawModelBinding, RawMqtt, RawOutbox,
    RawReplay, RawRule, RawSerial,
};
use super::validate::{validate, RawConfig, RawSource};
use super::{Config, PackageReader};

/// One thing wrong with a provisioning file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted field path, e.g. `sources[1].baud` (empty for a syntax error).
    pub field: String,
    /// 1-based line and column, where the file has the field.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

/// Every problem found in one provisioning file.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    pub origin: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {} problem(s)", self.origin, self.problems.len())?;
        for p in &self.problems {
            write!(f, "  {}", self.origin)?;
            if let (Some(l), Some(c)) = (p.line, p.column) {
                write!(f, ":{l}:{c}")?;
            }
            if p.field.is_empty() {
                writeln!(f, ": {}", p.message)?;
            } else {
                writeln!(f, ": {}: {}", p.field, p.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Read and validate a provisioning file. Relative paths inside it resolve against its folder.
/// Model packages are not read (see [`load_file_with`]).
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    load(path, None)
}

/// [`load_file`], reading each model package's manifest with `packages` to name the model
/// and bind its signals (problems in [`Config::package_problems`]).
pub fn load_file_with(path: &Path, packages: &dyn PackageReader) -> Result<Config, ConfigErrors> {
    load(path, Some(packages))
}

/// [`load_file_with`] for a build machine: secret references (`${...}`) are checked but not
/// resolved (they stay as written), and a replay recording or model package that is not
/// present is not a problem (it lives on the gateway); packages that are present are read.
pub fn load_file_offline(
    path: &Path,
    packages: &dyn PackageReader,
) -> Result<Config, ConfigErrors> {
    let _offline = super::validate::Offline::set(true);
    load(path, Some(packages))
}

fn load(path: &Path, packages: Option<&dyn PackageReader>) -> Result<Config, ConfigErrors> {
    let origin = path.display().to_string();
    let whole_file = |message: String| ConfigErrors {
        origin: origin.clone(),
        problems: vec![Problem {
            field: String::new(),
            line: None,
            column: None,
            message,
        }],
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| whole_file(format!("cannot read file: {e}")))?;
    // The file says where data goes and which packages run: anyone who may change it owns
    // the gateway.
    if let Some(why) = std::fs::metadata(path)
        .ok()
        .and_then(|m| super::secret::writable_by_others(&m))
    {
        return Err(whole_file(format!(
            "the provisioning file {why}: refused (chmod o-w {origin})"
        )));
    }
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    parse(&text, &origin, base, packages)
}

/// Parse and validate provisioning text; `base_dir` resolves relative paths in it. Model
/// packages are not read (see [`parse_str_with`]).
pub fn parse_str(text: &str, origin: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
    parse(text, origin, base_dir, None)
}

/// [`parse_str`], reading each model package's manifest with `packages`.
pub fn parse_str_with(
    text: &str,
    origin: &str,
    base_dir: &Path,
    packages: &dyn PackageReader,
) -> Result<Config, ConfigErrors> {
    parse(text, origin, base_dir, Some(packages))
}

fn parse(
    text: &str,
    origin: &str,
    base_dir: &Path,
    reader: Option<&dyn PackageReader>,
) -> Result<Config, ConfigErrors> {
    let mut sink = Sink {
        text,
        problems: Vec::new(),
        located: DeTable::parse(text).ok(),
    };
    let (doc, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            sink.push_span("", e.span(), e.message());
        }
        return Err(sink.into_errors(origin));
    }
    let mut raw = RawConfig::default();
    for (key, value) in doc.into_inner() {
        let name = key.get_ref().to_string();
        raw.present.insert(name.clone());
        match name.as_str() {
            "gateway" => raw.gateway = sink.de::<RawGateway>(value, "gateway"),
            "kafka" => raw.kafka = sink.de::<RawKafka>(value, "kafka"),
            "outbox" => raw.outbox = sink.de::<RawOutbox>(value, "outbox"),
            "metrics" => raw.metrics = sink.de::<RawMetrics>(value, "metrics"),
            "sources" => {
                for (i, item) in sink.array(value, "sources").into_iter().enumerate() {
                    raw.sources
                        .push(sink.source(item, &format!("sources[{i}]")));
                }
            }
            "assets" => {
                for (i, item) in sink.array(value, "assets").into_iter().enumerate() {
                    raw.assets
                        .push(sink.de::<RawAsset>(item, &format!("assets[{i}]")));
                }
            }
            "rules" => {
                for (i, item) in sink.array(value, "rules").into_iter().enumerate() {
                    raw.rules
                        .push(sink.de::<RawRule>(item, &format!("rules[{i}]")));
                }
            }
            "models" => {
                for (i, item) in sink.array(value, "models").into_iter().enumerate() {
                    raw.models
                        .push(sink.de::<RawModelBinding>(item, &format!("models[{i}]")));
                }
            }
            "detectors" => {
                for (i, item) in sink.array(value, "detectors").into_iter().enumerate() {
                    raw.detectors
                        .push(sink.de::<RawDetector>(item, &format!("detectors[{i}]")));
                }
            }
            _ => sink.push_span(
                &name,
                Some(key.span()),
                "unknown table; expected one of gateway, kafka, outbox, metrics, sources, assets, rules, models, detectors",
            ),
        }
    }
    let mut semantic = Vec::new();
    let mut packages = Vec::new();
    let config = validate(raw, base_dir, reader, &mut semantic, &mut packages);
    for (field, message) in semantic {
        let span = sink.located.as_ref().and_then(|t| locate(t, &field));
        sink.push_span(&field, span, &message);
    }
    match config {
        Some(mut c) if sink.problems.is_empty() => {
            c.gateway.revision = revision(text);
            // Problems of the packages themselves, located the same way but kept apart.
            for (field, message) in packages {
                let span = sink.located.as_ref().and_then(|t| locate(t, &field));
                sink.push_span(&field, span, &message);
            }
            c.package_problems = std::mem::take(&mut sink.problems);
            Ok(c)
        }
        _ => {
            for (field, message) in packages {
                let span = sink.located.as_ref().and_then(|t| locate(t, &field));
                sink.push_span(&field, span, &message);
            }
            Err(sink.into_errors(origin))
        }
    }
}

struct Sink<'t> {
    text: &'t str,
    problems: Vec<Problem>,
    /// The document with spans, to locate fields by path.
    located: Option<Spanned<DeTable<'t>>>,
}

impl Sink<'_> {
    fn push_span(&mut self, field: &str, span: Option<Range<usize>>, message: &str) {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = line_col(self.text, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        self.problems.push(Problem {
            field: field.to_string(),
            line,
            column,
            message: message.to_string(),
        });
    }

    fn into_errors(mut self, origin: &str) -> ConfigErrors {
        self.problems
            .sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.column));
        ConfigErrors {
            origin: origin.to_string(),
            problems: self.problems,
        }
    }

    /// Deserialize one section. On an error at one of its keys, report it, drop that key and
    /// try again, so that one bad key does not hide the problems after it (and the rest of the
    /// section still reaches validation).
    fn de<T: DeserializeOwned>(
        &mut self,
        mut value: Spanned<DeValue<'_>>,
        path: &str,
    ) -> Option<T> {
        let mut removed: Vec<String> = Vec::new();
        for _ in 0..64 {
            let whole = value.span();
            let err =
                match serde_path_to_error::deserialize::<_, T>(value.clone().into_deserializer()) {
                    Ok(v) => return Some(v),
                    Err(e) => e,
                };
            let sub = err.path().to_string();
            let inner = err.into_inner();
            let message = inner.message().trim().to_string();
            if removed
                .iter()
                .any(|k| message.contains(&format!("missing field `{k}`")))
            {
                return None;
            }
            let unknown = message
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next())
                .map(str::to_string);
            // The key of this section to drop: the first level of the error's path, or the
            // unknown field itself when the error is at the section's own level.
            let key = sub
                .split(['.', '['])
                .next()
                .filter(|k| !k.is_empty() && *k != "?")
                .map(str::to_string)
                .or_else(|| unknown.clone());
            let key_span = key.as_deref().and_then(|k| match value.get_ref() {
                DeValue::Table(t) => t
                    .iter()
                    .find(|(kk, _)| kk.get_ref() == k)
                    .map(|(kk, _)| kk.span()),
                _ => None,
            });
            let field = match (&unknown, sub.as_str()) {
                (Some(k), "." | "") => format!("{path}.{k}"),
                (Some(k), s) if !s.ends_with(k.as_str()) => format!("{path}.{s}.{k}"),
                (_, "." | "") => path.to_string(),
                (_, s) => format!("{path}.{s}"),
            };
            let exact = self
                .located
                .as_ref()
                .and_then(|t| locate(t, &field))
                .filter(|_| unknown.is_some());
            let span = exact.or(inner.span()).or(key_span);
            // A secret's value is never shown, not even a wrongly typed one.
            let message = if super::secret::is_secret_field(&field) {
                super::secret::redact_message(&message)
            } else {
                message
            };
            self.push_span(&field, span.or(Some(whole)), &message);
            match (key, value.get_mut()) {
                (Some(k), DeValue::Table(t)) if t.iter().any(|(kk, _)| kk.get_ref() == &k) => {
                    t.remove(k.as_str());
                    removed.push(k);
                }
                _ => return None,
            }
        }
        None
    }

    fn array<'i>(&mut self, value: Spanned<DeValue<'i>>, path: &str) -> Vec<Spanned<DeValue<'i>>> {
        let span = value.span();
        match value.into_inner() {
            DeValue::Array(items) => items.into_iter().collect(),
            _ => {
                self.push_span(path, Some(span), "expected an array of tables ([[...]])");
                Vec::new()
            }
        }
    }

    /// A `[[sources]]` element: its `type` picks the struct it is read as.
    fn source(&mut self, value: Spanned<DeValue<'_>>, path: &str) -> Option<RawSource> {
        let kind = match value.get_ref() {
            DeValue::Table(t) => {
                t.iter()
                    .find(|(k, _)| k.get_ref() == "type")
                    .map(|(_, v)| match v.get_ref() {
                        DeValue::String(s) => s.to_string(),
                        _ => String::new(),
                    })
            }
            _ => None,
        };
        match kind.as_deref() {
            Some("mqtt") => self.de::<RawMqtt>(value, path).map(RawSource::Mqtt),
            Some("serial") => self.de::<RawSerial>(value, path).map(RawSource::Serial),
            Some("replay") => self.de::<RawReplay>(value, path).map(RawSource::Replay),
            Some(other) => {
                self.push_span(
                    &format!("{path}.type"),
                    Some(value.span()),
                    &format!("unknown source type `{other}`; expected mqtt, serial or replay"),
                );
                None
            }
            None => {
                self.push_span(
                    &format!("{path}.type"),
                    Some(value.span()),
                    "missing `type` (mqtt, serial or replay)",
                );
                None
            }
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

/// Find the span of a dotted path like `sources[1].baud` in the parsed document: the key if
/// the field is there, else the closest enclosing table that is. A key may hold dots itself
/// (`kafka.properties."sasl.password"`): at each table the longest key the rest of the path
/// starts with, as whole parts, is taken.
fn locate(doc: &Spanned<DeTable<'_>>, path: &str) -> Option<Range<usize>> {
    let mut best = None;
    let mut table: &DeTable<'_> = doc.get_ref();
    let mut rest = path;
    loop {
        let found = table
            .iter()
            .filter(|(k, _)| {
                let name: &str = k.get_ref().as_ref();
                rest.strip_prefix(name).is_some_and(|after| {
                    after.is_empty() || after.starts_with('.') || after.starts_with('[')
                })
            })
            .max_by_key(|(k, _)| k.get_ref().len());
        let Some((k, v)) = found else { break };
        best = Some(k.span());
        let mut value = v;
        let mut after = &rest[k.get_ref().len()..];
        if let Some(bracket) = after.strip_prefix('[') {
            let Some((index, tail)) = bracket.split_once(']') else {
                break;
            };
            let item = match (value.get_ref(), index.parse::<usize>()) {
                (DeValue::Array(items), Ok(i)) => items.get(i),
                _ => None,
            };
            let Some(item) = item else { break };
            best = Some(item.span());
            value = item;
            after = tail;
        }
        let (Some(next), DeValue::Table(t)) = (after.strip_prefix('.'), value.get_ref()) else {
            break;
        };
        rest = next;
        table = t;
    }
    best
}

/// The first 16 hex digits of the SHA-256 of the provisioning text.
pub fn revision(text: &str) -> String {
    use sha2::Digest;
    crate::util::hex(&sha2::Sha256::digest(text.as_bytes())[..8])
}
