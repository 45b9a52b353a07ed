//! `forewarn-fleet keygen`, `sign` and `verify`: a signed command is accepted by the gateway
//! it names and refused, with its reason, when it is forged, tampered with, expired, replayed
//! or for another gateway; keys rotate by a command signed with the current key.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use crate::harness::{schema_errors, wrapped_command};

fn fleet(args: &[&str]) -> Output {
    wrapped_command(env!("CARGO_BIN_EXE_forewarn-fleet"))
        .args(args)
        .output()
        .expect("run forewarn-fleet")
}

fn ok(args: &[&str]) -> String {
    let out = fleet(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `verify`'s refusal reason (it must exit 1).
fn refused(args: &[&str]) -> String {
    let out = fleet(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    err
}

#[test]
fn signed_commands_are_accepted_by_their_gateway_and_every_forgery_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    let snippet = ok(&["keygen", "--out", &path("center")]);
    assert!(snippet.contains("[[commands.trusted_keys]]"), "{snippet}");
    let mode = std::fs::metadata(path("center.secret"))
        .expect("secret")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Never overwritten.
    assert_eq!(
        fleet(&["keygen", "--out", &path("center")]).status.code(),
        Some(1)
    );
    ok(&["keygen", "--out", &path("mallory")]);

    let sign = |key: &str, extra: &[&str]| -> String {
        let mut args = vec!["sign", "--key", key, "--gateway", "gw-1"];
        args.extend_from_slice(extra);
        let envelope = ok(&args);
        let file = path(&format!("cmd-{}.json", fastrand::u64(..)));
        std::fs::write(&file, envelope).expect("write");
        file
    };
    let verify = |trusted: &str, file: &str, extra: &[&str]| -> Vec<String> {
        let mut args = vec!["verify", "--trusted", trusted, "--gateway", "gw-1"];
        args.extend_from_slice(extra);
        args.push(file);
        args.into_iter().map(String::from).collect()
    };
    let center_pub = path("center.pub");
    let center_secret = path("center.secret");

    let ping = sign(&center_secret, &["--action", "ping", "--seq", "100"]);
    let args = verify(&center_pub, &ping, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let accepted: serde_json::Value = serde_json::from_str(&ok(&args)).expect("command JSON");
    assert_eq!(accepted["action"]["type"], "ping");
    // Both fit their committed schemas (schemas/forewarn.command_envelope.v1.json and
    // forewarn.command.v1.json).
    let envelope: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ping).expect("read")).expect("JSON");
    let errors = schema_errors("forewarn.command_envelope.v1", &envelope);
    assert!(errors.is_empty(), "{errors:?}");
    let inner: serde_json::Value =
        serde_json::from_str(envelope["command"].as_str().expect("text")).expect("JSON");
    assert_eq!(inner, accepted);
    let errors = schema_errors("forewarn.command.v1", &inner);
    assert!(errors.is_empty(), "{errors:?}");
    let mut unknown = inner.clone();
    unknown["priority"] = serde_json::json!("high");
    assert_eq!(schema_errors("forewarn.command.v1", &unknown).len(), 1);
    assert_eq!(accepted["seq"], 100);
    assert_eq!(accepted["target"]["gateways"][0], "gw-1");

    let check = |file: &str, trusted: &str, extra: &[&str], reason: &str| {
        let args = verify(trusted, file, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = refused(&args);
        assert!(err.contains(reason), "want {reason}: {err}");
    };
    // For another gateway.
    let mut other = verify(&center_pub, &ping, &[]);
    other[4] = "gw-2".into();
    let other: Vec<&str> = other.iter().map(String::as_str).collect();
    assert!(refused(&other).contains("not_for_us"));
    // Signed by a key the gateway does not trust.
    let forged = sign(&path("mallory.secret"), &["--action", "ping"]);
    check(&forged, &center_pub, &[], "unknown_key");
    // Changed after signing.
    let text = std::fs::read_to_string(&ping).expect("read");
    let tampered = path("tampered.json");
    std::fs::write(
        &tampered,
        text.replace("\\\"seq\\\":100", "\\\"seq\\\":101"),
    )
    .expect("write");
    assert_ne!(std::fs::read_to_string(&tampered).expect("read"), text);
    check(&tampered, &center_pub, &[], "bad_signature");
    // Expired.
    let expired = sign(&center_secret, &["--action", "ping", "--expires-in", "0"]);
    check(&expired, &center_pub, &[], "expired");
    // Replayed: the gateway has accepted seq 100 already.
    check(&ping, &center_pub, &["--last-seq", "100"], "replayed");
    // A relearn without its detector is a usage error, not a command.
    let out = fleet(&[
        "sign",
        "--key",
        &center_secret,
        "--gateway",
        "gw-1",
        "--action",
        "relearn",
    ]);
    assert_eq!(out.status.code(), Some(1));

    // Rotation: trust mallory's key (say it is the new one) and retire the center's.
    let center_id = std::fs::read_to_string(&center_pub)
        .expect("pub")
        .split_whitespace()
        .nth(1)
        .expect("id")
        .to_string();
    let rotate = sign(
        &center_secret,
        &[
            "--action",
            "rotate-keys",
            "--add-key",
            &path("mallory.pub"),
            "--remove-key",
            &center_id,
        ],
    );
    let args = verify(&center_pub, &rotate, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let accepted: serde_json::Value = serde_json::from_str(&ok(&args)).expect("command JSON");
    assert_eq!(accepted["action"]["type"], "rotate_keys");
    assert_eq!(accepted["action"]["remove"][0], center_id.as_str());
}
