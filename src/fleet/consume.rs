//! Reads the status, alert and telemetry topics into the [`Fleet`], on a thread of its own.
//!
//! No consumer group is joined and nothing is committed: every page server reads every
//! partition, starting `history` records back from the end (the page has something to show at
//! once), then follows new records. A topic that does not exist yet is looked for again every
//! 2 s, and partitions added later are picked up within [`METADATA_EVERY`]. Records read from
//! before the start's end offsets are "backlog", timed by their own clock; later ones are
//! "live", timed on arrival ([`Fleet::status`]).
//!
//! Each record is decoded by its `content-type` header (`application/cbor`, else JSON) as the
//! record its `forewarn-schema` header names; a record that fails is counted with the reason
//! (`undecodable`, `unknown_schema`, `wrong_topic`) and the topic, partition and offset.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use super::lock;
use super::state::Fleet;
use crate::record::{now_ns, Alert, Status, Telemetry, ALERT_SCHEMA, STATUS_SCHEMA};
use crate::record::{BASELINE_SCHEMA, TELEMETRY_SCHEMA};

/// Partitions are looked for again this often (topics not found yet: every 2 s).
pub const METADATA_EVERY: Duration = Duration::from_secs(30);

/// Where and what to read.
#[derive(Debug, Clone)]
pub struct Source {
    pub bootstrap_servers: String,
    /// librdkafka properties (TLS, SASL, ...).
    pub properties: Vec<(String, String)>,
    pub status_topic: String,
    pub alerts_topic: String,
    pub telemetry_topic: String,
    /// Records read back from the end of each partition at start.
    pub history: i64,
}

impl Source {
    /// The status, alerts and telemetry topics.
    pub fn topics(&self) -> [&str; 3] {
        [
            self.status_topic.as_str(),
            self.alerts_topic.as_str(),
            self.telemetry_topic.as_str(),
        ]
    }
}

/// What the consumer tells the page about itself.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ConsumerState {
    /// `topic` → partitions read.
    pub partitions: std::collections::BTreeMap<String, usize>,
    /// Topics not found (yet).
    pub missing: Vec<String>,
    pub errors: u64,
    pub last_error: Option<String>,
}

/// Reads topics from `history` records before their end, then follows them.
pub struct Reader {
    consumer: BaseConsumer,
    topics: Vec<String>,
    history: i64,
    /// (topic, partition) → the end offset when it was first assigned.
    start_end: HashMap<(String, i32), i64>,
    /// Partitions not yet read up to that offset.
    behind: HashSet<(String, i32)>,
    next_look: Instant,
    state: ConsumerState,
    /// `state` changed since [`Reader::take_state`].
    changed: bool,
}

impl Reader {
    pub fn new(
        bootstrap_servers: &str,
        properties: &[(String, String)],
        topics: &[&str],
        history: i64,
    ) -> anyhow::Result<Reader> {
        let mut config = ClientConfig::new();
        for (k, v) in properties {
            config.set(k, v);
        }
        config
            .set("bootstrap.servers", bootstrap_servers)
            .set("group.id", "forewarn-fleet")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        Ok(Reader {
            consumer: crate::forward::client::create_with(&config, DefaultConsumerContext)?,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            history: history.max(0),
            start_end: HashMap::new(),
            behind: HashSet::new(),
            next_look: Instant::now(),
            state: ConsumerState::default(),
            changed: true,
        })
    }

    /// Every topic found and every partition read up to where it ended when it was found.
    pub fn caught_up(&self) -> bool {
        self.state.missing.is_empty() && !self.start_end.is_empty() && self.behind.is_empty()
    }

    /// The consumer's state, if it changed since the last call.
    pub fn take_state(&mut self) -> Option<ConsumerState> {
        std::mem::take(&mut self.changed).then(|| self.state.clone())
    }

    /// Wait up to 200 ms for a record; give it to `f` with whether it is live (written after
    /// its partition was found).
    pub fn poll(&mut self, f: impl FnOnce(&BorrowedMessage<'_>, bool)) {
        if Instant::now() >= self.next_look {
            self.look_for_partitions();
        }
        match self.consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => {
                let key = (m.topic().to_string(), m.partition());
                let end = self.start_end.get(&key).copied();
                if end.is_some_and(|end| m.offset() + 1 >= end) && self.behind.remove(&key) {
                    self.changed = true;
                }
                f(&m, end.is_none_or(|end| m.offset() >= end));
            }
            Some(Err(e)) => {
                let s = &mut self.state;
                s.errors += 1;
                if s.errors == 1 || s.errors.is_power_of_two() {
                    warn!(error = %e, errors = s.errors, "Fleet: Kafka consumer error.");
                }
                s.last_error = Some(e.to_string());
                self.changed = true;
            }
        }
    }

