//! The MQTT source: subscribes (QoS 1, persistent session) to a local broker.
//!
//! One task owns the rumqttc event loop. Acknowledgements are manual: a QoS 1 message is
//! acknowledged only once its samples are safe in the outbox, committed as records or in the
//! processing checkpoint (ARCHITECTURE.md, "From the broker's acknowledgement to Kafka"). Each
//! message handed to the pipeline carries a [`Receipt`] numbered by this source; the outbox
//! writer commits it to the source's [`Ledger`] with the transaction that makes the samples
//! safe, and the acknowledgements of every message up to that number go out then, in the order
//! the messages came. A message with nothing to keep (every value rejected) is acknowledged in
//! that order too. How many messages wait for their commit is bounded by the pipeline's
//! channels and the broker's in-flight window (Mosquitto's `max_inflight_messages`, 20 by
//! default): each costs a packet id here. While the pipeline is full, decoded messages wait
//! unacknowledged in a local queue of at most [`MAX_PENDING`] messages and [`MAX_PENDING_SAMPLES`] samples (one
//! message larger than that may wait alone); when that is full the task stops reading the
//! socket and waits for the pipeline, which pushes back on the broker through TCP (the broker
//! queues, within its `max_queued_messages`). That wait is capped at half the keep-alive
//! interval so the session survives: if the pipeline is stalled longer than that (a dead disk,
//! say), the newest message's samples are dropped, acknowledged and counted as `overload`.
//!
//! On a lost connection, messages not yet acknowledged are forgotten: the broker redelivers
//! them on the persistent session (a message whose samples were already committed is then
//! seen twice; one that was not is not lost). At shutdown the source stops reading, lets go
//! of the pipeline and waits up to [`SHUTDOWN_ACK_WAIT`] for the commit of what it handed
//! over, so that a clean stop acknowledges everything it kept and the next start gets no
//! duplicates. Subscriptions are (re)issued on every ConnAck, so a
//! broker that lost our session gets them back. Connection errors back off with jitter, 200 ms
//! up to 30 s.
//!
//! # Oversize messages
//!
//! A message whose payload is above `max_payload_bytes` is dropped, acknowledged (so the broker
//! forgets it) and counted as `oversize` (and in `received`), and the messages behind it keep
//! coming. Two paths:
//!
//! - Up to the **read limit** ([`read_limit`]: `max_payload_bytes` + 65,539 bytes of remaining
//!   length, room for the longest topic and a packet id; 1,114,115 with the default 1 MiB),
//!   rumqttc reads the packet whole and the decoder refuses the payload. No reconnect.
//! - Above it, rumqttc 0.25 refuses the packet as soon as it has its fixed header
//!   (`mqttbytes::check` → `PayloadSizeLimitExceeded(len)`) and drops the connection; the broker
//!   would resend the same message on every reconnect (the loop this replaces: 65–88 reconnects
//!   in 10 s, nothing behind it delivered). The source instead opens one short connection of
//!   its own on the same session ([`drain`]) that reads what the broker resends through a
//!   16 KiB buffer without keeping it ([`skim`]), acknowledges each message above the read
//!   limit, counts it, and leaves messages within the limit unacknowledged for the regular
//!   connection, which then resumes at once. Cost: one drain connection and one reconnect
//!   (counted in `reconnects`) per oversize message or run of consecutive ones, the message's
//!   bytes read once more from the broker, and up to [`drain::IDLE`] (1 s) of waiting when
//!   nothing follows it. A QoS 0 message is not resent: the drain finds nothing, and the one
//!   message refused is counted `oversize`. If the drain fails (broker gone, TLS error), the
//!   usual backoff applies and the next refusal drains again: never a tight loop.
//!
//! Why not the alternatives: raising rumqttc's limit (the `EventLoop`'s `mqtt_options`, read at
//! each connect) to the refused message's size would make the memory bound the broker's
//! message size limit (Mosquitto's default: the protocol's 256 MiB); a clean session would
//! drop every message queued behind the oversize one; MQTT 5's Maximum Packet Size has the
//! broker discard the message silently, with nothing to count, and needs the v5 client.
//!
//! **Memory bound** for raw message bytes per MQTT source: a few read limits, whatever the
//! size of the messages. rumqttc's read buffer grows to the packet being read (at most the
//! read limit plus its fixed header), may double its capacity when it grows, and a packet
//! being decoded pins the previous buffer; each packet is dropped once decoded (only its
//! packet id is kept for the acknowledgement). Measured peak RSS over the agent's own before
//! the messages, `max_payload_bytes` = 1 MiB: +3.5 MiB for 5 and +3.7 MiB for 20 messages at
//! the 1,114,115-byte read limit (about 3.4 read limits, not growing with their number), +0.4
//! MiB for three 64 MiB messages. A drain holds 16 KiB. Decoded samples waiting for the
//! pipeline are bounded by [`MAX_PENDING`] messages and [`MAX_PENDING_SAMPLES`] samples.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS, TlsConfiguration, Transport};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::drain::{Outcome, Target};
use self::pending::Pending;
use super::payload::MqttDecoder;
use super::time_guard::TimeGuard;
use super::{AssetIndex, Batch, Reject};
use crate::channel::{Ledger, Receipt, Sender};
use crate::config::MqttConfig;
use crate::monitor::SourceMetrics;
use crate::record::now_ns;
use crate::util::Backoff;

