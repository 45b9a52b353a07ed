//! The Kafka forwarder (rdkafka).
//!
//! ## Delivery contract
//! - Producer: idempotent (`enable.idempotence=true`, hence `acks=all` and at most 5 requests
//!   in flight per connection with ordering kept across retries), compression as configured
//!   (zstd by default), and **no message timeout** (`message.timeout.ms=0`): librdkafka retries
//!   a record until the broker takes it, however long the outage. A record therefore never
//!   "times out" out of the gateway; it waits in the outbox (and, bounded by `max_in_flight`,
//!   in librdkafka's queue).
//! - Key: `gateway/asset` (status: `gateway`): one asset's records stay in one partition, in
//!   order.
//! - Headers: `forewarn-gateway`, `forewarn-seq` (decimal), `forewarn-schema`, `content-type`.
//!   `(forewarn-gateway, forewarn-seq)` is unique per record for ever: a consumer that has seen
//!   it can drop the duplicate that at-least-once delivery produces after a crash.
//! - A record is deleted from the outbox after its delivery report says the broker has it. A
//!   failed delivery (a permanent error such as an unknown topic or an oversize message) leaves
//!   the record in the outbox; once the class's other in-flight records settle, the class
//!   rewinds to the failed record and retries with its own backoff (0.2 s doubling to 30 s,
//!   reset by a delivery): a topic that refuses the agent holds back only its class, and
//!   alerts keep flowing while telemetry waits.
//! - A record Kafka will never take (`MSG_SIZE_TOO_LARGE`, an invalid record: [`is_permanent`])
//!   is moved to the dead letters ([`crate::outbox::dead`]) instead of being retried, and the
//!   records behind it go on; for its key it is a gap.
//! - A fatal producer error (librdkafka raises one when the idempotent producer cannot keep
//!   its guarantees) fails every send until the producer is replaced: once nothing is in
//!   flight, the forwarder builds a new producer (logged, and named in the status's
//!   `last_delivery_error`) and sends again from the oldest record not acknowledged.
//!
//! ## Priority and memory
//! Each fill pass reads alerts first, then status, then telemetry, in batches of up to 256,
//! until `max_in_flight` records are outstanding. The backlog is streamed from LMDB by cursor,
//! never loaded whole.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::client::{create_with, producer_config, ReportingContext};
pub use super::delivery::{is_permanent, DeliveryError};
use super::delivery::{permanent, purged, topic_refuses};
use super::gate::Gate;
use super::lanes::{Lanes, Settled};
use crate::codec::encode_payload;
use crate::config::KafkaConfig;
use crate::monitor::progress::Stage;
use crate::monitor::Metrics;
use crate::outbox::{Entry, Outbox};
use crate::record::{now_ns, Class};

pub const HEADER_GATEWAY: &str = "forewarn-gateway";
pub const HEADER_SEQ: &str = "forewarn-seq";
pub const HEADER_SCHEMA: &str = "forewarn-schema";

/// Why [`KafkaForwarder::send`] did not hand a record over.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    QueueFull,
    Failed,
    /// Kafka will never take it (the reason).
    Never(String),
}

type Delivery = Pin<Box<dyn Future<Output = (Class, u64, Result<(), DeliveryError>)> + Send>>;

pub struct KafkaForwarder {
    /// `None` while the [`Gate`] keeps the agent away from the cluster (until `resume_at`).
    producer: Option<FutureProducer<ReportingContext>>,
    context: ReportingContext,
    resume_at: tokio::time::Instant,
    config: KafkaConfig,
    gateway: String,
    outbox: Arc<Outbox>,
    metrics: Arc<Metrics>,
    appended: Arc<Notify>,
}

fn slot(c: Class) -> usize {
    match c {
        Class::Alert => 0,
        Class::Status => 1,
        Class::Telemetry => 2,
    }
}

impl KafkaForwarder {
    pub fn new(
        config: KafkaConfig,
        gateway: String,
        outbox: Arc<Outbox>,
        metrics: Arc<Metrics>,
        appended: Arc<Notify>,
    ) -> Result<KafkaForwarder, KafkaError> {
        let context = ReportingContext {
            gate: Arc::new(Gate::default()),
            metrics: metrics.clone(),
        };
        let producer = create_with(&producer_config(&config, &gateway), context.clone())?;
        Ok(KafkaForwarder {
            producer: Some(producer),
            context,
            resume_at: tokio::time::Instant::now(),
            config,
            gateway,
            outbox,
            metrics,
            appended,
        })
    }

