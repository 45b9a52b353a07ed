//! Meaning checks on the raw provisioning file, collecting every problem as `(field, message)`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::raw::*;
use super::*;
use crate::record::AssetMeta;

/// Sections as read; `None` where a section failed to deserialize (its problem is already
/// reported, so validation skips checks that would only repeat it).
#[derive(Default)]
pub(super) struct RawConfig {
    pub gateway: Option<RawGateway>,
    pub kafka: Option<RawKafka>,
    pub outbox: Option<RawOutbox>,
    pub sources: Vec<Option<RawSource>>,
    pub assets: Vec<Option<RawAsset>>,
    pub rules: Vec<Option<RawRule>>,
    pub models: Vec<Option<RawModelBinding>>,
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

/// Letters, digits, `.`, `_`, `-`: safe in Kafka keys, topic names and file names.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 249
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `${NAME}` → the environment variable NAME.
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
        let name = &after[..end];
        match std::env::var(name) {
            Ok(v) => out.push_str(&v),
            Err(_) => problem(
                p,
                field,
                format!("environment variable `{name}` is not set"),
            ),
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

    if !p.is_empty() {
        return None;
    }
    Some(Config {
        gateway: gateway?,
        kafka: kafka?,
        outbox: outbox?,
        sources,
        assets,
        rules,
        models,
        package_problems: Vec::new(),
    })
}

fn gateway(g: &RawGateway, p: &mut Problems) -> Option<GatewayConfig> {
    let n = p.len();
    if !is_name(&g.id) {
        problem(
            p,
            "gateway.id",
            "must be non-empty letters, digits, `.`, `_` or `-`",
        );
    }
    if g.site.trim().is_empty() {
        problem(p, "gateway.site", "must not be empty");
    }
    if g.data_dir.trim().is_empty() {
        problem(p, "gateway.data_dir", "must not be empty");
    }
    if g.heartbeat_secs == 0 || g.heartbeat_secs > 86_400 {
        problem(p, "gateway.heartbeat_secs", "must be between 1 and 86400");
    }
    (p.len() == n).then(|| GatewayConfig {
        id: g.id.clone(),
        site: g.site.clone(),
        data_dir: PathBuf::from(&g.data_dir),
        heartbeat: Duration::from_secs(g.heartbeat_secs),
    })
}

/// librdkafka properties that forewarn sets itself because its guarantees depend on them.
const MANAGED_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "compression.type",
    "compression.codec",
];

fn kafka(k: &RawKafka, p: &mut Problems) -> Option<KafkaConfig> {
    let n = p.len();
    if k.bootstrap_servers.trim().is_empty() {
        problem(p, "kafka.bootstrap_servers", "must not be empty");
    }
    let topics = [
        ("kafka.topics.alerts", &k.topics.alerts),
        ("kafka.topics.telemetry", &k.topics.telemetry),
        ("kafka.topics.status", &k.topics.status),
    ];
    for (f, t) in topics {
        if !is_name(t) {
            problem(
                p,
                f,
                "a Kafka topic name: letters, digits, `.`, `_` or `-`, at most 249",
            );
        }
    }
    if k.topics.alerts == k.topics.telemetry
        || k.topics.alerts == k.topics.status
        || k.topics.telemetry == k.topics.status
    {
        problem(
            p,
            "kafka.topics",
            "alerts, telemetry and status need distinct topics",
        );
    }
    let encoding = match k.encoding.as_deref() {
        None | Some("json") => Encoding::Json,
        Some("cbor") => Encoding::Cbor,
        Some(other) => {
            problem(
                p,
                "kafka.encoding",
                format!("`{other}`: expected json or cbor"),
            );
            Encoding::Json
        }
    };
    let compression = k.compression.clone().unwrap_or_else(|| "zstd".into());
    if !["none", "gzip", "snappy", "lz4", "zstd"].contains(&compression.as_str()) {
        problem(
            p,
            "kafka.compression",
            format!("`{compression}`: expected none, gzip, snappy, lz4 or zstd"),
        );
    }
    if k.topic_partitions < 1 {
        problem(p, "kafka.topic_partitions", "must be at least 1");
    }
    if k.topic_replication < 1 {
        problem(p, "kafka.topic_replication", "must be at least 1");
    }
    if k.max_in_flight == 0 || k.max_in_flight > 100_000 {
        problem(p, "kafka.max_in_flight", "must be between 1 and 100000");
    }
    let mut properties = BTreeMap::new();
    for (key, value) in &k.properties {
        let f = format!("kafka.properties.{key}");
        if MANAGED_PROPERTIES.contains(&key.as_str()) {
            problem(
                p,
                &f,
                "set by forewarn (its delivery guarantees depend on it); remove it",
            );
            continue;
        }
        properties.insert(key.clone(), expand_env(value, &f, p));
    }
    (p.len() == n).then(|| KafkaConfig {
        bootstrap_servers: k.bootstrap_servers.clone(),
        alerts_topic: k.topics.alerts.clone(),
        telemetry_topic: k.topics.telemetry.clone(),
        status_topic: k.topics.status.clone(),
        encoding,
        compression,
        create_topics: k.create_topics,
        topic_partitions: k.topic_partitions,
        topic_replication: k.topic_replication,
        max_in_flight: k.max_in_flight,
        properties,
    })
}

