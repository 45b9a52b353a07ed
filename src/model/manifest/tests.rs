use super::*;

const GOOD: &str = r#"
[model]
name = "bearing-fault"
version = "1.0.0"
onnx = "model.onnx"
sha256 = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"

[input]
signals = ["vib"]
features = ["vib.rms", "vib.kurtosis"]
window = { samples = 2048, hop = 1024, sample_rate_hz = 12000.0 }

[input.normalize]
mean = [0.1, 3.0]
std = [0.05, 1.0]

[output]
kind = "classes"
name = "probabilities"
labels = ["normal", "inner_race", "ball"]
normal = "normal"

[[alerts]]
name = "fault"
direction = "above"
on = 0.8
off = 0.5
debounce = { k = 3, n = 5 }

[[alerts]]
name = "inner-race"
severity = "critical"
class = "inner_race"
direction = "above"
on = 0.9
off = 0.6

[[golden]]
features = [0.1, 3.0]
output = [0.9, 0.05, 0.05]
"#;

#[test]
fn a_complete_manifest_parses() {
    let m = Manifest::parse(GOOD).unwrap();
    assert_eq!(m.name, "bearing-fault");
    assert_eq!(
        m.sha256,
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    );
    assert_eq!(m.features.len(), 2);
    assert_eq!(m.window.shape().len, 2048);
    assert_eq!(m.output_len(), 3);
    assert_eq!(
        m.output,
        OutputKind::Classes {
            labels: vec!["normal".into(), "inner_race".into(), "ball".into()],
            normal: 0
        }
    );
    assert_eq!(m.alerts[0].class, None);
    assert_eq!((m.alerts[0].k, m.alerts[0].n), (3, 5));
    assert_eq!(m.alerts[0].severity, Severity::Warning);
    assert_eq!(m.alerts[1].class, Some(1));
    assert_eq!(m.alerts[1].severity, Severity::Critical);
    assert_eq!(m.golden[0].tolerance, 1e-4);
}

#[test]
fn time_windows_parse() {
    let text = GOOD.replace(
        "window = { samples = 2048, hop = 1024, sample_rate_hz = 12000.0 }",
        "window = { secs = 30.0, hop_secs = 1.0, sample_rate_hz = 1.0, lateness_secs = 2.0 }",
    );
    let m = Manifest::parse(&text).unwrap();
    assert!(matches!(m.window, WindowSpec::Time { secs, .. } if secs == 30.0));
}

#[test]
fn every_problem_is_listed_at_once() {
    let bad = GOOD
        .replace("name = \"bearing-fault\"", "name = \"bad name!\"")
        .replace("sha256 = \"0011", "sha256 = \"zz11")
        .replace("\"vib.kurtosis\"", "\"vib.kurtosis\", \"temp.mean\"")
        .replace("std = [0.05, 1.0]", "std = [0.05, 0.0]")
        .replace("normal = \"normal\"", "normal = \"healthy\"")
        .replace("on = 0.9\noff = 0.6", "on = 0.5\noff = 0.6")
        .replace("class = \"inner_race\"", "class = \"outer_race\"");
    let e = Manifest::parse(&bad).unwrap_err().0;
    let text = e.join("\n");
    for needle in [
        "model.name",
        "model.sha256",
        "signal \"temp\", which input.signals does not list",
        "needs 3 means and stds",
        "std must be finite and > 0",
        "output.normal \"healthy\"",
        "hysteresis",
        "alerts[1].class \"outer_race\"",
        "golden[0] has 2 features, the model takes 3",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn unknown_keys_bad_windows_and_missing_golden_are_refused() {
    let e = Manifest::parse(&GOOD.replace("[output]", "[output]\ncolour = \"red\"")).unwrap_err();
    assert!(e.to_string().contains("colour"), "{e}");
    let e = Manifest::parse(&GOOD.replace("hop = 1024", "hop = 4096")).unwrap_err();
    assert!(e.to_string().contains("input.window"), "{e}");
    let e = Manifest::parse(
        &GOOD.replace("samples = 2048, hop = 1024,", "samples = 2048, secs = 2.0,"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("either samples and hop"), "{e}");
    let no_golden = &GOOD[..GOOD.find("[[golden]]").unwrap()];
    let e = Manifest::parse(no_golden).unwrap_err();
    assert!(e.to_string().contains("golden"), "{e}");
    let e = Manifest::parse("not toml [").unwrap_err();
    assert!(!e.0.is_empty());
}
