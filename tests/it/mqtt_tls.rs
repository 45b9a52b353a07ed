//! MQTT over TLS against a real Mosquitto with five listeners: server verification (a CA
//! file, the host name), client certificates, and each way a connection fails, counted per
//! source and reason in the status with the client's error; a key that cannot be used is
//! refused by `check-config` and at start, naming the file.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{
    agent_command, agent_config, check_config, consume, find_binary, free_port, Agent, Tansu,
};
use crate::pki::Pki;

/// Mosquitto with a plain listener (for publishing) and TLS listeners: `ok` (a `localhost`
/// certificate from the trusted CA), `mutual` (the same, and a client certificate from that CA
/// required), `expired`, `wrong_host` (a certificate for another name).
struct TlsBroker {
    plain: u16,
    ok: u16,
    mutual: u16,
    expired: u16,
    wrong_host: u16,
    child: Child,
}

impl TlsBroker {
    fn start(pki: &Pki) -> TlsBroker {
        pki.server("server", "ca", "localhost", 2);
        pki.server("expired", "ca", "localhost", -1);
        pki.server("wrong-host", "ca", "broker.example", 2);
        let [plain, ok, mutual, expired, wrong_host] = [(); 5].map(|_| free_port());
        let d = pki.dir().display();
        let tls = |port: u16, cert: &str, extra: &str| {
            format!(
                "listener {port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/{cert}.pem\n\
                 keyfile {d}/{cert}.key\n{extra}"
            )
        };
        let conf = format!(
            "per_listener_settings false\nallow_anonymous true\npersistence false\n\
             listener {plain} 127.0.0.1\n{}{}{}{}",
            tls(ok, "server", ""),
            tls(mutual, "server", "require_certificate true\n"),
            tls(expired, "expired", ""),
            tls(wrong_host, "wrong-host", ""),
        );
        let path = pki.dir().join("mosquitto.conf");
        std::fs::write(&path, conf).expect("write mosquitto.conf");
        let bin = find_binary("mosquitto", "FOREWARN_MOSQUITTO", &["/usr/sbin/mosquitto"]);
        let child = Command::new(bin)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let end = std::time::Instant::now() + Duration::from_secs(10);
        for port in [plain, ok, mutual, expired, wrong_host] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(std::time::Instant::now() < end, "mosquitto did not listen");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        TlsBroker {
            plain,
            ok,
            mutual,
            expired,
            wrong_host,
            child,
        }
    }

