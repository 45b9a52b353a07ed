//! The MQTT source: subscribes (QoS 1, persistent session) to a local broker.
//!
//! One task owns the rumqttc event loop and does nothing that can wait on downstream: each
//! publish is decoded ([`MqttDecoder`]) and handed on with `try_send`. If the pipeline is full
//! the samples are dropped and counted as `overload` rather than stalling the poll loop (which
//! would miss keep-alives and get the session dropped by the broker). Subscriptions are
//! (re)issued on every ConnAck, so a broker that lost our session gets them back. Connection
//! errors back off with jitter, 200 ms up to 30 s.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::payload::MqttDecoder;
use super::{AssetIndex, Batch, Reject};
use crate::config::MqttConfig;
use crate::monitor::SourceMetrics;
use crate::record::now_ns;
use crate::util::Backoff;

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

    pub async fn run(self, out: mpsc::Sender<Batch>, shutdown: CancellationToken) {
        let (client, mut eventloop) = AsyncClient::new(self.options.clone(), 64);
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        let mut ever_connected = false;
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = client.try_disconnect();
                    // Give the event loop a moment to send DISCONNECT (clean goodbye, session kept).
                    let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
                    return;
                }
                ev = eventloop.poll() => ev,
            };
            match event {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    self.metrics.received(1);
                    let decoded = self.decoder.decode(&p.topic, &p.payload, now_ns());
                    for r in &decoded.rejects {
                        self.metrics.reject(*r, 1);
                    }
                    if decoded.samples.is_empty() {
                        continue;
                    }
                    let n = decoded.samples.len() as u64;
                    match out.try_send(decoded.samples) {
                        Ok(()) => self.metrics.accepted(n),
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            self.metrics.reject(Reject::Overload, n)
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
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
            }
        }
    }
}
