//! Real services for integration tests: Mosquitto, the tansu Kafka-protocol broker, socat pty
//! pairs and the agent itself, each started per test on free loopback ports in a temp dir, and
//! stopped on drop. A missing binary fails the test with the install hint (never a skip).

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_port(port: u16, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Find a service binary: an explicit env var, then PATH, then the CI cache.
pub fn find_binary(name: &str, env: &str, fallbacks: &[&str]) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    for f in fallbacks {
        if Path::new(f).is_file() {
            return PathBuf::from(f);
        }
    }
    panic!("`{name}` not found (set {env}, or run tests/run which installs it)");
}

fn kill(child: &mut Child, signal: &str) {
    let _ = Command::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .status();
}

/// A Mosquitto broker on a free port.
pub struct Mosquitto {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Mosquitto::start_with(false)
    }

    /// A broker that saves its sessions and queued messages on a graceful stop, so that
    /// [`Mosquitto::restart`] keeps them, as a production broker would.
    pub fn start_persistent() -> Mosquitto {
        Mosquitto::start_with(true)
    }

    fn start_with(persistent: bool) -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let conf = dir.path().join("mosquitto.conf");
        let persistence = if persistent {
            // Mosquitto started as root drops to its own user, which must write the store.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                .expect("chmod the broker's dir");
            format!(
                "persistence true\npersistence_location {}/\n",
                dir.path().display()
            )
        } else {
            "persistence false\n".to_string()
        };
        // FOREWARN_MOSQUITTO_LOG=<dir>: the broker logs every packet to <dir>/mosquitto-<port>.log
        // (to see what it sent and what it was acknowledged, when a test goes wrong).
        let log = match std::env::var("FOREWARN_MOSQUITTO_LOG") {
            Ok(d) if !d.is_empty() => {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::create_dir_all(&d);
                let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777));
                format!("log_dest file {d}/mosquitto-{port}.log\nlog_type all\nlog_timestamp_format %H:%M:%S\n")
            }
            _ => String::new(),
        };
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\n{persistence}{log}\
                 max_queued_messages 1000000\nmax_inflight_messages 100\n"
            ),
        )
        .expect("write mosquitto.conf");
        let child = Mosquitto::spawn(&conf, port);
        Mosquitto { port, child, dir }
    }

    fn spawn(conf: &Path, port: u16) -> Child {
        let bin = find_binary("mosquitto", "FOREWARN_MOSQUITTO", &["/usr/sbin/mosquitto"]);
        let child = Command::new(bin)
            .arg("-c")
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        assert!(
            wait_port(port, Duration::from_secs(10)),
            "mosquitto did not listen"
        );
        child
    }

    /// Stop gracefully (SIGTERM: a persistent broker saves its state).
    pub fn stop(&mut self) {
        kill(&mut self.child, "-TERM");
        let _ = self.child.wait();
    }

    /// Start again after [`Mosquitto::stop`], on the same port with the same configuration.
    pub fn start_again(&mut self) {
        self.child = Mosquitto::spawn(&self.dir.path().join("mosquitto.conf"), self.port);
    }

    /// Publish one QoS 1 message; false if the broker did not take it (e.g. it is down).
    pub fn try_publish(&self, topic: &str, payload: &[u8]) -> bool {
        let mut child = Command::new(find_binary("mosquitto_pub", "FOREWARN_MOSQUITTO_PUB", &[]))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-q", "1", "-t", topic, "-s"])
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto_pub");
        use std::io::Write;
        let wrote = child
            .stdin
            .take()
            .is_some_and(|mut i| i.write_all(payload).is_ok());
        child.wait().is_ok_and(|s| s.success()) && wrote
    }

    /// Publish every line of `lines` as one QoS 1 message, as fast as mosquitto_pub goes.
    pub fn publish_lines(&self, topic: &str, lines: &str) {
        self.mosquitto_pub(topic, "-l", lines.as_bytes());
    }

    /// Publish one message with QoS 1 through the real client tool.
    pub fn publish(&self, topic: &str, payload: &[u8]) {
        self.mosquitto_pub(topic, "-s", payload);
    }

    /// `mosquitto_pub` with stdin as the message (`-s`) or as one message per line (`-l`).
    fn mosquitto_pub(&self, topic: &str, stdin_mode: &str, input: &[u8]) {
        let mut child = Command::new(find_binary("mosquitto_pub", "FOREWARN_MOSQUITTO_PUB", &[]))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-q",
                "1",
                "-t",
                topic,
                stdin_mode,
            ])
            .stdin(Stdio::piped())
            .spawn()
            .expect("start mosquitto_pub");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write to mosquitto_pub");
        assert!(
            child.wait().expect("mosquitto_pub").success(),
            "mosquitto_pub failed"
        );
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tansu broker that can be stopped and started on the same port: in-memory storage, or
/// SQLite storage that survives a restart ([`Tansu::persistent`]).
pub struct Tansu {
    pub port: u16,
    child: Option<Child>,
    storage: Option<(tempfile::TempDir, String)>,
    /// SASL required (`--authentication`): SCRAM users made by [`Tansu::secured`].
    authentication: bool,
    /// The port advertised to clients when it is not `port` (a TLS proxy in front).
    advertised_port: Option<u16>,
}

