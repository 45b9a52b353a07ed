//! The consumers under test, each started fresh for a run against its own Mosquitto and tansu:
//! forewarn itself, `mosquitto_sub` (the limit: what the broker can hand one QoS 1 subscriber),
//! the Node-RED flow and the Python agent (`benches/peers/`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::harness::{forewarn_bin, Mosquitto};
use super::observe::Arrivals;
use super::workload::{Shape, ASSETS, SIGNALS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Limit,
    Agent,
    NodeRed,
    Python,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Limit => "mosquitto_sub",
            Kind::Agent => "forewarn",
            Kind::NodeRed => "node-red",
            Kind::Python => "python",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "limit" | "mosquitto_sub" => Some(Kind::Limit),
            "agent" | "forewarn" => Some(Kind::Agent),
            "nodered" | "node-red" => Some(Kind::NodeRed),
            "python" => Some(Kind::Python),
            _ => None,
        }
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn cache() -> PathBuf {
    std::env::var_os("FOREWARN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/forewarn-ci"))
}

fn python_bin() -> PathBuf {
    cache().join("peers/python-venv/bin/python")
}

/// Whether a peer is installed (`benches/peers/install`).
pub fn installed(kind: Kind) -> bool {
    match kind {
        Kind::Python => python_bin().is_file(),
        Kind::NodeRed => cache()
            .join("peers/nodered/node_modules/node-red/red.js")
            .is_file(),
        Kind::Limit | Kind::Agent => true,
    }
}

/// How forewarn is set up for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentSetup {
    /// Buckets, the probe rule and `bearing-fault` on every asset's `vib` (what the Python
    /// agent does too).
    Compare,
    /// As `Compare`, with all three shipped models: `bearing-fault` on assets 0–3,
    /// `process-failure` on 4–6, `turbofan-rul` on 7–9 (their signals mapped onto the 5).
    ThreeModels,
    /// A serial source instead of MQTT (asset-0's 5 signals as CSV lines), buckets only.
    Serial,
    /// As `Compare`, with two detectors on every asset: `pca` over the 5 signals on a 0.1 s
    /// grid, and feature vectors of `vib` (windows of 256, hop 128); each learns its first
    /// 60 steps (about 6 s of the run) and scores the rest.
    Detectors,
}

