//! Kafka with SASL (SCRAM-SHA-256 and SCRAM-SHA-512) and TLS, end to end against the real
//! Kafka-protocol broker with authentication on. The broker (tansu 0.6.0) takes `--cert` and
//! `--key` but does not serve TLS with them, so TLS is terminated by socat's OpenSSL listener
//! in front of it, which the broker advertises to clients; it also offers no PLAIN mechanism
//! (librdkafka: "broker's supported mechanisms: (n/a)"), so PLAIN is not tested here.
//!
//! A wrong password and an untrusted broker certificate are counted in the status by cause,
//! and the agent stays away with a doubling pause instead of librdkafka's steady retries; the
//! records wait in the outbox and arrive once the file is fixed.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{consume_topics_with, find_binary, free_port, Agent, Msg, Tansu};
use crate::pki::Pki;

const TOPICS: [&str; 3] = ["forewarn.alerts", "forewarn.telemetry", "forewarn.status"];

/// The test's provisioning file: gateway `id`, Kafka with these extra properties, and an MQTT
/// source with no broker behind it (the heartbeat alone makes the records these tests read).
fn config(id: &str, bootstrap: &str, properties: &str) -> String {
    config_with(id, bootstrap, properties, true)
}

/// [`config`] with `create_topics` as given: without it, the forwarder's producer meets the
/// refusal; with it, the topic check does first.
fn config_with(id: &str, bootstrap: &str, properties: &str, create_topics: bool) -> String {
    format!(
        r#"
[gateway]
id = "{id}"
site = "test-site"
data_dir = "{{data_dir}}"
heartbeat_secs = 1

[kafka]
bootstrap_servers = "{bootstrap}"
create_topics = {create_topics}
topic_partitions = 3

[kafka.properties]
{properties}

[outbox]
budget_bytes = 16777216
durability = "full"

[[sources]]
type = "mqtt"
name = "idle"
host = "127.0.0.1"
port = {idle}
topics = ["idle/#"]
topic_pattern = "idle/{{asset}}/{{signal}}"

[[assets]]
id = "pump-1"
signals = [{{ name = "temp" }}]
"#,
        idle = free_port()
    )
}

fn scram(mechanism: &str, user: &str, password: &str, protocol: &str) -> String {
    format!(
        "\"security.protocol\" = \"{protocol}\"\n\"sasl.mechanism\" = \"{mechanism}\"\n\
         \"sasl.username\" = \"{user}\"\n\"sasl.password\" = \"{password}\"\n"
    )
}

/// The status records of gateway `id` read with `properties`, until `done` holds for one.
fn statuses(
    bootstrap: &str,
    properties: &[(&str, &str)],
    id: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> Vec<Msg> {
    let mine = |m: &&Msg| m.json["gateway"] == id && m.json["schema"] == "forewarn.status.v1";
    consume_topics_with(
        bootstrap,
        properties,
        &["forewarn.status"],
        Duration::from_secs(90),
        |msgs| msgs.iter().filter(mine).any(|m| done(&m.json)),
    )
    .into_iter()
    .filter(|m| mine(&m))
    .collect()
}

/// A refused run, then the fix: start `config` as gateway `id`, wait for `refused` in the log,
/// let it be refused for `secs`, stop, replace `wrong` with `right` in its file and start
/// again. Returns the first heartbeat of the refused run (with `cause` counted, at least
/// `secs - 2` s of uptime) as it reached Kafka after the fix, and the refused run's log.
#[allow(clippy::too_many_arguments)]
fn refused_then_fixed(
    config: &str,
    id: &str,
    refused: &str,
    secs: u64,
    (wrong, right): (&str, &str),
    cause: &str,
    bootstrap: &str,
    reader: &[(&str, &str)],
) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut agent = Agent::start_in(dir, config);
    agent.wait_log(refused, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(secs));
    let log = agent.log();
    assert!(agent.stop().success(), "{log}");
    // The records held in the outbox, the heartbeats of the refused run among them, arrive.
    let fixed = std::fs::read_to_string(&agent.config)
        .expect("read config")
        .replace(wrong, right);
    std::fs::write(&agent.config, fixed).expect("write config");
    agent.restart();
    let refused_run = |s: &serde_json::Value| {
        s["kafka_client_errors"][cause].as_u64() > Some(0)
            && s["uptime_secs"].as_f64() > Some(secs as f64 - 2.0)
    };
    let status = statuses(bootstrap, reader, id, refused_run)
        .into_iter()
        .map(|m| m.json)
        .find(|s| refused_run(s))
        .unwrap_or_else(|| panic!("no status of the refused run\n{log}\n{}", agent.log()));
    assert!(agent.stop().success(), "{}", agent.log());
    (status, log)
}

