//! The `alert`, `downsample` and `process` groups: the per-sample stages of the processing task.

use super::*;

// alert
// ------------------------------------------------------------------------------------------

pub(crate) fn bench_alert(
    c: &mut Criterion,
    config: &Config,
    load: &[Sample],
    manifests: &[(&str, Manifest)],
) {
    let mut g = c.benchmark_group("alert");
    let per_message = BATCH * SIGNALS.len();

    let mut rules = ThresholdRules::new(config.rules.clone());
    let mut feed = Feed::new(load.to_vec(), per_message, WORKLOAD_US * 1000);
    let mut transitions = Vec::new();
    g.throughput(Throughput::Elements(per_message as u64));
    g.bench_function("threshold", |b| {
        b.iter(|| {
            for s in feed.next() {
                rules.push(&s.asset, &s.signal, s.ts_ns, s.value, &mut transitions);
            }
            black_box(&transitions);
            transitions.clear();
        })
    });

    g.throughput(Throughput::Elements(1));
    for name in ["bearing-fault", "turbofan-rul"] {
        let m = manifest(manifests, name);
        let mut states: Vec<WindowRuleState> =
            m.alerts.iter().cloned().map(WindowRuleState::new).collect();
        // Each golden output for 8 windows in a row: rules raise, update and clear.
        let outputs: Vec<&[f32]> = m
            .golden
            .iter()
            .flat_map(|g| std::iter::repeat_n(g.output.as_slice(), 8))
            .collect();
        let hop_ns = 85_333_333;
        let mut i = 0usize;
        g.bench_function(BenchmarkId::new("model_rules", name), |b| {
            b.iter(|| {
                let output = outputs[i % outputs.len()];
                let end_ns = 1_767_600_000_000_000_000 + i as i64 * hop_ns;
                i += 1;
                for state in &mut states {
                    if let Some(sc) = score(state.rule(), &m.output, black_box(output)) {
                        black_box(state.observe(sc, end_ns));
                    }
                }
            })
        });
    }
    g.finish();
}

// ------------------------------------------------------------------------------------------
// downsample
// ------------------------------------------------------------------------------------------

pub(crate) fn bench_downsample(c: &mut Criterion, load: &[Sample]) {
    let mut g = c.benchmark_group("downsample");
    let per_message = BATCH * SIGNALS.len();
    let period = WORKLOAD_US * 1000;

    let mut buckets = IntervalBuckets::default();
    let mut feed = Feed::new(load.to_vec(), per_message, period);
    let now = now_ns();
    g.throughput(Throughput::Elements(per_message as u64));
    g.bench_function("buckets", |b| {
        b.iter(|| {
            for s in feed.next() {
                black_box(buckets.push(&s.asset, &s.signal, 1_000_000_000, s.ts_ns, s.value, now));
            }
        })
    });

    // One series: temperature of asset-0, 100 Hz.
    let series: Vec<(i64, f64)> = load
        .iter()
        .filter(|s| &*s.asset == "asset-0" && &*s.signal == "temp")
        .map(|s| (s.ts_ns, s.value))
        .collect();
    let block = 1000;
    g.throughput(Throughput::Elements(block as u64));
    let mut deadband = Deadband::new(Band::Abs(0.5), Some(600.0)).expect("deadband");
    let mut feed = Feed::new(series.clone(), block, period);
    g.bench_function("deadband", |b| {
        b.iter(|| {
            for &(ts, v) in feed.next() {
                deadband.push(ts, v, |p| {
                    black_box(p);
                });
            }
        })
    });
    let mut door = SwingingDoor::new(0.2, Some(600.0)).expect("swinging door");
    let mut feed = Feed::new(series, block, period);
    g.bench_function("swinging_door", |b| {
        b.iter(|| {
            for &(ts, v) in feed.next() {
                door.push(ts, v, |p| {
                    black_box(p);
                });
            }
        })
    });
    g.finish();
}

// ------------------------------------------------------------------------------------------
// process
// ------------------------------------------------------------------------------------------

pub(crate) fn bench_process(c: &mut Criterion, config: &Config, load: &[Sample]) {
    let mut g = c.benchmark_group("process");
    let per_message = BATCH * SIGNALS.len();
    let mut p = Processor::new(config);
    let mut feed = Feed::new(load.to_vec(), per_message, WORKLOAD_US * 1000);
    let mut out = Vec::new();
    g.throughput(Throughput::Elements(per_message as u64));
    g.bench_function("samples", |b| {
        b.iter(|| {
            let now = now_ns();
            for s in feed.next() {
                p.push(s, now, &mut out);
            }
            black_box(&out);
            out.clear();
        })
    });
    g.finish();
}

// ------------------------------------------------------------------------------------------