/// The provisioning file forewarn runs in a bench.
pub fn agent_config(
    mqtt_port: u16,
    bootstrap: &str,
    shape: Shape,
    setup: AgentSetup,
    serial: Option<&Path>,
) -> String {
    let models = repo().join("models");
    let mut c = format!(
        r#"[gateway]
id = "bench-gw"
site = "bench"
data_dir = "{{data_dir}}"
heartbeat_secs = 5

[kafka]
bootstrap_servers = "{bootstrap}"
create_topics = false

[[assets]]
id = "probe"
interval_secs = 1
signals = [{{ name = "lat" }}]

[[rules]]
name = "lat-high"
asset = "probe"
signal = "lat"
above = 50
severity = "info"
"#
    );
    for a in 0..ASSETS {
        let signals: Vec<String> = SIGNALS
            .iter()
            .map(|s| format!("{{ name = \"{s}\" }}"))
            .collect();
        c.push_str(&format!(
            "\n[[assets]]\nid = \"asset-{a}\"\ninterval_secs = 1\nsignals = [{}]\n",
            signals.join(", ")
        ));
    }
    if setup == AgentSetup::Serial {
        let device = serial.expect("serial device").display();
        c.push_str(&format!(
            "\n[[sources]]\ntype = \"serial\"\nname = \"line\"\ndevice = \"{device}\"\nbaud = 115200\nasset = \"asset-0\"\nformat = \"csv\"\nfields = [\"ts\", {}]\ntimestamp = {{ unit = \"us\" }}\n",
            SIGNALS.map(|s| format!("\"{s}\"")).join(", ")
        ));
        // The writer ends with one line whose speed crosses this: when its alert reaches Kafka,
        // every line before it went through.
        c.push_str("\n[[rules]]\nname = \"end-marker\"\nasset = \"asset-0\"\nsignal = \"speed\"\nabove = 1000000\nseverity = \"info\"\n");
        return c;
    }
    let source = |name: &str, topic: &str, pattern: &str| {
        format!(
            "\n[[sources]]\ntype = \"mqtt\"\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {mqtt_port}\ntopics = [\"{topic}\"]\ntopic_pattern = \"{pattern}\"\ntimestamp = {{ field = \"ts\", unit = \"us\" }}\n"
        )
    };
    match shape {
        Shape::Single => c.push_str(&source("plant", "bench/#", "bench/{asset}/{signal}")),
        Shape::Batched => {
            c.push_str(&source("plant", "bench/+", "bench/{asset}"));
            c.push_str(&source("probe", "bench/probe/+", "bench/{asset}/{signal}"));
        }
    }
    let assets = |r: std::ops::Range<usize>| {
        r.map(|a| format!("\"asset-{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match setup {
        AgentSetup::Compare | AgentSetup::Detectors => c.push_str(&format!(
            "\n[[models]]\npackage = \"{}\"\nassets = [{}]\n",
            models.join("bearing-fault").display(),
            assets(0..ASSETS)
        )),
        AgentSetup::ThreeModels => {
            c.push_str(&format!(
                "\n[[models]]\npackage = \"{}\"\nassets = [{}]\n",
                models.join("bearing-fault").display(),
                assets(0..4)
            ));
            c.push_str(&format!(
                "\n[[models]]\npackage = \"{}\"\nassets = [{}]\nsignals = {{ air_temp = \"temp\", process_temp = \"pressure\", speed = \"speed\", torque = \"current\", tool_wear = \"vib\", type = \"temp\" }}\n",
                models.join("process-failure").display(),
                assets(4..7)
            ));
            let turbofan = [
                ("T24", "temp"),
                ("T30", "temp"),
                ("T50", "temp"),
                ("P30", "pressure"),
                ("Nf", "speed"),
                ("Nc", "speed"),
                ("Ps30", "pressure"),
                ("phi", "current"),
                ("NRf", "speed"),
                ("NRc", "speed"),
                ("BPR", "vib"),
                ("htBleed", "current"),
                ("W31", "vib"),
                ("W32", "vib"),
            ];
            let map: Vec<String> = turbofan
                .iter()
                .map(|(m, s)| format!("{m} = \"{s}\""))
                .collect();
            c.push_str(&format!(
                "\n[[models]]\npackage = \"{}\"\nassets = [{}]\nsignals = {{ {} }}\n",
                models.join("turbofan-rul").display(),
                assets(7..ASSETS),
                map.join(", ")
            ));
        }
        AgentSetup::Serial => {}
    }
    if setup == AgentSetup::Detectors {
        let signals = SIGNALS.map(|s| format!("\"{s}\"")).join(", ");
        c.push_str(&format!(
            "\n[[detectors]]\nname = \"process\"\nassets = [{a}]\nsignals = [{signals}]\ngrid_secs = 0.1\nlearn = {{ steps = 60 }}\n\n[[detectors]]\nname = \"vibration\"\nassets = [{a}]\nsignals = [\"vib\"]\nfeatures = [\"rms\", \"kurtosis\", \"crest_factor\", \"band_energy[0,100]\", \"band_energy[100,300]\"]\nwindow = {{ samples = 256, hop = 128, sample_rate_hz = 1000 }}\nlearn = {{ steps = 60 }}\n",
            a = assets(0..ASSETS)
        ));
    }
    c
}

/// A consumer process under test.
pub struct Running {
    child: Child,
    _dir: tempfile::TempDir,
    /// `mosquitto_sub` only: load messages received, and when the last one came.
    pub lines: Option<Arc<std::sync::Mutex<Arrivals>>>,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The tail of what the process wrote to stderr (its log), for failures.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self._dir.path().join("stderr.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a child's stdout: signals `READY`, and for `mosquitto_sub` counts load messages.
fn read_stdout(
    child: &mut Child,
    ready_line: Option<&'static str>,
    lines: Option<Arc<std::sync::Mutex<Arrivals>>>,
) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        let mut reader = BufReader::new(out);
        let mut line = String::new();
        let mut ready_sent = false;
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            let l = line.trim_end();
            if !ready_sent && ready_line.is_some_and(|r| l == r) {
                let _ = tx.send(());
                ready_sent = true;
            } else if let Some(arr) = &lines {
                if l.starts_with("bench/asset") {
                    if let Ok(mut a) = arr.lock() {
                        a.add(1);
                    }
                } else if l == "bench/ready" && !ready_sent {
                    let _ = tx.send(());
                    ready_sent = true;
                }
            }
            line.clear();
        }
    });
    rx
}

