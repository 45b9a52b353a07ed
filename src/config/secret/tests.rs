use super::*;

#[test]
fn a_secret_never_prints_its_value() {
    let s = Secret::new("CANARY-1".into());
    assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
    assert_eq!(
        format!("{:?}", Some(("user".to_string(), s.clone()))),
        r#"Some(("user", <redacted>))"#
    );
    assert_eq!(s.expose(), "CANARY-1");
}

#[test]
fn scrubbing_replaces_every_secret_value_longest_first() {
    let secrets = vec!["hunter2-long".to_string(), "hunter2".to_string()];
    assert_eq!(
        scrub_with("a hunter2-long b hunter2 c", &secrets),
        "a <redacted> b <redacted> c"
    );
    assert!(matches!(scrub_with("clean", &secrets), Cow::Borrowed(_)));
    assert_eq!(scrub_with("x", &[]), "x");
}

#[test]
fn secret_properties_and_fields_are_recognised() {
    for k in [
        "sasl.password",
        "ssl.key.password",
        "ssl.keystore.password",
        "sasl.oauthbearer.client.secret",
        "ssl.key.pem",
        "sasl.oauthbearer.config",
        "SASL.PASSWORD",
    ] {
        assert!(is_secret_property(k), "{k}");
    }
    for k in [
        "sasl.username",
        "security.protocol",
        "ssl.ca.location",
        "client.id",
    ] {
        assert!(!is_secret_property(k), "{k}");
    }
    assert!(is_secret_field("sources[2].password"));
    assert!(is_secret_field("kafka.properties.sasl.password"));
    assert!(is_secret_field("kafka.properties.\"ssl.key.pem\""));
    assert!(!is_secret_field("sources[2].username"));
    assert!(!is_secret_field("kafka.properties.sasl.username"));
    assert!(!is_secret_field("gateway.id"));
}

#[test]
fn parser_messages_about_secrets_lose_every_quoted_value() {
    assert_eq!(
        redact_message("invalid type: integer `12345678`, expected a string"),
        "invalid type: integer <redacted>, expected a string"
    );
    assert_eq!(
        redact_message(r#"invalid type: string "hunter2", expected `a` or `b`"#),
        "invalid type: string <redacted>, expected `a` or `b`"
    );
    assert_eq!(
        redact_message("invalid value `unterminated"),
        "invalid value <redacted>"
    );
    assert_eq!(redact_message("invalid type: map"), "invalid type: map");
}

#[test]
fn references_are_parsed_strictly() {
    assert_eq!(Reference::parse("KAFKA_PW"), Ok(Reference::Env("KAFKA_PW")));
    assert_eq!(
        Reference::parse("env:KAFKA_PW"),
        Ok(Reference::Env("KAFKA_PW"))
    );
    assert_eq!(
        Reference::parse("file:/etc/forewarn/kafka.pw"),
        Ok(Reference::File("/etc/forewarn/kafka.pw"))
    );
    assert_eq!(
        Reference::parse("credential:kafka-pw"),
        Ok(Reference::Credential("kafka-pw"))
    );
    for bad in [
        "",
        "file:relative/path",
        "vault:x",
        "credential:../etc/shadow",
        "credential:a/b",
        "A B",
    ] {
        assert!(Reference::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_whole_config_debug_printed_shows_no_secret() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("kafka.pw");
    std::fs::write(&f, "CANARY-3\n").expect("write");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let text = format!(
        r#"
[gateway]
id = "gw"
site = "s"
data_dir = "/tmp/forewarn-test"
[kafka]
bootstrap_servers = "127.0.0.1:9092"
properties = {{ "security.protocol" = "sasl_plaintext", "sasl.username" = "u", "sasl.password" = "${{file:{}}}", "ssl.key.pem" = "CANARY-4" }}
[[sources]]
type = "mqtt"
name = "m"
host = "127.0.0.1"
topics = ["a/#"]
topic_pattern = "a/{{asset}}/{{signal}}"
username = "u"
password = "CANARY-5"
[[assets]]
id = "a"
signals = [{{ name = "x" }}]
"#,
        f.display()
    );
    let c = crate::config::parse_str(&text, "t.toml", dir.path()).expect("valid");
    assert_eq!(c.kafka.properties["sasl.password"], "CANARY-3");
    let crate::config::SourceConfig::Mqtt(m) = &c.sources[0] else {
        panic!("an MQTT source")
    };
    assert_eq!(
        m.credentials.as_ref().map(|(_, p)| p.expose()),
        Some("CANARY-5")
    );
    let shown = format!("{c:?}");
    assert!(!shown.contains("CANARY"), "{shown}");
    assert!(shown.contains("\"sasl.username\": \"u\""), "{shown}");
    assert_eq!(secret_values(&c), ["CANARY-3", "CANARY-4", "CANARY-5"]);
    let warnings = cleartext_credentials(&c);
    let fields: Vec<&str> = warnings.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        ["sources[0].password", "kafka.properties.sasl.username"]
    );
}

#[test]
fn secret_files_are_read_without_their_newline_and_refused_when_unsafe() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("pw");
    std::fs::write(&f, "CANARY-2\r\n").expect("write");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(read_secret_file(&f).as_deref(), Ok("CANARY-2"));
    assert_eq!(
        Reference::File(f.to_str().expect("utf-8 path"))
            .resolve()
            .as_deref(),
        Ok("CANARY-2")
    );

    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let e = read_secret_file(&f).expect_err("world-writable");
    assert!(
        e.contains("writable by every user") && !e.contains("CANARY"),
        "{e}"
    );

    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'x'; MAX_SECRET_FILE_BYTES as usize + 1]).expect("write");
    assert!(read_secret_file(&big)
        .expect_err("too big")
        .contains("larger than"));

    let bin = dir.path().join("bin");
    std::fs::write(&bin, [0xff, 0xfe]).expect("write");
    assert!(read_secret_file(&bin)
        .expect_err("binary")
        .contains("not UTF-8"));

    let e = read_secret_file(&dir.path().join("missing")).expect_err("missing");
    assert!(e.contains("cannot read"), "{e}");
    assert!(read_secret_file(dir.path()).is_err());
}