impl Tansu {
    pub fn start() -> Tansu {
        Tansu::on_port(free_port())
    }

    /// A broker that is not running yet (`start_again` starts it).
    pub fn not_started() -> Tansu {
        Tansu {
            port: free_port(),
            child: None,
            storage: None,
            authentication: false,
            advertised_port: None,
        }
    }

    pub fn on_port(port: u16) -> Tansu {
        let mut t = Tansu {
            port,
            child: None,
            storage: None,
            authentication: false,
            advertised_port: None,
        };
        t.start_again();
        t
    }

    /// A running broker whose topics and messages are kept in SQLite across restarts.
    pub fn persistent() -> Tansu {
        let dir = tempfile::tempdir().expect("temp dir");
        // tansu reads the SQLite path relative to its working directory.
        let mut t = Tansu {
            port: free_port(),
            child: None,
            storage: Some((dir, "sqlite://tansu.db".to_string())),
            authentication: false,
            advertised_port: None,
        };
        t.start_again();
        t
    }

    /// A persistent broker that requires SASL (SCRAM): `users` are (name, password,
    /// `scram256` or `scram512`), `topics` made with 3 partitions before authentication is
    /// turned on. With `advertised_port`, clients are told to connect there (a TLS proxy).
    pub fn secured(
        users: &[(&str, &str, &str)],
        topics: &[&str],
        advertised_port: Option<u16>,
    ) -> Tansu {
        let mut t = Tansu::persistent();
        let broker = format!("tcp://127.0.0.1:{}", t.port);
        let tansu = |args: &[&str]| {
            let out = Command::new(Tansu::binary())
                .args(args)
                .output()
                .expect("run tansu");
            assert!(
                out.status.success(),
                "tansu {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        for (user, password, mechanism) in users {
            tansu(&[
                "user",
                "create",
                "--broker",
                &broker,
                "--mechanism",
                mechanism,
                user,
                password,
            ]);
        }
        for topic in topics {
            tansu(&[
                "topic",
                "create",
                "--broker",
                &broker,
                "--partitions",
                "3",
                topic,
            ]);
        }
        t.kill();
        t.authentication = true;
        t.advertised_port = advertised_port;
        t.start_again();
        t
    }

    fn binary() -> PathBuf {
        find_binary(
            "tansu",
            "FOREWARN_TANSU",
            &["/var/cache/forewarn-ci/tansu-0.6.0-o0/bin/tansu"],
        )
    }

    /// SIGKILL: the broker dies without any shutdown.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill(&mut c, "-KILL");
            let _ = c.wait();
        }
    }

    /// SIGSTOP: the broker keeps its connections open but answers nothing.
    pub fn pause(&mut self) {
        if let Some(c) = self.child.as_mut() {
            kill(c, "-STOP");
        }
    }

    /// SIGCONT after [`Tansu::pause`].
    pub fn resume(&mut self) {
        if let Some(c) = self.child.as_mut() {
            kill(c, "-CONT");
        }
    }

    pub fn start_again(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = match self.advertised_port {
            Some(p) => format!("tcp://localhost:{p}"),
            None => url.clone(),
        };
        let child = Command::new(Tansu::binary())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ])
            .args(self.authentication.then_some("--authentication"))
            .args([
                "--storage-engine",
                self.storage
                    .as_ref()
                    .map_or("memory://tansu/", |(_, url)| url.as_str()),
            ])
            .current_dir(
                self.storage
                    .as_ref()
                    .map_or_else(std::env::temp_dir, |(dir, _)| dir.path().to_path_buf()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        assert!(
            wait_port(self.port, Duration::from_secs(20)),
            "tansu did not listen"
        );
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A socat pty pair: the agent opens `device`, the test writes to `peer`.
pub struct PtyPair {
    pub device: PathBuf,
    pub peer: PathBuf,
    child: Option<Child>,
}

impl PtyPair {
    pub fn start(dir: &Path) -> PtyPair {
        let mut p = PtyPair {
            device: dir.join("ttyAGENT"),
            peer: dir.join("ttyTEST"),
            child: None,
        };
        p.reopen();
        p
    }

    /// (Re)create the pair at the same paths, as when a USB adapter is plugged back in.
    pub fn reopen(&mut self) {
        let bin = find_binary("socat", "FOREWARN_SOCAT", &[]);
        let child = Command::new(bin)
            .arg(format!("pty,raw,echo=0,link={}", self.device.display()))
            .arg(format!("pty,raw,echo=0,link={}", self.peer.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start socat");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(10);
        while !(self.device.exists() && self.peer.exists()) {
            assert!(Instant::now() < end, "socat did not create the ptys");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Close both ends, as when the adapter is unplugged.
    pub fn close(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let end = Instant::now() + Duration::from_secs(5);
        while self.device.exists() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn write(&self, bytes: &[u8]) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.peer)
            .expect("open pty peer");
        f.write_all(bytes).expect("write to pty");
        f.flush().expect("flush pty");
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        self.close();
    }
}

/// The agent binary running a provisioning file.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    child: Option<Child>,
    /// Environment variables set for the agent (after the harness's own, which they override).
    env: Vec<(String, String)>,
}

pub fn forewarn_bin() -> &'static str {
    env!("CARGO_BIN_EXE_forewarn")
}

/// A command running the agent binary. FOREWARN_AGENT_WRAPPER, when set, is a command line the
/// agent runs under: a tool (heaptrack, valgrind) or, for ARM builds, qemu-user
/// ("qemu-aarch64 -L /usr/aarch64-linux-gnu", set by cross/test).
pub fn agent_command() -> Command {
    wrapped_command(forewarn_bin())
}

/// A command running one of the crate's binaries under FOREWARN_AGENT_WRAPPER, if set.
pub fn wrapped_command(binary: &str) -> Command {
    let wrapper = std::env::var("FOREWARN_AGENT_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(binary);
            // Under qemu-user (no binfmt_misc), the agent's model check cannot exec the ARM
            // binary by itself: it runs it through the same emulator (src/model/verify.rs).
            if program.contains("qemu") {
                c.env("FOREWARN_CHECK_WRAPPER", &wrapper);
            }
            c
        }
        None => Command::new(binary),
    }
}

impl Agent {
    /// SIGKILL and restart at random moments (0.3 to 1.5 s apart), `rounds` times; every
    /// fifth time it stays down up to 1.5 s more, so the broker queues for its session. The
    /// seed comes from `seed_env` (or `default_seed`), so a failing run can be repeated.
    pub fn kill_at_random_moments(&mut self, rounds: usize, seed_env: &str, default_seed: u64) {
        let mut rng = fastrand::Rng::with_seed(
            std::env::var(seed_env)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default_seed),
        );
        for round in 0..rounds {
            std::thread::sleep(Duration::from_millis(300 + rng.u64(0..1200)));
            self.kill9();
            if round % 5 == 4 {
                std::thread::sleep(Duration::from_millis(rng.u64(0..1500)));
            }
            self.restart();
        }
    }

    /// Write `config` (with `{data_dir}` replaced) into a temp dir and start `forewarn run`.
    pub fn start(config: &str) -> Agent {
        let dir = tempfile::tempdir().expect("temp dir");
        Agent::start_in(dir, config)
    }

    pub fn start_in(dir: tempfile::TempDir, config: &str) -> Agent {
        Agent::start_in_with_env(dir, config, &[])
    }

    /// [`Agent::start_in`] with these environment variables set for the agent.
    pub fn start_in_with_env(dir: tempfile::TempDir, config: &str, env: &[(&str, &str)]) -> Agent {
        let path = dir.path().join("forewarn.toml");
        let data = dir.path().join("data");
        std::fs::write(
            &path,
            config.replace("{data_dir}", &data.display().to_string()),
        )
        .expect("write config");
        let mut a = Agent {
            dir,
            config: path,
            child: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        a.restart();
        a
    }

    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("agent.log"))
            .expect("agent log");
        let mut cmd = agent_command();
        let child = cmd
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .env("FOREWARN_LOG", "info,forewarn=debug")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start forewarn");
        self.child = Some(child);
    }

    /// `Some(status)` if the agent process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// Wait until the agent's log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < end,
                "agent log never showed {needle:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the agent's log contains `needle` at least `n` times (across restarts).
    pub fn wait_log_count(&self, needle: &str, n: usize, timeout: Duration) {
        let end = Instant::now() + timeout;
        while self.log().matches(needle).count() < n {
            assert!(
                Instant::now() < end,
                "agent log never showed {needle:?} {n} times:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGHUP: reload model packages.
    pub fn reload(&mut self) {
        if let Some(c) = self.child.as_mut() {
            kill(c, "-HUP");
        }
    }

    /// SIGKILL: no shutdown at all, as in a crash or power cut of the process.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill(&mut c, "-KILL");
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("agent running");
        kill(&mut c, "-TERM");
        c.wait().expect("wait for agent")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `forewarn outbox stats` → per-class depth.
pub fn outbox_depths(data_dir: &Path) -> HashMap<String, u64> {
    let out = agent_command()
        .args(["outbox", "stats", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run outbox stats");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let class = parts.next()?;
            let depth = parts.next()?.strip_prefix("depth=")?.parse().ok()?;
            Some((class.to_string(), depth))
        })
        .collect()
}

/// `forewarn outbox stats` → the next sequence number the outbox would assign.
pub fn outbox_next_seq(data_dir: &Path) -> u64 {
    outbox_stat(data_dir, "next sequence number: ")
}

/// The first sequence number of the outbox in `data_dir` (a fresh outbox numbers from the
/// clock), as `forewarn outbox stats` prints it.
pub fn outbox_first_seq(data_dir: &Path) -> u64 {
    outbox_stat(data_dir, "first sequence number: ")
}

fn outbox_stat(data_dir: &Path, prefix: &str) -> u64 {
    let out = agent_command()
        .args(["outbox", "stats", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run outbox stats");
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(prefix)?.parse().ok())
        .unwrap_or_else(|| panic!("{prefix:?} in outbox stats:\n{stdout}"))
}

/// One consumed Kafka message, decoded.
#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub key: String,
    pub partition: i32,
    pub offset: i64,
    pub headers: HashMap<String, String>,
    pub json: serde_json::Value,
}

impl Msg {
    pub fn seq(&self) -> u64 {
        self.headers
            .get("forewarn-seq")
            .and_then(|s| s.parse().ok())
            .expect("forewarn-seq header")
    }
}

/// Read a topic from the beginning (all partitions) until `done` holds or `timeout` passes.
pub fn consume(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[Msg]) -> bool,
) -> Vec<Msg> {
    consume_topics(bootstrap, &[topic], timeout, done)
}

/// Read several topics from the beginning until `done` holds or `timeout` passes.
pub fn consume_topics(
    bootstrap: &str,
    topics: &[&str],
    timeout: Duration,
    done: impl Fn(&[Msg]) -> bool,
) -> Vec<Msg> {
    consume_topics_with(bootstrap, &[], topics, timeout, done)
}

/// [`consume_topics`] with these client properties (TLS, SASL).
pub fn consume_topics_with(
    bootstrap: &str,
    properties: &[(&str, &str)],
    topics: &[&str],
    timeout: Duration,
    done: impl Fn(&[Msg]) -> bool,
) -> Vec<Msg> {
    let mut config = ClientConfig::new();
    for (k, v) in properties {
        config.set(*k, *v);
    }
    let consumer: BaseConsumer = config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("test-{}", free_port()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let end = Instant::now() + timeout;
    // Wait for each topic to exist, then assign every partition from the beginning.
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        let partitions = loop {
            if let Ok(md) = consumer.fetch_metadata(Some(topic), Duration::from_secs(2)) {
                let n = md
                    .topics()
                    .first()
                    .map(|t| t.partitions().len())
                    .unwrap_or(0);
                if n > 0 {
                    break n;
                }
            }
            if Instant::now() > end {
                return Vec::new();
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p as i32, Offset::Beginning)
                .expect("partition");
        }
    }
    consumer.assign(&tpl).expect("assign");
    let mut msgs = Vec::new();
    // `done` looks at every message read so far, so it is asked when the topic is idle (a poll
    // that returned nothing) or at most every DONE_EVERY while messages stream in, not after
    // each message: asked per message, reading n messages cost O(n^2) (the at-least-once test
    // reads ~9,000 records; its check alone then outlasted the read's timeout on a slow machine).
    const DONE_EVERY: Duration = Duration::from_millis(250);
    let mut asked = Instant::now();
    let mut ask = true;
    loop {
        if Instant::now() >= end {
            break;
        }
        if ask || asked.elapsed() >= DONE_EVERY {
            if done(&msgs) {
                break;
            }
            asked = Instant::now();
        }
        ask = false;
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|x| {
                                (
                                    x.key.to_string(),
                                    String::from_utf8_lossy(x.value.unwrap_or_default())
                                        .to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let payload = m.payload().unwrap_or_default();
                let json = serde_json::from_slice(payload)
                    .or_else(|_| forewarn::codec::cbor_to_json(payload).map_err(|_| ()))
                    .unwrap_or(serde_json::Value::Null);
                check_schema(&headers, &json, m.topic());
                msgs.push(Msg {
                    topic: m.topic().to_string(),
                    key: String::from_utf8_lossy(m.key().unwrap_or_default()).to_string(),
                    partition: m.partition(),
                    offset: m.offset(),
                    headers,
                    json,
                });
            }
            Some(Err(e)) => eprintln!("consumer: {e}"),
            None => ask = true,
        }
    }
    msgs
}

/// The committed JSON Schemas (schemas/), compiled once.
fn validators() -> &'static HashMap<&'static str, jsonschema::Validator> {
    static V: std::sync::OnceLock<HashMap<&'static str, jsonschema::Validator>> =
        std::sync::OnceLock::new();
    V.get_or_init(|| {
        let files: [(&str, &str); 6] = [
            (
                "forewarn.command.v1",
                include_str!("../../schemas/forewarn.command.v1.json"),
            ),
            (
                "forewarn.command_envelope.v1",
                include_str!("../../schemas/forewarn.command_envelope.v1.json"),
            ),
            (
                "forewarn.alert.v1",
                include_str!("../../schemas/forewarn.alert.v1.json"),
            ),
            (
                "forewarn.telemetry.v1",
                include_str!("../../schemas/forewarn.telemetry.v1.json"),
            ),
            (
                "forewarn.status.v1",
                include_str!("../../schemas/forewarn.status.v1.json"),
            ),
            (
                "forewarn.baseline.v1",
                include_str!("../../schemas/forewarn.baseline.v1.json"),
            ),
        ];
        files
            .into_iter()
            .map(|(name, text)| {
                let schema: serde_json::Value = serde_json::from_str(text).expect("schema JSON");
                let v = jsonschema::validator_for(&schema)
                    .unwrap_or_else(|e| panic!("schemas/{name}.json: {e}"));
                (name, v)
            })
            .collect()
    })
}

/// Where `record` breaks the committed schema `name` (empty: it fits).
pub fn schema_errors(name: &str, record: &serde_json::Value) -> Vec<String> {
    let v = validators()
        .get(name)
        .unwrap_or_else(|| panic!("no schema {name}"));
    v.iter_errors(record)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

/// Every record a test reads fits the schema its `forewarn-schema` header names (JSON, or
/// CBOR read as JSON).
fn check_schema(headers: &HashMap<String, String>, json: &serde_json::Value, topic: &str) {
    let Some(name) = headers.get("forewarn-schema") else {
        return;
    };
    let errors = schema_errors(name, json);
    assert!(
        errors.is_empty(),
        "a record on {topic} does not fit schemas/{name}.json: {errors:#?}\n{json}"
    );
}

/// `check-config` of `path` with these environment variables: whether it passed, and its
/// stdout and stderr.
pub fn check_config(path: &std::path::Path, env: &[(&str, &std::ffi::OsStr)]) -> (bool, String) {
    let out = agent_command()
        .arg("check-config")
        .arg(path)
        .envs(env.iter().copied())
        .output()
        .expect("run check-config");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A provisioning file for tests: gateway `gw-test`, Kafka at `bootstrap` (topics created by
/// the agent, 3 partitions), heartbeat every second, plus the given sources/assets/rules.
pub fn agent_config(bootstrap: &str, rest: &str) -> String {
    format!(
        r#"
[gateway]
id = "gw-test"
site = "test-site"
data_dir = "{{data_dir}}"
heartbeat_secs = 1

[kafka]
bootstrap_servers = "{bootstrap}"
create_topics = true
topic_partitions = 3

[outbox]
budget_bytes = 16777216
durability = "full"
{rest}
"#
    )
}