/// Starts `kind` against the brokers and returns once it is subscribed.
pub fn start(
    kind: Kind,
    mqtt: &Mosquitto,
    bootstrap: &str,
    shape: Shape,
    setup: AgentSetup,
    serial: Option<&Path>,
) -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr log");
    let mut lines = None;
    let mut cmd;
    match kind {
        Kind::Agent => {
            let data = dir.path().join("data");
            let config = agent_config(mqtt.port, bootstrap, shape, setup, serial)
                .replace("{data_dir}", &data.display().to_string());
            let path = dir.path().join("forewarn.toml");
            std::fs::write(&path, config).expect("write provisioning file");
            cmd = Command::new(forewarn_bin());
            cmd.arg("run")
                .arg("--config")
                .arg(&path)
                .env("FOREWARN_LOG", "info,forewarn::ingest::mqtt=debug");
        }
        Kind::Limit => {
            // Line-buffered so that each message's line arrives when it does; `-F %t` prints
            // only the topic, so the limit pays for receiving, not for printing payloads.
            cmd = Command::new("stdbuf");
            cmd.args(["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-q", "1"])
                .args(["-p", &mqtt.port.to_string(), "-t", "bench/#", "-F", "%t"]);
            lines = Some(Arc::new(std::sync::Mutex::new(Arrivals::default())));
        }
        Kind::NodeRed => {
            let user_dir = dir.path().join("nodered");
            std::fs::create_dir_all(&user_dir).expect("node-red user dir");
            cmd = Command::new(repo().join("benches/peers/nodered/run"));
            cmd.env("MQTT_PORT", mqtt.port.to_string())
                .env("KAFKA_BROKER", bootstrap)
                .env("NODERED_USER_DIR", &user_dir);
        }
        Kind::Python => {
            cmd = Command::new(python_bin());
            cmd.arg(repo().join("benches/peers/python/agent.py"))
                .args(["--mqtt-host", "127.0.0.1", "--mqtt-port"])
                .arg(mqtt.port.to_string())
                .args([
                    "--kafka",
                    bootstrap,
                    "--gateway",
                    "bench-gw",
                    "--models-dir",
                ])
                .arg(repo().join("models"));
        }
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", kind.name()));
    let ready_line = match kind {
        Kind::NodeRed | Kind::Python => Some("READY"),
        _ => None,
    };
    let ready = read_stdout(&mut child, ready_line, lines.clone());
    let running = Running {
        child,
        _dir: dir,
        lines,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    match kind {
        Kind::Agent => {
            let needle = if setup == AgentSetup::Serial {
                "Serial device open."
            } else {
                "MQTT subscribed."
            };
            let log = running._dir.path().join("stderr.log");
            while !std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(needle)
            {
                assert!(
                    Instant::now() < deadline,
                    "forewarn never logged {needle:?}:\n{}",
                    running.log_tail()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            // Both MQTT sources of a batched run.
            if shape == Shape::Batched && setup != AgentSetup::Serial {
                while std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .matches(needle)
                    .count()
                    < 2
                {
                    assert!(
                        Instant::now() < deadline,
                        "second MQTT source never subscribed"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Kind::Limit => {
            // mosquitto_sub says nothing when subscribed: ping until a ping comes back.
            loop {
                assert!(Instant::now() < deadline, "mosquitto_sub never subscribed");
                mqtt.publish("bench/ready", b"1");
                if ready.recv_timeout(Duration::from_millis(200)).is_ok() {
                    break;
                }
            }
        }
        Kind::NodeRed | Kind::Python => {
            if ready.recv_timeout(Duration::from_secs(60)).is_err() {
                panic!(
                    "{} never printed READY:\n{}",
                    kind.name(),
                    running.log_tail()
                );
            }
        }
    }
    running
}
