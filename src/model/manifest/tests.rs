use super::*;

pub(super) const GOOD: &str = r#"
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
    let e = Manifest::parse(&bad).unwrap_err();
    let text =
        e.0.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
    for needle in [
        "model.name",
        "model.sha256",
        "signal \"temp\", which input.signals does not list",
        "needs 3 means and stds",
        "input.normalize.std: must be finite and > 0",
        "output.normal: \"healthy\"",
        "alerts[1].off: must be on the clearing side of on (hysteresis)",
        "alerts[1].class: \"outer_race\"",
        "golden[0].features: has 2 features, the model takes 3",
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

pub(super) fn problems(text: &str) -> ManifestErrors {
    Manifest::parse(text).unwrap_err()
}

const WINDOW: &str = "window = { samples = 2048, hop = 1024, sample_rate_hz = 12000.0 }";

fn with_window(w: &str) -> String {
    GOOD.replace(WINDOW, w)
}

#[test]
fn time_window_numbers_are_range_checked_with_their_field() {
    let time = |args: &str| with_window(&format!("window = {{ {args} }}"));
    Manifest::parse(&time("secs = 30.0, hop_secs = 0.001, sample_rate_hz = 1.0")).unwrap();
    for (args, field) in [
        // The hop of issue 14: 1 ns closes a billion windows per second of event time.
        (
            "secs = 30.0, hop_secs = 1e-9, sample_rate_hz = 1.0",
            "input.window.hop_secs",
        ),
        (
            "secs = 30.0, hop_secs = 0.0009, sample_rate_hz = 1.0",
            "input.window.hop_secs",
        ),
        (
            "secs = 30.0, hop_secs = nan, sample_rate_hz = 1.0",
            "input.window.hop_secs",
        ),
        (
            "secs = 30.0, hop_secs = 31.0, sample_rate_hz = 1.0",
            "input.window.hop_secs",
        ),
        (
            "secs = inf, hop_secs = 1.0, sample_rate_hz = 1.0",
            "input.window.secs",
        ),
        (
            "secs = -1.0, hop_secs = 1.0, sample_rate_hz = 1.0",
            "input.window.secs",
        ),
        (
            "secs = 700000.0, hop_secs = 1.0, sample_rate_hz = 1e-3",
            "input.window.secs",
        ),
        // 1 hour at 100 Hz: 360,000 points.
        (
            "secs = 3600.0, hop_secs = 1.0, sample_rate_hz = 100.0",
            "input.window.secs",
        ),
        (
            "secs = 30.0, hop_secs = 1.0, sample_rate_hz = 0.0",
            "input.window.sample_rate_hz",
        ),
        (
            "secs = 30.0, hop_secs = 1.0, sample_rate_hz = 2e6",
            "input.window.sample_rate_hz",
        ),
        (
            "secs = 30.0, hop_secs = 1.0, sample_rate_hz = 1e-7",
            "input.window.sample_rate_hz",
        ),
        (
            "secs = 30.0, hop_secs = 1.0, sample_rate_hz = 1.0, max_gap_secs = -1.0",
            "input.window.max_gap_secs",
        ),
        (
            "secs = 30.0, hop_secs = 1.0, sample_rate_hz = 1.0, max_gap_secs = 1e9",
            "input.window.max_gap_secs",
        ),
        (
            "secs = 30.0, hop_secs = 1.0, sample_rate_hz = 1.0, lateness_secs = 86401.0",
            "input.window.lateness_secs",
        ),
        (
            "secs = 30.0, hop_secs = 1.0, sample_rate_hz = 1.0, lateness_secs = -0.5",
            "input.window.lateness_secs",
        ),
    ] {
        let e = problems(&time(args));
        assert!(
            e.has(field),
            "{args}: expected a problem on {field}, got {e}"
        );
    }
}

#[test]
fn sample_windows_are_bounded_in_points_before_a_buffer_is_built() {
    Manifest::parse(&with_window(
        "window = { samples = 262144, hop = 1, sample_rate_hz = 12000.0 }",
    ))
    .unwrap();
    for (w, field) in [
        ("samples = 262145, hop = 1", "input.window.samples"),
        // Far past what fits in memory: refused by the bound, never allocated.
        (
            "samples = 18446744073709551615, hop = 1",
            "input.window.samples",
        ),
        ("samples = 0, hop = 0", "input.window.samples"),
        ("samples = 16, hop = 17", "input.window.hop"),
        ("samples = 16, hop = 0", "input.window.hop"),
    ] {
        let e = problems(&with_window(&format!(
            "window = {{ {w}, sample_rate_hz = 12000.0 }}"
        )));
        assert!(e.has(field), "{w}: expected {field}, got {e}");
    }
    // Points count every signal: 3 signals x 100,000 samples.
    let three = GOOD
        .replace("signals = [\"vib\"]", "signals = [\"a\", \"b\", \"c\"]")
        .replace(
            "features = [\"vib.rms\", \"vib.kurtosis\"]",
            "features = [\"a.rms\", \"b.rms\", \"c.rms\"]",
        )
        .replace(
            WINDOW,
            "window = { samples = 100000, hop = 1, sample_rate_hz = 12000.0 }",
        );
    let e = problems(&three);
    assert!(e.has("input.window.samples"), "{e}");
}

#[test]
fn lists_texts_and_values_are_bounded() {
    let many = |n: usize, item: &str| vec![item; n].join(", ");
    let cases: Vec<(String, &str)> = vec![
        (
            GOOD.replace(
                "version = \"1.0.0\"",
                &format!("version = \"{}\"", "9".repeat(65)),
            ),
            "model.version",
        ),
        (
            GOOD.replace("version = \"1.0.0\"", "version = \"1\\u0000\""),
            "model.version",
        ),
        (
            GOOD.replace(
                "name = \"probabilities\"",
                &format!("name = \"{}\"", "p".repeat(257)),
            ),
            "output.name",
        ),
        (
            GOOD.replace(
                "\"normal\", \"inner_race\", \"ball\"]",
                "\"normal\", \"ball\", \"ball\"]",
            ),
            "output.labels[2]",
        ),
        (
            GOOD.replace("output = [0.9, 0.05, 0.05]", "output = [nan, 0.05, 0.05]"),
            "golden[0].output",
        ),
        (
            GOOD.replace("features = [0.1, 3.0]", "features = [inf, 3.0]"),
            "golden[0].features",
        ),
        (GOOD.replace("on = 0.8", "on = nan"), "alerts[0].on"),
        (GOOD.replace("off = 0.5", "off = -inf"), "alerts[0].off"),
        (
            GOOD.replace(
                "debounce = { k = 3, n = 5 }",
                "debounce = { k = 3, n = 1001 }",
            ),
            "alerts[0].debounce",
        ),
        (
            GOOD.replace("debounce = { k = 3, n = 5 }", "debounce = { k = 6, n = 5 }"),
            "alerts[0].debounce",
        ),
        (
            format!("{GOOD}\n[training]\nmean = [0.0, nan]\nstd = [1.0, -1.0]\n"),
            "training.std",
        ),
        (
            format!("{GOOD}\n[training]\nmean = [0.0, nan]\nstd = [1.0, 1.0]\n"),
            "training.mean",
        ),
        (
            GOOD.replace(
                "signals = [\"vib\"]",
                &format!("signals = [{}]", many(65, "\"vib\"")),
            ),
            "input.signals",
        ),
        (
            GOOD.replace("signals = [\"vib\"]", "signals = [\"vib\", \"vib\"]"),
            "input.signals",
        ),
        (
            format!(
                "{GOOD}{}",
                "\n[[golden]]\nfeatures = [0.1, 3.0]\noutput = [0.9, 0.05, 0.05]\n".repeat(1000)
            ),
            "golden",
        ),
        (
            GOOD.replace(
                "output = [0.9, 0.05, 0.05]",
                "output = [0.9, 0.05, 0.05]\ntolerance = 1e7",
            ),
            "golden[0].tolerance",
        ),
    ];
    for (text, field) in &cases {
        let e = problems(text);
        assert!(e.has(field), "expected a problem on {field}, got {e}");
    }
    let alerts = format!(
        "{GOOD}{}",
        (0..63)
            .map(|i| format!(
                "\n[[alerts]]\nname = \"a{i}\"\ndirection = \"above\"\non = 1.0\noff = 0.5\n"
            ))
            .collect::<String>()
    );
    assert!(problems(&alerts).has("alerts"));
    let huge = format!("{GOOD}\n# {}\n", "x".repeat(bounds::MAX_MANIFEST_BYTES));
    assert!(problems(&huge).to_string().contains("limit 1048576"));
}
