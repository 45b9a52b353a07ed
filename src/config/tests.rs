//! `[[models]]` bindings: the package's manifest is read (through a [`PackageReader`]) and its
//! signals matched to the assets'.

use std::path::Path;

use super::*;

const MANIFEST: &str = r#"
[model]
name = "bearing"
version = "2"
onnx = "model.onnx"
sha256 = "SHA"
[input]
signals = ["vib", "speed"]
features = ["vib.rms", "speed.mean"]
window = { samples = 4, hop = 4, sample_rate_hz = 1.0 }
[output]
kind = "anomaly"
name = "score"
[[golden]]
features = [0.0, 0.0]
output = [0.0]
"#;

fn package(dir: &Path) {
    let onnx = b"stand-in bytes: validation reads only the manifest";
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("../r.csv"), "ts,de_vib\n").unwrap();
    std::fs::write(dir.join("model.onnx"), onnx).unwrap();
    std::fs::write(
        dir.join("manifest.toml"),
        MANIFEST.replace("SHA", &"0".repeat(64)),
    )
    .unwrap();
}

/// The model layer's reader (`model::package::ManifestReader`) reads `manifest.toml`; these
/// tests check what validation does with what a reader returns.
struct Manifests;

impl PackageReader for Manifests {
    fn manifest(&self, dir: &Path) -> Result<PackageInfo, PackageReadError> {
        let text = std::fs::read_to_string(dir.join("manifest.toml")).map_err(|e| {
            PackageReadError(format!("{}: {e}", dir.join("manifest.toml").display()).into())
        })?;
        assert!(text.contains("name = \"bearing\""));
        Ok(PackageInfo {
            name: "bearing".into(),
            signals: vec!["vib".into(), "speed".into()],
        })
    }

    fn features(
        &self,
        _signal: &str,
        kinds: &[String],
        _samples: usize,
        _sample_rate_hz: f64,
    ) -> Result<Vec<String>, String> {
        match kinds.iter().find(|k| k.starts_with("bad")) {
            Some(k) => Err(format!("`{k}`: unknown feature")),
            None => Ok(kinds.iter().map(|k| k.replace(' ', "")).collect()),
        }
    }
}

fn config(models: &str) -> String {
    format!(
        r#"
[gateway]
id = "gw"
site = "s"
data_dir = "/tmp/x"
[kafka]
bootstrap_servers = "127.0.0.1:9092"
[[sources]]
type = "replay"
name = "r"
path = "r.csv"
asset = "motor-1"
[[assets]]
id = "motor-1"
signals = [{{ name = "de_vib" }}, {{ name = "speed" }}]
[[assets]]
id = "motor-2"
signals = [{{ name = "vib" }}]
{models}
"#
    )
}

#[test]
fn a_binding_maps_model_signals_to_asset_signals() {
    let dir = tempfile::tempdir().unwrap();
    package(&dir.path().join("pkg"));
    let text = config(
        "[[models]]\npackage = \"pkg\"\nassets = [\"motor-1\"]\nsignals = { vib = \"de_vib\" }\n",
    );
    let c = parse_str_with(&text, "t.toml", dir.path(), &Manifests).unwrap();
    assert_eq!(c.models.len(), 1);
    assert_eq!(c.models[0].name, "bearing");
    assert_eq!(c.models[0].package, dir.path().join("pkg"));
    let (asset, sigs) = &c.models[0].bindings[0];
    assert_eq!(&**asset, "motor-1");
    assert_eq!(
        sigs.iter().map(|s| &**s).collect::<Vec<_>>(),
        ["de_vib", "speed"]
    );
}