pub mod drain;
pub mod pending;
pub mod skim;
pub mod tls;

/// Samples in the decoded messages that may wait, unacknowledged, for room in the pipeline
/// (about 3 MiB), besides the one message being taken in.
pub const MAX_PENDING_SAMPLES: usize = 65_536;

/// Decoded messages that may wait, unacknowledged, for room in the pipeline.
pub const MAX_PENDING: usize = 256;

/// At shutdown, how long the source waits for the commit of the messages it handed over
/// before it disconnects (what is not acknowledged by then comes again at the next start).
pub const SHUTDOWN_ACK_WAIT: Duration = Duration::from_secs(3);

/// The acknowledgements waiting for their messages' commit, in the order the messages came,
/// each with the receipt number that must be committed first. Plain state: the source's loop
/// moves what [`Held::release`] gives into rumqttc.
#[derive(Debug, Default)]
pub struct Held {
    waiting: VecDeque<(u64, Publish)>,
    /// The number of the last message handed to the pipeline.
    last: u64,
}

impl Held {
    /// A message handed to the pipeline: its receipt number.
    pub fn handed(&mut self, ack: Publish) -> u64 {
        self.last += 1;
        self.waiting.push_back((self.last, ack));
        self.last
    }

    /// A message with nothing to keep: acknowledged after the messages before it.
    pub fn nothing_kept(&mut self, ack: Publish) {
        self.waiting.push_back((self.last, ack));
    }

