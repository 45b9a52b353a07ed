use super::*;
use crate::command::{sign, SecretKey, Target};

const NOW: i64 = 1_796_000_000_000_000_000;
const MIN: i64 = 60_000_000_000;

fn command(id: &str, seq: u64, action: Action) -> Command {
    Command {
        schema: COMMAND_SCHEMA.into(),
        id: id.into(),
        target: Target {
            gateways: vec!["gw-1".into()],
            tags: BTreeMap::new(),
        },
        seq,
        issued_ns: NOW,
        expires_ns: NOW + 10 * MIN,
        action,
    }
}

fn bytes(e: &Envelope) -> Vec<u8> {
    serde_json::to_vec(e).expect("envelope")
}

fn gate(key: &SecretKey) -> Gate {
    let tags = [("line".to_string(), "3".to_string())]
        .into_iter()
        .collect();
    Gate::new("gw-1", tags, &[key.trusted()], 0).expect("gate")
}

fn refusal(v: Verdict) -> Refusal {
    match v {
        Verdict::Refuse(r, _) => r,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn a_signed_command_for_this_gateway_is_accepted_once() {
    let key = SecretKey::generate().expect("key");
    let mut g = gate(&key);
    let e = sign(&command("c1", 10, Action::Ping), &key);
    assert_eq!(
        g.check(&bytes(&e), NOW),
        Verdict::Accept(command("c1", 10, Action::Ping))
    );
    assert_eq!(g.last_seq(), 10);
    // Delivered again: a duplicate, not run twice.
    assert_eq!(refusal(g.check(&bytes(&e), NOW)), Refusal::Duplicate);
}

#[test]
fn forged_tampered_expired_early_and_replayed_commands_are_refused() {
    let key = SecretKey::generate().expect("key");
    let mallory = SecretKey::generate().expect("key");
    let mut g = gate(&key);
    // Signed by an untrusted key.
    let forged = sign(&command("f", 5, Action::Ping), &mallory);
    assert_eq!(refusal(g.check(&bytes(&forged), NOW)), Refusal::UnknownKey);
    // An untrusted signature under a trusted key's id.
    let claimed = Envelope {
        key_id: key.id(),
        ..forged.clone()
    };
    assert_eq!(
        refusal(g.check(&bytes(&claimed), NOW)),
        Refusal::BadSignature
    );
    // A trusted command changed after signing.
    let mut tampered = sign(&command("t", 5, Action::Ping), &key);
    tampered.command = tampered.command.replace("\"seq\":5", "\"seq\":6");
    assert_eq!(
        refusal(g.check(&bytes(&tampered), NOW)),
        Refusal::BadSignature
    );
    // Out of its window.
    let e = sign(&command("late", 5, Action::Ping), &key);
    assert_eq!(
        refusal(g.check(&bytes(&e), NOW + 10 * MIN)),
        Refusal::Expired
    );
    assert_eq!(
        refusal(g.check(&bytes(&e), NOW - 6 * MIN)),
        Refusal::NotYetValid
    );
    // Within the skew tolerated: fine.
    assert!(matches!(
        g.check(&bytes(&e), NOW - 4 * MIN),
        Verdict::Accept(_)
    ));
    // An older seq, even with a new id and a valid signature: a replay.
    let old = sign(&command("older", 4, Action::Ping), &key);
    assert_eq!(refusal(g.check(&bytes(&old), NOW)), Refusal::Replayed);
    // Junk and oversize.
    assert_eq!(
        refusal(g.check(b"{\"command\":1}", NOW)),
        Refusal::Malformed
    );
    let big = vec![b' '; MAX_ENVELOPE_BYTES + 1];
    assert_eq!(refusal(g.check(&big, NOW)), Refusal::TooLarge);
    // None of these moved the sequence.
    assert_eq!(g.last_seq(), 5);
}

#[test]
fn commands_for_other_gateways_or_tags_are_not_for_us() {
    let key = SecretKey::generate().expect("key");
    let mut g = gate(&key);
    let mut c = command("other", 7, Action::Ping);
    c.target.gateways = vec!["gw-2".into()];
    assert_eq!(g.check(&bytes(&sign(&c, &key)), NOW), Verdict::NotForUs);
    c.target.tags = [("line".to_string(), "4".to_string())]
        .into_iter()
        .collect();
    assert_eq!(g.check(&bytes(&sign(&c, &key)), NOW), Verdict::NotForUs);
    c.target.tags = [("line".to_string(), "3".to_string())]
        .into_iter()
        .collect();
    assert!(matches!(
        g.check(&bytes(&sign(&c, &key)), NOW),
        Verdict::Accept(_)
    ));
    // A command for no one.
    c.id = "none".into();
    c.seq = 8;
    c.target = Target::default();
    assert_eq!(g.check(&bytes(&sign(&c, &key)), NOW), Verdict::NotForUs);
}

#[test]
fn keys_rotate_by_a_command_signed_with_a_current_key() {
    let old = SecretKey::generate().expect("key");
    let new = SecretKey::generate().expect("key");
    let mut g = gate(&old);
    // The new key is not trusted yet.
    let early = sign(&command("n0", 1, Action::Ping), &new);
    assert_eq!(refusal(g.check(&bytes(&early), NOW)), Refusal::UnknownKey);
    // Removing the only key is refused, and changes nothing.
    let empty = Action::RotateKeys {
        add: vec![],
        remove: vec![old.id()],
    };
    let e = sign(&command("r0", 2, empty), &old);
    assert_eq!(refusal(g.check(&bytes(&e), NOW)), Refusal::BadRotation);
    assert_eq!(g.key_ids(), vec![old.id().as_str()]);
    // Add the new key and retire the old one in one signed step.
    let rotate = Action::RotateKeys {
        add: vec![new.trusted()],
        remove: vec![old.id()],
    };
    let e = sign(&command("r1", 3, rotate), &old);
    assert!(matches!(g.check(&bytes(&e), NOW), Verdict::Accept(_)));
    assert_eq!(g.key_ids(), vec![new.id().as_str()]);
    let after_old = sign(&command("o1", 4, Action::Ping), &old);
    assert_eq!(
        refusal(g.check(&bytes(&after_old), NOW)),
        Refusal::UnknownKey
    );
    let after_new = sign(&command("n1", 4, Action::Ping), &new);
    assert!(matches!(
        g.check(&bytes(&after_new), NOW),
        Verdict::Accept(_)
    ));
    // A key whose id does not match is refused, all or nothing.
    let bad = Action::RotateKeys {
        add: vec![TrustedKey {
            id: "0000000000000000".into(),
            public_key: old.trusted().public_key,
        }],
        remove: vec![],
    };
    let e = sign(&command("r2", 5, bad), &new);
    assert_eq!(refusal(g.check(&bytes(&e), NOW)), Refusal::BadRotation);
    assert_eq!(g.key_ids(), vec![new.id().as_str()]);
}

#[test]
fn remembered_ids_are_bounded() {
    let key = SecretKey::generate().expect("key");
    let mut g = gate(&key);
    let e = sign(&command("c0", 1, Action::Ping), &key);
    assert!(matches!(g.check(&bytes(&e), NOW), Verdict::Accept(_)));
    for i in 1..(REMEMBERED_IDS + 10) {
        g.remember(&format!("c{i}"));
    }
    assert_eq!(g.seen.len(), REMEMBERED_IDS);
    assert_eq!(g.order.len(), REMEMBERED_IDS);
    // The oldest are forgotten (their seq still refuses them).
    assert!(!g.seen.contains("c0") && g.seen.contains("c1033"));
}
