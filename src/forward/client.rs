//! The librdkafka client settings: the file's pass-through properties, forewarn's defaults, the
//! settings the delivery contract depends on ([`super::kafka`]), and where librdkafka's own logs go.

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use tracing::{debug, info, warn};

use std::sync::Arc;

use super::gate::Gate;
use crate::config::KafkaConfig;
use crate::monitor::Metrics;

/// The producer's `client.id`: the provisioning file's, or `forewarn-<gateway id>`.
pub fn client_id(cfg: &KafkaConfig, gateway: &str) -> String {
    cfg.properties
        .get("client.id")
        .cloned()
        .unwrap_or_else(|| format!("forewarn-{gateway}"))
}

/// Waiting this long for more records before a batch is sent, unless the file says otherwise
/// (`linger.ms` or its alias `queue.buffering.max.ms`).
const LINGER_MS: &str = "20";

/// The librdkafka configuration forewarn uses: the user's pass-through properties, forewarn's
/// defaults for `client.id` and `linger.ms` where the file sets none, then the settings its
/// guarantees depend on (validation refuses user values for those: `MANAGED_PROPERTIES` in
/// `config/validate/gateway.rs`).
pub fn producer_config(cfg: &KafkaConfig, gateway: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    c.set("client.id", client_id(cfg, gateway));
    if !cfg.properties.contains_key("linger.ms")
        && !cfg.properties.contains_key("queue.buffering.max.ms")
    {
        c.set("linger.ms", LINGER_MS);
    }
    c.set("bootstrap.servers", &cfg.bootstrap_servers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "0")
        .set("compression.type", &cfg.compression)
        .set(
            "queue.buffering.max.messages",
            (cfg.max_in_flight * 2 + 1000).to_string(),
        );
    c
}

/// Check that librdkafka accepts the configuration (property names and values), without
/// connecting anywhere. Used by `check-config`; the error says which property and why.
pub fn check_properties(cfg: &KafkaConfig, gateway: &str) -> Result<(), KafkaError> {
    create::<FutureProducer<QuietContext>>(&producer_config(cfg, gateway)).map(|_| ())
}

/// Every Kafka client forewarn makes (producer, admin, metadata) is created here: with
/// [`QuietContext`] (or [`ReportingContext`]: [`create_with`]), and with a refusal of a secret
/// property redacted ([`redact_config_error`]).
pub fn create<T>(c: &ClientConfig) -> Result<T, KafkaError>
where
    T: FromClientConfigAndContext<QuietContext>,
{
    create_with(c, QuietContext)
}

/// [`create`] with the given context.
pub fn create_with<C, T>(c: &ClientConfig, context: C) -> Result<T, KafkaError>
where
    C: ClientContext,
    T: FromClientConfigAndContext<C>,
{
    c.create_with_context(context).map_err(redact_config_error)
}

/// librdkafka's refusal of a property names the property and its value ("... not supported
/// in this build: sasl.oauthbearer.client.secret <value>"): for a secret property the value
/// is replaced by `<redacted>`, in the description too.
fn redact_config_error(e: KafkaError) -> KafkaError {
    match e {
        KafkaError::ClientConfig(res, desc, key, value)
            if crate::config::secret::is_secret_property(&key) =>
        {
            let redacted = crate::config::secret::REDACTED.to_string();
            let desc = if value.is_empty() {
                desc
            } else {
                desc.replace(&value, &redacted)
            };
            KafkaError::ClientConfig(res, desc, key, redacted)
        }
        e => e,
    }
}

/// Routes librdkafka's own logs and global errors into tracing at levels that match our
/// logging rules: a broker that cannot be reached is expected during an outage (records wait
/// in the outbox), so it is a WARN, not an ERROR.
pub struct QuietContext;

/// librdkafka's own log lines, at our levels. A failed connection (facility `FAIL`) also comes
/// to the context's error callback, which logs it once per cause: its log line is DEBUG.
fn route_log(level: RDKafkaLogLevel, fac: &str, log_message: &str) {
    if fac == "FAIL" {
        debug!(facility = fac, "librdkafka: {log_message}");
        return;
    }
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            warn!(facility = fac, "librdkafka: {log_message}")
        }
        RDKafkaLogLevel::Warning | RDKafkaLogLevel::Notice => {
            info!(facility = fac, "librdkafka: {log_message}")
        }
        _ => debug!(facility = fac, "librdkafka: {log_message}"),
    }
}

impl ClientContext for QuietContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        route_log(level, fac, log_message)
    }

    fn error(&self, error: KafkaError, reason: &str) {
        warn!(error = %error, "Kafka client: {reason}");
    }
}

/// [`QuietContext`]'s logging, and each client error counted by cause in the status and
/// reported to the [`Gate`], which closes on an authentication or TLS failure. The forwarder's
/// producer and the topic check use it. An error of the same cause as the one before is logged
/// at DEBUG: librdkafka reports every failed attempt.
#[derive(Clone)]
pub struct ReportingContext {
    pub gate: Arc<Gate>,
    pub metrics: Arc<Metrics>,
}

/// For the topic check's metadata client, which sends no messages.
impl rdkafka::producer::ProducerContext for ReportingContext {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, _: ()) {}
}

impl ClientContext for ReportingContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        route_log(level, fac, log_message)
    }

    fn error(&self, error: KafkaError, reason: &str) {
        match self.gate.record(&error) {
            Some((cause, new)) => {
                self.metrics.kafka_client_error(cause.name(), reason);
                if new {
                    warn!(cause = cause.name(), error = %error, "Kafka client: {reason}");
                } else {
                    debug!(cause = cause.name(), error = %error, "Kafka client: {reason}");
                }
            }
            None => debug!(error = %error, "Kafka client: {reason}"),
        }
    }
}