    fn publish(&self, topic: &str, payload: &str) {
        let bin = find_binary("mosquitto_pub", "FOREWARN_MOSQUITTO_PUB", &[]);
        let ok = Command::new(bin)
            .args(["-h", "127.0.0.1", "-p", &self.plain.to_string()])
            .args(["-q", "1", "-t", topic, "-m", payload])
            .status()
            .expect("run mosquitto_pub");
        assert!(ok.success());
    }
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One MQTT source `name` on `port` over TLS, its topics `name/<asset>`.
fn source(name: &str, port: u16, ca: &Path, client: Option<(&Path, &Path)>) -> String {
    let identity = client.map_or(String::new(), |(c, k)| {
        format!(
            "cert_file = \"{}\"\nkey_file = \"{}\"\n",
            c.display(),
            k.display()
        )
    });
    format!(
        r#"
[[sources]]
type = "mqtt"
name = "{name}"
host = "localhost"
port = {port}
tls = true
ca_file = "{ca}"
{identity}topics = ["{name}/#"]
topic_pattern = "{name}/{{asset}}"
"#,
        ca = ca.display()
    )
}

/// The agent's key files are its own (0600), as a gateway keeps them.
fn private(key: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
}

#[test]
fn tls_sources_verify_the_server_present_a_client_certificate_and_report_each_failure() {
    let pki = Pki::new();
    let broker = TlsBroker::start(&pki);
    let kafka = Tansu::start();
    let (client_cert, client_key) = pki.client("client", "ca");
    let (rogue_cert, rogue_key) = pki.client("rogue", "other-ca");
    private(&client_key);
    private(&rogue_key);
    let ca = pki.ca("ca");
    let sources = [
        source("ok", broker.ok, &ca, None),
        source(
            "mutual",
            broker.mutual,
            &ca,
            Some((&client_cert, &client_key)),
        ),
        source("untrusted", broker.ok, &pki.ca("other-ca"), None),
        source("expired", broker.expired, &ca, None),
        source("wrong_host", broker.wrong_host, &ca, None),
        source("no_cert", broker.mutual, &ca, None),
        source(
            "rogue_cert",
            broker.mutual,
            &ca,
            Some((&rogue_cert, &rogue_key)),
        ),
    ]
    .concat();
    let rest = format!(
        "{sources}\n[[assets]]\nid = \"pump-1\"\ninterval_secs = 1.0\nsignals = [{{ name = \"temp\" }}]\n"
    );
    let agent = Agent::start(&agent_config(&kafka.bootstrap(), &rest));
    agent.wait_log_count("MQTT subscribed.", 2, Duration::from_secs(30));
    broker.publish("ok/pump-1", r#"{"temp": 1.5}"#);
    broker.publish("mutual/pump-1", r#"{"temp": 2.5}"#);
    let failing = [
        (
            "untrusted",
            "tls_untrusted",
            "certificate in certificate chain",
        ),
        ("expired", "tls_expired", "certificate has expired"),
        ("wrong_host", "tls_hostname", "hostname mismatch"),
    ];
    let refused_by_broker = ["no_cert", "rogue_cert"];
    let done = |s: &serde_json::Value| {
        s["ok"]["samples"] == 1
            && s["mutual"]["samples"] == 1
            && failing
                .iter()
                .all(|(name, reason, _)| s[name]["connect_failures"][reason].as_u64() >= Some(2))
            && refused_by_broker.iter().all(|name| {
                s[name]["connect_failures"]
                    .as_object()
                    .is_some_and(|f| !f.is_empty())
            })
    };
    let status = consume(
        &kafka.bootstrap(),
        "forewarn.status",
        Duration::from_secs(90),
        |msgs| msgs.iter().any(|m| done(&m.json["sources"])),
    );
    let sources = status
        .iter()
        .map(|m| &m.json["sources"])
        .find(|s| done(s))
        .or(status.last().map(|m| &m.json["sources"]))
        .unwrap_or_else(|| panic!("no status\n{}", agent.log()))
        .clone();
    let show = format!("{sources:#}\n{}", agent.log());
    assert!(done(&sources), "{show}");
    for name in ["ok", "mutual"] {
        assert_eq!(sources[name]["connected"], true, "{name}: {show}");
        assert!(
            sources[name]["connect_failures"].is_null(),
            "{name}: {show}"
        );
    }
    for (name, reason, says) in failing {
        let s = &sources[name];
        assert_eq!(s["connected"], false, "{name}: {show}");
        assert_eq!(s["samples"], 0, "{name}: {show}");
        // Only this reason: the cause is told apart, not lumped.
        assert_eq!(
            s["connect_failures"].as_object().map(|f| f.len()),
            Some(1),
            "{name}: {show}"
        );
        let last = s["last_connect_error"].as_str().unwrap_or_default();
        assert!(
            last.contains("certificate verify failed") && last.to_lowercase().contains(says),
            "{name}: {last}\n{show}"
        );
        // Retried with backoff (0.2 s doubling), not in a loop: at most ~8 tries in 30 s.
        assert!(
            s["connect_failures"][reason].as_u64() <= Some(12),
            "{name}: {show}"
        );
    }
    // A broker that wants a client certificate, given none or one from another CA: the TLS 1.3
    // handshake completes on the client's side and the broker's alert comes with the first
    // read, so the client may see it as a handshake failure or a reset connection. Either way
    // the source is not connected, the failure is counted and its message says why.
    for name in refused_by_broker {
        let s = &sources[name];
        assert_eq!(s["connected"], false, "{name}: {show}");
        assert_eq!(s["samples"], 0, "{name}: {show}");
        let failures = s["connect_failures"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(
            failures.keys().all(|k| k == "tls_refused" || k == "other"),
            "{name}: {show}"
        );
        let last = s["last_connect_error"].as_str().unwrap_or_default();
        // An alert, or the connection closed under the client (reset, or an EOF: OpenSSL
        // versions differ in which they report).
        assert!(
            last.contains("alert") || last.contains("reset by peer") || last.contains("EOF"),
            "{name}: {show}"
        );
    }
    // One WARN per source and cause, then quiet retries.
    let log = agent.log();
    for (name, _, _) in failing {
        let warns = log
            .lines()
            .filter(|l| {
                l.contains("MQTT connection failed") && l.contains(&format!("source={name}"))
            })
            .count();
        assert_eq!(warns, 1, "{name}:\n{log}");
    }
}

#[test]
fn a_client_key_that_cannot_be_used_is_refused_naming_the_file() {
    let pki = Pki::new();
    let (cert, key) = pki.client("client", "ca");
    let (_, other_key) = pki.client("other", "ca");
    private(&key);
    private(&other_key);
    let ca = pki.ca("ca");
    // The same key in the traditional EC format, which the TLS library does not take.
    let traditional = pki.dir().join("client-traditional.key");
    let ok = Command::new("openssl")
        .args(["ec", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&traditional)
        .stderr(Stdio::null())
        .status()
        .expect("run openssl ec");
    assert!(ok.success());
    private(&traditional);
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, key: &Path| {
        let path = dir.path().join(name);
        let rest = format!(
            "{}\n[[assets]]\nid = \"pump-1\"\nsignals = [{{ name = \"temp\" }}]\n",
            source("plant", 8883, &ca, Some((&cert, key)))
        );
        std::fs::write(
            &path,
            agent_config("127.0.0.1:9092", &rest)
                .replace("{data_dir}", &dir.path().join("data").display().to_string()),
        )
        .expect("write config");
        path
    };
    let (ok, text) = check_config(&write("good.toml", &key), &[]);
    assert!(ok, "{text}");
    for (file, says) in [
        (
            write("mismatch.toml", &other_key),
            "does not match cert_file",
        ),
        (
            write("traditional.toml", &traditional),
            "openssl pkcs8 -topk8",
        ),
    ] {
        let (ok, text) = check_config(&file, &[]);
        assert!(!ok, "{text}");
        assert!(text.contains("sources[0].key_file"), "{text}");
        assert!(text.contains(says), "{text}");
    }
    // `run` refuses it too, before connecting anywhere.
    let out = agent_command()
        .args(["run", "--config"])
        .arg(write("run.toml", &other_key))
        .output()
        .expect("run forewarn");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("key_file") && text.contains("does not match"),
        "{text}"
    );
}
