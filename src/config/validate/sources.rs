//! `[[sources]]`: MQTT, serial and replay, with their timestamp settings and topic patterns.

use super::*;

pub(super) fn timestamp(
    t: &RawTimestamp,
    f: &str,
    live: bool,
    p: &mut Problems,
) -> TimestampConfig {
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
pub(super) fn pattern(s: &str, f: &str, p: &mut Problems) -> Vec<TopicLevel> {
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

pub(super) fn mqtt(m: &RawMqtt, gateway: &str, f: &str, p: &mut Problems) -> Option<MqttConfig> {
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
        (Some(u), Some(pw)) => Some((
            u.clone(),
            Secret::new(expand_env(pw, &format!("{f}.password"), p)),
        )),
        (Some(u), None) => Some((u.clone(), Secret::default())),
        (None, Some(_)) => {
            problem(p, format!("{f}.password"), "a password needs a username");
            None
        }
        (None, None) => None,
    };
    for (name, set) in [
        ("ca_file", m.ca_file.is_some()),
        ("cert_file", m.cert_file.is_some()),
        ("key_file", m.key_file.is_some()),
    ] {
        if set && !m.tls {
            problem(p, format!("{f}.{name}"), "only used with tls = true");
        }
    }
    match (&m.cert_file, &m.key_file) {
        (Some(_), None) => problem(
            p,
            format!("{f}.key_file"),
            "a client certificate needs its key",
        ),
        (None, Some(_)) => problem(
            p,
            format!("{f}.cert_file"),
            "a client key needs its certificate",
        ),
        _ => {}
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
        client_identity: m
            .cert_file
            .as_ref()
            .zip(m.key_file.as_ref())
            .map(|(c, k)| (PathBuf::from(c), PathBuf::from(k))),
        max_payload_bytes: m.max_payload_bytes,
    })
}

pub(super) fn known_asset(assets: &[AssetConfig], id: &str, field: String, p: &mut Problems) {
    if !assets.iter().any(|a| &*a.id == id) {
        problem(p, field, format!("no asset `{id}` in [[assets]]"));
    }
}

pub(super) fn serial(
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

pub(super) fn replay(
    r: &RawReplay,
    assets: &[AssetConfig],
    base: &Path,
    f: &str,
    p: &mut Problems,
) -> Option<ReplayConfig> {
    let n = p.len();
    let path = base.join(&r.path);
    if !path.is_file() && !super::offline() {
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
