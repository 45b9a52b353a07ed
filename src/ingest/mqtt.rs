//! The MQTT source: subscribes (QoS 1, persistent session) to a local broker.
//!
//! One task owns the rumqttc event loop. Acknowledgements are manual: a QoS 1 message is
//! acknowledged only once the pipeline took its samples, so nothing the broker handed over is
//! dropped silently. While the pipeline is full, decoded messages wait unacknowledged in a
//! local queue of at most [`MAX_PENDING`] messages; when that is full the task stops reading the
//! socket and waits for the pipeline, which pushes back on the broker through TCP (the broker
//! queues, within its `max_queued_messages`). That wait is capped at half the keep-alive
//! interval so the session survives: if the pipeline is stalled longer than that (a dead disk,
//! say), the newest message's samples are dropped, acknowledged and counted as `overload`.
//!
//! On a lost connection, messages not yet acknowledged are forgotten: the broker redelivers
//! them on the persistent session (a message whose samples were already taken is then seen
//! twice; one that was not is not lost). Subscriptions are (re)issued on every ConnAck, so a
//! broker that lost our session gets them back. Connection errors back off with jitter, 200 ms
//! up to 30 s.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS, TlsConfiguration, Transport};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::payload::MqttDecoder;
use super::time_guard::TimeGuard;
use super::{AssetIndex, Batch, Reject};
use crate::channel::Sender;
use crate::config::MqttConfig;
use crate::monitor::SourceMetrics;
use crate::record::now_ns;
use crate::util::Backoff;

/// Decoded messages that may wait, unacknowledged, for room in the pipeline.
pub const MAX_PENDING: usize = 256;

/// What acknowledging a message needs: its packet id and QoS, not its payload. (A `Publish`
/// kept whole would pin the chunk of the network read buffer its payload points into.)
fn ack_handle(p: &Publish) -> Publish {
    let mut a = Publish::new("", p.qos, Vec::<u8>::new());
    a.pkid = p.pkid;
    a
}

#[derive(Debug, thiserror::Error)]
pub enum MqttSourceError {
    #[error("cannot read CA file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
}

pub struct MqttSource {
    config: MqttConfig,
    options: MqttOptions,
    decoder: MqttDecoder,
    metrics: Arc<SourceMetrics>,
}

impl MqttSource {
    pub fn new(
        config: MqttConfig,
        index: Arc<AssetIndex>,
        metrics: Arc<SourceMetrics>,
    ) -> Result<MqttSource, MqttSourceError> {
        let mut options = MqttOptions::new(&config.client_id, &config.host, config.port);
        options
            .set_keep_alive(config.keep_alive)
            .set_clean_session(false)
            .set_manual_acks(true)
            .set_max_packet_size(config.max_payload_bytes + 64 * 1024, 64 * 1024);
        if let Some((user, pass)) = &config.credentials {
            options.set_credentials(user, pass);
        }
        if config.tls {
            let tls = match &config.ca_file {
                Some(path) => TlsConfiguration::SimpleNative {
                    ca: std::fs::read(path).map_err(|source| MqttSourceError::CaFile {
                        path: path.display().to_string(),
                        source,
                    })?,
                    client_auth: None,
                },
                None => TlsConfiguration::Native,
            };
            options.set_transport(Transport::tls_with_config(tls));
        }
        let decoder = MqttDecoder {
            index,
            pattern: config.pattern.clone(),
            timestamp: config.timestamp.clone(),
            max_payload_bytes: config.max_payload_bytes,
        };
        Ok(MqttSource {
            config,
            options,
            decoder,
            metrics,
        })
    }

    pub async fn run(self, out: Sender<Batch>, shutdown: CancellationToken) {
        let (client, mut eventloop) = AsyncClient::new(self.options.clone(), MAX_PENDING + 64);
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        let mut ever_connected = false;
        // Decoded, waiting for the pipeline; then waiting for their acknowledgement to be queued.
        let mut pending: VecDeque<(Publish, Batch)> = VecDeque::new();
        let mut to_ack: VecDeque<Publish> = VecDeque::new();
        let mut guard = TimeGuard::new(self.config.timestamp.policy);
        loop {
            while let Some(p) = to_ack.front() {
                if client.try_ack(p).is_err() {
                    break;
                }
                to_ack.pop_front();
            }
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = client.try_disconnect();
                    // Give the event loop a moment to send the acks and DISCONNECT.
                    let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
                    return;
                }
                permit = out.reserve(), if !pending.is_empty() => {
                    let Ok(permit) = permit else { return };
                    if let Some((publish, batch)) = pending.pop_front() {
                        self.metrics.accepted(batch.len() as u64);
                        permit.send(batch);
                        to_ack.push_back(publish);
                    }
                }
                event = eventloop.poll() => match event {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        self.metrics.received(1);
                        let now = now_ns();
                        let mut decoded = self.decoder.decode(&p.topic, &p.payload, now);
                        guard.admit(&mut decoded, now);
                        for r in &decoded.rejects {
                            self.metrics.reject(*r, 1);
                        }
                        let ack = ack_handle(&p);
                        drop(p);
                        if decoded.samples.is_empty() {
                            to_ack.push_back(ack);
                            continue;
                        }
                        pending.push_back((ack, decoded.samples));
                        // Full: stop reading the socket (TCP pushes back on the broker) and feed
                        // the pipeline as it frees up, for at most half a keep-alive.
                        let deadline = tokio::time::Instant::now() + self.config.keep_alive / 2;
                        while pending.len() > MAX_PENDING {
                            let permit = tokio::select! {
                                _ = shutdown.cancelled() => break,
                                r = tokio::time::timeout_at(deadline, out.reserve()) => r,
                            };
                            match permit {
                                Ok(Ok(permit)) => {
                                    if let Some((ack, batch)) = pending.pop_front() {
                                        self.metrics.accepted(batch.len() as u64);
                                        permit.send(batch);
                                        to_ack.push_back(ack);
                                    }
                                }
                                Ok(Err(_)) => return,
                                Err(_) => {
                                    if let Some((ack, batch)) = pending.pop_back() {
                                        warn!(source = %self.config.name, samples = batch.len(), "Pipeline stalled; dropping a message's samples.");
                                        self.metrics.reject(Reject::Overload, batch.len() as u64);
                                        to_ack.push_back(ack);
                                    }
                                }
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        info!(source = %self.config.name, host = %self.config.host, port = self.config.port,
                              session_present = ack.session_present, "MQTT connected.");
                        if ever_connected {
                            self.metrics.reconnected();
                        }
                        ever_connected = true;
                        self.metrics.set_connected(true);
                        backoff.reset();
                        for t in &self.config.topics {
                            if let Err(e) = client.try_subscribe(t.clone(), QoS::AtLeastOnce) {
                                warn!(source = %self.config.name, topic = %t, error = %e, "MQTT subscribe request failed.");
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        debug!(source = %self.config.name, codes = ?ack.return_codes, "MQTT subscribed.");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        // Unacknowledged messages come again on the persistent session; their
                        // packet ids mean nothing on the next connection.
                        pending.clear();
                        to_ack.clear();
                        self.metrics.set_connected(false);
                        let delay = backoff.next_delay();
                        if backoff.attempts() <= 1 {
                            warn!(source = %self.config.name, error = %e, "MQTT connection lost; reconnecting.");
                        } else {
                            debug!(source = %self.config.name, error = %e, ?delay, "MQTT reconnect failed.");
                        }
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                },
            }
        }
    }
}