fn outbox(o: &RawOutbox, p: &mut Problems) -> Option<OutboxConfig> {
    let n = p.len();
    if o.budget_bytes < 1024 * 1024 {
        problem(p, "outbox.budget_bytes", "must be at least 1048576 (1 MiB)");
    }
    let durability = match o.durability.as_deref() {
        None | Some("full") => Durability::Full,
        Some("batched") => {
            if o.sync_interval_ms == 0 || o.sync_interval_ms > 60_000 {
                problem(p, "outbox.sync_interval_ms", "must be between 1 and 60000");
            }
            Durability::Batched(Duration::from_millis(o.sync_interval_ms))
        }
        Some(other) => {
            problem(
                p,
                "outbox.durability",
                format!("`{other}`: expected full or batched"),
            );
            Durability::Full
        }
    };
    (p.len() == n).then_some(OutboxConfig {
        budget_bytes: o.budget_bytes,
        durability,
    })
}

fn interval(secs: f64, field: &str, p: &mut Problems) -> Option<Duration> {
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        problem(
            p,
            field,
            "must be between 0 (no telemetry) and 86400 seconds",
        );
        return None;
    }
    (secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

fn asset(a: &RawAsset, f: &str, p: &mut Problems) -> Option<AssetConfig> {
    let n = p.len();
    let default = interval(a.interval_secs, &format!("{f}.interval_secs"), p);
    let mut signals = Vec::new();
    let mut seen = HashSet::new();
    for (j, s) in a.signals.iter().enumerate() {
        let sf = format!("{f}.signals[{j}]");
        if !is_name(&s.name) || s.name == "ts" || s.name == "asset" {
            problem(
                p,
                format!("{sf}.name"),
                "letters, digits, `.`, `_` or `-` (and not `ts` or `asset`)",
            );
        }
        if !seen.insert(s.name.clone()) {
            problem(
                p,
                format!("{sf}.name"),
                format!("duplicate signal `{}`", s.name),
            );
        }
        let iv = match s.interval_secs {
            Some(secs) => interval(secs, &format!("{sf}.interval_secs"), p),
            None => default,
        };
        let compression = compression(s, &sf, p);
        if compression.is_some() && s.interval_secs.is_some_and(|x| x > 0.0) {
            problem(
                p,
                format!("{sf}.interval_secs"),
                "a signal is downsampled either by buckets or by a deadband / swinging door, not both",
            );
        }
        signals.push(SignalConfig {
            name: Arc::from(s.name.as_str()),
            unit: s.unit.clone(),
            interval: if compression.is_some() { None } else { iv },
            compression,
        });
    }
    if a.signals.is_empty() {
        problem(
            p,
            format!("{f}.signals"),
            "an asset needs at least one [[assets.signals]]",
        );
    }
    (p.len() == n).then(|| AssetConfig {
        id: Arc::from(a.id.as_str()),
        meta: AssetMeta {
            line: a.line.clone(),
            asset_type: a.asset_type.clone(),
            tags: a.tags.clone(),
        },
        signals,
    })
}

fn timestamp(t: &RawTimestamp, f: &str, live: bool, p: &mut Problems) -> TimestampConfig {
    let unit = match t.unit.as_deref() {
        None | Some("auto") => TimeUnit::Auto,
        Some("s") => TimeUnit::Seconds,
        Some("ms") => TimeUnit::Millis,
        Some("us") => TimeUnit::Micros,
        Some("ns") => TimeUnit::Nanos,
        Some("rfc3339") => TimeUnit::Rfc3339,
        Some(other) => {
            problem(
                p,
                format!("{f}.timestamp.unit"),
                format!("`{other}`: expected auto, s, ms, us, ns or rfc3339"),
            );
            TimeUnit::Auto
        }
    };
    if let Some(field) = &t.field {
        if field.is_empty() {
            problem(p, format!("{f}.timestamp.field"), "must not be empty");
        }
    }
    // Ten years at most: past that a bound bounds nothing.
    const MAX_BOUND_SECS: u64 = 10 * 366 * 86_400;
    let mut bound = |name: &str, v: Option<u64>, default: u64, zero_ok: bool| {
        let v = v.unwrap_or(default);
        if (v == 0 && !zero_ok) || v > MAX_BOUND_SECS {
            let low = if zero_ok { 0 } else { 1 };
            problem(
                p,
                format!("{f}.timestamp.{name}"),
                format!("{v}: must be between {low} and {MAX_BOUND_SECS}"),
            );
        }
        v
    };
    use crate::config::TimePolicy as P;
    let future = bound(
        "max_future_secs",
        t.max_future_secs,
        P::DEFAULT_MAX_FUTURE_SECS,
        false,
    );
    let past = bound(
        "max_past_secs",
        t.max_past_secs,
        P::DEFAULT_MAX_PAST_SECS,
        true,
    );
    let jump = bound(
        "max_jump_secs",
        t.max_jump_secs,
        P::DEFAULT_MAX_JUMP_SECS,
        false,
    );
    if !live {
        for (name, v) in [
            ("max_future_secs", t.max_future_secs),
            ("max_past_secs", t.max_past_secs),
        ] {
            if v.is_some() {
                problem(
                    p,
                    format!("{f}.timestamp.{name}"),
                    "applies to live sources only (a replay is checked against its own stream: max_jump_secs)",
                );
            }
        }
    }
    TimestampConfig {
        field: t.field.clone(),
        unit,
        policy: P::from_secs(live, future, past, jump),
    }
}

/// A topic pattern: levels separated by `/`, with `{asset}`, `{signal}` and `+` placeholders.
fn pattern(s: &str, f: &str, p: &mut Problems) -> Vec<TopicLevel> {
    let levels: Vec<TopicLevel> = s
        .split('/')
        .map(|l| match l {
            "{asset}" => TopicLevel::Asset,
            "{signal}" => TopicLevel::Signal,
            "+" => TopicLevel::Any,
            other => TopicLevel::Literal(other.to_string()),
        })
        .collect();
    let count = |want: &TopicLevel| levels.iter().filter(|l| *l == want).count();
    if count(&TopicLevel::Asset) != 1 {
        problem(
            p,
            format!("{f}.topic_pattern"),
            "needs exactly one `{asset}` level",
        );
    }
    if count(&TopicLevel::Signal) > 1 {
        problem(
            p,
            format!("{f}.topic_pattern"),
            "at most one `{signal}` level",
        );
    }
    if levels
        .iter()
        .any(|l| matches!(l, TopicLevel::Literal(x) if x.contains(['{', '}', '#', '+'])))
    {
        problem(
            p,
            format!("{f}.topic_pattern"),
            "levels are literal text, `+`, `{asset}` or `{signal}`",
        );
    }
    levels
}

fn mqtt(m: &RawMqtt, gateway: &str, f: &str, p: &mut Problems) -> Option<MqttConfig> {
    let n = p.len();
    if m.host.trim().is_empty() {
        problem(p, format!("{f}.host"), "must not be empty");
    }
    if m.port == 0 {
        problem(p, format!("{f}.port"), "must not be 0");
    }
    if m.topics.is_empty() {
        problem(
            p,
            format!("{f}.topics"),
            "subscribe to at least one topic filter",
        );
    }
    for (i, t) in m.topics.iter().enumerate() {
        if t.is_empty() || (t.contains('#') && !t.ends_with('#')) {
            problem(
                p,
                format!("{f}.topics[{i}]"),
                format!("`{t}` is not a valid topic filter"),
            );
        }
    }
    let levels = pattern(&m.topic_pattern, f, p);
    let timestamp = timestamp(&m.timestamp, f, true, p);
    if !(5..=3600).contains(&m.keep_alive_secs) {
        problem(
            p,
            format!("{f}.keep_alive_secs"),
            "must be between 5 and 3600",
        );
    }
    if m.max_payload_bytes < 16 || m.max_payload_bytes > 256 * 1024 * 1024 {
        problem(
            p,
            format!("{f}.max_payload_bytes"),
            "must be between 16 and 268435456",
        );
    }
    let credentials = match (&m.username, &m.password) {
        (Some(u), Some(pw)) => Some((u.clone(), expand_env(pw, &format!("{f}.password"), p))),
        (Some(u), None) => Some((u.clone(), String::new())),
        (None, Some(_)) => {
            problem(p, format!("{f}.password"), "a password needs a username");
            None
        }
        (None, None) => None,
    };
    if m.ca_file.is_some() && !m.tls {
        problem(p, format!("{f}.ca_file"), "only used with tls = true");
    }
    let client_id = m
        .client_id
        .clone()
        .unwrap_or_else(|| format!("forewarn-{gateway}-{}", m.name));
    (p.len() == n).then(|| MqttConfig {
        name: m.name.clone(),
        host: m.host.clone(),
        port: m.port,
        client_id,
        topics: m.topics.clone(),
        pattern: levels,
        timestamp,
        keep_alive: Duration::from_secs(m.keep_alive_secs),
        credentials,
        tls: m.tls,
        ca_file: m.ca_file.as_ref().map(PathBuf::from),
        max_payload_bytes: m.max_payload_bytes,
    })
}

fn known_asset(assets: &[AssetConfig], id: &str, field: String, p: &mut Problems) {
    if !assets.iter().any(|a| &*a.id == id) {
        problem(p, field, format!("no asset `{id}` in [[assets]]"));
    }
}

fn serial(
    s: &RawSerial,
    assets: &[AssetConfig],
    f: &str,
    p: &mut Problems,
) -> Option<SerialConfig> {
    let n = p.len();
    if s.device.trim().is_empty() {
        problem(p, format!("{f}.device"), "must not be empty");
    }
    if s.baud == 0 || s.baud > 4_000_000 {
        problem(p, format!("{f}.baud"), "must be between 1 and 4000000");
    }
    if !(5..=8).contains(&s.data_bits) {
        problem(p, format!("{f}.data_bits"), "must be 5, 6, 7 or 8");
    }
    if !(1..=2).contains(&s.stop_bits) {
        problem(p, format!("{f}.stop_bits"), "must be 1 or 2");
    }
    let parity = match s.parity.as_deref() {
        None | Some("none") => Parity::None,
        Some("odd") => Parity::Odd,
        Some("even") => Parity::Even,
        Some(other) => {
            problem(
                p,
                format!("{f}.parity"),
                format!("`{other}`: expected none, odd or even"),
            );
            Parity::None
        }
    };
    let format = match s.format.as_str() {
        "csv" => LineFormat::Csv,
        "json" => LineFormat::Json,
        "kv" => LineFormat::KeyValue,
        other => {
            problem(
                p,
                format!("{f}.format"),
                format!("`{other}`: expected csv, json or kv"),
            );
            LineFormat::Csv
        }
    };
    if format == LineFormat::Csv && s.fields.is_empty() {
        problem(
            p,
            format!("{f}.fields"),
            "csv needs the list of column names",
        );
    }
    if format != LineFormat::Csv && !s.fields.is_empty() {
        problem(p, format!("{f}.fields"), "only used with format = \"csv\"");
    }
    known_asset(assets, &s.asset, format!("{f}.asset"), p);
    if !(16..=1024 * 1024).contains(&s.max_frame_bytes) {
        problem(
            p,
            format!("{f}.max_frame_bytes"),
            "must be between 16 and 1048576",
        );
    }
    let timestamp = timestamp(&s.timestamp, f, true, p);
    let mut timestamp = timestamp;
    if format == LineFormat::Csv && timestamp.field.is_none() && s.fields.iter().any(|c| c == "ts")
    {
        timestamp.field = Some("ts".into());
    }
    (p.len() == n).then(|| SerialConfig {
        name: s.name.clone(),
        device: s.device.clone(),
        baud: s.baud,
        data_bits: s.data_bits,
        parity,
        stop_bits: s.stop_bits,
        asset: s.asset.clone(),
        format,
        fields: s.fields.clone(),
        timestamp,
        max_frame_bytes: s.max_frame_bytes,
    })
}

fn replay(
    r: &RawReplay,
    assets: &[AssetConfig],
    base: &Path,
    f: &str,
    p: &mut Problems,
) -> Option<ReplayConfig> {
    let n = p.len();
    let path = base.join(&r.path);
    if !path.is_file() {
        problem(
            p,
            format!("{f}.path"),
            format!("no such file: {}", path.display()),
        );
    }
    if let Some(a) = &r.asset {
        known_asset(assets, a, format!("{f}.asset"), p);
    }
    if !r.rows_per_sec.is_finite() || r.rows_per_sec < 0.0 {
        problem(
            p,
            format!("{f}.rows_per_sec"),
            "must be 0 (as fast as possible) or more",
        );
    }
    let mut timestamp = timestamp(&r.timestamp, f, false, p);
    if timestamp.field.is_none() {
        timestamp.field = Some("ts".into());
    }
    (p.len() == n).then(|| ReplayConfig {
        name: r.name.clone(),
        path,
        asset: r.asset.clone(),
        timestamp,
        rows_per_sec: r.rows_per_sec,
    })
}

fn rule(r: &RawRule, assets: &[AssetConfig], f: &str, p: &mut Problems) -> Option<RuleConfig> {
    let n = p.len();
    let asset = if r.asset == "*" {
        if !assets.iter().any(|a| a.signal(&r.signal).is_some()) {
            problem(
                p,
                format!("{f}.signal"),
                format!("no asset has signal `{}`", r.signal),
            );
        }
        None
    } else {
        match assets.iter().find(|a| *a.id == r.asset) {
            None => problem(
                p,
                format!("{f}.asset"),
                format!("no asset `{}` in [[assets]]", r.asset),
            ),
            Some(a) if a.signal(&r.signal).is_none() => problem(
                p,
                format!("{f}.signal"),
                format!("asset `{}` has no signal `{}`", r.asset, r.signal),
            ),
            Some(_) => {}
        }
        Some(r.asset.clone())
    };
    let condition = match (r.above, r.below) {
        (Some(a), None) if a.is_finite() => Condition::Above(a),
        (None, Some(b)) if b.is_finite() => Condition::Below(b),
        _ => {
            problem(
                p,
                format!("{f}.above"),
                "set exactly one of `above` or `below` (finite)",
            );
            Condition::Above(0.0)
        }
    };
    let clear = match (condition, r.clear) {
        (Condition::Above(l) | Condition::Below(l), None) => l,
        (Condition::Above(l), Some(c)) if c.is_finite() && c <= l => c,
        (Condition::Below(l), Some(c)) if c.is_finite() && c >= l => c,
        (_, Some(_)) => {
            problem(
                p,
                format!("{f}.clear"),
                "must be on the safe side of the limit (≤ above, ≥ below)",
            );
            0.0
        }
    };
    if !r.for_secs.is_finite() || !(0.0..=86_400.0).contains(&r.for_secs) {
        problem(p, format!("{f}.for_secs"), "must be between 0 and 86400");
    }
    let severity = match r.severity.as_deref() {
        None | Some("warning") => Severity::Warning,
        Some("info") => Severity::Info,
        Some("critical") => Severity::Critical,
        Some(other) => {
            problem(
                p,
                format!("{f}.severity"),
                format!("`{other}`: expected info, warning or critical"),
            );
            Severity::Warning
        }
    };
    (p.len() == n).then(|| RuleConfig {
        name: r.name.clone(),
        asset,
        signal: r.signal.clone(),
        condition,
        clear,
        hold: Duration::from_secs_f64(r.for_secs.clamp(0.0, 86_400.0)),
        severity,
    })
}

/// A `[[models]]` binding. Problems of the file (an unknown asset, no assets, a bad timeout)
/// go to `p`; problems of the package (unreadable, a bad manifest, a model signal the asset
/// lacks) go to `packages`, so that `run` can start without that package.
fn model(
    m: &RawModelBinding,
    assets: &[AssetConfig],
    base_dir: &Path,
    reader: Option<&dyn crate::config::PackageReader>,
    f: &str,
    p: &mut Problems,
    packages: &mut Problems,
) -> Option<ModelConfig> {
    let n = p.len();
    let dir = base_dir.join(&m.package);
    if m.assets.is_empty() {
        problem(p, format!("{f}.assets"), "must list at least one asset");
    }
    let mut bound = Vec::new();
    for (j, a) in m.assets.iter().enumerate() {
        match assets.iter().find(|x| &*x.id == a) {
            Some(asset) => bound.push((
                asset.id.clone(),
                asset
                    .signals
                    .iter()
                    .map(|s| s.name.clone())
                    .collect::<Vec<_>>(),
            )),
            None => problem(
                p,
                format!("{f}.assets[{j}]"),
                format!("unknown asset `{a}`"),
            ),
        }
    }
    let check_timeout = match m.check_timeout_secs {
        None => crate::config::DEFAULT_CHECK_TIMEOUT,
        Some(t)
            if t.is_finite() && t >= 1.0 && t <= crate::config::MAX_CHECK_TIMEOUT.as_secs_f64() =>
        {
            Duration::from_secs_f64(t)
        }
        Some(_) => {
            problem(
                p,
                format!("{f}.check_timeout_secs"),
                "must be a number of seconds from 1 to 3600",
            );
            Duration::ZERO
        }
    };
    let manifest = match reader.map(|r| r.manifest(&dir)) {
        None => None,
        Some(Ok(info)) => Some(info),
        Some(Err(e)) => {
            problem(packages, format!("{f}.package"), e.to_string());
            None
        }
    };
    let name = manifest.as_ref().map_or_else(
        || {
            dir.file_name()
                .map_or_else(|| m.package.clone(), |n| n.to_string_lossy().into_owned())
        },
        |m| m.name.clone(),
    );
    let mut mc = ModelConfig {
        package: dir,
        name,
        bindings: Vec::new(),
        assets: bound,
        renames: m.signals.clone(),
        check_timeout,
    };
    if let Some(manifest) = &manifest {
        match mc.bind(&manifest.signals) {
            Ok(b) => mc.bindings = b,
            Err(errors) => {
                for e in errors {
                    let field = match &e {
                        crate::config::BindError::UnknownModelSignal(k) => {
                            format!("{f}.signals.{k}")
                        }
                        crate::config::BindError::NoAssetSignal { asset, .. } => {
                            let j = m.assets.iter().position(|a| a == asset).unwrap_or(0);
                            format!("{f}.assets[{j}]")
                        }
                    };
                    let msg = match &e {
                        crate::config::BindError::UnknownModelSignal(k) => format!(
                            "model `{}` has no signal `{k}` (its signals: {})",
                            manifest.name,
                            manifest.signals.join(", ")
                        ),
                        other => other.to_string(),
                    };
                    problem(packages, field, msg);
                }
            }
        }
    }
    (p.len() == n).then_some(mc)
}

fn compression(s: &RawSignal, sf: &str, p: &mut Problems) -> Option<Compression> {
    use crate::config::Band;
    let given: Vec<(&str, f64)> = [
        ("deadband", s.deadband),
        ("deadband_percent", s.deadband_percent),
        ("swinging_door", s.swinging_door),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    if given.len() > 1 {
        problem(
            p,
            format!("{sf}.{}", given[1].0),
            "choose one of deadband, deadband_percent, swinging_door",
        );
        return None;
    }
    if let Some(m) = s.max_silence_secs {
        if !(m.is_finite() && m > 0.0) {
            problem(p, format!("{sf}.max_silence_secs"), "must be a number > 0");
            return None;
        }
        if given.is_empty() {
            problem(
                p,
                format!("{sf}.max_silence_secs"),
                "applies only with deadband, deadband_percent or swinging_door",
            );
            return None;
        }
    }
    let (key, v) = *given.first()?;
    if !(v.is_finite() && v >= 0.0) {
        problem(p, format!("{sf}.{key}"), "must be a number >= 0");
        return None;
    }
    let method = match key {
        "deadband" => CompressionMethod::Deadband(Band::Abs(v)),
        "deadband_percent" => CompressionMethod::Deadband(Band::Percent(v)),
        _ => CompressionMethod::SwingingDoor(v),
    };
    Some(Compression {
        method,
        max_silence_secs: s.max_silence_secs,
    })
}