#[test]
fn scram_sha_256_and_512_deliver_and_a_wrong_password_is_counted_without_a_retry_storm() {
    let kafka = Tansu::secured(
        &[
            ("alice", "alice-secret", "scram256"),
            ("bob", "bob-secret", "scram512"),
        ],
        &TOPICS,
        None,
    );
    let bootstrap = kafka.bootstrap();
    let reader = [
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "bob"),
        ("sasl.password", "bob-secret"),
    ];
    // Each mechanism delivers.
    for (id, mechanism, user, password) in [
        ("gw-256", "SCRAM-SHA-256", "alice", "alice-secret"),
        ("gw-512", "SCRAM-SHA-512", "bob", "bob-secret"),
    ] {
        let mut agent = Agent::start(&config(
            id,
            &bootstrap,
            &scram(mechanism, user, password, "sasl_plaintext"),
        ));
        let got = statuses(&bootstrap, &reader, id, |s| {
            s["delivered"].as_u64() > Some(0)
        });
        assert!(!got.is_empty(), "{id}: no status\n{}", agent.log());
        let last = &got[got.len() - 1].json;
        assert!(last["kafka_client_errors"].is_null(), "{id}: {last:#}");
        assert!(agent.stop().success(), "{}", agent.log());
    }
    // A wrong password: refused, counted, and tried again only after doubling pauses.
    let wrong = config_with(
        "gw-wrong",
        &bootstrap,
        &scram(
            "SCRAM-SHA-256",
            "alice",
            "not-the-password",
            "sasl_plaintext",
        ),
        false,
    );
    let (status, log) = refused_then_fixed(
        &wrong,
        "gw-wrong",
        "Kafka refuses the agent's connection",
        20,
        ("not-the-password", "alice-secret"),
        "authentication",
        &bootstrap,
        &reader,
    );
    let show = format!("{status:#}\n{log}");
    let last = status["last_kafka_client_error"]
        .as_str()
        .unwrap_or_default();
    assert!(last.contains("SASL authentication error"), "{show}");
    assert!(!last.contains("not-the-password"), "{show}");
    // The gate's pauses (1 s doubling) allow about five tries in 20 s, each one or two logins
    // (librdkafka's own backoff, up to 10 s, made 6 in the first 20 s and then one every 10 s
    // for ever; the gate's pauses reach 5 min).
    let attempts = status["kafka_client_errors"]["authentication"]
        .as_u64()
        .unwrap_or(0);
    eprintln!("logins refused in the 20 s run: {attempts}");
    assert!(attempts <= 16, "{attempts} logins in 20 s: {show}");
    // One WARN per cause, not one per attempt.
    let warns = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("SASL authentication error"))
        .count();
    assert!(warns <= 2, "{warns} warnings:\n{log}");
}

/// socat's OpenSSL listener on `port` (certificate `cert`, key `key`) forwarding to
/// 127.0.0.1:`to`.
struct TlsProxy {
    child: Child,
}

impl TlsProxy {
    fn start(port: u16, to: u16, cert: &Path, key: &Path) -> TlsProxy {
        let bin = find_binary("socat", "FOREWARN_SOCAT", &[]);
        let child = Command::new(bin)
            .arg(format!(
                "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
                cert.display(),
                key.display()
            ))
            .arg(format!("TCP:127.0.0.1:{to}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start socat");
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < end, "socat did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsProxy { child }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sasl_over_tls_delivers_and_an_untrusted_broker_certificate_is_counted_and_paused() {
    let pki = Pki::new();
    let (cert, key) = pki.server("broker", "ca", "localhost", 2);
    let tls_port = free_port();
    let kafka = Tansu::secured(
        &[("carol", "carol-secret", "scram512")],
        &TOPICS,
        Some(tls_port),
    );
    let _proxy = TlsProxy::start(tls_port, kafka.port, &cert, &key);
    let bootstrap = format!("localhost:{tls_port}");
    let ca = pki.ca("ca").display().to_string();
    let reader = [
        ("security.protocol", "sasl_ssl"),
        ("ssl.ca.location", ca.as_str()),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "carol"),
        ("sasl.password", "carol-secret"),
    ];
    let properties = |ca: &str| {
        format!(
            "{}\"ssl.ca.location\" = \"{ca}\"\n",
            scram("SCRAM-SHA-512", "carol", "carol-secret", "sasl_ssl")
        )
    };
    let mut agent = Agent::start(&config("gw-tls", &bootstrap, &properties(&ca)));
    let got = statuses(&bootstrap, &reader, "gw-tls", |s| {
        s["delivered"].as_u64() > Some(0)
    });
    assert!(!got.is_empty(), "no status over TLS\n{}", agent.log());
    assert!(agent.stop().success(), "{}", agent.log());

    // A CA that did not sign the broker's certificate: the handshake fails.
    let other = pki.ca("other-ca").display().to_string();
    let (status, log) = refused_then_fixed(
        &config("gw-untrusted", &bootstrap, &properties(&other)),
        "gw-untrusted",
        "the cluster refuses the connection",
        12,
        (&other, &ca),
        "tls",
        &bootstrap,
        &reader,
    );
    let show = format!("{status:#}\n{log}");
    let last = status["last_kafka_client_error"]
        .as_str()
        .unwrap_or_default();
    assert!(last.contains("certificate verify failed"), "{show}");
    assert!(
        status["kafka_client_errors"]["tls"].as_u64() <= Some(12),
        "{show}"
    );
    assert!(
        status["kafka_client_errors"]["authentication"].is_null(),
        "{show}"
    );
}