#[test]
fn bad_bindings_are_reported_with_their_field() {
    let dir = tempfile::tempdir().unwrap();
    package(&dir.path().join("pkg"));
    let text = config(
        "[[models]]\npackage = \"pkg\"\nassets = [\"motor-2\", \"nope\"]\nsignals = { vibe = \"x\" }\n\n[[models]]\npackage = \"missing\"\nassets = [\"motor-1\"]\n",
    );
    let e = parse_str_with(&text, "t.toml", dir.path(), &Manifests).unwrap_err();
    let text = e.to_string();
    for needle in [
        "models[0].signals.vibe",
        "model `bearing` has no signal `vibe`",
        "asset `motor-2` has no signal `speed`",
        "unknown asset `nope`",
        "models[1].package",
        "manifest.toml",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn without_a_reader_packages_are_not_read_and_models_are_named_by_directory() {
    let dir = tempfile::tempdir().unwrap();
    // No package at all: validation without a reader does not look.
    let text = config("[[models]]\npackage = \"pkgs/bearing-v2\"\nassets = [\"motor-1\"]\n");
    std::fs::write(dir.path().join("r.csv"), "ts,de_vib\n").unwrap();
    let c = parse_str(&text, "t.toml", dir.path()).unwrap();
    assert!(c.package_problems.is_empty(), "{:?}", c.package_problems);
    assert_eq!(c.models[0].name, "bearing-v2");
    assert!(c.models[0].bindings.is_empty());
    // With a reader, the missing manifest is a package problem (`run` starts without it).
    let c = parse_str_with(&text, "t.toml", dir.path(), &Manifests).unwrap();
    assert_eq!(c.package_problems.len(), 1, "{:?}", c.package_problems);
    assert_eq!(c.package_problems[0].field, "models[0].package");
    assert!(c.package_problems[0].message.contains("manifest.toml"));
}

#[test]
fn bindings_are_made_by_signal_name_for_any_signal_order() {
    let dir = tempfile::tempdir().unwrap();
    package(&dir.path().join("pkg"));
    let text = config(
        "[[models]]\npackage = \"pkg\"\nassets = [\"motor-1\"]\nsignals = { vib = \"de_vib\" }\ncheck_timeout_secs = 5\n",
    );
    let c = parse_str_with(&text, "t.toml", dir.path(), &Manifests).unwrap();
    let mc = &c.models[0];
    assert_eq!(mc.check_timeout, std::time::Duration::from_secs(5));
    let names = |b: Vec<(std::sync::Arc<str>, Vec<std::sync::Arc<str>>)>| -> Vec<String> {
        b[0].1.iter().map(|s| s.to_string()).collect()
    };
    let order = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(mc.bind(&order(&["vib", "speed"])).unwrap()),
        ["de_vib", "speed"]
    );
    // A retrained package listing its signals the other way round is wired by name.
    assert_eq!(
        names(mc.bind(&order(&["speed", "vib"])).unwrap()),
        ["speed", "de_vib"]
    );
    let e = mc.bind(&order(&["speed", "temp"])).unwrap_err().0;
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e.iter()
            .any(|e| e.to_string().contains("model signal `vib`")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|e| e.to_string().contains("no signal `temp`")),
        "{e:?}"
    );
    for bad in ["0.5", "3601", "nan"] {
        let text = config(&format!(
            "[[models]]\npackage = \"pkg\"\nassets = [\"motor-1\"]\nsignals = {{ vib = \"de_vib\" }}\ncheck_timeout_secs = {bad}\n"
        ));
        let e = parse_str_with(&text, "t.toml", dir.path(), &Manifests).unwrap_err();
        assert!(e.to_string().contains("check_timeout_secs"), "{bad}: {e}");
    }
}

#[test]
fn a_detector_takes_its_defaults_and_binds_its_assets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), "ts,de_vib\n").unwrap();
    let text = config(
        "[[detectors]]\nname = \"motor\"\nassets = [\"motor-1\"]\nsignals = [\"de_vib\", \"speed\"]\ngrid_secs = 60\nlearn = { secs = 86400 }\n",
    );
    let c = parse_str(&text, "t.toml", dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let d = &c.detectors[0];
    assert_eq!(d.name, "motor");
    assert_eq!(
        d.method,
        DetectorMethod::Pca {
            lags: 2,
            cumulative_variance: 0.95
        }
    );
    assert_eq!(d.learn_steps, 1440);
    assert_eq!(&*d.assets[0].0, "motor-1");
    assert_eq!(
        (d.alert.on, d.alert.off, d.alert.k, d.alert.n),
        (1.2, 1.0, 3, 5)
    );
    assert_eq!(d.alert.name, "motor-anomaly");
}