    /// The acknowledgements whose messages are committed (up to `committed`), in order.
    pub fn release(&mut self, committed: u64, mut ack: impl FnMut(Publish)) {
        while self.waiting.front().is_some_and(|(n, _)| *n <= committed) {
            if let Some((_, p)) = self.waiting.pop_front() {
                ack(p);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// A lost connection: the packet ids mean nothing on the next one.
    pub fn forget(&mut self) {
        self.waiting.clear();
    }
}

/// Remaining length beyond the payload that a PUBLISH may need: topic length, the longest
/// topic, packet id.
pub const PUBLISH_OVERHEAD: usize = 2 + 65_535 + 2;

/// The largest packet (remaining length) the regular connection reads whole; larger ones go
/// through a [`drain`].
pub fn read_limit(max_payload_bytes: usize) -> usize {
    max_payload_bytes.saturating_add(PUBLISH_OVERHEAD)
}

/// The remaining length of the packet rumqttc refused as too large, if that is the error.
fn refused_len(e: &rumqttc::ConnectionError) -> Option<usize> {
    match e {
        rumqttc::ConnectionError::MqttState(rumqttc::StateError::Deserialization(
            rumqttc::Error::PayloadSizeLimitExceeded(len),
        )) => Some(*len),
        _ => None,
    }
}

/// Queues the acknowledgements that are due into rumqttc, in order, as far as its request
/// queue takes them (the rest stay for the next turn).
fn send_acks(client: &AsyncClient, to_ack: &mut VecDeque<Publish>) {
    while let Some(p) = to_ack.front() {
        if client.try_ack(p).is_err() {
            break;
        }
        to_ack.pop_front();
    }
}

/// What acknowledging a message needs: its packet id and QoS, not its payload. (A `Publish`
/// kept whole would pin the chunk of the network read buffer its payload points into.)
fn ack_handle(p: &Publish) -> Publish {
    let mut a = Publish::new("", p.qos, Vec::<u8>::new());
    a.pkid = p.pkid;
    a
}

#[derive(Debug, thiserror::Error)]
pub enum MqttSourceError {
    #[error("{}: {}", .0.field, .0)]
    Tls(#[from] tls::TlsSetupError),
}

pub struct MqttSource {
    config: MqttConfig,
    options: MqttOptions,
    decoder: MqttDecoder,
    metrics: Arc<SourceMetrics>,
    drain: Target,
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
            .set_max_packet_size(read_limit(config.max_payload_bytes), 64 * 1024);
        if let Some((user, pass)) = &config.credentials {
            options.set_credentials(user, pass.expose());
        }
        // One TLS connector (the CA file or the system roots, the client certificate) for
        // rumqttc and for the drain.
        let mut drain_tls = None;
        if config.tls {
            let connector = tls::connector(&config)?;
            options.set_transport(Transport::tls_with_config(
                TlsConfiguration::NativeConnector(connector.clone()),
            ));
            drain_tls = Some(connector.into());
        }
        let drain = Target {
            host: config.host.clone(),
            port: config.port,
            client_id: config.client_id.clone(),
            keep_alive: config.keep_alive,
            credentials: config.credentials.clone(),
            tls: drain_tls,
        };
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
            drain,
        })
    }

    pub async fn run(self, out: Sender<Batch>, shutdown: CancellationToken) {
        let (client, mut eventloop) = AsyncClient::new(self.options.clone(), MAX_PENDING + 64);
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        let mut ever_connected = false;
        // The last connection attempt's failure: a new cause is logged at WARN, a repeat at DEBUG.
        let mut last_failure: Option<tls::ConnectFailure> = None;
        // Decoded, waiting for the pipeline.
        let mut pending = Pending::default();
        let mut to_ack: VecDeque<Publish> = VecDeque::new();
        // Handed to the pipeline, acknowledged once committed.
        let mut held = Held::default();
        let ledger = Arc::new(Ledger::default());
        let receipt = |n| {
            Some(Receipt {
                ledger: ledger.clone(),
                n,
            })
        };
        let mut guard = TimeGuard::new(self.config.timestamp.policy);
        loop {
            held.release(ledger.committed(), |p| to_ack.push_back(p));
            send_acks(&client, &mut to_ack);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ledger.changed(), if !held.is_empty() => {}
                permit = out.reserve(), if !pending.is_empty() => {
                    let Ok(permit) = permit else { return };
                    if let Some((n, mut batch)) = pending.next(&mut held) {
                        self.metrics.accepted(batch.samples.len() as u64);
                        batch.receipt = receipt(n);
                        permit.send(batch);
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
                        pending.push(ack, decoded.samples.into(), &mut held);
                        // Full: stop reading the socket (TCP pushes back on the broker) and feed
                        // the pipeline as it frees up, for at most half a keep-alive.
                        let deadline = tokio::time::Instant::now() + self.config.keep_alive / 2;
                        while pending.full() {
                            let permit = tokio::select! {
                                _ = shutdown.cancelled() => break,
                                r = tokio::time::timeout_at(deadline, out.reserve()) => r,
                            };
                            match permit {
                                Ok(Ok(permit)) => {
                                    if let Some((n, mut batch)) = pending.next(&mut held) {
                                        self.metrics.accepted(batch.samples.len() as u64);
                                        batch.receipt = receipt(n);
                                        permit.send(batch);
                                    }
                                }
                                Ok(Err(_)) => return,
                                Err(_) => {
                                    if let Some(n) = pending.drop_newest(&mut held) {
                                        warn!(source = %self.config.name, samples = n, "Pipeline stalled; dropping a message's samples.");
                                        self.metrics.reject(Reject::Overload, n as u64);
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
                        last_failure = None;
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
                        // packet ids mean nothing on the next connection. (rumqttc keeps the
                        // events it parsed before the error: stale too.)
                        pending.clear();
                        to_ack.clear();
                        held.forget();
                        eventloop.state.events.clear();
                        let was_connected = self.metrics.connected();
                        self.metrics.set_connected(false);
                        if let Some(len) = refused_len(&e) {
                            if self.take_oversize(len, &shutdown).await {
                                continue;
                            }
                        }
                        let delay = backoff.next_delay();
                        let failure = (!was_connected).then(|| tls::ConnectFailure::of(&e));
                        if let Some(f) = failure {
                            self.metrics.connect_failed(f.name(), e.to_string());
                        }
                        if was_connected {
                            warn!(source = %self.config.name, error = %e, "MQTT connection lost; reconnecting.");
                        } else if failure != last_failure {
                            warn!(source = %self.config.name, host = %self.config.host, port = self.config.port,
                                  reason = failure.map_or("", |f| f.name()), error = %e, ?delay,
                                  "MQTT connection failed; retrying with backoff.");
                        } else {
                            debug!(source = %self.config.name, error = %e, ?delay, "MQTT reconnect failed.");
                        }
                        last_failure = failure;
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                },
            }
        }
        drop(out);
        self.finish(&client, &mut eventloop, held, to_ack, &ledger)
            .await;
    }

    /// Shutdown: the pipeline is let go; wait up to [`SHUTDOWN_ACK_WAIT`] for the commit of
    /// what was handed to it, acknowledge it, and disconnect. Messages arriving meanwhile are
    /// not taken (they come again at the next start).
    async fn finish(
        &self,
        client: &AsyncClient,
        eventloop: &mut rumqttc::EventLoop,
        mut held: Held,
        mut to_ack: VecDeque<Publish>,
        ledger: &Ledger,
    ) {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_ACK_WAIT;
        loop {
            held.release(ledger.committed(), |p| to_ack.push_back(p));
            send_acks(client, &mut to_ack);
            if held.is_empty() && to_ack.is_empty() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    warn!(source = %self.config.name, messages = held.len(),
                          "Shutdown: messages not committed in time stay unacknowledged; the broker sends them again.");
                    break;
                }
                _ = ledger.changed() => {}
                event = eventloop.poll() => if event.is_err() {
                    // The connection is gone: the broker sends the rest again.
                    return;
                },
            }
        }
        let _ = client.try_disconnect();
        // Give the event loop a moment to send the acks and DISCONNECT.
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            loop {
                if eventloop.poll().await.is_err() {
                    break;
                }
            }
        })
        .await;
    }

    /// After rumqttc refused a packet of `len` bytes: drain it on a connection of our own and
    /// count it. True if the regular connection may reconnect at once (the message is gone).
    async fn take_oversize(&self, len: usize, shutdown: &CancellationToken) -> bool {
        let limit = read_limit(self.config.max_payload_bytes);
        warn!(source = %self.config.name, bytes = len, limit,
              "MQTT message above the read limit; taking it on a separate connection to drop it.");
        match drain::drain(&self.drain, limit, shutdown).await {
            Ok(Outcome {
                taken,
                left_for_later,
            }) => {
                // Nothing resent: a QoS 0 message, lost with the connection; still one refused.
                let counted = taken.max(1);
                self.metrics.received(counted);
                self.metrics.reject(Reject::Oversize, counted);
                info!(source = %self.config.name, taken, left_for_later,
                      "Oversize MQTT messages acknowledged and dropped.");
                taken > 0
            }
            Err(e) => {
                warn!(source = %self.config.name, error = %e, "Draining the oversize MQTT message failed.");
                false
            }
        }
    }
}
