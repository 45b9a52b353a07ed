//! The three topics, when `create_topics = true`: look first, create only what is missing.
//!
//! A principal that may write to the topics but not create them (a common ACL) must not keep
//! the forwarder from starting when the topics exist, so the forwarder asks the cluster's
//! metadata for them before it sends any CreateTopics request. A topic that is missing and
//! cannot be created is named in an error and looked for again with backoff: the records wait
//! in the outbox until an operator creates it (or grants the right).

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::client::ReportingContext;
use crate::config::KafkaConfig;
use crate::monitor::progress::Stage;
use crate::util::Backoff;

/// How long one metadata or admin request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the topics are not all there yet.
#[derive(Debug, thiserror::Error)]
pub enum TopicsError {
    #[error("cannot read the cluster's topics: {0}")]
    Metadata(KafkaError),
    #[error("cannot ask the cluster to create topics: {0}")]
    Admin(KafkaError),
    #[error("the cluster refused to create {topic}: {code}{hint}")]
    Refused {
        topic: String,
        code: RDKafkaErrorCode,
        hint: &'static str,
    },
    #[error("the metadata task ended: {0}")]
    Task(String),
    #[error("the cluster refuses the connection ({cause} failure)")]
    Refusing { cause: &'static str },
}

/// The configured topics that `existing` lacks, in configuration order.
pub fn missing<'a>(wanted: &[&'a str], existing: &BTreeSet<String>) -> Vec<&'a str> {
    let mut seen = BTreeSet::new();
    wanted
        .iter()
        .copied()
        .filter(|t| !existing.contains(*t) && seen.insert(*t))
        .collect()
}

/// What a refused creation means to an operator.
fn hint(code: RDKafkaErrorCode) -> &'static str {
    match code {
        RDKafkaErrorCode::TopicAuthorizationFailed
        | RDKafkaErrorCode::ClusterAuthorizationFailed => {
            " (the agent's principal may not create topics: create it, or grant CREATE)"
        }
        RDKafkaErrorCode::InvalidReplicationFactor => " (check topic_replication)",
        RDKafkaErrorCode::InvalidPartitions => " (check topic_partitions)",
        _ => "",
    }
}

/// Create the topics that do not exist. Retries until they all exist or shutdown; `false`
/// on shutdown.
pub async fn ensure_topics(cfg: &KafkaConfig, gateway: &str, shutdown: &CancellationToken) -> bool {
    let context = ReportingContext {
        gate: Default::default(),
        metrics: std::sync::Arc::new(crate::monitor::Metrics::new(&[])),
    };
    ensure_topics_with(cfg, gateway, &context, shutdown).await
}

/// [`ensure_topics`] with the forwarder's clients' context: an authentication or TLS failure
/// ends the attempt at once and the next waits for the gate's pause (up to 5 min), so a wrong
/// password does not become a stream of logins.
pub async fn ensure_topics_with(
    cfg: &KafkaConfig,
    gateway: &str,
    context: &ReportingContext,
    shutdown: &CancellationToken,
) -> bool {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        let result = tokio::select! {
            _ = shutdown.cancelled() => return false,
            r = try_ensure(cfg, gateway, context) => r,
        };
        context.metrics.progress.beat(Stage::Forwarder);
        let delay = match result {
            Ok(()) => return true,
            Err(e @ TopicsError::Refused { .. }) => {
                error!(error = %e, "A Kafka topic is missing and the agent cannot create it; its records wait in the outbox.");
                backoff.next_delay()
            }
            Err(e) => {
                let delay = if context.gate.closed().is_some() {
                    context.gate.pause()
                } else {
                    backoff.next_delay()
                };
                let (_, last) = context.metrics.kafka_client_errors();
                warn!(error = %e, ?delay, last_client_error = last.as_deref().unwrap_or(""),
                      "Cannot check the Kafka topics yet; retrying.");
                delay
            }
        };
        // Waiting is not a stall: beat every second (the watchdog judges the forwarder).
        let until = tokio::time::Instant::now() + delay;
        while tokio::time::Instant::now() < until {
            let step = until
                .saturating_duration_since(tokio::time::Instant::now())
                .min(Duration::from_secs(1));
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(step) => {}
            }
            context.metrics.progress.beat(Stage::Forwarder);
        }
    }
}

fn client_config(cfg: &KafkaConfig, gateway: &str) -> rdkafka::ClientConfig {
    let mut c = rdkafka::ClientConfig::new();
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    c.set("bootstrap.servers", &cfg.bootstrap_servers).set(
        "client.id",
        format!("{}-admin", super::client::client_id(cfg, gateway)),
    );
    c
}

