//! The provisioning file: `config::parse_str` on arbitrary UTF-8 text (the file is read with
//! `read_to_string`, so text that is not UTF-8 never reaches the parser).
//!
//! Invariants: a rejected file names at least one problem, each with a message and, where it
//! has a location, a line and column inside the text; an accepted file holds what validation
//! promises (names unique and well-formed, every reference to an asset resolves).

#![no_main]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use forewarn::config::{parse_str, Config, SourceConfig, TopicLevel};
use forewarn_fuzz::firmware_config_dir;
use libfuzzer_sys::fuzz_target;

/// Relative replay paths resolve here, so the shipped demo file (and mutations of it) validate.
fn base_dir() -> &'static PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(firmware_config_dir)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_str(text, "fuzz.toml", base_dir()) {
        Ok(config) => check_config(&config),
        Err(errors) => {
            assert!(!errors.problems.is_empty(), "rejected without a problem");
            let lines = text.split('\n').collect::<Vec<_>>();
            for p in &errors.problems {
                assert!(!p.message.is_empty(), "problem without a message: {p:?}");
                match (p.line, p.column) {
                    (Some(l), Some(c)) => {
                        assert!(
                            (1..=lines.len()).contains(&l),
                            "line {l} outside the text ({} lines): {p:?}",
                            lines.len()
                        );
                        assert!(
                            c >= 1 && c <= lines[l - 1].len() + 1,
                            "column {c} outside line {l}: {p:?}"
                        );
                    }
                    (None, None) => {}
                    _ => panic!("a line without a column or the reverse: {p:?}"),
                }
            }
            let shown = errors.to_string();
            assert!(shown.starts_with("fuzz.toml: "), "{shown}");
        }
    }
});

fn check_config(c: &Config) {
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    assert!(is_name(&c.gateway.id), "gateway id {:?}", c.gateway.id);
    assert!(!c.sources.is_empty(), "accepted without sources");

    let mut assets = HashSet::new();
    for a in &c.assets {
        assert!(is_name(&a.id), "asset id {:?}", a.id);
        assert!(assets.insert(&*a.id), "duplicate asset {:?}", a.id);
        assert!(!a.signals.is_empty(), "asset {:?} without signals", a.id);
        let mut signals = HashSet::new();
        for s in &a.signals {
            assert!(is_name(&s.name), "signal name {:?}", s.name);
            assert!(signals.insert(&*s.name), "duplicate signal {:?}", s.name);
        }
    }
    let mut names = HashSet::new();
    for s in &c.sources {
        assert!(is_name(s.name()), "source name {:?}", s.name());
        assert!(names.insert(s.name()), "duplicate source {:?}", s.name());
        match s {
            SourceConfig::Mqtt(m) => {
                let asset_levels = m
                    .pattern
                    .iter()
                    .filter(|l| **l == TopicLevel::Asset)
                    .count();
                assert_eq!(asset_levels, 1, "topic pattern {:?}", m.pattern);
                assert!(m.max_payload_bytes >= 16, "max_payload_bytes");
            }
            SourceConfig::Serial(s) => {
                assert!(
                    assets.contains(s.asset.as_str()),
                    "serial asset {:?}",
                    s.asset
                );
                assert!(s.max_frame_bytes >= 16, "max_frame_bytes");
            }
            SourceConfig::Replay(r) => {
                if let Some(a) = &r.asset {
                    assert!(assets.contains(a.as_str()), "replay asset {a:?}");
                }
            }
        }
    }
    for r in &c.rules {
        if let Some(a) = &r.asset {
            let asset = c.assets.iter().find(|x| &*x.id == a);
            assert!(
                asset.is_some_and(|x| x.signal(&r.signal).is_some()),
                "rule {:?} on a missing asset or signal",
                r.name
            );
        } else {
            assert!(
                c.assets.iter().any(|x| x.signal(&r.signal).is_some()),
                "rule {:?} on a signal no asset has",
                r.name
            );
        }
    }
}
