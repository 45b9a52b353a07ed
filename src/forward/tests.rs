//! The forwarder against librdkafka's mock cluster: faults a real broker cannot produce on
//! demand.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::Producer;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::KafkaForwarder;
use crate::config::{Durability, KafkaConfig};
use crate::monitor::Metrics;
use crate::outbox::tests::{alert_record as alert, telemetry_record as telemetry};
use crate::outbox::Outbox;
use crate::record::Record;

/// The topics and settings the forwarder tests use (also the topic tests).
pub(super) fn config(bootstrap: &str) -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: bootstrap.into(),
        alerts_topic: "forewarn.alerts".into(),
        telemetry_topic: "forewarn.telemetry".into(),
        status_topic: "forewarn.status".into(),
        encoding: crate::codec::Encoding::Json,
        compression: "none".into(),
        create_topics: false,
        topic_partitions: 1,
        topic_replication: 1,
        max_in_flight: 100,
        properties: Default::default(),
    }
}

/// A mock cluster holding the three topics, and a configuration pointing at it.
fn mock_cluster() -> (
    MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    KafkaConfig,
) {
    let mock = MockCluster::new(1).expect("mock cluster");
    let cfg = config(&mock.bootstrap_servers());
    for t in [&cfg.alerts_topic, &cfg.telemetry_topic, &cfg.status_topic] {
        mock.create_topic(t, 1, 1).expect("create in mock");
    }
    (mock, cfg)
}

/// A forwarder running on a fresh outbox.
struct Running {
    outbox: Arc<Outbox>,
    metrics: Arc<Metrics>,
    appended: Arc<Notify>,
    /// The forwarder's first producer (tests inject faults into it).
    producer: rdkafka::producer::FutureProducer<super::client::ReportingContext>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Running {
    fn start(cfg: &KafkaConfig) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Arc::new(Outbox::open(dir.path(), 16 << 20, Durability::Full).unwrap());
        let metrics = Arc::new(Metrics::new(&[]));
        let appended = Arc::new(Notify::new());
        let f = KafkaForwarder::new(
            cfg.clone(),
            "gw".into(),
            outbox.clone(),
            metrics.clone(),
            appended.clone(),
        )
        .expect("forwarder");
        let producer = f.producer().expect("a producer at start");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(f.run(shutdown.clone(), Duration::from_secs(5)));
        Running {
            outbox,
            metrics,
            appended,
            producer,
            shutdown,
            task,
            _dir: dir,
        }
    }

    fn append(&self, records: &[Record]) -> Vec<u64> {
        let seqs = self.outbox.append(records).unwrap();
        self.appended.notify_one();
        seqs
    }

    async fn stop(self) -> Arc<Outbox> {
        self.shutdown.cancel();
        self.task.await.unwrap();
        self.outbox
    }
}

async fn wait_empty(outbox: &Outbox, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if outbox.counters().classes.iter().all(|c| c.count == 0) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The `forewarn-seq` headers of every message in `topic` (one partition).
fn seqs_in(bootstrap: &str, topic: &str, want: usize) -> Vec<u64> {
    use rdkafka::message::Headers;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "forward-tests")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    let mut seqs = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    while seqs.len() < want && Instant::now() < end {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let seq = m.headers().and_then(|h| {
                h.iter()
                    .find(|h| h.key == super::HEADER_SEQ)
                    .and_then(|h| std::str::from_utf8(h.value?).ok()?.parse().ok())
            });
            seqs.push(seq.expect("forewarn-seq header"));
        }
    }
    seqs
}

/// A fatal error on the idempotent producer (librdkafka raises one when it cannot keep its
/// guarantees, e.g. an out-of-order sequence the broker reports) fails every later send
/// until the producer is replaced. The forwarder replaces it and delivers the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_producer_error_rebuilds_the_producer_and_nothing_is_lost() {
    let (_mock, cfg) = mock_cluster();
    let bootstrap = cfg.bootstrap_servers.clone();
    let run = Running::start(&cfg);
    let (outbox, metrics) = (run.outbox.clone(), run.metrics.clone());

    let batch: Vec<Record> = (0..50).map(telemetry).collect();
    run.append(&batch);
    assert!(
        wait_empty(&outbox, Duration::from_secs(30)).await,
        "first 50 not delivered"
    );

    let reason = c"injected by the test";
    // SAFETY: the pointer is the live producer's handle (kept alive by the clone), and the
    // reason a NUL-terminated string that outlives the call.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_test_fatal_error(
            run.producer.client().native_ptr(),
            rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
            reason.as_ptr(),
        )
    };
    assert_eq!(
        err,
        rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR
    );
    assert!(run.producer.client().fatal_error().is_some());

    let batch: Vec<Record> = (50..100).map(telemetry).collect();
    run.append(&batch);
    assert!(
        wait_empty(&outbox, Duration::from_secs(60)).await,
        "the records after the fatal error were not delivered: {:?}",
        metrics.last_error()
    );
    assert!(
        metrics
            .last_error()
            .is_some_and(|e| e.contains("producer rebuilt")),
        "{:?}",
        metrics.last_error()
    );
    run.stop().await;

    let mut seqs = seqs_in(&bootstrap, &cfg.telemetry_topic, 100);
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 100, "every record in Kafka once at least");
}