/// The names of the topics the cluster shows this principal. Asked in short requests, with
/// the client's callbacks served between them, so that a closed gate (authentication, TLS)
/// ends the attempt within one of them.
async fn existing_topics(
    c: rdkafka::ClientConfig,
    context: ReportingContext,
) -> Result<BTreeSet<String>, TopicsError> {
    const STEP: Duration = Duration::from_millis(50);
    tokio::task::spawn_blocking(move || {
        let gate = context.gate.clone();
        let metrics = context.metrics.clone();
        let producer: BaseProducer<ReportingContext> =
            super::client::create_with(&c, context).map_err(TopicsError::Metadata)?;
        let end = std::time::Instant::now() + REQUEST_TIMEOUT;
        // All topics: asking for one by name may make a broker auto-create it.
        let md = loop {
            match producer.client().fetch_metadata(None, STEP) {
                Ok(md) => break md,
                Err(e) => {
                    metrics.progress.beat(Stage::Forwarder);
                    producer.poll(Duration::ZERO);
                    if let Some(cause) = gate.closed() {
                        return Err(TopicsError::Refusing {
                            cause: cause.name(),
                        });
                    }
                    if std::time::Instant::now() >= end {
                        return Err(TopicsError::Metadata(e));
                    }
                }
            }
        };
        Ok(md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| t.name().to_string())
            .collect())
    })
    .await
    .map_err(|e| TopicsError::Task(e.to_string()))?
}

async fn try_ensure(
    cfg: &KafkaConfig,
    gateway: &str,
    context: &ReportingContext,
) -> Result<(), TopicsError> {
    let c = client_config(cfg, gateway);
    let wanted = [
        cfg.alerts_topic.as_str(),
        cfg.telemetry_topic.as_str(),
        cfg.status_topic.as_str(),
    ];
    let existing = existing_topics(c.clone(), context.clone()).await?;
    let missing = missing(&wanted, &existing);
    if missing.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<ReportingContext> =
        super::client::create_with(&c, context.clone()).map_err(TopicsError::Admin)?;
    let topics: Vec<NewTopic> = missing
        .iter()
        .map(|t| {
            NewTopic::new(
                t,
                cfg.topic_partitions,
                TopicReplication::Fixed(cfg.topic_replication),
            )
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
    let results = admin
        .create_topics(&topics, &opts)
        .await
        .map_err(TopicsError::Admin)?;
    let mut refused = None;
    for r in results {
        match r {
            Ok(name) => info!(topic = %name, "Created Kafka topic."),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                warn!(topic = %topic, %code, "Topic creation failed.");
                refused.get_or_insert(TopicsError::Refused {
                    topic,
                    code,
                    hint: hint(code),
                });
            }
        }
    }
    refused.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::mocking::MockCluster;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

    #[test]
    fn missing_keeps_order_and_names_each_once() {
        let existing: BTreeSet<String> = ["b".to_string(), "x".to_string()].into();
        assert_eq!(missing(&["a", "b", "c", "a"], &existing), vec!["a", "c"]);
        assert!(missing(&["b", "x"], &existing).is_empty());
    }

    fn config(bootstrap: &str) -> KafkaConfig {
        KafkaConfig {
            create_topics: true,
            ..crate::forward::tests::config(bootstrap)
        }
    }

    /// A principal without CREATE: every CreateTopics request the mock cluster gets is refused.
    fn refuse_creation<C: rdkafka::ClientContext>(mock: &MockCluster<'_, C>) {
        mock.request_errors(
            RDKafkaApiKey::CreateTopics,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED; 64],
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn existing_topics_are_not_created_again_so_a_principal_without_create_starts() {
        let mock = MockCluster::new(1).expect("mock cluster");
        let cfg = config(&mock.bootstrap_servers());
        for t in [&cfg.alerts_topic, &cfg.telemetry_topic, &cfg.status_topic] {
            mock.create_topic(t, 1, 1).expect("create in mock");
        }
        refuse_creation(&mock);
        let shutdown = CancellationToken::new();
        let ok = tokio::time::timeout(
            Duration::from_secs(20),
            ensure_topics(&cfg, "gw", &shutdown),
        )
        .await;
        assert_eq!(ok.ok(), Some(true), "returned at once: the topics exist");
    }

    /// librdkafka's mock cluster does not answer CreateTopics (an admin request to it times
    /// out), so a missing topic there is one the agent cannot create: it keeps trying, and
    /// shutdown still ends the wait at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_topic_keeps_the_wait_going_and_shutdown_ends_it_at_once() {
        let mock = MockCluster::new(1).expect("mock cluster");
        let cfg = config(&mock.bootstrap_servers());
        mock.create_topic(&cfg.alerts_topic, 1, 1)
            .expect("create in mock");
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            stop.cancel();
        });
        let started = std::time::Instant::now();
        let ok = tokio::time::timeout(
            Duration::from_secs(20),
            ensure_topics(&cfg, "gw", &shutdown),
        )
        .await;
        assert_eq!(ok.ok(), Some(false), "not ready, then shut down");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(3) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }

    #[test]
    fn a_refusal_tells_the_operator_what_to_do() {
        let e = TopicsError::Refused {
            topic: "forewarn.alerts".into(),
            code: RDKafkaErrorCode::TopicAuthorizationFailed,
            hint: hint(RDKafkaErrorCode::TopicAuthorizationFailed),
        };
        let text = e.to_string();
        assert!(text.contains("forewarn.alerts"), "{text}");
        assert!(text.contains("may not create topics"), "{text}");
        assert_eq!(
            hint(RDKafkaErrorCode::InvalidReplicationFactor),
            " (check topic_replication)"
        );
        assert_eq!(hint(RDKafkaErrorCode::RequestTimedOut), "");
    }
}