#[test]
fn bad_detectors_are_reported_with_their_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), "ts,de_vib\n").unwrap();
    let text = config(concat!(
        "[[detectors]]\nname = \"m\"\nmethod = \"magic\"\nassets = [\"motor-2\", \"nope\"]\n",
        "signals = [\"de_vib\", \"de_vib\"]\ngrid_secs = 0\nlearn = { steps = 10 }\n",
        "alert = { on = 1.0, off = 2.0, k = 4, n = 3, severity = \"loud\" }\n",
        "[[detectors]]\nname = \"m\"\nassets = [\"motor-1\"]\nsignals = [\"de_vib\"]\n",
        "grid_secs = 1\nlearn = {}\n",
    ));
    let e = parse_str(&text, "t.toml", dir.path()).unwrap_err();
    let text = e.to_string();
    for needle in [
        "detectors[0].method: `magic`: expected pca or knn",
        "detectors[0].assets[0]: asset `motor-2` has no signal `de_vib`",
        "detectors[0].assets[1]: unknown asset `nope`",
        "detectors[0].signals[1]: signal `de_vib` is listed twice",
        "detectors[0].grid_secs",
        "detectors[0].learn: 10 steps",
        "detectors[0].alert.off",
        "detectors[0].alert: needs 1 ≤ k ≤ n",
        "detectors[0].alert.severity: `loud`",
        "detectors[1].name: duplicate detector name `m`",
        "detectors[1].learn: give one of `steps`, `secs` or `from` and `until`",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn a_knn_detector_takes_its_own_defaults_and_refuses_pca_settings() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), "ts,de_vib\n").unwrap();
    let text = config(
        "[[detectors]]\nname = \"motor\"\nmethod = \"knn\"\nassets = [\"motor-1\"]\nsignals = [\"de_vib\"]\ngrid_secs = 300\nlearn = { steps = 750 }\n",
    );
    let c = parse_str(&text, "t.toml", dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let d = &c.detectors[0];
    assert_eq!(d.method, DetectorMethod::Knn);
    assert_eq!(
        (d.alert.on, d.alert.off, d.alert.k, d.alert.n),
        (1.5, 1.2, 1, 1)
    );
    let text = config(
        "[[detectors]]\nname = \"motor\"\nmethod = \"knn\"\nassets = [\"motor-1\"]\nsignals = [\"de_vib\"]\ngrid_secs = 300\nlearn = { steps = 5000 }\nlags = 3\n",
    );
    let e = parse_str(&text, "t.toml", dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("detectors[0].lags: applies to method = \"pca\" only"),
        "{e}"
    );
    assert!(e.contains("detectors[0].learn: 5000 steps"), "{e}");
}

#[test]
fn a_learning_span_is_parsed_and_bad_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), "ts,de_vib\n").unwrap();
    let detector = |learn: &str| {
        config(&format!(
            "[[detectors]]\nname = \"motor\"\nassets = [\"motor-1\"]\nsignals = [\"de_vib\"]\ngrid_secs = 60\nlearn = {learn}\n"
        ))
    };
    let c = parse_str(
        &detector(r#"{ from = "2026-03-01T00:00:00Z", until = "2026-03-02T00:00:00+00:00" }"#),
        "t.toml",
        dir.path(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.detectors[0].learn_steps, 1440);
    assert_eq!(
        c.detectors[0].learn_span,
        Some((1_772_323_200_000_000_000, 1_772_409_600_000_000_000))
    );
    for (learn, needle) in [
        (
            r#"{ from = "yesterday", until = "2026-03-02T00:00:00Z" }"#,
            "learn.from: `yesterday`: not an RFC 3339 time",
        ),
        (
            r#"{ from = "2026-03-02T00:00:00Z", until = "2026-03-01T00:00:00Z" }"#,
            "learn.until: must be after `from`",
        ),
        (
            r#"{ from = "2026-03-01T00:00:00Z" }"#,
            "a span needs both `from` and `until`",
        ),
        (
            r#"{ steps = 100, from = "2026-03-01T00:00:00Z", until = "2026-03-02T00:00:00Z" }"#,
            "give one of `steps`, `secs` or `from` and `until`",
        ),
    ] {
        let e = parse_str(&detector(learn), "t.toml", dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{learn}: {e}");
    }
}

#[test]
fn a_feature_detector_steps_by_its_window_and_names_each_signal_feature() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), "ts,de_vib\n").unwrap();
    let text = config(concat!(
        "[[detectors]]\nname = \"bearing\"\nassets = [\"motor-1\"]\nsignals = [\"de_vib\"]\n",
        "features = [\"rms\", \"band_energy[0, 500]\"]\n",
        "window = { samples = 2048, hop = 512, sample_rate_hz = 12000 }\n",
        "learn = { secs = 8 }\n",
    ));
    // The reader canonicalises the kinds (here: drops spaces).
    let c =
        parse_str_with(&text, "t.toml", dir.path(), &Manifests).unwrap_or_else(|e| panic!("{e}"));
    let d = &c.detectors[0];
    let inputs: Vec<&str> = d.inputs.iter().map(|s| &**s).collect();
    assert_eq!(inputs, ["de_vib.rms", "de_vib.band_energy[0,500]"]);
    assert_eq!(
        d.method,
        DetectorMethod::Pca {
            lags: 0,
            cumulative_variance: 0.95
        }
    );
    assert_eq!((d.grid_secs, d.samples_per_step), (512.0 / 12000.0, 2048));
    assert_eq!(d.learn_steps, 188, "8 s of 512-sample hops at 12 kHz");
    assert_eq!((d.alert.on, d.alert.off), (2.0, 1.5));
    let f = d.features.as_ref().unwrap();
    assert_eq!((f.samples, f.hop, f.sample_rate_hz), (2048, 512, 12000.0));

    for (detector, needles) in [
        (
            "features = [\"rms\"]\ngrid_secs = 1\nlearn = { steps = 100 }\n",
            &[
                "detectors[0].grid_secs: does not apply with `features`",
                "detectors[0].window: missing",
            ][..],
        ),
        (
            "features = [\"bad_kind\"]\nwindow = { samples = 64, sample_rate_hz = 100 }\nlearn = { steps = 100 }\n",
            &["detectors[0].features: `bad_kind`: unknown feature"][..],
        ),
        (
            "features = []\nwindow = { samples = 1, hop = 2, sample_rate_hz = -1 }\nlearn = { steps = 100 }\n",
            &[
                "detectors[0].features: must list at least one feature",
                "detectors[0].window.samples: must be from 2 to 65536",
                "detectors[0].window.hop: must be from 1",
                "detectors[0].window.sample_rate_hz",
            ][..],
        ),
        (
            "learn = { steps = 100 }\n",
            &["detectors[0].grid_secs: missing: give `grid_secs`"][..],
        ),
        (
            "grid_secs = 1\nwindow = { samples = 64, sample_rate_hz = 100 }\nlearn = { steps = 100 }\n",
            &["detectors[0].window: applies with `features` only"][..],
        ),
    ] {
        let text = config(&format!(
            "[[detectors]]\nname = \"b\"\nassets = [\"motor-1\"]\nsignals = [\"de_vib\"]\n{detector}"
        ));
        let e = parse_str_with(&text, "t.toml", dir.path(), &Manifests)
            .unwrap_err()
            .to_string();
        for needle in needles {
            assert!(e.contains(needle), "missing {needle:?} in:\n{e}");
        }
    }
}