    /// Assign the partitions not assigned yet (from `history` back from their end); note the
    /// topics not found.
    fn look_for_partitions(&mut self) {
        let mut missing = Vec::new();
        let mut added = Vec::new();
        for topic in &self.topics {
            let partitions = self
                .consumer
                .fetch_metadata(Some(topic), Duration::from_secs(2))
                .ok()
                .and_then(|md| {
                    md.topics()
                        .first()
                        .filter(|t| t.error().is_none())
                        .map(|t| t.partitions().len())
                })
                .unwrap_or(0);
            if partitions == 0 {
                missing.push(topic.clone());
                continue;
            }
            for p in 0..partitions as i32 {
                let key = (topic.clone(), p);
                if self.start_end.contains_key(&key) {
                    continue;
                }
                let Ok((low, high)) =
                    self.consumer
                        .fetch_watermarks(topic, p, Duration::from_secs(2))
                else {
                    continue; // looked for again next time
                };
                let from = (high - self.history).max(low);
                if from < high {
                    self.behind.insert(key.clone());
                }
                self.start_end.insert(key, high);
                added.push((topic.clone(), p, from));
            }
        }
        if !added.is_empty() {
            self.assign(added);
        }
        self.next_look = Instant::now()
            + if missing.is_empty() {
                METADATA_EVERY
            } else {
                Duration::from_secs(2)
            };
        self.state.missing = missing;
        self.state.partitions.clear();
        for (t, _) in self.start_end.keys() {
            *self.state.partitions.entry(t.clone()).or_default() += 1;
        }
        self.changed = true;
    }

    /// `assign` replaces the assignment: the partitions already read go on from where they are.
    fn assign(&mut self, added: Vec<(String, i32, i64)>) {
        let mut tpl = TopicPartitionList::new();
        let positions = self.consumer.position().unwrap_or_default();
        for (topic, p) in self.start_end.keys() {
            let from = match added.iter().find(|(t, q, _)| t == topic && q == p) {
                Some((_, _, offset)) => Offset::Offset(*offset),
                None => positions
                    .find_partition(topic, *p)
                    .map(|e| e.offset())
                    .filter(|o| matches!(o, Offset::Offset(_)))
                    .unwrap_or(Offset::Beginning),
            };
            if let Err(e) = tpl.add_partition_offset(topic, *p, from) {
                warn!(error = %e, topic, partition = p, "Fleet: partition not added.");
            }
        }
        match self.consumer.assign(&tpl) {
            Ok(()) => info!(
                partitions = tpl.count(),
                added = added.len(),
                "Fleet: reading the topics."
            ),
            Err(e) => {
                warn!(error = %e, "Fleet: assigning the partitions failed; trying again.");
                for (t, p, _) in added {
                    let key = (t, p);
                    self.start_end.remove(&key);
                    self.behind.remove(&key);
                }
            }
        }
    }
}

/// Read into `fleet` until `stop` is set.
pub fn run(
    source: Source,
    fleet: Arc<Mutex<Fleet>>,
    state: Arc<Mutex<ConsumerState>>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut reader = Reader::new(
        &source.bootstrap_servers,
        &source.properties,
        &source.topics(),
        source.history,
    )?;
    while !stop.load(Ordering::Relaxed) {
        reader.poll(|m, live| ingest(m, &source, live, &mut lock(&fleet)));
        if let Some(s) = reader.take_state() {
            *lock(&state) = s;
        }
    }
    Ok(())
}

/// A header's value, as text.
pub(super) fn header<'a>(m: &'a BorrowedMessage<'_>, name: &str) -> Option<&'a str> {
    let headers = m.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| std::str::from_utf8(h.value?).ok())
}

/// Decode one record and give it to the fleet (or count why not).
pub fn ingest(m: &BorrowedMessage<'_>, source: &Source, live: bool, fleet: &mut Fleet) {
    let at = format!("{}[{}]@{}", m.topic(), m.partition(), m.offset());
    let payload = m.payload().unwrap_or_default();
    let cbor = header(m, "content-type") == Some("application/cbor");
    let schema = header(m, "forewarn-schema").unwrap_or_default();
    let now = now_ns();
    let expected_topic = match schema {
        STATUS_SCHEMA | BASELINE_SCHEMA => &source.status_topic,
        ALERT_SCHEMA => &source.alerts_topic,
        TELEMETRY_SCHEMA => &source.telemetry_topic,
        other => {
            let other: String = other.chars().take(64).collect();
            return fleet.reject("unknown_schema", format!("{at}: schema {other:?}"));
        }
    };
    if m.topic() != expected_topic {
        return fleet.reject("wrong_topic", format!("{at}: a {schema} record"));
    }
    let result = match schema {
        STATUS_SCHEMA => decode::<Status>(payload, cbor).map(|s| fleet.status(&s, live, now)),
        ALERT_SCHEMA => decode::<Alert>(payload, cbor).map(|a| fleet.alert(&a, now)),
        TELEMETRY_SCHEMA => decode::<Telemetry>(payload, cbor).map(|t| fleet.telemetry(&t, now)),
        _ => Ok(()), // baselines: not on the page
    };
    if let Err(e) = result {
        fleet.reject("undecodable", format!("{at}: {e}"));
    }
}

fn decode<T: DeserializeOwned>(payload: &[u8], cbor: bool) -> Result<T, String> {
    if cbor {
        crate::codec::from_cbor(payload).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(payload).map_err(|e| e.to_string())
    }
}