    fn topic(&self, class: Class) -> &str {
        match class {
            Class::Alert => &self.config.alerts_topic,
            Class::Status => &self.config.status_topic,
            Class::Telemetry => &self.config.telemetry_topic,
        }
    }

    /// Hand one entry to librdkafka. `Err(Refused::QueueFull)`: try later; `Failed`: retry
    /// with backoff; `Never`: Kafka will never take it.
    fn send(&self, class: Class, e: &Entry) -> Result<Delivery, Refused> {
        let payload = match encode_payload(&e.record, self.config.encoding) {
            Ok(p) => p,
            Err(err) => {
                self.metrics
                    .delivery_error(format!("encoding seq {}: {err}", e.seq));
                return Err(Refused::Failed);
            }
        };
        let key = e.record.kafka_key();
        let seq = e.seq.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: HEADER_GATEWAY,
                value: Some(self.gateway.as_bytes()),
            })
            .insert(Header {
                key: HEADER_SEQ,
                value: Some(seq.as_bytes()),
            })
            .insert(Header {
                key: HEADER_SCHEMA,
                value: Some(e.record.schema().as_bytes()),
            })
            .insert(Header {
                key: "content-type",
                value: Some(self.config.encoding.content_type().as_bytes()),
            });
        let record = FutureRecord::to(self.topic(class))
            .key(&key)
            .payload(&payload)
            .headers(headers);
        let Some(producer) = &self.producer else {
            return Err(Refused::QueueFull);
        };
        match producer.send_result(record) {
            Ok(fut) => {
                let seq = e.seq;
                Ok(Box::pin(fut.map(move |r| {
                    let r = match r {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err((err, _))) => Err(DeliveryError::Kafka(err)),
                        Err(_) => Err(DeliveryError::ReportLost),
                    };
                    (class, seq, r)
                })))
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                Err(Refused::QueueFull)
            }
            Err((err, _)) => {
                self.metrics
                    .delivery_error(format!("producing seq {}: {err}", e.seq));
                Err(match permanent(&err) {
                    Some(_) => Refused::Never(err.to_string()),
                    None => Refused::Failed,
                })
            }
        }
    }

    /// Forward until `shutdown`; then keep forwarding until the outbox is empty or `drain` has
    /// passed, whichever comes first. What is left stays in the outbox for the next start.
    pub async fn run(mut self, shutdown: CancellationToken, drain: Duration) {
        if self.config.create_topics {
            // An idle producer connects too: while the topic check may be refused (a wrong
            // password), none stands by; the loop makes one when the topics are there.
            if let Some(p) = self.producer.take() {
                let _ = tokio::task::spawn_blocking(move || drop(p)).await;
            }
        }
        if self.config.create_topics
            && !super::topics::ensure_topics_with(
                &self.config,
                &self.gateway,
                &self.context,
                &shutdown,
            )
            .await
        {
            return;
        }
        let max = self.config.max_in_flight;
        let mut in_flight: FuturesUnordered<Delivery> = FuturesUnordered::new();
        let mut lanes = Lanes::default();
        info!(brokers = %self.config.bootstrap_servers, "Kafka forwarder started.");
        let mut drain_until: Option<tokio::time::Instant> = None;
        loop {
            self.metrics.progress.beat(Stage::Forwarder);
            self.gate(in_flight.is_empty()).await;
            if let Some(deadline) = drain_until {
                let empty = self.outbox.counters().classes.iter().all(|c| c.count == 0);
                if (empty && in_flight.is_empty()) || tokio::time::Instant::now() >= deadline {
                    break;
                }
            }
            let now = tokio::time::Instant::now();
            if self.producer.is_some() && !lanes.all_paused(now) {
                'fill: for class in Class::ALL {
                    if !lanes.ready(class, now) {
                        continue;
                    }
                    while in_flight.len() < max {
                        let limit = (max - in_flight.len()).min(256);
                        let entries = match self.read(class, lanes.cursor(class), limit).await {
                            Ok(e) => e,
                            Err(pause) => {
                                if let Some(d) = pause {
                                    lanes.pause_all(tokio::time::Instant::now() + d);
                                }
                                break 'fill;
                            }
                        };
                        if entries.is_empty() {
                            break;
                        }
                        for e in &entries {
                            match self.send(class, e) {
                                Ok(d) => {
                                    in_flight.push(d);
                                    lanes.sent(class, e.seq);
                                }
                                Err(Refused::Never(reason)) => {
                                    self.dead_letter(class, e.seq, reason).await;
                                    lanes.skipped(class, e.seq);
                                }
                                Err(refused) => {
                                    if refused == Refused::Failed {
                                        lanes.refused(class, e.seq);
                                    }
                                    lanes.pause_all(
                                        tokio::time::Instant::now() + Duration::from_millis(50),
                                    );
                                    break 'fill;
                                }
                            }
                        }
                    }
                }
            }
            let mut wait = lanes.wait(tokio::time::Instant::now());
            if self.producer.is_none() {
                wait = wait.min(
                    self.resume_at
                        .saturating_duration_since(tokio::time::Instant::now()),
                );
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled(), if drain_until.is_none() => {
                    drain_until = Some(tokio::time::Instant::now() + drain);
                }
                Some(first) = in_flight.next(), if !in_flight.is_empty() => {
                    let mut done = vec![first];
                    while let Some(Some(d)) = in_flight.next().now_or_never() {
                        done.push(d);
                    }
                    self.settle(done, &mut lanes).await;
                }
                _ = self.appended.notified() => {}
                _ = self.context.gate.closing.notified(), if self.producer.is_some() => {}
                _ = tokio::time::sleep(if drain_until.is_some() { wait.min(Duration::from_millis(50)) } else { wait }) => {}
            }
            // A fatal producer error (the idempotent producer cannot keep its guarantees)
            // fails every send until the producer is replaced: once nothing is in flight
            // (every class then rewinds to its first failed record), build a new one.
            if in_flight.is_empty() {
                self.rebuild_if_fatal();
            }
            // A class whose failed record's peers have all settled rewinds to it and retries.
            for r in lanes.rewind(tokio::time::Instant::now()) {
                debug!(
                    class = r.class.name(),
                    seq = r.seq,
                    delay = ?r.delay,
                    "Retrying after a failed delivery."
                );
            }
        }
        // Past the deadline: what is in flight may still be acknowledged while librdkafka
        // flushes; the rest stays in the outbox.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while !in_flight.is_empty() {
            match tokio::time::timeout_at(deadline, in_flight.next()).await {
                Ok(Some(d)) => {
                    self.settle(vec![d], &mut lanes).await;
                }
                _ => break,
            }
        }
        info!(unacknowledged = in_flight.len(), "Kafka forwarder stopped.");
    }

    /// Replace the producer if librdkafka raised a fatal error on it. A new producer starts a
    /// new idempotence session; records are then sent again from the oldest one not
    /// acknowledged, so nothing is lost and duplicates keep their `(gateway, seq)`.
    fn rebuild_if_fatal(&mut self) {
        let Some((code, reason)) = self
            .producer
            .as_ref()
            .and_then(|p| p.client().fatal_error())
        else {
            return;
        };
        match self.new_producer() {
            Ok(p) => {
                error!(%code, %reason, "Fatal Kafka producer error; replaced the producer.");
                self.metrics.delivery_error(format!(
                    "fatal producer error {code}: {reason}; producer rebuilt"
                ));
                self.producer = Some(p);
            }
            Err(e) => {
                error!(%code, %reason, error = %e, "Fatal Kafka producer error, and a new producer cannot be made; retrying.")
            }
        }
    }

    fn new_producer(&self) -> Result<FutureProducer<ReportingContext>, KafkaError> {
        create_with(
            &producer_config(&self.config, &self.gateway),
            self.context.clone(),
        )
    }

    /// The [`Gate`]: after an authentication or TLS failure, drop the producer (its records in
    /// flight come back as failed and wait in the outbox) and stay away for the gate's pause;
    /// when the pause is over and nothing is in flight, make a new producer, which tries once
    /// more.
    async fn gate(&mut self, nothing_in_flight: bool) {
        let now = tokio::time::Instant::now();
        if self.producer.is_some() {
            let Some(cause) = self.context.gate.closed() else {
                return;
            };
            // Dropping purges what librdkafka holds and waits up to 0.5 s for the reports.
            let p = self.producer.take();
            let _ = tokio::task::spawn_blocking(move || drop(p)).await;
            let first = self.context.gate.pauses() == 0;
            let pause = self.context.gate.pause();
            self.resume_at = now + pause;
            let (_, last) = self.metrics.kafka_client_errors();
            let last = last.as_deref().unwrap_or("");
            if first {
                warn!(cause = cause.name(), ?pause, error = last,
                      "Kafka refuses the agent's connection; records wait in the outbox, trying again after a pause (1 s doubling to 5 min).");
            } else {
                info!(
                    cause = cause.name(),
                    ?pause,
                    error = last,
                    "Kafka refuses the agent's connection again; pausing longer."
                );
            }
        } else if nothing_in_flight && now >= self.resume_at {
            match self.new_producer() {
                Ok(p) => {
                    info!("Connecting to Kafka again.");
                    self.producer = Some(p);
                }
                Err(e) => {
                    self.resume_at = now + self.context.gate.pause();
                    error!(error = %e, "A new Kafka producer cannot be made; retrying.");
                }
            }
        }
    }

    /// Move a record Kafka will never take to the dead letters (on the blocking pool).
    async fn dead_letter(&self, class: Class, seq: u64, reason: String) {
        let outbox = self.outbox.clone();
        let moved =
            tokio::task::spawn_blocking(move || outbox.dead_letter(class, seq, &reason)).await;
        match moved {
            Ok(Ok(_)) => {}
            // It stays in its class and is sent again: a retry, never a loss.
            Ok(Err(e)) => warn!(error = %e, seq, "Moving a record to the dead letters failed."),
            Err(e) => warn!(error = %e, "Dead-letter task failed."),
        }
    }

    /// The producer (tests inject faults into it).
    #[cfg(test)]
    pub(crate) fn producer(&self) -> Option<FutureProducer<ReportingContext>> {
        self.producer.clone()
    }

    /// Up to `limit` records of `class` after `after`, its undecodable entries quarantined (on
    /// the blocking pool). `Err(Some(pause))`: the outbox could not be read, every class waits
    /// that long; `Err(None)`: the task failed, try again at the next turn.
    async fn read(
        &self,
        class: Class,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, Option<Duration>> {
        let outbox = self.outbox.clone();
        let read = tokio::task::spawn_blocking(move || {
            let b = outbox.read_after(class, after, limit)?;
            outbox.quarantine(class, &b.undecodable)?;
            Ok::<_, crate::outbox::OutboxError>(b.entries)
        })
        .await;
        match read {
            Ok(Ok(e)) => Ok(e),
            Ok(Err(e)) => {
                warn!(error = %e, "Reading the outbox failed.");
                Err(Some(Duration::from_secs(1)))
            }
            Err(e) => {
                warn!(error = %e, "Outbox reader task failed.");
                Err(None)
            }
        }
    }

    /// Delete acknowledged records from the outbox, move those Kafka will never take to the
    /// dead letters, and tell `lanes` how each ended.
    async fn settle(&self, done: Vec<(Class, u64, Result<(), DeliveryError>)>, lanes: &mut Lanes) {
        let mut acked: [Vec<u64>; 3] = Default::default();
        for (class, seq, r) in done {
            let how = match r {
                Ok(()) => {
                    acked[slot(class)].push(seq);
                    self.outbox.set_refused(class, false);
                    Settled::Delivered
                }
                Err(DeliveryError::Kafka(e)) if permanent(&e).is_some() => {
                    self.metrics.delivery_error(e.to_string());
                    self.dead_letter(class, seq, e.to_string()).await;
                    Settled::Dead
                }
                Err(e) if purged(&e) => {
                    // The producer was dropped (the gate): sent again with the next one.
                    Settled::Failed
                }
                Err(e) => {
                    if topic_refuses(&e) {
                        self.outbox.set_refused(class, true);
                    }
                    warn!(class = class.name(), seq, error = %e, "Kafka delivery failed; the record stays in the outbox.");
                    self.metrics.delivery_error(e.to_string());
                    Settled::Failed
                }
            };
            lanes.settled(class, seq, how);
        }
        let n: usize = acked.iter().map(Vec::len).sum();
        if n == 0 {
            return;
        }
        let outbox = self.outbox.clone();
        let result = tokio::task::spawn_blocking(move || {
            for class in Class::ALL {
                outbox.ack(class, &acked[slot(class)])?;
            }
            Ok::<_, crate::outbox::OutboxError>(())
        })
        .await;
        self.context.gate.delivered();
        match result {
            Ok(Ok(())) => self.metrics.delivered(n as u64, now_ns()),
            // The records stay and will be sent again: a duplicate, never a loss.
            Ok(Err(e)) => {
                warn!(error = %e, "Deleting acknowledged records from the outbox failed.")
            }
            Err(e) => warn!(error = %e, "Outbox ack task failed."),
        }
    }
}
