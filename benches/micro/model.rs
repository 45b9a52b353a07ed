//! The `window`, `features` and `inference` groups: the model path's stages one by one.

use super::*;

pub(crate) fn bench_window(c: &mut Criterion, manifests: &[(&str, Manifest)]) {
    let mut g = c.benchmark_group("window");

    let bearing = manifest(manifests, "bearing-fault");
    let (samples, period) = replay_samples("bearing-fault", "normal.csv", VIB_ASSET);
    let items: Vec<(usize, i64, f64)> = samples.iter().map(|s| (0, s.ts_ns, s.value)).collect();
    let hop = 1024;
    let mut feed = Feed::new(items, hop, period);
    let mut w = Windower::new(bearing.window, 1).expect("sample window");
    g.throughput(Throughput::Elements(hop as u64));
    g.bench_function("samples_2048_hop_1024", |b| {
        b.iter(|| {
            for &(k, ts, v) in feed.next() {
                w.push(k, ts, v, |view| {
                    black_box(view.signals[0][0]);
                });
            }
        })
    });

    let turbofan = manifest(manifests, "turbofan-rul");
    let (samples, period) = replay_samples("turbofan-rul", "fd001_test_unit81.csv", "engine-81");
    let items: Vec<(usize, i64, f64)> = samples
        .iter()
        .map(|s| {
            let k = turbofan
                .signals
                .iter()
                .position(|x| x.as_str() == &*s.signal)
                .expect("turbofan signal");
            (k, s.ts_ns, s.value)
        })
        .collect();
    let per_cycle = turbofan.signals.len();
    let mut feed = Feed::new(items, per_cycle, period);
    let mut w = Windower::new(turbofan.window, per_cycle).expect("time window");
    g.throughput(Throughput::Elements(per_cycle as u64));
    g.bench_function("time_30s_hop_1s", |b| {
        b.iter(|| {
            for &(k, ts, v) in feed.next() {
                w.push(k, ts, v, |view| {
                    black_box(view.signals[0][0]);
                });
            }
        })
    });
    g.finish();
}

// ------------------------------------------------------------------------------------------
// features
// ------------------------------------------------------------------------------------------

pub(crate) fn bench_features(c: &mut Criterion, manifests: &[(&str, Manifest)]) {
    let mut g = c.benchmark_group("features");
    for (name, m) in manifests {
        let windows = golden_window(name, m);
        let slices: Vec<&[f64]> = windows.iter().map(Vec::as_slice).collect();
        let mut ex = extractor(m);
        let mut out = vec![0f32; ex.len()];
        ex.extract(&slices, &mut out)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let samples: usize = windows.iter().map(Vec::len).sum();
        g.throughput(Throughput::Elements(samples as u64));
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                ex.extract(black_box(&slices), &mut out)
                    .unwrap_or_else(|e| panic!("{e}"));
                black_box(&out);
            })
        });
    }
    g.finish();
}

// ------------------------------------------------------------------------------------------
// inference
// ------------------------------------------------------------------------------------------

pub(crate) fn bench_inference(c: &mut Criterion, models: &[(&str, Arc<LoadedModel>)]) {
    let mut g = c.benchmark_group("inference");
    g.throughput(Throughput::Elements(1));
    for (name, model) in models {
        let m = &model.manifest;
        let mut input = m.golden[0].features.clone();
        normalize(m, &mut input);
        model
            .model
            .infer(&input)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        g.bench_function(BenchmarkId::new("tract", name), |b| {
            b.iter(|| model.model.infer(black_box(&input)).expect("inference"))
        });
    }

    // The runner: window → features → normalise → infer → alert rules, one hop per iteration.
    let replays = [
        ("bearing-fault", "inner_race.csv", "bearing-1"),
        ("turbofan-rul", "fd001_test_unit81.csv", "engine-81"),
        ("process-failure", "ai4i_rows.csv", "mill-1"),
    ];
    for (name, file, asset) in replays {
        let model = models
            .iter()
            .find(|(n, _)| *n == name)
            .expect("loaded package")
            .1
            .clone();
        let m = &model.manifest;
        let hop = match m.window {
            WindowSpec::Samples { hop, .. } => hop * m.signals.len(),
            WindowSpec::Time { .. } => m.signals.len(),
        };
        let (samples, period) = replay_samples(name, file, asset);
        let binding = Binding {
            asset: Arc::from(asset),
            signals: m.signals.iter().map(|s| Arc::from(s.as_str())).collect(),
            meta: AssetMeta::default(),
        };
        let mut runner = ModelRunner::new("gw-bench", "bench-site", vec![(model, vec![binding])])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut feed = Feed::new(samples, hop, period);
        let mut out = Vec::new();
        g.throughput(Throughput::Elements(hop as u64));
        g.bench_function(BenchmarkId::new("runner", name), |b| {
            b.iter(|| {
                for s in feed.next() {
                    runner.push(s, &mut out);
                }
                black_box(&out);
                out.clear();
            })
        });
    }
    g.finish();
}

// ------------------------------------------------------------------------------------------