#[test]
fn adaptation_is_off_by_default_and_for_pca_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), "ts,de_vib\n").unwrap();
    let detector = |extra: &str| {
        config(&format!(
            "[[detectors]]\nname = \"motor\"\nassets = [\"motor-1\"]\nsignals = [\"de_vib\"]\ngrid_secs = 60\nlearn = {{ steps = 750 }}\n{extra}"
        ))
    };
    let c = parse_str(&detector(""), "t.toml", dir.path()).unwrap();
    assert_eq!(c.detectors[0].adapt_half_life_steps, None);
    let c = parse_str(
        &detector("adapt = { half_life_steps = 1440 }\n"),
        "t.toml",
        dir.path(),
    )
    .unwrap();
    assert_eq!(c.detectors[0].adapt_half_life_steps, Some(1440));
    for (extra, needle) in [
        (
            "adapt = { half_life_steps = 0 }\n",
            "detectors[0].adapt.half_life_steps: must be from 1",
        ),
        (
            "method = \"knn\"\nadapt = { half_life_steps = 10 }\n",
            "detectors[0].adapt: applies to method = \"pca\" only",
        ),
    ] {
        let e = parse_str(&detector(extra), "t.toml", dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "missing {needle:?} in:\n{e}");
    }
}

#[test]
fn kafka_properties_forewarn_manages_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), "ts,de_vib\n").unwrap();
    let text = config(
        "[kafka.properties]\n\"queue.buffering.max.messages\" = \"10\"\n\"bootstrap.servers\" = \"elsewhere:9092\"\npartitioner = \"random\"\n\"delivery.timeout.ms\" = \"1000\"\n",
    );
    let e = parse_str(&text, "t.toml", dir.path())
        .unwrap_err()
        .to_string();
    // Each at its own line (a quoted key with dots is found whole, not at its table's line).
    for needle in [
        "t.toml:20:1: kafka.properties.queue.buffering.max.messages: sized by forewarn from kafka.max_in_flight",
        "t.toml:21:1: kafka.properties.bootstrap.servers: set by forewarn from kafka.bootstrap_servers",
        "t.toml:22:1: kafka.properties.partitioner: `random` spreads one asset's records",
        "t.toml:23:1: kafka.properties.delivery.timeout.ms: set by forewarn (its delivery guarantees",
    ] {
        assert!(e.contains(needle), "missing {needle:?} in:\n{e}");
    }

    let text = config(
        "[kafka.properties]\n\"client.id\" = \"plant-7\"\n\"linger.ms\" = \"5\"\npartitioner = \"murmur2_random\"\n",
    );
    let c = parse_str(&text, "t.toml", dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.kafka.properties["client.id"], "plant-7");
    assert_eq!(c.kafka.properties["linger.ms"], "5");
    assert_eq!(c.kafka.properties["partitioner"], "murmur2_random");
}

#[test]
fn a_kafka_private_key_that_every_user_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.csv"), "ts,de_vib\n").unwrap();
    let key = dir.path().join("client.key");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    let text = config(&format!(
        "[kafka.properties]\n\"ssl.key.location\" = \"{}\"\n",
        key.display()
    ));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = parse_str(&text, "t.toml", dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.kafka.properties["ssl.key.location"],
        key.display().to_string()
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o666)).unwrap();
    let e = parse_str(&text, "t.toml", dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("kafka.properties.ssl.key.location") && e.contains("writable by every user"),
        "{e}"
    );
}
