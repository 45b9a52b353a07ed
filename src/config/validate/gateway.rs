//! `[gateway]`, `[kafka]` and `[outbox]`.

use super::*;

pub(super) fn gateway(g: &RawGateway, p: &mut Problems) -> Option<GatewayConfig> {
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
        // Set by `config::load` from the whole text.
        revision: String::new(),
    })
}

const GUARANTEES: &str = "set by forewarn (its delivery guarantees depend on it); remove it";

/// librdkafka properties that forewarn sets itself, each with why a value in the file is
/// refused. (`client.id` and `linger.ms` are defaults of the forwarder's that the file may
/// change.)
pub(super) const MANAGED_PROPERTIES: &[(&str, &str)] = &[
    (
        "bootstrap.servers",
        "set by forewarn from kafka.bootstrap_servers; remove it",
    ),
    ("enable.idempotence", GUARANTEES),
    ("acks", GUARANTEES),
    ("request.required.acks", GUARANTEES),
    ("message.timeout.ms", GUARANTEES),
    ("delivery.timeout.ms", GUARANTEES),
    (
        "compression.type",
        "set by forewarn from kafka.compression; remove it",
    ),
    (
        "compression.codec",
        "set by forewarn from kafka.compression; remove it",
    ),
    (
        "queue.buffering.max.messages",
        "sized by forewarn from kafka.max_in_flight (twice it, plus 1000); set that instead",
    ),
];

/// librdkafka properties naming a private key (or a keystore holding one).
const KEY_FILE_PROPERTIES: &[&str] = &["ssl.key.location", "ssl.keystore.location"];

pub(super) fn kafka(k: &RawKafka, p: &mut Problems) -> Option<KafkaConfig> {
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
        if let Some((_, why)) = MANAGED_PROPERTIES.iter().find(|(m, _)| m == key) {
            problem(p, &f, *why);
            continue;
        }
        let value = expand_env(value, &f, p);
        // Every record has a key (`gateway/asset`), so each keyed partitioner keeps one asset's
        // records in one partition, in order; `random` ignores the key.
        if key == "partitioner" && value.trim() == "random" {
            problem(
                p,
                &f,
                "`random` spreads one asset's records over partitions, out of order; \
                 use a keyed partitioner (consistent_random, the default, or murmur2_random \
                 as Java producers)",
            );
            continue;
        }
        // A private key that anyone can replace lets anyone be this gateway to the cluster.
        if KEY_FILE_PROPERTIES.contains(&key.as_str()) {
            if let Ok(meta) = std::fs::metadata(value.trim()) {
                if let Some(why) = crate::config::secret::writable_by_others(&meta) {
                    problem(p, &f, format!("`{}` {why}: refused", value.trim()));
                    continue;
                }
            }
        }
        properties.insert(key.clone(), value);
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
        properties: KafkaProperties::new(properties),
    })
}

pub(super) fn outbox(o: &RawOutbox, p: &mut Problems) -> Option<OutboxConfig> {
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
