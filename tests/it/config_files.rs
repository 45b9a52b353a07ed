use crate::harness::agent_command;

/// Where the gateway files name their model packages (where the package installs them).
const INSTALLED_MODELS: &str = "/usr/share/forewarn/models/";
/// Secrets the gateway files read from the unit's environment file.
const SECRETS: [&str; 2] = ["FOREWARN_KAFKA_PASSWORD", "FOREWARN_MQTT_PASSWORD"];

/// A copy of a gateway file that can be checked here: package paths pointing at this
/// repository's `models/`, stand-ins for the secrets (the test's environment stays untouched).
fn as_checked_here(path: &std::path::Path, tmp: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(path).expect("read");
    if !text.contains(INSTALLED_MODELS) && !SECRETS.iter().any(|s| text.contains(s)) {
        return path.to_path_buf();
    }
    let models = format!("{}/models/", env!("CARGO_MANIFEST_DIR"));
    let mut text = text.replace(INSTALLED_MODELS, &models);
    for s in SECRETS {
        text = text.replace(&format!("${{{s}}}"), "stand-in");
    }
    let copy = tmp.join(path.file_name().expect("file name"));
    std::fs::write(&copy, text).expect("write");
    copy
}

#[test]
fn shipped_provisioning_files_validate() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config");
    let tmp = tempfile::tempdir().expect("tmp");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("firmware-config/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let path = as_checked_here(&path, tmp.path());
            if let Err(e) =
                forewarn::config::load_file_with(&path, &forewarn::model::package::ManifestReader)
            {
                panic!("{e}");
            }
            let out = agent_command()
                .arg("check-config")
                .arg(&path)
                .output()
                .expect("run");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 4,
        "expected the demo, the example and the two gateway files, found {checked}"
    );
}

#[test]
fn check_config_lists_every_problem_with_line_and_field() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        r#"[gateway]
id = "gw 1"
site = "x"
data_dir = "/tmp/x"
colour = "blue"

[kafka]
bootstrap_servers = "k:9092"
encoding = "xml"
properties = { "acks" = "1" }

[[sources]]
type = "serial"
name = "rs485"
device = "/dev/ttyUSB0"
baud = "fast"
asset = "pump-1"
format = "csv"
fields = ["ts", "temp"]

[[sources]]
type = "modbus"
name = "m"

[[assets]]
id = "pump-1"
signals = [{ name = "temp" }]

[[rules]]
name = "hot"
asset = "pump-2"
signal = "temp"
above = 80.0

[kafka.topics]
alerts = "a"
extra = 1
"#,
    )
    .expect("write");
    let out = agent_command()
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3), "invalid files exit with 3");
    let err = String::from_utf8_lossy(&out.stderr);
    let expect = [
        (":2:", "gateway.id"),
        (":5:", "unknown field `colour`"),
        (":9:", "kafka.encoding"),
        (":10:", "kafka.properties.acks"),
        (":16:", "sources[0].baud"),
        (":21:", "unknown source type `modbus`"),
        (":31:", "rules[0].asset"),
        (":37:", "kafka.topics.extra"),
    ];
    for (line, text) in expect {
        assert!(
            err.lines().any(|l| l.contains(line) && l.contains(text)),
            "missing {text:?} at line {line} in:\n{err}"
        );
    }
    assert!(
        err.contains("8 problem(s)"),
        "exactly the eight problems:\n{err}"
    );
}

#[test]
fn check_config_asks_librdkafka_about_pass_through_properties() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("props.toml");
    std::fs::write(
        &file,
        r#"[gateway]
id = "gw"
site = "s"
data_dir = "/tmp/x"

[kafka]
bootstrap_servers = "k:9092"
properties = { "security.protocol" = "carrier-pigeon" }

[[sources]]
type = "mqtt"
name = "m"
host = "127.0.0.1"
topics = ["a/+"]
topic_pattern = "a/{asset}"

[[assets]]
id = "pump-1"
signals = [{ name = "temp" }]
"#,
    )
    .expect("write");
    let out = agent_command()
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("kafka.properties") && err.contains("security.protocol"),
        "{err}"
    );
}

/// `check-config --offline` on a build machine: the gateway files as shipped (secrets from
/// the unit's environment, packages where the Debian package installs them) pass, and say
/// what was left for the gateway; a real mistake or a malformed reference still fails.
#[test]
fn check_config_offline_checks_the_shipped_files_without_the_gateways_secrets_and_packages() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config");
    let check = |path: &std::path::Path, offline: bool| {
        let mut c = agent_command();
        c.arg("check-config");
        if offline {
            c.arg("--offline");
        }
        for s in SECRETS {
            c.env_remove(s);
        }
        let out = c.arg(path).output().expect("run");
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let mut with_gateway_parts = 0;
    // The two gateway files name `${FOREWARN_KAFKA_PASSWORD}` and installed packages; the
    // example reads `${HOME}` and has no models.
    for (name, gateway_parts) in [
        ("pump-station.toml", true),
        ("machining-line.toml", true),
        ("example-gateway.toml", false),
    ] {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).expect("read");
        let (code, out) = check(&path, true);
        assert_eq!(code, Some(0), "{name} offline:\n{out}");
        if gateway_parts {
            assert!(text.contains(INSTALLED_MODELS), "{name}");
            with_gateway_parts += 1;
            assert!(out.contains("not checked offline"), "{name}:\n{out}");
            // On the gateway (not offline) the missing secrets and packages are problems.
            let (code, out) = check(&path, false);
            assert_eq!(code, Some(3), "{name} online:\n{out}");
        }
    }
    assert!(
        with_gateway_parts >= 2,
        "the gateway files name secrets and installed packages"
    );

    let tmp = tempfile::tempdir().expect("tmp");
    let pump = std::fs::read_to_string(dir.join("pump-station.toml")).expect("read");
    for (name, text, says) in [
        (
            "unknown-asset.toml",
            format!("{pump}\n[[rules]]\nname = \"x\"\nasset = \"no-such-asset\"\nsignal = \"s\"\nabove = 1.0\n"),
            "no-such-asset",
        ),
        (
            "bad-reference.toml",
            pump.replace("${FOREWARN_KAFKA_PASSWORD}", "${nope:x}"),
            "nope",
        ),
    ] {
        assert!(text != pump, "{name}: the edit applies");
        let path = tmp.path().join(name);
        std::fs::write(&path, text).expect("write");
        let (code, out) = check(&path, true);
        assert_eq!(code, Some(3), "{name}:\n{out}");
        assert!(out.contains(says), "{name}:\n{out}");
    }
}