/// A topic that refuses the agent (authorization failed) holds back only its own class:
/// alerts keep flowing at once while telemetry backs off, and telemetry follows, in order,
/// once the topic takes records again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_topic_pauses_only_its_class() {
    use rdkafka::types::RDKafkaRespErr;
    let (mock, cfg) = mock_cluster();
    let bootstrap = cfg.bootstrap_servers.clone();
    mock.topic_error(
        &cfg.telemetry_topic,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
    )
    .expect("topic error");
    let run = Running::start(&cfg);
    let (outbox, metrics) = (run.outbox.clone(), run.metrics.clone());

    run.append(&(0..20).map(telemetry).collect::<Vec<_>>());
    // Let the telemetry class fail and back off several times (0.2, 0.4, ... 3.2 s).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let errors = metrics.delivery_error_count();
    assert!(errors >= 3, "telemetry was refused repeatedly: {errors}");
    let telemetry_left = |o: &Outbox| o.counters().class(crate::record::Class::Telemetry).count;
    assert_eq!(telemetry_left(&outbox), 20);
    // Named as refused (status `outbox_refused`), so the budget evicts it first.
    assert_eq!(outbox.refused_classes(), [crate::record::Class::Telemetry]);

    // Alerts go through at once, whatever the telemetry class's backoff.
    for k in 0..5 {
        run.append(&[alert(k)]);
        let end = Instant::now() + Duration::from_secs(2);
        while outbox.counters().class(crate::record::Class::Alert).count > 0 {
            assert!(
                Instant::now() < end,
                "alert {k} held back by the telemetry topic's refusals"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(telemetry_left(&outbox), 20);

    // The topic takes records again: telemetry follows, in order.
    mock.topic_error(
        &cfg.telemetry_topic,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR,
    )
    .expect("clear topic error");
    assert!(
        wait_empty(&outbox, Duration::from_secs(60)).await,
        "telemetry never followed: {:?}",
        metrics.last_error()
    );
    assert!(outbox.refused_classes().is_empty());
    run.stop().await;
    let seqs = seqs_in(&bootstrap, &cfg.telemetry_topic, 20);
    let mut first_seen = Vec::new();
    for s in seqs {
        if !first_seen.contains(&s) {
            first_seen.push(s);
        }
    }
    assert_eq!(first_seen.len(), 20);
    assert!(first_seen.windows(2).all(|w| w[0] < w[1]), "{first_seen:?}");
}

/// A record Kafka will never take (here larger than `message.max.bytes`) goes to the dead
/// letters: counted, kept, and the records behind it, in its class, keep flowing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_kafka_will_never_take_is_dead_lettered_and_the_rest_flows() {
    let (_mock, mut cfg) = mock_cluster();
    let bootstrap = cfg.bootstrap_servers.clone();
    cfg.properties
        .insert("message.max.bytes".into(), "2000".into());
    let run = Running::start(&cfg);
    let (outbox, metrics) = (run.outbox.clone(), run.metrics.clone());

    let mut big = telemetry(5);
    if let Record::Telemetry(t) = &mut big {
        t.asset = "x".repeat(3000);
    }
    let mut records: Vec<Record> = (0..5).map(telemetry).collect();
    records.push(big);
    records.extend((6..11).map(telemetry));
    let seqs = run.append(&records);
    assert!(
        wait_empty(&outbox, Duration::from_secs(30)).await,
        "the records behind the refused one did not flow: {:?}",
        metrics.last_error()
    );
    assert_eq!(outbox.counters().dead, 1);
    assert!(metrics
        .last_error()
        .is_some_and(|e| e.contains("too large") || e.contains("TooLarge")));
    drop(outbox);
    let outbox = run.stop().await;
    let delivered = seqs_in(&bootstrap, &cfg.telemetry_topic, 10);
    let want: Vec<u64> = seqs.iter().copied().filter(|s| *s != seqs[5]).collect();
    assert_eq!(delivered, want);
    // Kept for the operator under its number, and sent again on request.
    let o = Arc::try_unwrap(outbox)
        .ok()
        .expect("sole owner after the forwarder ended");
    assert_eq!(o.resend_dead().unwrap(), 1);
    let back = o
        .read_after(crate::record::Class::Telemetry, 0, 10)
        .unwrap()
        .entries;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].seq, seqs[5]);
}

#[test]
fn the_file_may_change_client_id_and_linger_but_never_the_delivery_settings() {
    let mut cfg = config("127.0.0.1:9");
    let c = super::producer_config(&cfg, "gw-7");
    assert_eq!(c.get("client.id"), Some("forewarn-gw-7"));
    assert_eq!(c.get("linger.ms"), Some("20"));
    assert_eq!(c.get("acks"), Some("all"));
    assert_eq!(c.get("queue.buffering.max.messages"), Some("1200"));

    cfg.properties.insert("client.id".into(), "plant-7".into());
    cfg.properties
        .insert("queue.buffering.max.ms".into(), "5".into());
    // Validation refuses these; were one to get through, forewarn's value still wins.
    cfg.properties.insert("acks".into(), "1".into());
    cfg.properties
        .insert("enable.idempotence".into(), "false".into());
    let c = super::producer_config(&cfg, "gw-7");
    assert_eq!(c.get("client.id"), Some("plant-7"));
    assert_eq!(c.get("queue.buffering.max.ms"), Some("5"));
    assert_eq!(c.get("linger.ms"), None, "the alias is the file's setting");
    assert_eq!(c.get("acks"), Some("all"));
    assert_eq!(c.get("enable.idempotence"), Some("true"));
    assert_eq!(super::client::client_id(&cfg, "gw-7"), "plant-7");
}
